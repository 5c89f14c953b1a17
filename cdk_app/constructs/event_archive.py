"""Every event on the bus, archived to S3 through Firehose as gzipped JSON lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Size, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from kahula_core import spec

from .common import (
    RULE_MAX_EVENT_AGE_SECONDS,
    RULE_RETRY_ATTEMPTS,
    SQS_RETENTION_DAYS,
    Naming,
    check,
    exclusive,
    in_range,
    knob,
    log_retention,
    pin_feature_flags,
    range_problems,
)
from .encryption import use_through
from .event_bus import EVERY_EVENT, EventBus, every_event_except
from .nag import LOGS_WITHOUT_PAYLOADS, acknowledge, control, nag_resource, skip_scan
from .secure_bucket import ObjectLock, ObjectLockMode, secure_bucket
from .secure_queue import SecureQueue
from .targets import FirehoseTarget

HOUR_PARTITION = (
    "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
)
EVENTS_PREFIX = spec.ARCHIVE_EVENTS_PREFIX
ERRORS_PREFIX = "errors/"
DATA_OUTPUT_PREFIX = EVENTS_PREFIX + HOUR_PARTITION
ERROR_OUTPUT_PREFIX = ERRORS_PREFIX + "!{firehose:error-output-type}/" + HOUR_PARTITION


@dataclass(frozen=True, kw_only=True)
class EventArchiveProps:
    """Buffering, storage tiers and retention of the S3 archive."""

    retain: bool = knob(True, "RETAIN the archive and access-log buckets on stack deletion")
    buffer_mib: int = knob(128, "Firehose buffer size (MiB)", within=(1, 128, "Firehose limit"))
    buffer_seconds: int = knob(900, "Firehose buffer interval", within=(0, 900, "Firehose limit"))
    infrequent_access_after_days: int = knob(30, "archive to Standard-IA after")
    glacier_after_days: int = knob(90, "archive to Glacier Flexible Retrieval after")
    expire_after_days: int | None = knob(None, "archive expiry (None: keep)")
    access_log_retention_days: int = knob(365, "S3 server access log retention")
    log_retention_days: int = knob(365, "Firehose delivery-error log retention")
    object_lock_mode: ObjectLockMode | None = knob(
        None, "S3 Object Lock on the archive bucket (None: off; it cannot be turned off later)"
    )
    object_lock_days: int = knob(365, "default retention of each archived object version")
    queue_retention_days: int = knob(
        14, "retention of the undeliverable queue", within=SQS_RETENTION_DAYS
    )
    rule_retry_attempts: int = knob(
        185, "EventBridge target retries before its DLQ", within=RULE_RETRY_ATTEMPTS
    )
    rule_max_event_age_seconds: int = knob(
        24 * 3600, "EventBridge target maximum event age", within=RULE_MAX_EVENT_AGE_SECONDS
    )

    def __post_init__(self) -> None:
        problems = range_problems(self)
        if not self.infrequent_access_after_days < self.glacier_after_days:
            problems.append("archive tiers must go Infrequent Access before Glacier")
        if self.infrequent_access_after_days < 30:
            problems.append("infrequent_access_after_days must be at least 30 (S3 rule)")
        expire = self.expire_after_days
        if expire is not None and expire <= self.glacier_after_days:
            problems.append("expire_after_days must come after the Glacier transition")
        try:
            log_retention(self.log_retention_days)
        except ValueError as exc:
            problems.append(str(exc))
        if self.object_lock_mode is not None:
            if not isinstance(self.object_lock_mode, ObjectLockMode):
                problems.append(
                    f"object_lock_mode must be an ObjectLockMode or None, "
                    f"got {self.object_lock_mode!r}"
                )
            in_range(
                problems,
                "object_lock_days",
                self.object_lock_days,
                low=1,
                high=36500,
                why="S3 Object Lock",
            )
            if expire is not None and self.object_lock_days > expire:
                problems.append(
                    "object_lock_days must not exceed expire_after_days (a locked version "
                    "outlives its expiry and is billed until the lock ends)"
                )
        check(problems, "EventArchiveProps")

    @property
    def object_lock(self) -> ObjectLock | None:
        if self.object_lock_mode is None:
            return None
        return ObjectLock(self.object_lock_mode, self.object_lock_days)


class EventArchive(Construct):
    """A rule sends every event on ``event_bus`` to a Firehose stream that writes to S3.

    Records are newline-delimited (Firehose's AppendDelimiterToRecord processor), gzipped, and
    partitioned Hive-style by arrival hour (UTC). :meth:`exclude_source` keeps a source's
    events out (replay wrappers: their originals are archived already). The rule target
    retries and then dead-letters to ``self.dead_letter_queue``. The bucket it creates is
    encrypted, versioned, TLS-only, private, with server access logs and a tiering lifecycle.
    ``existing_bucket`` XOR ``bucket_props`` (keyword arguments of ``s3.Bucket`` for the one
    it creates).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus | EventBus,
        existing_bucket: s3.IBucket | None = None,
        bucket_props: Mapping[str, Any] | None = None,
        naming: Naming | None = None,
        props: EventArchiveProps | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        exclusive("EventArchive", existing_bucket=existing_bucket, bucket_props=bucket_props)
        self.props = props = props or EventArchiveProps()
        bus = event_bus.bus if isinstance(event_bus, EventBus) else event_bus
        self.access_log_bucket: s3.IBucket | None = None
        if existing_bucket is not None:
            self.bucket = existing_bucket
        else:
            archive_tiers = [
                s3.Transition(
                    storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                    transition_after=Duration.days(props.infrequent_access_after_days),
                ),
                s3.Transition(
                    storage_class=s3.StorageClass.GLACIER,
                    transition_after=Duration.days(props.glacier_after_days),
                ),
            ]
            expire = props.expire_after_days
            created = secure_bucket(
                self,
                "Bucket",
                retain=props.retain,
                access_log_prefix="archive-bucket/",
                access_log_retention_days=props.access_log_retention_days,
                bucket_props=bucket_props,
                encryption_key=encryption_key,
                object_lock=props.object_lock,
                no_object_lock_reason=(
                    "Object Lock is off (EventArchiveProps.object_lock_mode): it cannot be undone "
                    "and keeps every version for its retention; environments that hold the "
                    "record (staging, prod) turn it on."
                ),
                lifecycle_rules=[
                    s3.LifecycleRule(
                        id=f"tier-{prefix.strip('/')}",
                        prefix=prefix,
                        transitions=archive_tiers,
                        expiration=Duration.days(expire) if expire else None,
                        noncurrent_version_expiration=Duration.days(30),
                    )
                    for prefix in (EVENTS_PREFIX, ERRORS_PREFIX)
                ]
                + [
                    s3.LifecycleRule(
                        id="abort-incomplete-uploads",
                        abort_incomplete_multipart_upload_after=Duration.days(7),
                    )
                ],
            )
            self.bucket = created.bucket
            self.access_log_bucket = created.access_log_bucket

        self.delivery_log_group = logs.LogGroup(
            self,
            "DeliveryLogs",
            retention=log_retention(props.log_retention_days),
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        if encryption_key is None:
            skip_scan(self.delivery_log_group, "checkov", "CKV_AWS_158", LOGS_WITHOUT_PAYLOADS)
            acknowledge(
                self.delivery_log_group, control("CT.CLOUDWATCH.PR.3"), LOGS_WITHOUT_PAYLOADS
            )
        # Exactly what Firehose needs to deliver to S3 and log delivery errors. The L2 default
        # would grant read/write on the whole bucket (DeleteObject* included), so the stream
        # gets this role as immutable and the L2's own grants become no-ops.
        self.delivery_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"),
            description="Archive stream: write gzipped events and errors to the archive bucket",
        )
        self.delivery_role.add_to_policy(
            iam.PolicyStatement(
                sid="FindBucketAndUploads",
                actions=[
                    "s3:GetBucketLocation",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                ],
                resources=[self.bucket.bucket_arn],
            )
        )
        self.delivery_role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteArchiveObjects",
                actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                resources=[
                    self.bucket.arn_for_objects(f"{EVENTS_PREFIX}*"),
                    self.bucket.arn_for_objects(f"{ERRORS_PREFIX}*"),
                ],
            )
        )
        self.delivery_role.add_to_policy(
            iam.PolicyStatement(
                sid="LogDeliveryErrors",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.delivery_log_group.log_group_arn],
            )
        )
        if encryption_key is not None:
            self.delivery_role.add_to_policy(use_through(encryption_key, "s3"))
        for prefix in (EVENTS_PREFIX, ERRORS_PREFIX):
            objects = nag_resource(self, self.bucket.arn_for_objects(f"{prefix}*"))
            acknowledge(
                self.delivery_role,
                f"AwsSolutions-IAM5[Resource::{objects}]",
                "Firehose names objects at delivery time (hour partitions, random suffix); the "
                "grant is scoped to its own prefix and to Get/Put/AbortMultipartUpload.",
            )
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "Stream",
            delivery_stream_name=naming.delivery_stream if naming else None,
            encryption=firehose.StreamEncryption.aws_owned_key(),
            destination=firehose.S3Bucket(
                self.bucket,
                role=self.delivery_role.without_policy_updates(),
                buffering_size=Size.mebibytes(props.buffer_mib),
                buffering_interval=Duration.seconds(props.buffer_seconds),
                compression=firehose.Compression.GZIP,
                file_extension=".json.gz",
                data_output_prefix=DATA_OUTPUT_PREFIX,
                error_output_prefix=ERROR_OUTPUT_PREFIX,
                processors=[firehose.AppendDelimiterToRecordProcessor()],
                logging_config=firehose.EnableLogging(self.delivery_log_group),
            ),
        )

        # In a stack without a region, aws-cdk-lib's DeliveryStream adds a region -> CIDR
        # mapping of Firehose's addresses, referenced only by destinations that must let them
        # in (Redshift, a VPC endpoint); an S3 destination never reads it. Acknowledged, not
        # removed: a later aws-cdk-lib may reference it.
        if Token.is_unresolved(Stack.of(self).region):
            acknowledge(
                Stack.of(self),
                "CloudFormation-Validate::W7001",
                "the Firehose L2's address mapping (awscdkawskinesisfirehoseCidrBlocks) is read "
                "only by Redshift and VPC destinations; this stream delivers to S3.",
            )
        # The role is immutable to the L2, so it no longer orders the stream after the role's
        # policy; the role itself is already a dependency through the stream's RoleARN.
        policy = self.delivery_role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        self.delivery_stream.node.add_dependency(policy)

        dlq = SecureQueue(
            self,
            "DeadLetters",
            queue_name=naming.of("archive-undeliverable") if naming else None,
            retention=Duration.days(props.queue_retention_days),
            dead_letter_of="events EventBridge could not deliver to the archive stream",
            encryption_key=encryption_key,
        )
        self.dead_letter_queue = dlq.queue
        self.rule_role = iam.Role(
            self,
            "RuleRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Lets the archive rule put records on the archive delivery stream",
        )
        self.rule_role.add_to_policy(
            iam.PolicyStatement(
                actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
                resources=[self.delivery_stream.delivery_stream_arn],
            )
        )
        self._excluded: list[str] = []
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description="Every event on the bus, to the S3 archive",
            event_pattern=EVERY_EVENT,
            targets=[
                # jsii.implements is invisible to mypy, hence the cast.
                cast(
                    events.IRuleTarget,
                    FirehoseTarget(
                        self.delivery_stream,
                        role=self.rule_role,
                        dead_letter_queue=self.dead_letter_queue,
                        retry_attempts=props.rule_retry_attempts,
                        max_event_age=Duration.seconds(props.rule_max_event_age_seconds),
                    ),
                )
            ],
        )

    def exclude_source(self, source: str) -> None:
        """Do not archive events of ``source`` (the rule matches every other event)."""
        self._excluded.append(source)
        cfn = self.rule.node.default_child
        assert isinstance(cfn, events.CfnRule)
        cfn.event_pattern = every_event_except(self._excluded)
