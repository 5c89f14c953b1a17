"""`make diff`: offline, it shows a change and blocks one that would lose stateful data."""

from __future__ import annotations

import subprocess
import sys

import pytest

from local.synth import ROOT


@pytest.fixture(scope="module")
def base_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("base-assemblies")


@pytest.fixture
def copy(tmp_path):
    """A clone of this repository at HEAD, to change and diff against its own HEAD."""
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


def edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def make_diff(repo, cache, *extra, base="HEAD", env=None):
    return subprocess.run(
        [sys.executable, "-m", "scripts.template_diff", "--repo", str(repo), "--base", base]
        + ["--env", "dev", "--cache", str(cache), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_changing_the_table_key_is_blocked_and_names_the_replacement(copy, base_cache):
    # GIVEN a change to the events table's key schema (a sort key added)
    edit(
        copy / "cdk_app/constructs/event_table.py",
        "name=PARTITION_KEY, type=dynamodb.AttributeType.STRING\n            ),\n",
        "name=PARTITION_KEY, type=dynamodb.AttributeType.STRING\n            ),\n"
        "            sort_key=dynamodb.Attribute(\n"
        '                name="timestamp", type=dynamodb.AttributeType.STRING\n'
        "            ),\n",
    )
    # WHEN it is diffed
    result = make_diff(copy, base_cache)
    # THEN it fails, naming the table and the property that forces its replacement
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("BLOCKED: kahula-dev against HEAD")
    assert (
        "x kahula-dev/EventTable23755758 AWS::DynamoDB::Table: KeySchema (may require replacement)"
        in result.stdout
    )
    assert "make diff ALLOW_REPLACEMENT=kahula-dev/EventTable23755758" in result.stdout
    # AND an explicit allowance lets the intended replacement through
    allowed = make_diff(copy, base_cache, "--allow-replacement", "kahula-dev/EventTable23755758")
    assert allowed.returncode == 0, allowed.stdout
    assert allowed.stdout.startswith("ALLOWED: kahula-dev against HEAD")
    assert "allowed for this run (--allow-replacement): kahula-dev/EventTable23755758" in (
        allowed.stdout
    )


def test_a_benign_change_passes_and_is_shown(copy, base_cache):
    # GIVEN a longer log retention in dev
    edit(copy / "cdk_app/config.py", "log_retention_days=14,", "log_retention_days=30,")
    # WHEN it is diffed THEN it passes and the change is there to review
    result = make_diff(copy, base_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RetentionInDays: 14 -> 30" in result.stdout
    assert "no stateful resource is replaced or removed" in result.stdout


def test_no_change_says_so(copy, base_cache):
    result = make_diff(copy, base_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("NO CHANGES: kahula-dev against HEAD")


def test_a_synth_error_is_diff_failed_not_blocked(copy, base_cache):
    # GIVEN a working tree whose app does not synthesize
    edit(copy / "app.py", "def main() -> None:", "def main() -> None:\n    raise SystemExit(3)")
    # WHEN it is diffed THEN the outcome is "diff failed" (exit 2), never "blocked"
    result = make_diff(copy, base_cache)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith("DIFF FAILED: synth of")
    assert "BLOCKED" not in result.stdout


def test_a_base_that_does_not_resolve_is_diff_failed(copy, base_cache):
    result = make_diff(copy, base_cache, base="no-such-ref")
    assert result.returncode == 2
    assert result.stdout.startswith("DIFF FAILED: cannot resolve 'no-such-ref' to a commit")


def test_the_outcome_and_summary_go_to_github_when_running_there(copy, base_cache, tmp_path):
    # GIVEN the files GitHub Actions names in GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    env = {
        **__import__("os").environ,
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    # WHEN an unchanged tree is diffed
    make_diff(copy, base_cache, env=env)
    # THEN the step output carries the outcome and the summary its headline
    assert output.read_text() == "outcome=no-changes\n"
    assert "**NO CHANGES: kahula-dev against HEAD**" in summary.read_text()
