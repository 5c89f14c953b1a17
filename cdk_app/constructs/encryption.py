"""One customer managed KMS key for a pipeline's buckets, queues and log groups.

Off by default: SSE-S3, SSE-SQS and CloudWatch Logs' own encryption protect the data at rest
with no key to administer, lose or pay for. A regulated team turns it on with one setting
(``EncryptionProps(customer_managed_key=True)``) and every bucket, queue and log group the
constructs create is encrypted with this key instead.

The key policy lets the account administer and use the key through IAM (the roles that need
it get narrow statements from their constructs) and names the two services that use the key
as themselves, each only through the service and resources it needs:

* CloudWatch Logs (``logs.<region>.amazonaws.com``), only for log groups of this account and
  region (the ``aws:logs:arn`` encryption context);
* EventBridge (``events.amazonaws.com``), to deliver to encrypted queues (rule targets and
  dead-letter queues), only through SQS and only for rules of this account.

Grants (``kms:CreateGrant``) are denied to every principal unless they are for an AWS resource
or made by an AWS service (Control Tower's CT.KMS.PR.3).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from .common import knob, pin_feature_flags


@dataclass(frozen=True, kw_only=True)
class EncryptionProps:
    """Whether the pipeline's data at rest is encrypted with a key of its own."""

    customer_managed_key: bool = knob(
        False, "one customer managed KMS key for buckets, queues and log groups ($1/month)"
    )
    retain: bool = knob(True, "RETAIN the key on stack deletion (what it encrypted stays readable)")


def grant_no_create_grant_except_for_aws(key: kms.Key) -> None:
    """Deny kms:CreateGrant unless the grant is for an AWS resource or made by an AWS service."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="GrantsOnlyForAwsServices",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={
                "BoolIfExists": {
                    "kms:GrantIsForAWSResource": "false",
                    "aws:PrincipalIsAWSService": "false",
                }
            },
        )
    )


class EncryptionKey(Construct):
    """A symmetric KMS key with yearly rotation and a policy scoped to its users (``self.key``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str = "Event persistence: buckets, queues and log groups",
        props: EncryptionProps | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        self.props = props = props or EncryptionProps()
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            description=description,
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN if props.retain else RemovalPolicy.DESTROY,
        )
        grant_no_create_grant_except_for_aws(self.key)
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsThisAccountsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
            )
        )
        rules = stack.format_arn(service="events", resource="rule", resource_name="*")
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeliversToEncryptedQueues",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={
                    "StringEquals": {"kms:ViaService": f"sqs.{stack.region}.amazonaws.com"},
                    "ArnLike": {"aws:SourceArn": rules},
                },
            )
        )


def use_through(key: kms.IKey, *services: str) -> iam.PolicyStatement:
    """What a role needs to write to a resource encrypted with ``key`` through ``services``.

    SQS (SendMessage to an SSE-KMS queue) needs GenerateDataKey and Decrypt; S3 (PutObject to
    an SSE-KMS bucket) needs GenerateDataKey, and Decrypt for multipart uploads.
    """
    region = Stack.of(key).region
    return iam.PolicyStatement(
        sid="EncryptWithThePipelineKey",
        actions=["kms:GenerateDataKey", "kms:Decrypt"],
        resources=[key.key_arn],
        conditions={
            "StringEquals": {"kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services]}
        },
    )
