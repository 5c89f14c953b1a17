"""The Kinesis front door: a data stream whose records are persisted like bus events."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from kahula_core import spec

from .common import (
    LAMBDA_MEMORY_MB,
    LAMBDA_RESERVED_CONCURRENCY,
    LAMBDA_TIMEOUT_SECONDS,
    SQS_RETENTION_DAYS,
    LogLevel,
    Naming,
    PlatformLogLevel,
    check,
    enum_problems,
    exclusive,
    knob,
    log_retention,
    overrides,
    pin_feature_flags,
    range_problems,
)
from .core_function import PersistenceCore, archive_stream, core_function, door_core
from .event_archive import EventArchive
from .event_bus import EventBus
from .event_table import EventTable
from .nag import acknowledge
from .network import ARCHIVING_INTERFACE_ENDPOINTS, DEFAULT_INTERFACE_ENDPOINTS, FunctionNetwork
from .persister import Persister
from .secure_queue import SecureQueue


@jsii.implements(lambda_.IEventSourceDlq)
class _SendOnlyFailureQueue:
    """The mapping's on-failure destination. The L2 ``SqsDlq`` grants GetQueueAttributes,
    GetQueueUrl and, on a KMS queue, every encrypt action; the role's own statements grant
    SendMessage and the key's use through SQS instead."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(self, _target: Any, _handler: Any) -> lambda_.DlqDestinationConfig:
        return lambda_.DlqDestinationConfig(destination=self._queue.queue_arn)


#: What the failure queue's messages hold (for its alarm): coordinates, not records.
FAILURE_QUEUE_NOTE = (
    "batch coordinates (shard id, first and last sequence number), NOT the records: read "
    "them from the stream while its retention lasts and put them again; do not redrive."
)


class StreamMode(enum.StrEnum):
    """Kinesis capacity mode: on demand (no shards to size) or provisioned shards."""

    ON_DEMAND = "ON_DEMAND"
    PROVISIONED = "PROVISIONED"


