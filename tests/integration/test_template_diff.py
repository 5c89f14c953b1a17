"""`make diff`: offline, it shows a change and blocks one that would lose stateful data."""

from __future__ import annotations

import subprocess
import sys

import pytest

from local.synth import ROOT
from scripts.template_diff import parse


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


def make_diff(repo, cache, *extra):
    return subprocess.run(
        [sys.executable, "-m", "scripts.template_diff", "--repo", str(repo), "--base", "HEAD"]
        + ["--env", "dev", "--cache", str(cache), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_changing_the_table_key_is_blocked_and_names_the_replacement(copy, base_cache):
    # GIVEN a change to the events table's partition key
    edit(
        copy / "cdk_app/constructs/event_table.py",
        'partition_key=dynamodb.Attribute(name="unique_id"',
        'partition_key=dynamodb.Attribute(name="event_key"',
    )
    # WHEN it is diffed
    result = make_diff(copy, base_cache)
    # THEN it fails, naming the table and the property that forces its replacement
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BLOCKED" in result.stdout
    assert "kahula-dev/EventTable23755758 AWS::DynamoDB::Table" in result.stdout
    assert "KeySchema (requires replacement)" in result.stdout
    # AND an explicit override lets the intended replacement through
    allowed = make_diff(copy, base_cache, "--allow-replacement", "kahula-dev/EventTable23755758")
    assert allowed.returncode == 0, allowed.stdout
    assert "allowed: kahula-dev/EventTable23755758" in allowed.stdout


def test_a_benign_change_passes_and_is_shown(copy, base_cache):
    # GIVEN a longer log retention in dev
    edit(copy / "cdk_app/config.py", "log_retention_days=14,", "log_retention_days=30,")
    # WHEN it is diffed THEN it passes and the change is there to review
    result = make_diff(copy, base_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RetentionInDays" in result.stdout
    assert "no stateful resource is replaced or removed" in result.stdout


def test_no_change_says_so(copy, base_cache):
    result = make_diff(copy, base_cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no changes" in result.stdout


def test_parse_reads_replacements_removals_and_policy_changes():
    text = """Resources
[-] AWS::SQS::Queue Persister/Conflicts/Queue PersisterConflictsQueueA902F5FB destroy
[~] AWS::DynamoDB::Table EventTable/Table EventTable23755758 replace
 ├─ [~] AttributeDefinitions
 │   └─ @@ -1,6 +1,6 @@
 └─ [~] KeySchema (requires replacement)
     └─ @@ -1,6 +1,6 @@
[~] AWS::IAM::Role Persister/Role PersisterRoleE319FA03
 └─ [-] Tags
[~] AWS::IAM::Policy Persister/Role/DefaultPolicy PersisterRoleDefaultPolicy0B1CA2CC
 └─ [~] PolicyDocument
"""
    changes = {c.logical_id: c for c in parse("kahula-dev", text)}
    assert changes["PersisterConflictsQueueA902F5FB"].loses_state
    table = changes["EventTable23755758"]
    assert table.loses_state
    assert table.forcing == "KeySchema (requires replacement)"
    assert not changes["PersisterRoleE319FA03"].touches_policy  # tags only
    assert changes["PersisterRoleDefaultPolicy0B1CA2CC"].touches_policy
