"""An S3 bucket with the project's secure defaults and server access logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .common import overrides
from .nag import acknowledge, skip_scan

# Every bucket here: encrypted, private, TLS-only, versioned, no ACLs.
SECURE_BUCKET: Mapping[str, Any] = {
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "enforce_ssl": True,
    "versioned": True,
    "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
}
_LOGS_LOOP = "This is the server access log bucket; logging it to itself would loop."


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
) -> SecureBucket:
    """Create the bucket (and, unless given, its access-log bucket) directly in ``scope``.

    A function, not a construct, so the buckets' construct paths (and so their logical ids)
    are those of the construct that owns them. ``bucket_props`` are keyword arguments of
    ``s3.Bucket`` merged over the defaults (``bucket_name`` for a fixed name, for instance).
    """
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
        access_log_bucket = log_bucket
    bucket = s3.Bucket(
        scope,
        bucket_id,
        **{
            **SECURE_BUCKET,
            "server_access_logs_bucket": access_log_bucket,
            "server_access_logs_prefix": access_log_prefix,
            "lifecycle_rules": list(lifecycle_rules),
            "removal_policy": removal,
            **overrides(bucket_props, refused=("server_access_logs_bucket",)),
        },
    )
    return SecureBucket(bucket=bucket, access_log_bucket=access_log_bucket)
