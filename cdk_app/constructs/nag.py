"""Acknowledging a cdk-nag finding: always on the narrowest construct, always with a reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
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
