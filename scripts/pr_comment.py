"""The pull request's sticky comment: the offline diff's verdict, in words, and its report.

    python -m scripts.pr_comment --outcome blocked --report diff.txt --base main [--fork] \
        > comment.md

The pull-request workflow writes it; pr-comment.yml (which has the write token, and never runs
the pull request's code) posts it. Each outcome has its own message, so a synth error is never
reported as a blocked change.
"""

from __future__ import annotations

import argparse
from pathlib import Path

MARKER = "<!-- kahula-template-diff -->"
LIMIT = 60_000  # GitHub refuses comments over 65,536 characters

VERDICTS = {
    "blocked": "**Blocked:** this change would replace or remove stateful resources (listed "
    "below). If that is intended, the deploy needs a one-run allowance: an "
    "`Allow-Replacement: STACK/LOGICAL_ID` trailer on the merged commit, or the deploy "
    "workflow's `allow_replacement` input.",
    "diff-failed": "**Diff failed:** the templates could not be compared (a synth error or a "
    "base that does not resolve; see the report). This is not a verdict on the change; fix "
    "the error and push again.",
    "no-changes": "**No changes:** no stack's template changes.",
    "allowed": "**Allowed:** templates change, and no stateful resource is replaced or "
    "removed. Review the IAM and resource-policy changes first, if any are listed.",
}
FORK = (
    "This pull request comes from a fork, so **only the offline diff ran** (the base branch's "
    "templates against this change's). The diff against the deployed stacks needs AWS "
    "credentials, which GitHub does not give to workflows of forks; it runs when the change "
    "is deployed, in the deploy gate of each environment."
)
SAME_REPOSITORY = (
    "The diff against the deployed stacks runs in the `live-diff` jobs for each environment "
    "with a diff role configured (`AWS_DIFF_ROLE_DEV` / `_STAGING` / `_PROD`), and always in "
    "the deploy gate before each deployment."
)


def comment(outcome: str, report: str, *, base: str, fork: bool) -> str:
    if outcome not in VERDICTS:
        raise ValueError(f"unknown outcome {outcome!r}: expected one of {', '.join(VERDICTS)}")
    shown = report if len(report) <= LIMIT else "...\n" + report[-LIMIT:]
    return "\n".join(
        [
            MARKER,
            f"### Template diff against `{base}`",
            VERDICTS[outcome],
            "",
            FORK if fork else SAME_REPOSITORY,
            "",
            "<details><summary>report</summary>",
            "",
            "```",
            shown.strip(),
            "```",
            "</details>",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.pr_comment")
    parser.add_argument("--outcome", required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--fork", action="store_true")
    args = parser.parse_args(argv)
    # A missing outcome means the diff step died before deciding: that is a failed diff.
    outcome = args.outcome or "diff-failed"
    print(comment(outcome, args.report.read_text(), base=args.base, fork=args.fork), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
