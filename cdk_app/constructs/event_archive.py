"""Every event on the bus, archived to S3 through Firehose as gzipped JSON lines."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .event_bus import EVERY_EVENT
from .nag import acknowledge, logical_id, skip_scan
from .secure_queue import SecureQueue
from .targets import FirehoseTarget

HOUR_PARTITION = (
    "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
)
EVENTS_PREFIX = "events/"
ERRORS_PREFIX = "errors/"
DATA_OUTPUT_PREFIX = EVENTS_PREFIX + HOUR_PARTITION
ERROR_OUTPUT_PREFIX = ERRORS_PREFIX + "!{firehose:error-output-type}/" + HOUR_PARTITION
# Oversize event details (the persister's claim checks) live beside the archive but outside
# its lifecycle rules: they must stay readable for as long as the table item points at them.
PAYLOADS_PREFIX = "oversize-payloads/"
# Every bucket here: encrypted, private, TLS-only, versioned, no ACLs.
SECURE_BUCKET: dict[str, Any] = {
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "enforce_ssl": True,
    "versioned": True,
    "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
}
LOGS_WITHOUT_PAYLOADS = (
    "CloudWatch Logs encrypts at rest by default; these logs hold ids, hashes and errors, "
    "never event payloads, so a customer managed key would add cost and no protection."
)


class EventArchive(Construct):
    """A rule sends every event on ``event_bus`` to a Firehose stream that writes to S3.

    Records are newline-delimited (Firehose's AppendDelimiterToRecord processor), gzipped, and
    partitioned Hive-style by arrival hour (UTC). The rule target retries and then dead-letters
    to ``self.dead_letter_queue``. The bucket is encrypted, versioned, TLS-only, private, with
    server access logs and a tiering lifecycle; ``retain`` keeps both buckets on stack deletion.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus,
        stream_name: str,
        dead_letter_queue_name: str,
        retain: bool,
        buffer_size: Size,
        buffer_interval: Duration,
        infrequent_access_after: Duration,
        glacier_after: Duration,
        expire_after: Duration | None,
        access_log_retention: Duration,
        log_retention: logs.RetentionDays,
        queue_retention: Duration,
        retry_attempts: int,
        max_event_age: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        # Access logs are delivered under a bucket policy, never ACLs, whatever the host app's
        # feature flags say (context set here applies to this construct's children only).
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY

        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            **SECURE_BUCKET,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=access_log_retention,
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
            removal_policy=removal,
        )
        skip_scan(
            self.access_log_bucket,
            "checkov",
            "CKV_AWS_18",
            "This is the server access log bucket; logging it to itself would loop.",
        )
        acknowledge(
            self.access_log_bucket,
            "AwsSolutions-S1",
            "This is the server access log bucket; logging it to itself would loop.",
        )

        archive_tiers = [
            s3.Transition(
                storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                transition_after=infrequent_access_after,
            ),
            s3.Transition(storage_class=s3.StorageClass.GLACIER, transition_after=glacier_after),
        ]
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            **SECURE_BUCKET,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="archive-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=f"tier-{prefix.strip('/')}",
                    prefix=prefix,
                    transitions=archive_tiers,
                    expiration=expire_after,
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
            removal_policy=removal,
        )

        self.delivery_log_group = logs.LogGroup(
            self,
            "DeliveryLogs",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        skip_scan(self.delivery_log_group, "checkov", "CKV_AWS_158", LOGS_WITHOUT_PAYLOADS)
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
        bucket_id = logical_id(self.bucket)
        for prefix in (EVENTS_PREFIX, ERRORS_PREFIX):
            acknowledge(
                self.delivery_role,
                f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefix}*]",
                "Firehose names objects at delivery time (hour partitions, random suffix); the "
                "grant is scoped to its own prefix and to Get/Put/AbortMultipartUpload.",
            )
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "Stream",
            delivery_stream_name=stream_name,
            encryption=firehose.StreamEncryption.aws_owned_key(),
            destination=firehose.S3Bucket(
                self.bucket,
                role=self.delivery_role.without_policy_updates(),
                buffering_size=buffer_size,
                buffering_interval=buffer_interval,
                compression=firehose.Compression.GZIP,
                file_extension=".json.gz",
                data_output_prefix=DATA_OUTPUT_PREFIX,
                error_output_prefix=ERROR_OUTPUT_PREFIX,
                processors=[firehose.AppendDelimiterToRecordProcessor()],
                logging_config=firehose.EnableLogging(self.delivery_log_group),
            ),
        )

        # The role is immutable to the L2, so it no longer orders the stream after the role's
        # policy; the role itself is already a dependency through the stream's RoleARN.
        policy = self.delivery_role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        self.delivery_stream.node.add_dependency(policy)

        dlq = SecureQueue(
            self,
            "DeadLetters",
            queue_name=dead_letter_queue_name,
            retention=queue_retention,
            dead_letter_of="events EventBridge could not deliver to the archive stream",
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
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=event_bus,
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
                        retry_attempts=retry_attempts,
                        max_event_age=max_event_age,
                    ),
                )
            ],
        )
