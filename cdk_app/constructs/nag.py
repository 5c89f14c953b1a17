"""Acknowledging a cdk-nag finding: always on the narrowest construct, always with a reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule_id} needs a real reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def logical_id(construct: IConstruct) -> str:
    """How cdk-nag names a resource inside a finding (``<LogicalId.Arn>``)."""
    child = construct.node.default_child
    if child is None:  # imported: there is no logical id to name
        return construct.node.id
    return Stack.of(construct).get_logical_id(child)  # type: ignore[arg-type]


def skip_scan(construct: IConstruct, tool: str, check_id: str, reason: str) -> None:
    """Record in the template why a scanner's check does not apply to this resource.

    ``tool`` is ``checkov`` (Metadata.checkov.skip, with the reason as its comment) or
    ``cfn-lint`` (Metadata.cfn-lint.config.ignore_checks, the reason under ``reasons``).
    """
    if len(reason.strip()) < 20:
        raise ValueError(f"skipping {check_id} needs a real reason, got {reason!r}")
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    metadata = resource.get_metadata(tool) or {}
    if tool == "checkov":
        skips = [s for s in metadata.get("skip", []) if s["id"] != check_id]
        metadata = {"skip": [*skips, {"id": check_id, "comment": reason}]}
    elif tool == "cfn-lint":
        config = metadata.get("config", {})
        checks = sorted({*config.get("ignore_checks", []), check_id})
        metadata = {
            "config": {"ignore_checks": checks},
            "reasons": {**metadata.get("reasons", {}), check_id: reason},
        }
    else:
        raise ValueError(f"unknown scanner {tool!r}")
    resource.add_metadata(tool, metadata)
