"""Acknowledging a cdk-nag finding: always on the narrowest construct, always with a reason."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule_id} needs a real reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def nag_resource(scope: IConstruct, arn: str) -> str:
    """How cdk-nag writes a resource ARN inside a finding id (``Resource::...``).

    A created resource reads ``<LogicalId.Arn>``; an imported one keeps its literal text and
    pseudo parameters as ``<AWS::Partition>``. Computing it from the resolved ARN lets an
    acknowledgement match whichever the user passed in.
    """
    resolved = Stack.of(scope).resolve(arn)
    return _render(resolved)


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((kind, arg),) = value.items()
        if kind == "Ref":
            return f"<{arg}>"
        if kind == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if kind == "Fn::Join":
            separator, parts = arg
            return str(separator).join(_render(p) for p in parts)
    raise ValueError(f"cannot render {value!r} the way cdk-nag does")


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


LOGS_WITHOUT_PAYLOADS = (
    "CloudWatch Logs encrypts at rest by default; these logs hold ids, hashes and errors, "
    "never event payloads, so a customer managed key would add cost and no protection."
)


# The AWS Control Tower proactive controls, as the cfn-guard validator plugin
# (cdklabs-cdk-validator-cfnguard) reports them: control id -> the guard rule's name. An
# acknowledgement names the rule in the plugin's namespace, ``cdk-validator-cfnguard::<rule>``.
CONTROL_TOWER_PLUGIN = "cdk-validator-cfnguard"
CONTROL_TOWER_RULES = {
    "CT.ATHENA.PR.2": "athena_workgroup_results_encrypted_at_rest_kms_check",
    "CT.CLOUDWATCH.PR.2": "cloudwatch_log_group_retention_period_check",
    "CT.CLOUDWATCH.PR.3": "cloudwatch_log_group_encrypted_check",
    "CT.KMS.PR.3": "kms_create_grant_aws_service_check",
    "CT.LAMBDA.PR.3": "lambda_inside_vpc_check",
    "CT.S3.PR.2": "s3_bucket_logging_enabled_check",
    "CT.S3.PR.4": "s3_event_notifications_enabled_check",
    "CT.S3.PR.9": "s3_bucket_object_lock_enabled_check",
    "CT.S3.PR.10": "s3_bucket_default_encryption_kms_check",
    "CT.SQS.PR.1": "sqs_dlq_check",
}


def control(control_id: str) -> str:
    """The id to acknowledge a Control Tower control under: ``control("CT.SQS.PR.1")``."""
    try:
        rule = CONTROL_TOWER_RULES[control_id]
    except KeyError:
        known = ", ".join(CONTROL_TOWER_RULES)
        raise ValueError(f"unknown Control Tower control {control_id!r}; known: {known}") from None
    return f"{CONTROL_TOWER_PLUGIN}::{rule}"


NO_CUSTOMER_MANAGED_KEY = (
    "Encrypted at rest with an AWS managed scheme; a customer managed key is one switch away "
    "(EncryptionProps.customer_managed_key, or pass encryption_key=) when policy demands one."
)
