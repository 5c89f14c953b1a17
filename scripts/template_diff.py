"""`make diff BASE=<ref>`: what a change does to every stack, offline, before anyone deploys it.

Synthesizes BASE (in a temporary git worktree) and the working tree without credentials, then
compares each stack's two templates with the gate the deploy job uses (scripts/gate.py): no
AWS account needed. It lists IAM and resource-policy changes first, and fails when a change
would replace or remove a stateful resource (the events table, a bucket, a queue, the replay
archive, the bus, the archive stream, a log group), naming the resource and the property
that forces it.

    python -m scripts.template_diff --base origin/main [--env dev]
        [--allow-replacement kahula-prod/EventTable23755758,...]

An intended replacement goes through only when every blocked resource is named in
--allow-replacement as STACK/LOGICAL_ID (or STACK/* for a whole stack). Exit codes: 0 no
changes or allowed, 1 blocked, 2 diff failed (a ref that does not resolve, a failed synth).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scripts.gate import (
    Allowance,
    GateError,
    Report,
    compare,
    decide,
    failed,
    parse_allowances,
    removed_stack,
)

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"

# Credentials make the CLI set CDK_DEFAULT_ACCOUNT, which pins accounts (cdk_app/config.py):
# an offline diff hides them, so it gives the same answer on every machine.
_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "CDK_DEFAULT_ACCOUNT",
)


def _env(*, offline: bool) -> dict[str, str]:
    node_bin = ROOT / "node_modules" / ".bin"
    env = {
        **os.environ,
        "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    if offline:
        for name in _CREDENTIAL_VARIABLES:
            env.pop(name, None)
        env |= {
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    return env


def synth(
    source: Path,
    outdir: Path,
    env: str | None,
    *,
    offline: bool = True,
    extra: list[str] | None = None,
) -> None:
    """`cdk synth` of ``source`` into ``outdir``; RuntimeError with the CLI's output if it fails."""
    command = [str(CDK), "synth", "--quiet", "--no-notices", "--output", str(outdir)]
    command += ["--app", f"{sys.executable} app.py"]
    if env:
        command += ["-c", f"env={env}"]
    command += extra or []
    result = subprocess.run(
        command, cwd=source, env=_env(offline=offline), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"synth of {source} failed:\n{result.stdout}{result.stderr}")


def stacks_in(assembly: Path) -> list[str]:
    manifest = json.loads((assembly / "manifest.json").read_text())
    return sorted(
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    )


def worktree(repo: Path, ref: str, where: Path) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(where), ref],
        check=True,
        capture_output=True,
    )


def run(
    repo: Path,
    base: str,
    env: str | None,
    allowed: list[Allowance],
    *,
    cache: Path | None = None,
    reporter: Report | None = None,
) -> int:
    reporter = reporter or Report()
    resolved = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{base}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if resolved.returncode != 0:
        verdict = failed(f"cannot resolve {base!r} to a commit: {resolved.stderr.strip()}")
        reporter.publish(verdict, f"Template diff against {base}")
        return verdict.outcome.exit_code
    commit = resolved.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="kahula-diff-") as tmp:
        work = Path(tmp)
        # A commit's templates never change: with --cache they are synthesized once.
        base_out = (cache or work) / f"base-{commit}-{env or 'all'}"
        jobs = [(repo, work / "head.out")]
        if not (base_out / "manifest.json").is_file():
            jobs.append((work / "base-src", base_out))
            worktree(repo, commit, work / "base-src")
        try:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                for job in [pool.submit(synth, src, out, env) for src, out in jobs]:
                    job.result()
        except RuntimeError as exc:
            verdict = failed(str(exc))
            reporter.publish(verdict, f"Template diff against {base}")
            return verdict.outcome.exit_code
        finally:
            if len(jobs) == 2:
                subprocess.run(
                    ["git", "-C", str(repo), "worktree", "remove", "--force", str(jobs[1][0])],
                    capture_output=True,
                    check=False,
                )
        try:
            return report(base_out, work / "head.out", base, allowed, reporter)
        except GateError as exc:
            verdict = failed(str(exc))
            reporter.publish(verdict, f"Template diff against {base}")
            return verdict.outcome.exit_code


def report(
    base_out: Path, head_out: Path, base: str, allowed: list[Allowance], reporter: Report
) -> int:
    """Compare every stack's base and head templates; one verdict for all of them."""
    base_stacks, head_stacks = set(stacks_in(base_out)), set(stacks_in(head_out))
    changes = []
    for stack in sorted(base_stacks | head_stacks):
        old = _template(base_out, stack) if stack in base_stacks else {"Resources": {}}
        if stack not in head_stacks:
            changes += removed_stack(stack, old)
            continue
        changes += compare(stack, old, _template(head_out, stack), old_name=base)
    verdict = decide(
        changes,
        allowed,
        subject=f"{', '.join(sorted(base_stacks | head_stacks))} against {base}",
        hint=(
            "If this is intended (data migrated or disposable), allow it for one run: "
            "make diff ALLOW_REPLACEMENT=" + ",".join(c.key for c in changes if c.loses_state)
        ),
    )
    reporter.publish(verdict, f"Template diff against {base}")
    return verdict.outcome.exit_code


def _template(assembly: Path, stack: str) -> dict[str, Any]:
    data = json.loads((assembly / f"{stack}.template.json").read_text())
    if not isinstance(data, dict):
        raise GateError(f"{stack}.template.json in {assembly} is not a template")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.template_diff")
    parser.add_argument("--base", default="origin/main", help="git ref to compare against")
    parser.add_argument("--env", default=None, help="one environment (default: all)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the working tree to diff")
    parser.add_argument(
        "--allow-replacement",
        default="",
        help="comma-separated STACK/LOGICAL_ID (or STACK/*) allowed to be replaced or removed",
    )
    parser.add_argument("--cache", type=Path, help="keep base assemblies here, by commit")
    args = parser.parse_args(argv)
    # On GitHub: the outcome as a step output, the verdict in the job summary.
    reporter = Report(os.environ.get("GITHUB_STEP_SUMMARY"), os.environ.get("GITHUB_OUTPUT"))
    try:
        allowed = parse_allowances(args.allow_replacement, "--allow-replacement")
    except GateError as exc:
        verdict = failed(str(exc))
        reporter.publish(verdict, f"Template diff against {args.base}")
        return verdict.outcome.exit_code
    return run(
        args.repo.resolve(), args.base, args.env, allowed, cache=args.cache, reporter=reporter
    )


if __name__ == "__main__":
    raise SystemExit(main())
