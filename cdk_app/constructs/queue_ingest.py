"""The SQS FIFO front door: a FIFO queue and DLQ, a consumer, a tenant ledger, idempotency."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from kahula_core import spec

from .common import (
    LogLevel,
    Naming,
    check,
    in_range,
    knob,
    log_retention,
    pin_feature_flags,
)
from .encryption import use_through
from .event_bus import EventBus
from .event_table import EventTable
from .function_code import HANDLERS, RUNTIME, function_code, powertools_layer
from .nag import LOGS_WITHOUT_PAYLOADS, acknowledge, control, nag_resource, skip_scan
from .persister import Persister
from .secure_queue import SQS_MANAGED_SSE

#: AWS: a Lambda's SQS source queue needs a visibility timeout of at least 6 x its timeout.
VISIBILITY_FACTOR = 6


@dataclass(frozen=True, kw_only=True)
class QueueIngestProps:
    """The FIFO door's queue, consumer, ledger and idempotency settings."""

    memory_mb: int = knob(256, "consumer Lambda memory (arm64)")
    timeout_seconds: int = knob(30, "consumer Lambda timeout")
    visibility_timeout_seconds: int = knob(
        180, "queue visibility timeout (at least 6 x timeout_seconds: AWS)"
    )
    max_receive_count: int = knob(5, "receives before a message moves to the FIFO DLQ")
    batch_size: int = knob(10, "messages per invocation (SQS FIFO: at most 10)")
    max_concurrency: int | None = knob(
        None, "event source mapping maximum concurrency (None: Lambda's default scaling)"
    )
    queue_retention_days: int = knob(4, "retention of the FIFO queue")
    high_throughput: bool = knob(
        False, "FIFO high throughput (deduplication and limit per message group)"
    )
    events_ttl_days: int = knob(0, "ledger entry expiry (0: never)")
    idempotency_ttl_days: int = knob(7, "how long a (tenant, event id) is remembered")
    routes: tuple[tuple[str, str], ...] = knob((), "event type -> route, when a message has none")
    default_route: str | None = knob(None, "route of a type neither the message nor routes name")
    source_prefix: str = knob("tenant.", "store `source` of a queue event: prefix + tenant_id")
    log_retention_days: int = knob(365, "consumer log retention")
    log_level: LogLevel = knob(LogLevel.INFO, "Powertools log level")
    powertools_version: str = knob("3.37.0", "official Powertools layer version (= pip pin)")
    retain: bool = knob(True, "RETAIN the ledger and idempotency tables, with deletion protection")

    def __post_init__(self) -> None:
        problems: list[str] = []
        in_range(problems, "memory_mb", self.memory_mb, low=128, high=10240, why="Lambda limit")
        in_range(
            problems, "timeout_seconds", self.timeout_seconds, low=1, high=900, why="Lambda limit"
        )
        in_range(
            problems,
            "visibility_timeout_seconds",
            self.visibility_timeout_seconds,
            low=0,
            high=43200,
            why="SQS limit",
        )
        if (
            isinstance(self.timeout_seconds, int)
            and isinstance(self.visibility_timeout_seconds, int)
            and self.visibility_timeout_seconds < VISIBILITY_FACTOR * self.timeout_seconds
        ):
            problems.append(
                f"visibility_timeout_seconds ({self.visibility_timeout_seconds}) must be at least "
                f"{VISIBILITY_FACTOR} x timeout_seconds ({self.timeout_seconds}) = "
                f"{VISIBILITY_FACTOR * self.timeout_seconds}, or a message still being processed "
                "becomes visible again and is delivered twice (AWS Lambda guide, with-sqs)"
            )
        in_range(problems, "max_receive_count", self.max_receive_count, low=1, high=1000, why="SQS")
        in_range(problems, "batch_size", self.batch_size, low=1, high=10, why="SQS FIFO limit")
        if self.max_concurrency is not None:
            in_range(
                problems, "max_concurrency", self.max_concurrency, low=2, high=1000, why="Lambda"
            )
        in_range(
            problems,
            "queue_retention_days",
            self.queue_retention_days,
            low=1,
            high=14,
            why="SQS limit",
        )
        in_range(
            problems, "events_ttl_days", self.events_ttl_days, low=0, high=36500, why="0: never"
        )
        in_range(
            problems,
            "idempotency_ttl_days",
            self.idempotency_ttl_days,
            low=1,
            high=3650,
            why="a redelivery must still find it",
        )
        if not self.source_prefix or len(self.source_prefix) > 64:
            problems.append("source_prefix must be 1 to 64 characters")
        for pair in self.routes:
            if not (
                isinstance(pair, tuple)
                and len(pair) == 2
                and all(isinstance(s, str) and s for s in pair)
            ):
                problems.append(f"routes entries must be (event type, route) pairs, got {pair!r}")
        if not isinstance(self.log_level, LogLevel):
            problems.append(f"log_level must be a LogLevel, got {self.log_level!r}")
        try:
            log_retention(self.log_retention_days)
        except ValueError as exc:
            problems.append(str(exc))
        check(problems, "QueueIngestProps")