@dataclass(frozen=True, kw_only=True)
class StreamIngestProps:
    """The stream, its consumer function and its event source mapping. Defaults: bounded
    retries, bisect on error, partial batch responses; a poison record never blocks a shard."""

    stream_mode: StreamMode = knob(StreamMode.ON_DEMAND, "Kinesis capacity mode")
    shard_count: int = knob(1, "shards when PROVISIONED", within=(1, 500, "shard quota"))
    retention_hours: int = knob(24, "stream retention (hours)", within=(24, 8760, "Kinesis"))
    batch_size: int = knob(
        100, "records per invocation (event source mapping)", within=(1, 10_000, "Lambda")
    )
    max_batching_window_seconds: int = knob(
        1, "wait up to this long to fill a batch", within=(0, 300, "Lambda")
    )
    bisect_on_error: bool = knob(True, "split a failing batch in two and retry each half")
    # -1 (forever) is Lambda's default and blocks a shard on a poison batch: refused.
    retry_attempts: int = knob(
        10,
        "retries of a failing batch before the on-failure queue",
        within=(0, 10_000, "bounded: -1 would retry a poison batch until it expires"),
    )
    max_record_age_seconds: int = knob(
        6 * 3600,
        "records older than this go to the on-failure queue unprocessed",
        within=(60, 604_800, "bounded: -1 would keep a poison batch until it expires"),
    )
    parallelization_factor: int = knob(
        1, "concurrent batches per shard (order kept per key)", within=(1, 10, "Lambda")
    )
    enhanced_fan_out: bool = knob(False, "a dedicated-throughput (EFO) stream consumer")
    memory_mb: int = knob(256, "Lambda memory (arm64)", within=LAMBDA_MEMORY_MB)
    timeout_seconds: int = knob(60, "Lambda timeout (a whole batch)", within=LAMBDA_TIMEOUT_SECONDS)
    reserved_concurrency: int | None = knob(
        None, "reserved concurrency (None: unreserved)", within=LAMBDA_RESERVED_CONCURRENCY
    )
    log_retention_days: int = knob(365, "function log retention")
    log_level: LogLevel = knob(LogLevel.INFO, "Powertools log level")
    platform_log_level: PlatformLogLevel = knob(PlatformLogLevel.WARN, "Lambda system log level")
    detailed_tracing: bool = knob(False, "X-Ray subsegments per AWS call")
    powertools_version: str = knob("3.37.0", "official Powertools layer version (= pip pin)")
    queue_retention_days: int = knob(
        14, "retention of the quarantine and on-failure queues", within=SQS_RETENTION_DAYS
    )
    iterator_age_alarm_seconds: int = knob(
        300, "oldest unread record age that alarms", within=(1, 604_800, "Kinesis retention")
    )
    bare_id_field: str = knob(spec.BARE_ID_FIELD, "bare event: field holding its id")
    bare_message_field: str = knob(spec.BARE_MESSAGE_FIELD, "bare event: field of its message")
    bare_type_field: str = knob(spec.BARE_TYPE_FIELD, "bare event: field of its type")
    bare_default_type: str = knob(spec.BARE_DEFAULT_TYPE, "bare event: type when absent")
    bare_source: str | None = knob(None, "bare event: source (None: `{prefix}.stream`)")
    retain: bool = knob(True, "RETAIN the stream it creates on stack deletion")

    def __post_init__(self) -> None:
        problems = range_problems(self)
        problems += enum_problems(self)
        age, hours = self.max_record_age_seconds, self.retention_hours
        if isinstance(age, int) and isinstance(hours, int) and age > hours * 3600:
            problems.append(
                f"max_record_age_seconds ({age}) must not exceed the stream retention "
                f"({hours} h): the record would expire first, unrecorded"
            )
        for name in ("bare_id_field", "bare_message_field", "bare_type_field"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{name} must be a non-empty string, got {value!r}")
        if self.bare_id_field == self.bare_message_field:
            problems.append("bare_id_field and bare_message_field must differ")
        try:
            log_retention(self.log_retention_days)
        except ValueError as exc:
            problems.append(str(exc))
        check(problems, "StreamIngestProps")

    def __str__(self) -> str:
        """Only what differs from the defaults (the README's configuration reference)."""
        changed = [
            f"{f.name}={getattr(getattr(self, f.name), 'value', getattr(self, f.name))}"
            for f in fields(self)
            if getattr(self, f.name) != f.default
        ]
        return f"StreamIngestProps({', '.join(changed)})"


class StreamIngest(Construct):
    """A Kinesis data stream, its consumer function and the event source mapping between them.

    ``StreamIngest(self, "S", event_bus=bus, table=table, core=persister.core, archive=archive)``
    is a whole call. The consumer stores each record through ``core`` (``persister.core``, or
    ``StandaloneCore(...).core`` to deploy no persister; ``persister=`` still works): its
    contract, follow-up rules and source, claim-check bucket and conflicts queue. ``archive``
    (an ``EventArchive`` or a delivery stream) is required: each stored record is archived
    there in the bus's line format; ``archive=None`` is the explicit choice of no archive.
    ``existing_stream`` XOR ``stream_props``. The function, role and log group come
    from ``core_function`` (what the persister may write, from one definition); ``network``
    runs it in a VPC (``endpoints`` with ``add_endpoints``, Firehose's included).

    Queues: ``quarantine_queue`` (malformed records, with reason and coordinates; the shard
    moves on), ``failure_queue`` (the mapping's on-failure destination: the coordinates of a
    batch whose retries or age ran out). Alarms: ``iterator_age_alarm``,
    ``batch_item_failures_alarm`` (the queues' depth and the function's errors belong to
    Monitoring); ``add_alarm_actions(topic)`` wires them to an alarm topic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus | EventBus,
        table: dynamodb.ITable | EventTable,
        archive: EventArchive | firehose.IDeliveryStream | None,
        core: PersistenceCore | None = None,
        persister: Persister | None = None,
        existing_stream: kinesis.IStream | None = None,
        stream_props: Mapping[str, Any] | None = None,
        naming: Naming | None = None,
        props: StreamIngestProps | None = None,
        encryption_key: kms.IKey | None = None,
        network: FunctionNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        exclusive("StreamIngest", existing_stream=existing_stream, stream_props=stream_props)
        self.props = props = props or StreamIngestProps()
        self.core = door_core(
            "StreamIngest", core=core, persister=persister, table=table, event_bus=event_bus
        )
        archive_to = archive_stream(archive)
        prefix = naming.prefix if naming else "kahula"
        self.bare_source = props.bare_source or spec.bare_event_source(prefix)
        self.metrics_namespace = self.core.metrics_namespace

        if existing_stream is not None:
            self.stream = existing_stream
        else:
            self.stream = kinesis.Stream(
                self,
                "Stream",
                **{
                    "stream_name": naming.of("stream") if naming else None,
                    "stream_mode": getattr(kinesis.StreamMode, props.stream_mode.value),
                    "shard_count": (
                        props.shard_count if props.stream_mode is StreamMode.PROVISIONED else None
                    ),
                    "retention_period": Duration.hours(props.retention_hours),
                    # The project's key when set, else the AWS managed key alias/aws/kinesis.
                    "encryption": (
                        kinesis.StreamEncryption.KMS
                        if encryption_key is not None
                        else kinesis.StreamEncryption.MANAGED
                    ),
                    "encryption_key": encryption_key,
                    "removal_policy": RemovalPolicy.RETAIN
                    if props.retain
                    else RemovalPolicy.DESTROY,
                    **overrides(stream_props, refused=("encryption", "encryption_key")),
                },
            )

        def kept(cid: str, suffix: str, what: str) -> SecureQueue:
            return SecureQueue(
                self,
                cid,
                queue_name=f"{naming.of('stream')}-{suffix}" if naming else None,
                retention=Duration.days(props.queue_retention_days),
                dead_letter_of=what,
                encryption_key=encryption_key,
            )

        self.quarantine_queue = kept(
            "Quarantine", "malformed", "malformed stream records, with reason and coordinates"
        ).queue
        self.failure_queue = kept(
            "Failures", "failed", "stream batches whose retries or record age ran out"
        ).queue

        environment: dict[str, str] = {
            spec.BatchEnv.QUARANTINE_QUEUE_URL: self.quarantine_queue.queue_url,
            spec.BatchEnv.BARE_ID_FIELD: props.bare_id_field,
            spec.BatchEnv.BARE_MESSAGE_FIELD: props.bare_message_field,
            spec.BatchEnv.BARE_TYPE_FIELD: props.bare_type_field,
            spec.BatchEnv.BARE_DEFAULT_TYPE: props.bare_default_type,
            spec.BatchEnv.BARE_SOURCE: self.bare_source,
        }
        # Beyond what the persister may write: its quarantine and on-failure queues, the archive.
        statements = [
            iam.PolicyStatement(
                sid="QuarantineMalformedAndFailedBatches",
                actions=["sqs:SendMessage"],
                resources=[self.quarantine_queue.queue_arn, self.failure_queue.queue_arn],
            )
        ]
        if archive_to is not None:
            environment[spec.BatchEnv.ARCHIVE_STREAM_NAME] = archive_to.delivery_stream_name
            statements.append(
                iam.PolicyStatement(
                    sid="ArchiveStoredRecords",
                    actions=["firehose:PutRecordBatch"],
                    resources=[archive_to.delivery_stream_arn],
                )
            )
        # The stream it creates with the project's key is read through Kinesis with that key:
        # the core's key statement (through SQS and S3) names Kinesis too.
        own_stream_key = existing_stream is None and encryption_key is not None
        built = core_function(
            self,
            core=self.core,
            handler="stream_consumer",
            function_name=naming.of("stream-consumer") if naming else None,
            description="Persists every record of its Kinesis stream exactly once",
            role_description="Stream consumer: read its stream; write what the persister writes",
            knobs=props,
            environment={**environment, **self.core.door_environment()},
            statements=statements,
            detailed_tracing=props.detailed_tracing,
            reserved_concurrency=props.reserved_concurrency,
            encryption_key=encryption_key,
            key_services=("kinesis",) if own_stream_key else (),
            network=network,
            endpoints_for=(
                ARCHIVING_INTERFACE_ENDPOINTS if archive_to else DEFAULT_INTERFACE_ENDPOINTS
            ),
            scan_skips={
                "CKV_AWS_116": "A stream consumer is invoked synchronously by its event source "
                "mapping, whose on-failure destination (failure_queue) keeps the failed batch's "
                "coordinates; a function DLQ would never receive anything.",
                "CKV_AWS_115": "Reserved concurrency caps throughput and takes from the account "
                "pool; set reserved_concurrency in StreamIngestProps when needed.",
                "CKV_AWS_173": "The environment holds resource names and contract paths, no "
                "secrets; Lambda encrypts it at rest with its service key.",
            },
        )
        self.function, self.role, self.log_group = built.function, built.role, built.log_group
        self.network = network
        self.endpoints = built.endpoints

        # The mapping is written as an L2 EventSourceMapping, not KinesisEventSource, whose
        # grantRead adds ListStreams, DescribeStreamConsumer and SubscribeToShard even without
        # a consumer: the read statement below is exactly what the mapping needs.
        self.consumer: kinesis.StreamConsumer | None = None
        if props.enhanced_fan_out:
            self.consumer = kinesis.StreamConsumer(
                self,
                "Consumer",
                stream=self.stream,
                stream_consumer_name=naming.of("stream-consumer") if naming else construct_id,
            )
        self._grant_read(own_stream_key=own_stream_key)
        self.event_source_mapping = lambda_.EventSourceMapping(
            self,
            "Mapping",
            target=self.function,
            event_source_arn=(
                self.consumer.stream_consumer_arn if self.consumer else self.stream.stream_arn
            ),
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=props.batch_size,
            max_batching_window=Duration.seconds(props.max_batching_window_seconds),
            report_batch_item_failures=True,
            bisect_batch_on_error=props.bisect_on_error,
            retry_attempts=props.retry_attempts,
            max_record_age=Duration.seconds(props.max_record_age_seconds),
            parallelization_factor=props.parallelization_factor,
            on_failure=_SendOnlyFailureQueue(self.failure_queue),
        )
        # The mapping must not start polling before the role may read the stream.
        policy = self.role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            self.event_source_mapping.node.add_dependency(policy)
        self._alarms(props, naming)
        self._acknowledge(encryption_key)

    def _grant_read(self, *, own_stream_key: bool) -> None:
        """Read the stream (and, with enhanced fan-out, subscribe through its consumer)."""
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadItsStream",
                actions=[
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                resources=[self.stream.stream_arn],
            )
        )
        if self.consumer is not None:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="SubscribeThroughItsConsumer",
                    actions=["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"],
                    resources=[self.consumer.stream_consumer_arn],
                )
            )
        key = self.stream.encryption_key
        if key is not None and not own_stream_key:
            # An existing stream with a key of its own: CDK's grant (Decrypt on that key).
            key.grant_decrypt(self.role)

    @property
    def alarms(self) -> tuple[cloudwatch.Alarm, ...]:
        return (self.iterator_age_alarm, self.batch_item_failures_alarm)

    def add_alarm_actions(self, topic: sns.ITopic) -> None:
        """Notify ``topic`` (Monitoring's) when one of this construct's alarms fires."""
        for alarm in self.alarms:
            alarm.add_alarm_action(cw_actions.SnsAction(topic))

    def _alarms(self, props: StreamIngestProps, naming: Naming | None) -> None:
        name = (lambda what: f"{naming.alarm_prefix}-{what}") if naming else (lambda _: None)
        self.iterator_age_alarm = cloudwatch.Alarm(
            self,
            "IteratorAgeAlarm",
            alarm_name=name("stream-iterator-age"),
            alarm_description=(
                "The stream consumer is falling behind: its oldest unread record is older than "
                f"{props.iterator_age_alarm_seconds} s (records past max_record_age go to the "
                "on-failure queue unprocessed)."
            ),
            metric=self.function.metric(
                "IteratorAge", statistic="Maximum", period=Duration.minutes(1)
            ),
            threshold=props.iterator_age_alarm_seconds * 1000,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.batch_item_failures_alarm = cloudwatch.Alarm(
            self,
            "BatchItemFailuresAlarm",
            alarm_name=name("stream-batch-item-failures"),
            alarm_description=(
                "The stream consumer reported records for redelivery (throttling, a 5xx, the "
                "archive refusing them) in 3 of the last 5 minutes."
            ),
            metric=cloudwatch.Metric(
                namespace=self.metrics_namespace,
                metric_name=spec.BATCH_ITEM_FAILURES_METRIC,
                dimensions_map={"service": spec.PERSISTER_SERVICE_NAME},
                statistic="Sum",
                period=Duration.minutes(1),
            ),
            threshold=1,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _acknowledge(self, encryption_key: kms.IKey | None) -> None:
        if encryption_key is not None and isinstance(self.stream, kinesis.Stream):
            acknowledge(
                self.stream,
                "AwsSolutions-KDS3",
                "The project's customer managed key was chosen (EncryptionProps): one key "
                "policy governs the stream with every other resource it encrypts.",
            )
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "Invoked synchronously by its event source mapping, whose on-failure destination "
            "(failure_queue) keeps each failed batch's shard and sequence numbers.",
        )
