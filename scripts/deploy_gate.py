"""The deploy gate: what `cdk deploy` is about to do to one environment's *deployed* stack.

The deploy job runs it per environment, with that environment's credentials, right before
`cdk deploy`. It synthesizes the environment (so the account rule in cdk_app/config.py
applies), reads the stack's current template from CloudFormation (DescribeStacks +
GetTemplate), and decides with the same code as `make diff` (scripts/gate.py):

    python -m scripts.deploy_gate --env prod --output cdk.out.gated --commit "$GITHUB_SHA" \
        [--allow-replacement kahula-prod/EventTable23755758] [--via-lookup-role]

then the job deploys exactly the assembly that was gated: `cdk deploy --app cdk.out.gated`.

Outcomes (stdout, the job summary, and `outcome=` in $GITHUB_OUTPUT), with exit codes:
no-changes 0, first-deploy 0 (no stack yet), allowed 0, blocked 1, diff-failed 2 (synth,
credentials or the fetch failed: nothing was compared, so nothing may be deployed).

An intended replacement is allowed for this run only: by the workflow_dispatch input
(--allow-replacement) or by an ``Allow-Replacement: STACK/LOGICAL_ID`` trailer on the commit
being deployed (--commit). No environment variable is read for it, so no allowance outlives
the change it was written for.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from scripts.gate import (
    Allowance,
    GateError,
    Report,
    Verdict,
    compare,
    decide,
    failed,
    first_deploy,
    parse_allowances,
    trailer_allowances,
)
from scripts.template_diff import ROOT, synth

# A stack in one of these states holds no resources: deploying it is a first deploy.
EMPTY_STACK_STATUSES = frozenset({"ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS", "DELETE_COMPLETE"})
DEFAULT_QUALIFIER = "hnb659fds"  # the CDK bootstrap's default qualifier
HINT = (
    "If this is intended (data migrated or disposable), allow it for one run: run the deploy "
    "workflow by hand with allow_replacement={keys}, or land a commit whose message ends with "
    "the trailer 'Allow-Replacement: {first}'."
)


def deployed_template(cloudformation: Any, stack: str) -> dict[str, Any] | None:
    """The stack's current template, or None when there is no stack (or it holds nothing)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"]
        if not described or described[0]["StackStatus"] in EMPTY_STACK_STATUSES:
            return None
        body = cloudformation.get_template(StackName=stack, TemplateStage="Original")[
            "TemplateBody"
        ]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = str(error.get("Message", ""))
        if error.get("Code") == "ValidationError" and "does not exist" in message:
            return None
        raise GateError(f"cannot read stack {stack}: {error.get('Code')}: {message}") from exc
    except BotoCoreError as exc:
        raise GateError(f"cannot read stack {stack}: {exc}") from exc
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise GateError(f"the deployed template of {stack} is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise GateError(f"the deployed template of {stack} is not a template object")
    return body


def gate(
    cloudformation: Any,
    stack: str,
    new: dict[str, Any],
    allowances: list[Allowance],
    *,
    where: str,
) -> Verdict:
    """Decide for one stack: its deployed template (if any) against ``new``."""
    old = deployed_template(cloudformation, stack)
    if old is None:
        return first_deploy(stack, new, where)
    changes = compare(stack, old, new, old_name="deployed")
    lost = [c.key for c in changes if c.loses_state] or [f"{stack}/LOGICAL_ID"]
    return decide(
        changes,
        allowances,
        subject=f"{stack} against the deployed stack in {where}",
        hint=HINT.format(keys=",".join(lost), first=lost[0]),
    )


def lookup_role_arn(sts: Any, region: str, qualifier: str = DEFAULT_QUALIFIER) -> str:
    """The CDK bootstrap lookup role of the caller's account in ``region``."""
    identity = sts.get_caller_identity()
    partition = identity["Arn"].split(":")[1]
    account = identity["Account"]
    return f"arn:{partition}:iam::{account}:role/cdk-{qualifier}-lookup-role-{account}-{region}"


def cloudformation_reader(
    session: Any, region: str, *, via_lookup_role: bool, qualifier: str = DEFAULT_QUALIFIER
) -> Any:
    """A CloudFormation client that can read the stack.

    The GitHub deploy role may only assume the CDK bootstrap roles, so the deploy job reads
    through the lookup role (read-only); the PR diff role reads directly.
    """
    if not via_lookup_role:
        return session.client("cloudformation", region_name=region)
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    sts = session.client("sts", region_name=region)
    try:
        arn = lookup_role_arn(sts, region, qualifier)
        credentials = sts.assume_role(RoleArn=arn, RoleSessionName="kahula-deploy-gate")[
            "Credentials"
        ]
    except (ClientError, BotoCoreError) as exc:
        raise GateError(
            f"cannot assume the CDK lookup role (is the account bootstrapped in {region}?): {exc}"
        ) from exc
    return session.client(
        "cloudformation",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def commit_allowances(commit: str, repo: Path = ROOT) -> list[Allowance]:
    """``Allow-Replacement`` trailers of the one commit being deployed."""
    result = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%B", commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise GateError(f"cannot read commit {commit!r}: {result.stderr.strip()}")
    return trailer_allowances(result.stdout, f"the Allow-Replacement trailer of {commit[:12]}")


def assembly_stack(assembly: Path, stack: str) -> tuple[dict[str, Any], str | None]:
    """(template, region or None) of ``stack`` in a synthesized cloud assembly."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    artifact = manifest["artifacts"].get(stack)
    if artifact is None or artifact.get("type") != "aws:cloudformation:stack":
        raise GateError(f"the synthesized app has no stack {stack!r}")
    template = json.loads((assembly / artifact["properties"]["templateFile"]).read_text())
    region = artifact.get("environment", "").rpartition("/")[2]
    return template, None if region in ("", "unknown-region") else region


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.deploy_gate")
    parser.add_argument("--env", required=True, help="the environment to gate (dev, ...)")
    parser.add_argument("--prefix", default=None, help="resource prefix (default: cdk.json's)")
    parser.add_argument("--output", type=Path, default=Path("cdk.out.gated"))
    parser.add_argument("--region", default=None, help="when the stack does not name one")
    parser.add_argument("--commit", default=None, help="read Allow-Replacement trailers here")
    parser.add_argument("--allow-replacement", default="", help="STACK/LOGICAL_ID, this run")
    parser.add_argument("--via-lookup-role", action="store_true")
    parser.add_argument("--qualifier", default=DEFAULT_QUALIFIER)
    args = parser.parse_args(argv)
    prefix = args.prefix or json.loads((ROOT / "cdk.json").read_text())["context"]["prefix"]
    stack = f"{prefix}-{args.env}"
    reporter = Report(os.environ.get("GITHUB_STEP_SUMMARY"), os.environ.get("GITHUB_OUTPUT"))
    if os.environ.get("ALLOW_REPLACEMENT"):
        reporter.extra.append(
            "- `ALLOW_REPLACEMENT` is set in the environment and was **ignored**: an allowance "
            "is given for one run only (workflow input or commit trailer)."
        )
    try:
        allowances = parse_allowances(args.allow_replacement, "the workflow input")
        if args.commit:
            allowances += commit_allowances(args.commit)
        try:
            extra = ["-c", f"prefix={prefix}"] if args.prefix else []
            synth(ROOT, args.output, args.env, offline=False, extra=extra)
        except RuntimeError as exc:
            raise GateError(str(exc)) from exc
        new, region = assembly_stack(args.output, stack)
        import boto3  # noqa: PLC0415 - only when the gate really talks to AWS

        session = boto3.Session()
        region = region or args.region or session.region_name
        if not region:
            raise GateError(f"{stack} names no region and none is configured (--region)")
        reader = cloudformation_reader(
            session, region, via_lookup_role=args.via_lookup_role, qualifier=args.qualifier
        )
        verdict = gate(reader, stack, new, allowances, where=region)
    except GateError as exc:
        verdict = failed(str(exc))
    reporter.publish(verdict, f"Deploy gate: {stack}")
    return verdict.outcome.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
