"""The aggregate event store: a table of per-aggregate event streams, its indexes, backups,
an outbox (DynamoDB Streams -> EventBridge Pipes -> the platform bus) and its alarms.

The table layout comes from ``kahula_core.aggregates.schema``, the module the runtime
client reads, so the two cannot disagree. No runtime logic lives here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_pipes as pipes
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from kahula_core import spec
from kahula_core.aggregates import schema

from .nag import acknowledge, control, skip_scan

FIVE_MINUTES = Duration.minutes(5)
_NEW = "$.dynamodb.NewImage"


def knob(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, kw_only=True)
class AggregateEventStoreProps:
    """Every tunable of :class:`AggregateEventStore`, with its secure default."""

    table_name: str | None = knob(None, "physical table name (None: CloudFormation names it)")
    retain: bool = knob(True, "RETAIN the table and deletion protection (False only in dev)")
    backups: bool = knob(True, "AWS Backup plan: one backup a day, kept backup_retention_days")
    backup_retention_days: int = knob(90, "days each daily backup is kept")
    date_bucket_shards: int = knob(
        1, "partitions per day of the by-time index; each takes ~1,000 writes/s (= the client's)"
    )
    outbox_source: str = knob(
        "kahula.aggregate-store", "source of every event the outbox puts on the bus"
    )
    outbox_domain: str | None = knob(
        None, "detail.metadata.domain of published events (None: the aggregate type)"
    )
    outbox_batch_size: int = knob(10, "stream records per pipe batch (PutEvents takes 10)")
    outbox_max_retry_attempts: int = knob(185, "pipe retries of a failing batch, then its DLQ")
    outbox_max_record_age_seconds: int = knob(
        21_600, "records older than this go to the DLQ (stream retention is 24 h)"
    )
    outbox_dlq_retention_days: int = knob(14, "retention of the outbox dead-letter queue")
    append_latency_alarm_ms: int = knob(100, "TransactWriteItems p99 latency that alarms (15 min)")
    conflicts_alarm_per_5min: int = knob(
        50, "ConcurrencyErrors (client EMF metric) or transaction conflicts per 5 min that alarm"
    )
    metrics_namespace: str | None = knob(
        None, "namespace of the client's AppendConflicts metric (None: no such alarm)"
    )
    alarm_name_prefix: str | None = knob(None, "alarm name prefix (None: CloudFormation names)")

    def __post_init__(self) -> None:
        if not 1 <= self.date_bucket_shards <= schema.MAX_DATE_BUCKET_SHARDS:
            raise ValueError(
                f"date_bucket_shards must be 1..{schema.MAX_DATE_BUCKET_SHARDS}, "
                f"got {self.date_bucket_shards}"
            )
        if not 1 <= self.outbox_batch_size <= 10:
            raise ValueError("outbox_batch_size must be 1..10 (PutEvents takes 10 entries)")
        if not 0 <= self.outbox_max_retry_attempts <= 10_000:
            raise ValueError("outbox_max_retry_attempts must be 0..10000 (Pipes' range)")
        if not 60 <= self.outbox_max_record_age_seconds <= 86_400:
            raise ValueError(
                "outbox_max_record_age_seconds must be 60..86400: the stream keeps records "
                "24 h, so a longer age would let them vanish without reaching the DLQ"
            )
        if self.backup_retention_days < 1:
            raise ValueError("backup_retention_days must be at least 1")


def outbox_input_template(domain: str | None) -> str:
    """The pipe's input template: the bus event's ``detail`` built from the stream record.

    Pipes cannot unmarshal DynamoDB's typed JSON without an enrichment step, so ``data``
    and ``event_metadata`` keep their attribute-value form (``{"qty": {"N": "2"}}``).
    """
    domain_value = domain if domain is not None else f"<{_NEW}.aggregate_type.S>"
    metadata = {
        "event_id": f"<{_NEW}.event_id.S>",
        "domain": domain_value,
        "aggregate_id": f"<{_NEW}.aggregate_id.S>",
        "aggregate_type": f"<{_NEW}.aggregate_type.S>",
        "event_type": f"<{_NEW}.event_type.S>",
        "sequence_number": f"<{_NEW}.sequence_number.N>",
        "schema_version": f"<{_NEW}.schema_version.N>",
        "recorded_at_ms": f"<{_NEW}.timestamp.N>",
    }
    body = json.dumps({"metadata": metadata}, separators=(",", ":"))
    # Maps are inserted unquoted, as JSON objects.
    return body[:-1] + f',"event_metadata":<{_NEW}.metadata.M>,"data":<{_NEW}.event_data.M>' + "}"


class AggregateEventStore(Construct):
    """Event-sourced aggregates' streams, published to ``event_bus`` once committed.

    Creates ``table`` (with ``table.table_stream_arn``), ``pipe`` and ``pipe_role``,
    ``dead_letter_queue`` (unless ``existing_dead_letter_queue``), ``backup_plan`` (when
    ``props.backups``) and ``alarms`` (name -> alarm, each notifying ``alarm_topic``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus,
        props: AggregateEventStoreProps | None = None,
        alarm_topic: sns.ITopic | None = None,
        existing_dead_letter_queue: sqs.IQueue | None = None,
        dead_letter_queue_props: sqs.QueueProps | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if existing_dead_letter_queue is not None and dead_letter_queue_props is not None:
            raise ValueError("give existing_dead_letter_queue or dead_letter_queue_props, not both")
        self.props = props = props or AggregateEventStoreProps()
        self.event_bus = event_bus
        self.table = self._table(props)
        self.dead_letter_queue = existing_dead_letter_queue or self._dead_letter_queue(
            props, dead_letter_queue_props
        )
        self.pipe_role = self._pipe_role()
        self.pipe = self._pipe(props)
        self.backup_plan: backup.BackupPlan | None = (
            self._backup_plan(props) if props.backups else None
        )
        self._action = actions.SnsAction(alarm_topic) if alarm_topic is not None else None
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._add_alarms(props)

    def add_alarm_actions(self, topic: sns.ITopic) -> None:
        """Notify ``topic`` when one of the store's alarms fires (a topic made after the store,
        e.g. Monitoring's when the HTTP API's functions need the store first)."""
        action = actions.SnsAction(topic)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(action)

    # ------------------------------------------------------------------ table
    def _table(self, props: AggregateEventStoreProps) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "Table",
            table_name=props.table_name,
            partition_key=dynamodb.Attribute(
                name=schema.AGGREGATE_ID, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=schema.SEQUENCE_NUMBER, type=dynamodb.AttributeType.NUMBER
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            deletion_protection=props.retain,
            removal_policy=RemovalPolicy.RETAIN if props.retain else RemovalPolicy.DESTROY,
        )
        types = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}
        for index, pk, pk_type, sk, sk_type in schema.INDEXES:
            table.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=pk, type=types[pk_type]),
                sort_key=dynamodb.Attribute(name=sk, type=types[sk_type]),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        skip_scan(
            table,
            "checkov",
            "CKV_AWS_119",
            "Encrypted at rest with the AWS managed key (aws/dynamodb), with no key to "
            "administer or lose; a customer managed key is an escape hatch away when needed.",
        )
        return table

    # ------------------------------------------------------------------ outbox
    def _dead_letter_queue(
        self, props: AggregateEventStoreProps, overrides: sqs.QueueProps | None
    ) -> sqs.Queue:
        settings: dict[str, Any] = {
            "encryption": sqs.QueueEncryption.SQS_MANAGED,
            "enforce_ssl": True,
            "retention_period": Duration.days(props.outbox_dlq_retention_days),
            "max_message_size_bytes": spec.SQS_MAX_MESSAGE_BYTES,
        }
        if overrides is not None:
            settings |= {k: v for k, v in overrides._values.items() if v is not None}
        queue = sqs.Queue(self, "OutboxDeadLetterQueue", **settings)
        reason = (
            "This queue is itself the dead-letter destination of the outbox pipe; a DLQ of a "
            "DLQ would only move the problem."
        )
        acknowledge(queue, "AwsSolutions-SQS3", reason)
        acknowledge(queue, "Serverless-SQSRedrivePolicy", reason)
        acknowledge(queue, control("CT.SQS.PR.1"), reason)
        skip_scan(
            queue,
            "checkov",
            "CKV_AWS_27",
            "Encrypted at rest with SSE-SQS; a customer managed key would need a key policy "
            "for the Pipes service role and a KMS call per message.",
        )
        return queue

    def _pipe_role(self) -> iam.Role:
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "PipeRole",
            assumed_by=iam.ServicePrincipal(
                "pipes.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description="Outbox pipe: reads the aggregate table's stream, puts to the bus",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:ListStreams",
                ],
                resources=[self.table.table_stream_arn or ""],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"], resources=[self.event_bus.event_bus_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"], resources=[self.dead_letter_queue.queue_arn]
            )
        )
        return role

    def _pipe(self, props: AggregateEventStoreProps) -> pipes.CfnPipe:
        pipe = pipes.CfnPipe(
            self,
            "OutboxPipe",
            description="Outbox: each committed aggregate event, published to the bus",
            role_arn=self.pipe_role.role_arn,
            source=self.table.table_stream_arn or "",
            target=self.event_bus.event_bus_arn,
            source_parameters=pipes.CfnPipe.PipeSourceParametersProperty(
                dynamo_db_stream_parameters=pipes.CfnPipe.PipeSourceDynamoDBStreamParametersProperty(
                    starting_position="TRIM_HORIZON",
                    batch_size=props.outbox_batch_size,
                    maximum_batching_window_in_seconds=0,
                    parallelization_factor=1,
                    maximum_retry_attempts=props.outbox_max_retry_attempts,
                    maximum_record_age_in_seconds=props.outbox_max_record_age_seconds,
                    on_partial_batch_item_failure="AUTOMATIC_BISECT",
                    dead_letter_config=pipes.CfnPipe.DeadLetterConfigProperty(
                        arn=self.dead_letter_queue.queue_arn
                    ),
                ),
                filter_criteria=pipes.CfnPipe.FilterCriteriaProperty(
                    filters=[
                        pipes.CfnPipe.FilterProperty(pattern=json.dumps({"eventName": ["INSERT"]}))
                    ]
                ),
            ),
            target_parameters=pipes.CfnPipe.PipeTargetParametersProperty(
                event_bridge_event_bus_parameters=pipes.CfnPipe.PipeTargetEventBridgeEventBusParametersProperty(
                    source=props.outbox_source,
                    detail_type=f"{_NEW}.event_type.S",
                ),
                input_template=outbox_input_template(props.outbox_domain),
            ),
        )
        # The role's policy must exist before the pipe starts reading the stream.
        policy = self.pipe_role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            pipe.node.add_dependency(policy)
        return pipe

    # ------------------------------------------------------------------ backups
    def _backup_plan(self, props: AggregateEventStoreProps) -> backup.BackupPlan:
        plan = backup.BackupPlan(
            self,
            "BackupPlan",
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="daily",
                    schedule_expression=events.Schedule.cron(hour="3", minute="0"),
                    delete_after=Duration.days(props.backup_retention_days),
                )
            ],
        )
        skip_scan(
            plan.backup_vault,
            "checkov",
            "CKV_AWS_166",
            "The vault is encrypted with AWS Backup's AWS managed key, as the table is with "
            "DynamoDB's: no key to administer or lose; a customer managed key needs a key "
            "policy for AWS Backup and is an escape hatch away when policy demands it.",
        )
        selection = plan.add_selection(
            "Table", resources=[backup.BackupResource.from_dynamo_db_table(self.table)]
        )
        acknowledge(
            selection.node.find_child("Role"),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSBackupServiceRolePolicyForBackup]",
            "AWS Backup's own service-role policy is what AWS maintains for taking backups; "
            "the selection role is assumed only by backup.amazonaws.com for this table.",
        )
        return plan

    # ------------------------------------------------------------------ alarms
    def _add_alarms(self, props: AggregateEventStoreProps) -> None:
        table_name = self.table.table_name
        transact = {"TableName": table_name, "Operation": "TransactWriteItems"}
        self._alarm(
            "append-latency",
            cloudwatch.Metric(
                namespace="AWS/DynamoDB",
                metric_name="SuccessfulRequestLatency",
                dimensions_map=transact,
                period=FIVE_MINUTES,
                statistic="p99",
            ),
            "Appends (TransactWriteItems) p99 latency is high for 15 minutes.",
            threshold=props.append_latency_alarm_ms,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            periods=3,
        )
        self._alarm(
            "append-system-errors",
            cloudwatch.Metric(
                namespace="AWS/DynamoDB",
                metric_name="SystemErrors",
                dimensions_map=transact,
                period=FIVE_MINUTES,
                statistic="Sum",
            ),
            "DynamoDB failed appends with server errors (callers got StoreUnavailableError).",
        )
        self._alarm(
            "append-throttles",
            self.table.metric_throttled_requests_for_operations(
                operations=[dynamodb.Operation.TRANSACT_WRITE_ITEMS], period=FIVE_MINUTES
            ),
            "Appends were throttled: a hot aggregate or an index partition at its limit.",
        )
        for index, *_ in schema.INDEXES:
            self._alarm(
                f"index-throttles-{index}",
                cloudwatch.Metric(
                    namespace="AWS/DynamoDB",
                    metric_name="WriteThrottleEvents",
                    dimensions_map={"TableName": table_name, "GlobalSecondaryIndexName": index},
                    period=FIVE_MINUTES,
                    statistic="Sum",
                ),
                f"Index {index} throttled writes, which throttles appends; see the write "
                "rates per index (date_bucket_shards for by-time).",
            )
        self._alarm(
            "transaction-conflicts",
            cloudwatch.Metric(
                namespace="AWS/DynamoDB",
                metric_name="TransactionConflict",
                dimensions_map={"TableName": table_name},
                period=FIVE_MINUTES,
                statistic="Sum",
            ),
            "Concurrent transactions on the same items were cancelled (callers retry).",
            threshold=props.conflicts_alarm_per_5min,
        )
        if props.metrics_namespace:
            self._alarm(
                "append-conflicts",
                cloudwatch.Metric(
                    namespace=props.metrics_namespace,
                    metric_name="AppendConflicts",
                    dimensions_map={"TableName": table_name},
                    period=FIVE_MINUTES,
                    statistic="Sum",
                ),
                "Many appends lost an optimistic-concurrency race (ConcurrencyError).",
                threshold=props.conflicts_alarm_per_5min,
            )
        for metric_name, what in (
            ("ExecutionFailed", "failed"),
            ("ExecutionThrottled", "was throttled"),
            ("TargetStageFailed", "could not put events on the bus"),
        ):
            self._alarm(
                f"outbox-{metric_name}",
                cloudwatch.Metric(
                    namespace="AWS/EventBridge/Pipes",
                    metric_name=metric_name,
                    dimensions_map={"PipeName": self.pipe.ref},
                    period=FIVE_MINUTES,
                    statistic="Sum",
                ),
                f"The outbox pipe {what}; it retries, then dead-letters the batch.",
            )
        self._alarm(
            "outbox-dlq",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            "Committed events were not published: the DLQ holds their stream positions; "
            "republish them from the table (see the outbox section).",
        )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        description: str,
        *,
        threshold: float = 1,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
        periods: int = 1,
    ) -> None:
        prefix = self.props.alarm_name_prefix
        alarm = cloudwatch.Alarm(
            self,
            f"Alarm-{name}",
            alarm_name=f"{prefix}-{name}" if prefix else None,
            alarm_description=f"{description} Runbook: docs/aggregate-event-store.md.",
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        if self._action is not None:
            alarm.add_alarm_action(self._action)
        self.alarms[name] = alarm
