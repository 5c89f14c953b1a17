"""`make diff BASE=<ref>`: what a change does to every stack, offline, before anyone deploys it.

Synthesizes BASE (in a temporary git worktree) and the working tree, then runs `cdk diff` for
each stack against the base template file: no AWS credentials needed. It highlights IAM and
resource-policy changes, and fails when a change would replace or remove a stateful resource
(the events table, a bucket, a queue, the replay archive, the bus, the archive stream),
naming the resource and the property that forces it.

    python -m scripts.template_diff --base origin/main [--env dev]
        [--allow-replacement kahula-prod/EventTable23755758,...]   # or ALLOW_REPLACEMENT=...

An intended replacement goes through only when every blocked resource is named in
--allow-replacement as STACK/LOGICAL_ID (or STACK/* for a whole stack).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"

# Replacing or deleting one of these loses data or in-flight events.
STATEFUL_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::Events::Archive",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::Logs::LogGroup",
}
POLICY_TYPES = {
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::Events::EventBusPolicy",
    "AWS::Lambda::Permission",
    "AWS::KMS::Key",
}
POLICY_PROPERTIES = {"Policy", "PolicyDocument", "AssumeRolePolicyDocument", "KeyPolicy"}
# Changes to these alone do not change who may do what.
COSMETIC_PROPERTIES = {"Tags", "Description"}

_RESOURCE = re.compile(
    r"^\[(?P<op>[-+~])\] (?P<type>AWS::\S+) (?P<path>\S+) (?P<id>\S+)(?: (?P<action>.+))?$"
)
_PROPERTY = re.compile(r"^\s*[├└]─ \[(?P<op>[-+~])\] (?P<name>[\w.]+)(?: \((?P<note>[^)]*)\))?")


@dataclass
class ResourceChange:
    stack: str
    op: str  # "+", "-", "~"
    type: str
    logical_id: str
    action: str  # "", "replace", "destroy", "may be replaced", "orphan"
    properties: list[tuple[str, str]] = field(default_factory=list)  # (name, note)

    @property
    def key(self) -> str:
        return f"{self.stack}/{self.logical_id}"

    @property
    def loses_state(self) -> bool:
        if self.type not in STATEFUL_TYPES:
            return False
        return self.op == "-" or "replace" in self.action or "destroy" in self.action

    @property
    def forcing(self) -> str:
        if self.op == "-":
            return "removed from the template"
        forced = [f"{n} ({note})" for n, note in self.properties if "replacement" in note]
        return ", ".join(forced) or self.action

    @property
    def touches_policy(self) -> bool:
        names = {n for n, _ in self.properties}
        if self.type in POLICY_TYPES:
            return self.op != "~" or not names <= COSMETIC_PROPERTIES
        return bool(names & POLICY_PROPERTIES)


def parse(stack: str, text: str) -> list[ResourceChange]:
    changes: list[ResourceChange] = []
    current: ResourceChange | None = None
    for line in text.splitlines():
        match = _RESOURCE.match(line)
        if match:
            current = ResourceChange(
                stack=stack,
                op=match["op"],
                type=match["type"],
                logical_id=match["id"],
                action=(match["action"] or "").strip(),
            )
            changes.append(current)
            continue
        prop = _PROPERTY.match(line)
        if prop and current is not None and line.startswith((" ├", " └")):
            current.properties.append((prop["name"], prop["note"] or ""))
        elif line and not line.startswith((" ", "│")):
            current = None
    return changes


def _env() -> dict[str, str]:
    node_bin = ROOT / "node_modules" / ".bin"
    return {
        **os.environ,
        "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }


def synth(source: Path, outdir: Path, env: str | None) -> None:
    command = [str(CDK), "synth", "--quiet", "--no-notices", "--output", str(outdir)]
    command += ["--app", f"{sys.executable} app.py"]
    if env:
        command += ["-c", f"env={env}"]
    result = subprocess.run(
        command, cwd=source, env=_env(), capture_output=True, text=True, check=False
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


def diff_stack(head: Path, base_template: Path, stack: str) -> str:
    result = subprocess.run(
        [str(CDK), "diff", "--no-notices", "--app", str(head)]
        + ["--template", str(base_template), stack],
        cwd=ROOT,
        check=False,
        env=_env(),
        capture_output=True,
        text=True,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"cdk diff {stack} failed:\n{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def worktree(repo: Path, ref: str, where: Path) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(where), ref],
        check=True,
        capture_output=True,
    )


def run(
    repo: Path, base: str, env: str | None, allowed: set[str], cache: Path | None = None
) -> int:
    resolved = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{base}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if resolved.returncode != 0:
        print(f"error: cannot resolve {base!r} to a commit: {resolved.stderr.strip()}")
        return 2
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
        finally:
            if len(jobs) == 2:
                subprocess.run(
                    ["git", "-C", str(repo), "worktree", "remove", "--force", str(jobs[1][0])],
                    capture_output=True,
                    check=False,
                )
        return report(base_out, work / "head.out", base, allowed)


def report(base_out: Path, head_out: Path, base: str, allowed: set[str]) -> int:
    base_stacks, head_stacks = set(stacks_in(base_out)), set(stacks_in(head_out))
    empty = head_out.parent / "empty.template.json"  # a stack new in this change
    empty.write_text(json.dumps({"Resources": {}}))
    changes: list[ResourceChange] = []
    changed_stacks = 0
    for stack in sorted(base_stacks | head_stacks):
        print(f"\n=== {stack} ===")
        if stack not in head_stacks:
            template = json.loads((base_out / f"{stack}.template.json").read_text())
            print(f"stack removed: all {len(template['Resources'])} resources would be deleted")
            changes += [
                ResourceChange(stack, "-", r["Type"], lid, "destroy")
                for lid, r in template["Resources"].items()
            ]
            changed_stacks += 1
            continue
        base_template = base_out / f"{stack}.template.json"
        text = diff_stack(head_out, base_template if stack in base_stacks else empty, stack)
        stack_changes = parse(stack, text)
        if not stack_changes and "There were no differences" in text:
            print("no changes")
            continue
        changed_stacks += 1
        print(_trim(text))
        changes += stack_changes

    print("\n=== summary ===")
    if changed_stacks == 0:
        print(f"no changes against {base}")
        return 0
    policy = [c for c in changes if c.touches_policy]
    if policy:
        print("IAM and resource-policy changes (review these first):")
        for c in policy:
            print(f"  ! {c.key} {c.type} [{c.op}] {c.action}".rstrip())
    blocked: list[ResourceChange] = []
    allowed_through: list[ResourceChange] = []
    for c in changes:
        if c.loses_state:
            permitted = c.key in allowed or f"{c.stack}/*" in allowed
            (allowed_through if permitted else blocked).append(c)
    for c in allowed_through:
        print(f"  allowed: {c.key} {c.type} {c.action or 'removed'}: {c.forcing}")
    if blocked:
        print("BLOCKED: these changes would replace or remove stateful resources:")
        for c in blocked:
            print(f"  x {c.key} {c.type}: {c.forcing}")
        print(
            "If this is intended (data migrated or disposable), re-run with "
            "ALLOW_REPLACEMENT=" + ",".join(c.key for c in blocked)
        )
        return 1
    print(f"{changed_stacks} stack(s) change; no stateful resource is replaced or removed")
    return 0


def _trim(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith(("✨", "Stack "))]
    return "\n".join(lines).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.template_diff")
    parser.add_argument("--base", default="origin/main", help="git ref to compare against")
    parser.add_argument("--env", default=None, help="one environment (default: all)")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the working tree to diff")
    parser.add_argument(
        "--allow-replacement",
        default=os.environ.get("ALLOW_REPLACEMENT", ""),
        help="comma-separated STACK/LOGICAL_ID (or STACK/*) allowed to be replaced or removed",
    )
    parser.add_argument("--cache", type=Path, help="keep base assemblies here, by commit")
    args = parser.parse_args(argv)
    allowed = {a.strip() for a in args.allow_replacement.split(",") if a.strip()}
    return run(args.repo.resolve(), args.base, args.env, allowed, args.cache)


if __name__ == "__main__":
    raise SystemExit(main())