class QueueIngest(Construct):
    """Tenants' events through an SQS FIFO queue into the platform's store.

    Creates: ``queue`` (FIFO, group = tenant) and ``dead_letter_queue`` (FIFO), both SSE and
    TLS-only; ``ledger_table`` (the tenant ledger: ``tenant_id`` + ``sk``, GSI
    ``gsi_status_tenant``, TTL ``ttl``, stream NEW_IMAGE, PITR); ``idempotency_table``
    (``pk`` = ``tenant_id#event_id``, TTL ``ttl``); ``function`` with ``role``, ``log_group``
    and ``event_source`` (``ReportBatchItemFailures``). READY events are written into the
    persister's ``table`` through the same core (so conflicts, follow-ups and claim checks
    behave as for the bus) and into the archive through ``delivery_stream``.

    Least privilege, written out: consume the queue; SendMessage on its DLQ (unreadable
    envelopes, with their reason); PutItem on the ledger and idempotency tables; what the
    persister may write (PutItem on the table, PutEvents on the bus, PutObject on the
    claim-check prefix, SendMessage on the conflicts queue); PutRecord on the archive stream.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        persister: Persister,
        table: dynamodb.ITable | EventTable,
        event_bus: events.IEventBus | EventBus,
        delivery_stream: firehose.IDeliveryStream,
        naming: Naming | None = None,
        props: QueueIngestProps | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        self.props = props = props or QueueIngestProps()
        bus = event_bus.bus if isinstance(event_bus, EventBus) else event_bus
        key_attributes = (
            table.key_attributes if isinstance(table, EventTable) else (("unique_id", "HASH"),)
        )
        table = table.table if isinstance(table, EventTable) else table
        name = naming.of("queue-ingest") if naming else None
        encryption: dict[str, Any] = (
            {
                "encryption": sqs.QueueEncryption.KMS,
                "encryption_master_key": encryption_key,
                "data_key_reuse": Duration.minutes(5),
            }
            if encryption_key is not None
            else {"encryption": sqs.QueueEncryption.SQS_MANAGED}
        )
        throughput: dict[str, Any] = (
            {
                "deduplication_scope": sqs.DeduplicationScope.MESSAGE_GROUP,
                "fifo_throughput_limit": sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
            }
            if props.high_throughput
            else {}
        )

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=f"{name}-dlq.fifo" if name else None,
            fifo=True,
            content_based_deduplication=True,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            **encryption,
        )
        dlq_reason = (
            "This FIFO queue is itself the dead-letter destination of the ingest queue; "
            "a DLQ of a DLQ would only move the problem."
        )
        for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy", control("CT.SQS.PR.1")):
            acknowledge(self.dead_letter_queue, rule, dlq_reason)
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=f"{name}.fifo" if name else None,
            fifo=True,
            content_based_deduplication=True,
            enforce_ssl=True,
            retention_period=Duration.days(props.queue_retention_days),
            visibility_timeout=Duration.seconds(props.visibility_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=props.max_receive_count
            ),
            **encryption,
            **throughput,
        )
        if encryption_key is None:
            for queue in (self.queue, self.dead_letter_queue):
                skip_scan(queue, "checkov", "CKV_AWS_27", SQS_MANAGED_SSE)

        removal = RemovalPolicy.RETAIN if props.retain else RemovalPolicy.DESTROY
        pitr = dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
        string = dynamodb.AttributeType.STRING
        self.ledger_table = dynamodb.Table(
            self,
            "Ledger",
            table_name=naming.of("ledger") if naming else None,
            partition_key=dynamodb.Attribute(name="tenant_id", type=string),
            sort_key=dynamodb.Attribute(name="sk", type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=pitr,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute="ttl",
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            deletion_protection=props.retain,
            removal_policy=removal,
        )
        self.ledger_table.add_global_secondary_index(
            index_name=spec.LEDGER_STATUS_INDEX,
            partition_key=dynamodb.Attribute(name="status", type=string),
            sort_key=dynamodb.Attribute(name="tenant_id_created_at", type=string),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        self.idempotency_table = dynamodb.Table(
            self,
            "Idempotency",
            table_name=naming.of("idempotency") if naming else None,
            partition_key=dynamodb.Attribute(name="pk", type=string),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=pitr,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute="ttl",
            deletion_protection=props.retain,
            removal_policy=removal,
        )
        for each in (self.ledger_table, self.idempotency_table):
            skip_scan(
                each,
                "checkov",
                "CKV_AWS_119",
                "Encrypted at rest with the AWS managed key (aws/dynamodb), as the events table.",
            )

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(props.log_retention_days),
            encryption_key=encryption_key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="FIFO queue consumer: ledger, idempotency, store and archive writes",
        )
        self._grant(persister, table, bus, delivery_stream, encryption_key)

        payload_prefix = spec.PAYLOADS_PREFIX
        environment: dict[str, str] = {
            spec.Env.TABLE_NAME: table.table_name,
            spec.Env.EVENT_BUS_NAME: bus.event_bus_name,
            spec.Env.CONFLICTS_QUEUE_URL: persister.conflicts_queue.queue_url,
            spec.Env.PAYLOAD_BUCKET: persister.payload_bucket.bucket_name,
            spec.Env.PAYLOAD_PREFIX: payload_prefix,
            spec.Env.FOLLOW_UP_SOURCE: persister.follow_up_source,
            spec.Env.FOLLOW_UP_RULES: spec.encode_follow_up_rules(persister.follow_up_rules),
            spec.Env.INDEXED_ATTRIBUTES: spec.encode_indexed_attributes(key_attributes),
            **persister.props.contract.to_environment(),
            spec.QueueEnv.LEDGER_TABLE: self.ledger_table.table_name,
            spec.QueueEnv.IDEMPOTENCY_TABLE: self.idempotency_table.table_name,
            spec.QueueEnv.EVENTS_TTL_DAYS: str(props.events_ttl_days),
            spec.QueueEnv.IDEMPOTENCY_TTL_DAYS: str(props.idempotency_ttl_days),
            spec.QueueEnv.ROUTES: json.dumps(dict(props.routes), sort_keys=True),
            spec.QueueEnv.DEAD_LETTER_QUEUE_URL: self.dead_letter_queue.queue_url,
            spec.QueueEnv.ARCHIVE_STREAM: delivery_stream.delivery_stream_name,
            spec.QueueEnv.EVENT_SOURCE_PREFIX: props.source_prefix,
            # Metrics carry the platform's service dimension, so the stack's alarms and dashboard
            # count the events this door stores too; its logs name the consumer (handler.py).
            spec.Env.POWERTOOLS_SERVICE_NAME: spec.PERSISTER_SERVICE_NAME,
            spec.Env.POWERTOOLS_METRICS_NAMESPACE: persister.metrics_namespace,
            spec.Env.POWERTOOLS_LOG_LEVEL: props.log_level.value,
            spec.Env.POWERTOOLS_TRACE_DISABLED: "true",
        }
        if props.default_route:
            environment[spec.QueueEnv.DEFAULT_ROUTE] = props.default_route
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=naming.of("queue-consumer") if naming else None,
            description="Validates FIFO queue messages, records the tenant ledger, persists READY",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLERS["queue_consumer"],
            code=function_code(),
            layers=[powertools_layer(self, "Powertools", props.powertools_version)],
            memory_size=props.memory_mb,
            timeout=Duration.seconds(props.timeout_seconds),
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            environment=environment,
        )
        self.event_source = sources.SqsEventSource(
            self.queue,
            batch_size=props.batch_size,
            report_batch_item_failures=True,
            max_concurrency=props.max_concurrency,
        )
        self.function.add_event_source(self.event_source)
        acknowledge(
            self.node.find_child("Function"),
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event source mappings support no on-failure destination; failed messages "
            "reach the queue's FIFO DLQ through its redrive policy (max_receive_count).",
        )
        self._acknowledge(persister, encryption_key)

    def _grant(
        self,
        persister: Persister,
        table: dynamodb.ITable,
        bus: events.IEventBus,
        delivery_stream: firehose.IDeliveryStream,
        encryption_key: kms.IKey | None,
    ) -> None:
        # Receive/delete/visibility on the queue: the event source mapping's own L2 grant
        # (grant_consume_messages), added with the mapping.
        role = self.role
        statements = {
            "WriteOwnLogs": (
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [self.log_group.log_group_arn],
            ),
            "DeadLetterUnreadableMessages": (
                ["sqs:SendMessage"],
                [self.dead_letter_queue.queue_arn],
            ),
            "RecordLedgerAndIdempotency": (
                ["dynamodb:PutItem"],
                [self.ledger_table.table_arn, self.idempotency_table.table_arn],
            ),
            "PutNewItemsOnly": (["dynamodb:PutItem"], [table.table_arn]),
            "StoreOversizePayloads": (
                ["s3:PutObject"],
                [persister.payload_bucket.arn_for_objects(f"{spec.PAYLOADS_PREFIX}/*")],
            ),
            "QuarantineConflicts": (["sqs:SendMessage"], [persister.conflicts_queue.queue_arn]),
            "ArchiveReadyEvents": (
                ["firehose:PutRecord"],
                [delivery_stream.delivery_stream_arn],
            ),
        }
        for sid, (actions, resources) in statements.items():
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        bus.grant_put_events_to(role)
        if encryption_key is not None:
            role.add_to_policy(use_through(encryption_key, "sqs", "s3"))

    def _acknowledge(self, persister: Persister, encryption_key: kms.IKey | None) -> None:
        payload_objects = persister.payload_bucket.arn_for_objects(f"{spec.PAYLOADS_PREFIX}/*")
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level scoping.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{nag_resource(self, payload_objects)}]",
            "PutObject only, under the claim-check prefix; keys are content hashes made at "
            "run time, so they cannot be listed in the policy.",
        )
        if encryption_key is None:
            skip_scan(self.log_group, "checkov", "CKV_AWS_158", LOGS_WITHOUT_PAYLOADS)
            acknowledge(self.log_group, control("CT.CLOUDWATCH.PR.3"), LOGS_WITHOUT_PAYLOADS)
        outside_vpc = (
            "The function calls only AWS APIs over TLS; a VPC would add endpoint cost and "
            "cold-start time and protect nothing here."
        )
        acknowledge(self.function, control("CT.LAMBDA.PR.3"), outside_vpc)
        skip_scan(self.function, "checkov", "CKV_AWS_117", outside_vpc)
        for check_id, reason in {
            "CKV_AWS_116": "An SQS-triggered function: failed messages go to the queue's FIFO "
            "DLQ after max_receive_count receives; a function DLQ applies to async invokes only.",
            "CKV_AWS_115": "Concurrency is bounded by the event source mapping "
            "(max_concurrency) and by the FIFO message groups.",
            "CKV_AWS_173": "The environment holds resource names, paths and routes, no "
            "secrets; Lambda encrypts it at rest with its service key.",
        }.items():
            skip_scan(self.function, "checkov", check_id, reason)
        skip_scan(
            self.function,
            "cfn-lint",
            "W3005",
            "CDK orders the function after its role and the role's policy; the role part is "
            "redundant with Fn::GetAtt, the policy part is needed.",
        )
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "Invoked by an SQS event source mapping (synchronous): the queue's redrive policy "
            "moves failed messages to the FIFO DLQ; a function DLQ would never be used.",
        )
