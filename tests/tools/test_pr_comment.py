"""The pull request's comment: one message per outcome; a fork is told it got the offline diff."""

from __future__ import annotations

import pytest

from scripts.pr_comment import MARKER, comment, main


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        ("blocked", "**Blocked:** this change would replace or remove stateful resources"),
        ("diff-failed", "**Diff failed:** the templates could not be compared"),
        ("no-changes", "**No changes:** no stack's template changes."),
        ("allowed", "**Allowed:** templates change, and no stateful resource is replaced"),
    ],
)
def test_each_outcome_has_its_own_message(outcome, words):
    text = comment(outcome, "report", base="main", fork=False)
    assert text.startswith(MARKER)
    assert words in text


def test_a_failed_diff_is_never_called_blocked():
    assert "Blocked" not in comment("diff-failed", "synth failed", base="main", fork=False)


def test_a_fork_is_told_plainly_that_only_the_offline_diff_ran():
    text = comment("allowed", "r", base="main", fork=True)
    assert "This pull request comes from a fork, so **only the offline diff ran**" in text
    assert "live-diff" not in text


def test_an_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="unknown outcome 'maybe'"):
        comment("maybe", "r", base="main", fork=False)


def test_a_long_report_keeps_its_end(capsys):
    text = comment("allowed", "x" * 70_000 + "END", base="main", fork=False)
    assert "END" in text
    assert len(text) < 65_536


def test_no_outcome_at_all_is_reported_as_a_failed_diff(tmp_path, capsys):
    report = tmp_path / "diff.txt"
    report.write_text("Traceback ...")
    main(["--outcome", "", "--report", str(report), "--base", "main"])
    assert "**Diff failed:**" in capsys.readouterr().out
