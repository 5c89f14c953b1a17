"""An S3 bucket with the project's secure defaults and server access logs."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .common import overrides
from .nag import NO_CUSTOMER_MANAGED_KEY, acknowledge, control, skip_scan

# Every bucket here: encrypted, private, TLS-only, versioned, no ACLs.
SECURE_BUCKET: Mapping[str, Any] = {
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "enforce_ssl": True,
    "versioned": True,
    "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
}
_LOGS_LOOP = "This is the server access log bucket; logging it to itself would loop."
# S3 server access logging refuses a destination bucket with SSE-KMS default encryption or
# with Object Lock (AWS: "Troubleshoot server access logging", "Enabling server access logging").
_LOGS_SSE_S3_ONLY = (
    "S3 delivers server access logs only to a bucket encrypted with SSE-S3; SSE-KMS default "
    "encryption on the destination bucket is not supported."
)
_LOGS_NO_OBJECT_LOCK = (
    "S3 does not deliver server access logs to a bucket with Object Lock; the logs expire "
    "by lifecycle and are not the record (the archive is)."
)


class ObjectLockMode(enum.StrEnum):
    """S3 Object Lock retention mode.

    GOVERNANCE: nobody deletes or overwrites a locked version before its retention ends unless
    granted ``s3:BypassGovernanceRetention``; COMPLIANCE: nobody at all, root included, and the
    retention cannot be shortened.
    """

    GOVERNANCE = "GOVERNANCE"
    COMPLIANCE = "COMPLIANCE"


@dataclass(frozen=True)
class ObjectLock:
    """Default retention applied to every new object version written to a bucket."""

    mode: ObjectLockMode
    days: int

    def retention(self) -> s3.ObjectLockRetention:
        duration = Duration.days(self.days)
        if self.mode is ObjectLockMode.COMPLIANCE:
            return s3.ObjectLockRetention.compliance(duration)
        return s3.ObjectLockRetention.governance(duration)


def send_events_to_eventbridge(bucket: s3.Bucket) -> None:
    """S3 event notifications to the account's default event bus, natively.

    Set on the CloudFormation resource (``NotificationConfiguration.EventBridgeConfiguration``):
    the L2's ``event_bridge_enabled`` would add a custom resource and its Lambda function.
    S3 charges nothing for it; events on the default bus cost nothing until a rule matches them.
    """
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket)
    cfn.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
        event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
            event_bridge_enabled=True
        )
    )


@dataclass(frozen=True)
class SecureBucket:
    """A bucket that is encrypted, versioned, TLS-only, private, with server access logs."""

    bucket: s3.Bucket
    access_log_bucket: s3.IBucket


def secure_bucket(
    scope: Construct,
    bucket_id: str,
    *,
    retain: bool,
    lifecycle_rules: Sequence[s3.LifecycleRule] = (),
    access_log_bucket: s3.IBucket | None = None,
    access_log_bucket_id: str = "AccessLogBucket",
    access_log_prefix: str = "bucket/",
    access_log_retention_days: int = 365,
    bucket_props: Mapping[str, Any] | None = None,
    encryption_key: kms.IKey | None = None,
    object_lock: ObjectLock | None = None,
    no_object_lock_reason: str = "",
) -> SecureBucket:
    """Create the bucket (and, unless given, its access-log bucket) directly in ``scope``.

    A function, not a construct, so the buckets' construct paths (and so their logical ids)
    are those of the construct that owns them. ``bucket_props`` are keyword arguments of
    ``s3.Bucket`` merged over the defaults (``bucket_name`` for a fixed name, for instance).

    ``encryption_key``: SSE-KMS with that key (and an S3 Bucket Key, so S3 asks KMS for a data
    key per bucket and period, not per object); else SSE-S3. ``object_lock``: Object Lock with
    that default retention; else ``no_object_lock_reason`` acknowledges Control Tower's
    CT.S3.PR.9. Every bucket created sends its events to EventBridge (CT.S3.PR.4).
    """
    if object_lock is None and len(no_object_lock_reason.strip()) < 20:
        raise ValueError("a bucket without Object Lock needs no_object_lock_reason")
    removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
    if access_log_bucket is None:
        log_bucket = s3.Bucket(
            scope,
            access_log_bucket_id,
            **SECURE_BUCKET,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(access_log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
            removal_policy=removal,
        )
        skip_scan(log_bucket, "checkov", "CKV_AWS_18", _LOGS_LOOP)
        acknowledge(log_bucket, "AwsSolutions-S1", _LOGS_LOOP)
        acknowledge(log_bucket, control("CT.S3.PR.2"), _LOGS_LOOP)
        acknowledge(log_bucket, control("CT.S3.PR.9"), _LOGS_NO_OBJECT_LOCK)
        acknowledge(log_bucket, control("CT.S3.PR.10"), _LOGS_SSE_S3_ONLY)
        send_events_to_eventbridge(log_bucket)
        access_log_bucket = log_bucket
    encryption: dict[str, Any] = (
        {
            "encryption": s3.BucketEncryption.KMS,
            "encryption_key": encryption_key,
            "bucket_key_enabled": True,
        }
        if encryption_key is not None
        else {}
    )
    lock: dict[str, Any] = (
        {"object_lock_enabled": True, "object_lock_default_retention": object_lock.retention()}
        if object_lock is not None
        else {}
    )
    bucket = s3.Bucket(
        scope,
        bucket_id,
        **{
            **SECURE_BUCKET,
            **encryption,
            **lock,
            "server_access_logs_bucket": access_log_bucket,
            "server_access_logs_prefix": access_log_prefix,
            "lifecycle_rules": list(lifecycle_rules),
            "removal_policy": removal,
            **overrides(bucket_props, refused=("server_access_logs_bucket",)),
        },
    )
    send_events_to_eventbridge(bucket)
    if encryption_key is None:
        acknowledge(bucket, control("CT.S3.PR.10"), NO_CUSTOMER_MANAGED_KEY)
    if object_lock is None:
        acknowledge(bucket, control("CT.S3.PR.9"), no_object_lock_reason)
    return SecureBucket(bucket=bucket, access_log_bucket=access_log_bucket)
