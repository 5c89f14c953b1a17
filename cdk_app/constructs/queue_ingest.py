"""The SQS FIFO front door: a FIFO queue and DLQ, a consumer, a tenant ledger, idempotency."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Names, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from kahula_core import spec

from .common import (
    LAMBDA_MEMORY_MB,
    LAMBDA_TIMEOUT_SECONDS,
    SQS_MAX_RECEIVE_COUNT,
    SQS_RETENTION_DAYS,
    SQS_VISIBILITY_SECONDS,
    LogLevel,
    Naming,
    PlatformLogLevel,
    check,
    enum_problems,
    knob,
    log_retention,
    pin_feature_flags,
    range_problems,
)
from .core_function import PersistenceCore, archive_stream, core_function, door_core
from .event_archive import EventArchive
from .event_bus import EventBus
from .event_table import EventTable
from .nag import acknowledge, control, skip_scan
from .network import ARCHIVING_INTERFACE_ENDPOINTS, FunctionNetwork
from .persister import Persister
from .secure_queue import SQS_MANAGED_SSE

#: AWS: a Lambda's SQS source queue needs a visibility timeout of at least 6 x its timeout.
VISIBILITY_FACTOR = 6


@dataclass(frozen=True, kw_only=True)
class QueueIngestProps:
    """The FIFO door's queue, consumer, ledger and idempotency settings."""

    memory_mb: int = knob(256, "consumer Lambda memory (arm64)", within=LAMBDA_MEMORY_MB)
    timeout_seconds: int = knob(30, "consumer Lambda timeout", within=LAMBDA_TIMEOUT_SECONDS)
    visibility_timeout_seconds: int = knob(
        180,
        "queue visibility timeout (at least 6 x timeout_seconds: AWS)",
        within=SQS_VISIBILITY_SECONDS,
    )
    max_receive_count: int = knob(
        5, "receives before a message moves to the FIFO DLQ", within=SQS_MAX_RECEIVE_COUNT
    )
    batch_size: int = knob(
        10, "messages per invocation (SQS FIFO: at most 10)", within=(1, 10, "SQS FIFO limit")
    )
    max_concurrency: int | None = knob(
        None,
        "event source mapping maximum concurrency (None: Lambda's default scaling)",
        within=(2, 1000, "Lambda"),
    )
    queue_retention_days: int = knob(4, "retention of the FIFO queue", within=SQS_RETENTION_DAYS)
    high_throughput: bool = knob(
        False, "FIFO high throughput (deduplication and limit per message group)"
    )
    events_ttl_days: int = knob(0, "ledger entry expiry (0: never)", within=(0, 36500, "0: never"))
    idempotency_ttl_days: int = knob(
        7,
        "how long a (tenant, event id) is remembered",
        within=(1, 3650, "a redelivery must still find it"),
    )
    routes: tuple[tuple[str, str], ...] = knob((), "event type -> route, when a message has none")
    default_route: str | None = knob(None, "route of a type neither the message nor routes name")
    source_prefix: str = knob("tenant.", "store `source` of a queue event: prefix + tenant_id")
    log_retention_days: int = knob(365, "consumer log retention")
    log_level: LogLevel = knob(LogLevel.INFO, "Powertools log level")
    platform_log_level: PlatformLogLevel = knob(
        PlatformLogLevel.WARN, "Lambda system log level (WARN drops START/END/REPORT lines: cost)"
    )
    powertools_version: str = knob("3.37.0", "official Powertools layer version (= pip pin)")
    retain: bool = knob(True, "RETAIN the ledger and idempotency tables, with deletion protection")

    def __post_init__(self) -> None:
        problems = range_problems(self)
        problems += enum_problems(self)
        timeout, visibility = self.timeout_seconds, self.visibility_timeout_seconds
        if (
            isinstance(timeout, int)
            and isinstance(visibility, int)
            and visibility < VISIBILITY_FACTOR * timeout
        ):
            problems.append(
                f"visibility_timeout_seconds ({visibility}) must be at least "
                f"{VISIBILITY_FACTOR} x timeout_seconds ({timeout}) = "
                f"{VISIBILITY_FACTOR * timeout}, or a message still being processed "
                "becomes visible again and is delivered twice (AWS Lambda guide, with-sqs)"
            )
        if not isinstance(self.source_prefix, str) or not 1 <= len(self.source_prefix) <= 64:
            problems.append(f"source_prefix must be 1 to 64 characters, got {self.source_prefix!r}")
        elif self.source_prefix != self.source_prefix.strip() or any(
            c in self.source_prefix for c in ",*?"
        ):
            problems.append(
                "source_prefix is reserved on the bus by prefix: no commas, wildcards or "
                f"surrounding spaces, got {self.source_prefix!r}"
            )
        if self.default_route is not None and (
            not isinstance(self.default_route, str) or not self.default_route
        ):
            problems.append(
                f"default_route must be a non-empty string or None, got {self.default_route!r}"
            )
        for pair in self.routes:
            if not (
                isinstance(pair, tuple)
                and len(pair) == 2
                and all(isinstance(s, str) and s for s in pair)
            ):
                problems.append(f"routes entries must be (event type, route) pairs, got {pair!r}")
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
    and ``event_source_mapping`` (``ReportBatchItemFailures``), built by ``core_function``.
    READY events are written into ``table`` through ``core`` (``persister.core``, or
    ``StandaloneCore(...).core`` to deploy no persister; ``persister=`` still works), so
    conflicts, follow-ups and claim checks behave as for the bus, and into ``archive`` (an
    ``EventArchive`` or a delivery stream; required). ``encryption_key`` encrypts both queues,
    both tables and the log group; ``network`` runs the consumer in a VPC (``endpoints`` with
    ``add_endpoints``).

    Least privilege, written out: consume the queue; SendMessage on its DLQ (unreadable
    envelopes, with their reason); PutItem on the ledger and idempotency tables; what the
    persister may write (``PersistenceCore.grant_writes``, the follow-up source reserved on an
    ``EventBus`` included); PutRecord on the archive stream; the key only through SQS, S3 and
    DynamoDB.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable | EventTable,
        event_bus: events.IEventBus | EventBus,
        archive: EventArchive | firehose.IDeliveryStream,
        core: PersistenceCore | None = None,
        persister: Persister | None = None,
        naming: Naming | None = None,
        props: QueueIngestProps | None = None,
        encryption_key: kms.IKey | None = None,
        network: FunctionNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        pin_feature_flags(self)
        self.props = props = props or QueueIngestProps()
        self.core = door_core(
            "QueueIngest", core=core, persister=persister, table=table, event_bus=event_bus
        )
        if isinstance(self.core.event_bus, EventBus):
            # The door stamps {source_prefix}{tenant_id} itself and never publishes it on the
            # bus: no producer may claim it there (the other doors refuse it too).
            self.core.event_bus.reserve_source_prefix(props.source_prefix)
        delivery_stream = archive_stream(archive)
        if delivery_stream is None:
            raise ValueError(
                "QueueIngest: archive= is required (an EventArchive or a delivery stream): "
                "the FIFO door archives every event it stores"
            )
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
            max_message_size_bytes=spec.SQS_MAX_MESSAGE_BYTES,
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
            max_message_size_bytes=spec.SQS_MAX_MESSAGE_BYTES,
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
        # The tenants' events and their ids: with the project's key, encrypted with it too.
        table_encryption: dict[str, Any] = (
            {
                "encryption": dynamodb.TableEncryption.CUSTOMER_MANAGED,
                "encryption_key": encryption_key,
            }
            if encryption_key is not None
            else {"encryption": dynamodb.TableEncryption.AWS_MANAGED}
        )
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
            time_to_live_attribute="ttl",
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            deletion_protection=props.retain,
            removal_policy=removal,
            **table_encryption,
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
            time_to_live_attribute="ttl",
            deletion_protection=props.retain,
            removal_policy=removal,
            **table_encryption,
        )
        if encryption_key is None:
            for each in (self.ledger_table, self.idempotency_table):
                skip_scan(
                    each,
                    "checkov",
                    "CKV_AWS_119",
                    "Encrypted at rest with the AWS managed key (aws/dynamodb), as the events "
                    "table.",
                )

        environment: dict[str, str] = {
            spec.QueueEnv.LEDGER_TABLE: self.ledger_table.table_name,
            spec.QueueEnv.IDEMPOTENCY_TABLE: self.idempotency_table.table_name,
            spec.QueueEnv.EVENTS_TTL_DAYS: str(props.events_ttl_days),
            spec.QueueEnv.IDEMPOTENCY_TTL_DAYS: str(props.idempotency_ttl_days),
            spec.QueueEnv.ROUTES: json.dumps(dict(props.routes), sort_keys=True),
            spec.QueueEnv.DEAD_LETTER_QUEUE_URL: self.dead_letter_queue.queue_url,
            spec.QueueEnv.ARCHIVE_STREAM: delivery_stream.delivery_stream_name,
            spec.QueueEnv.EVENT_SOURCE_PREFIX: props.source_prefix,
        }
        if props.default_route:
            environment[spec.QueueEnv.DEFAULT_ROUTE] = props.default_route
        # Beyond what the persister may write: the DLQ (unreadable envelopes, with their
        # reason), the ledger and idempotency tables, the archive.
        statements = [
            iam.PolicyStatement(sid=sid, actions=actions, resources=resources)
            for sid, actions, resources in (
                ("DeadLetterUnreadableMessages", ["sqs:SendMessage"],
                 [self.dead_letter_queue.queue_arn]),
                ("RecordLedgerAndIdempotency", ["dynamodb:PutItem"],
                 [self.ledger_table.table_arn, self.idempotency_table.table_arn]),
                ("ArchiveReadyEvents", ["firehose:PutRecord"],
                 [delivery_stream.delivery_stream_arn]),
            )
        ]  # fmt: skip
        built = core_function(
            self,
            core=self.core,
            handler="queue_consumer",
            function_name=naming.of("queue-consumer") if naming else None,
            description="Validates FIFO queue messages, records the tenant ledger, persists READY",
            role_description="FIFO queue consumer: ledger, idempotency, store and archive writes",
            knobs=props,
            environment=environment,
            statements=statements,
            encryption_key=encryption_key,
            # SendMessage to its SSE-KMS DLQ, PutItem into the ledger tables encrypted with it.
            key_services=("dynamodb",),
            network=network,
            endpoints_for=ARCHIVING_INTERFACE_ENDPOINTS,
            scan_skips={
                "CKV_AWS_116": "An SQS-triggered function: failed messages go to the queue's FIFO "
                "DLQ after max_receive_count receives; a function DLQ applies to async invokes "
                "only.",
                "CKV_AWS_115": "Concurrency is bounded by the event source mapping "
                "(max_concurrency) and by the FIFO message groups.",
                "CKV_AWS_173": "The environment holds resource names, paths and routes, no "
                "secrets; Lambda encrypts it at rest with its service key.",
            },
        )
        self.function, self.role, self.log_group = built.function, built.role, built.log_group
        self.network = network
        self.endpoints = built.endpoints
        # The mapping as SqsEventSource makes it (same id), without its grant: on an SSE-KMS
        # queue that grant adds kms:Decrypt on the key through any service. The role reads the
        # queue and uses the key through SQS only (grant_writes above).
        self.event_source_mapping = self.function.add_event_source_mapping(
            f"SqsEventSource:{Names.node_unique_id(self.queue.node)}",
            event_source_arn=self.queue.queue_arn,
            batch_size=props.batch_size,
            max_concurrency=props.max_concurrency,
            report_batch_item_failures=True,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sqs:ReceiveMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueUrl",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                ],
                resources=[self.queue.queue_arn],
            )
        )
        acknowledge(
            self.node.find_child("Function"),
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event source mappings support no on-failure destination; failed messages "
            "reach the queue's FIFO DLQ through its redrive policy (max_receive_count).",
        )
        self._acknowledge()

    def _acknowledge(self) -> None:
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "Invoked by an SQS event source mapping (synchronous): the queue's redrive policy "
            "moves failed messages to the FIFO DLQ; a function DLQ would never be used.",
        )
