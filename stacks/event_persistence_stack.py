"""One stack per environment: the whole event-persistence pipeline, composed."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from aws_cdk import App, CfnOutput, Environment, Stack
from constructs import Construct
from kahula_core import spec

from cdk_app import stack_outputs as so
from cdk_app.checks import apply_checks
from cdk_app.config import EnvironmentConfig
from cdk_app.constructs import (
    AggregateEventStore,
    ArchiveCatalog,
    EncryptionKey,
    EventApi,
    EventArchive,
    EventBus,
    EventReplay,
    EventTable,
    FollowUpRouting,
    Monitoring,
    Persister,
    QueueIngest,
    StreamIngest,
)
from cdk_app.constructs.nag import acknowledge, control
from cdk_app.constructs.stream_ingest import FAILURE_QUEUE_NOTE


class EventPersistenceStack(Stack):
    """Bus, table, persister, archive, follow-up routing and monitoring for one environment."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, prefix: str
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=config.account, region=config.region),
            description=f"{prefix} event persistence ({config.name})",
            termination_protection=config.termination_protection,
            tags={"project": prefix, "environment": config.name},
        )
        naming = config.naming(prefix)
        self.encryption = (
            EncryptionKey(self, "EncryptionKey", props=config.encryption)
            if config.encryption.customer_managed_key
            else None
        )
        key = self.encryption.key if self.encryption else None
        bus = EventBus(self, "EventBus", naming=naming, props=config.bus)
        table = EventTable(self, "EventTable", naming=naming, props=config.table)
        archive = EventArchive(
            self,
            "EventArchive",
            event_bus=bus,
            naming=naming,
            props=config.archive,
            encryption_key=key,
        )
        persister = Persister(
            self,
            "Persister",
            event_bus=bus,
            table=table,
            existing_payload_bucket=archive.bucket,
            naming=naming,
            props=config.persister,
            encryption_key=key,
        )
        # kahula replay: archived events back on the bus with their identity (README, Replay).
        self.replay = EventReplay(
            self,
            "EventReplay",
            event_bus=bus,
            archive=archive,
            persister=persister,
            naming=naming,
            encryption_key=key,
        )
        routing = FollowUpRouting(
            self,
            "FollowUpRouting",
            event_bus=bus,
            persister=persister,
            naming=naming,
            props=config.follow_ups,
            encryption_key=key,
        )
        # The Kinesis front door, where configured: the persister's contract, follow-ups,
        # claim checks and conflicts queue; stored records go to the same archive.
        self.stream: StreamIngest | None = None
        if config.stream is not None:
            self.stream = StreamIngest(
                self,
                "StreamIngest",
                event_bus=bus,
                table=table,
                persister=persister,
                archive=archive,
                naming=naming,
                props=config.stream,
                encryption_key=key,
            )
        stream_functions = {"stream-consumer": self.stream.function} if self.stream else {}
        stream_queues = (
            {
                "stream-failed": self.stream.failure_queue,
                "stream-malformed": self.stream.quarantine_queue,
            }
            if self.stream
            else {}
        )
        self.queue_ingest: QueueIngest | None = None
        if config.queue is not None:
            self.queue_ingest = QueueIngest(
                self,
                "QueueIngest",
                persister=persister,
                table=table,
                event_bus=bus,
                archive=archive,
                naming=naming,
                props=config.queue,
                encryption_key=key,
            )
        queue_ingest = self.queue_ingest
        self.aggregates: AggregateEventStore | None = None
        if config.aggregates is not None:
            # Events appended by event-sourced services reach the bus through the store's
            # outbox; only its pipe may publish under the store's source. Made before the API
            # (which may serve it) and Monitoring (whose topic its alarms notify, below).
            given = config.aggregates
            self.aggregates = AggregateEventStore(
                self,
                "AggregateEventStore",
                event_bus=bus.bus,
                props=dataclasses.replace(
                    given,
                    table_name=given.table_name or naming.of("aggregates"),
                    outbox_source=f"{prefix}.aggregate-store",
                    metrics_namespace=given.metrics_namespace or naming.metrics_namespace,
                    alarm_name_prefix=given.alarm_name_prefix
                    or f"{naming.alarm_prefix}-aggregates",
                ),
            )
            bus.reserve_source(self.aggregates.props.outbox_source, self.aggregates.pipe_role)

        # The HTTP API, where configured: a second front door onto the same table and bus.
        self.api = (
            EventApi(
                self,
                "EventApi",
                event_bus=bus,
                table=table,
                persister=persister,
                archive=archive,
                # The aggregate store's routes: the API's job only when both are configured.
                aggregate_store=self.aggregates,
                naming=naming,
                props=config.api,
                encryption_key=key,
            )
            if config.api is not None
            else None
        )
        api_functions = (
            {"api-writer": self.api.writer, "api-reader": self.api.reader} if self.api else {}
        )
        if self.api is not None and self.api.aggregate_writer and self.api.aggregate_reader:
            api_functions["api-aggregate-writer"] = self.api.aggregate_writer
            api_functions["api-aggregate-reader"] = self.api.aggregate_reader
        monitoring = Monitoring(
            self,
            "Monitoring",
            functions={
                "persister": persister.function,
                **stream_functions,
                **api_functions,
                **({"queue-consumer": queue_ingest.function} if queue_ingest else {}),
            },
            per_event_function=persister.function,
            # Only the persister is invoked asynchronously (its rule's target); the others by
            # API Gateway or an event source mapping, synchronously.
            asynchronous_functions=("persister",),
            api=self.api.api if self.api is not None else None,
            table=table.table,
            delivery_stream=archive.delivery_stream,
            rules={
                "persist": persister.rule,
                "archive": archive.rule,
                **{t.removesuffix("Event").lower(): r for t, r in routing.rules.items()},
            },
            dead_letter_queues={
                "persister-failed": persister.failure_queue,
                "persister-undeliverable": persister.undeliverable_queue,
                "persister-conflicts": persister.conflicts_queue,
                "archive-undeliverable": archive.dead_letter_queue,
                "follow-ups-undeliverable": routing.dead_letter_queue,
                **({"queue-ingest-dlq": queue_ingest.dead_letter_queue} if queue_ingest else {}),
                **{
                    f"{t.removesuffix('Event').lower()}-consumer-dlq": q
                    for t, q in routing.consumer_dead_letter_queues.items()
                },
                **stream_queues,
            },
            metrics_namespace=naming.metrics_namespace,
            service_name=spec.PERSISTER_SERVICE_NAME,
            name_prefix=naming.alarm_prefix,
            props=config.monitoring,
            queue_notes={"stream-failed": FAILURE_QUEUE_NOTE} if self.stream else {},
        )

        if self.stream is not None:
            self.stream.add_alarm_actions(monitoring.topic)
        if self.aggregates is not None:
            self.aggregates.add_alarm_actions(monitoring.topic)

        # SQL over the archive (kahula query): Glue table with partition projection, Athena.
        self.catalog = (
            ArchiveCatalog(
                self,
                "ArchiveCatalog",
                archive=archive,
                naming=naming,
                props=config.catalog,
                encryption_key=key,
            )
            if config.catalog is not None
            else None
        )

        self.event_bus = bus
        self.table = table
        self.archive = archive
        self.persister = persister
        self.follow_ups = routing
        self.monitoring = monitoring
        self._acknowledge_environment_choices(config)

        # What the operator CLI (`kahula`) reads; the names are kahula.stack_outputs'.
        CfnOutput(self, so.EVENT_BUS_NAME, value=bus.bus.event_bus_name)
        CfnOutput(self, so.EVENT_BUS_ARN, value=bus.bus.event_bus_arn)
        if bus.archive is not None:
            CfnOutput(self, so.EVENT_BUS_ARCHIVE_NAME, value=bus.archive.archive_name)
        CfnOutput(self, so.EVENT_TABLE_NAME, value=table.table.table_name)
        CfnOutput(self, so.ARCHIVE_BUCKET_NAME, value=archive.bucket.bucket_name)
        CfnOutput(self, so.ARCHIVE_STREAM_NAME, value=archive.delivery_stream.delivery_stream_name)
        CfnOutput(self, so.PERSISTER_FUNCTION_NAME, value=persister.function.function_name)
        CfnOutput(self, so.REPLAY_ROLE_ARN, value=self.replay.role.role_arn)
        if self.catalog is not None:
            CfnOutput(self, so.ARCHIVE_WORK_GROUP_NAME, value=self.catalog.work_group_name)
            CfnOutput(self, so.ARCHIVE_DATABASE_NAME, value=self.catalog.database_name)
            CfnOutput(self, so.ARCHIVE_TABLE_NAME, value=self.catalog.table_name)
            CfnOutput(
                self,
                so.ARCHIVE_QUERY_POLICY_ARN,
                value=self.catalog.query_policy.managed_policy_arn,
            )
        if self.stream is not None:
            CfnOutput(self, so.STREAM_NAME, value=self.stream.stream.stream_name)
        if queue_ingest is not None:
            CfnOutput(self, so.INGEST_QUEUE_URL, value=queue_ingest.queue.queue_url)
            CfnOutput(self, so.LEDGER_TABLE_NAME, value=queue_ingest.ledger_table.table_name)
        if self.api is not None:
            CfnOutput(self, so.EVENT_API_URL, value=self.api.api.url)
        for detail_type, queue in routing.queues.items():
            CfnOutput(self, so.follow_up_queue_url(detail_type), value=queue.queue_url)
        for detail_type, queue in routing.consumer_dead_letter_queues.items():
            CfnOutput(self, so.consumer_dlq_url(detail_type), value=queue.queue_url)
        operator_queues = {
            "failed": persister.failure_queue,
            "conflicts": persister.conflicts_queue,
            "persister-undeliverable": persister.undeliverable_queue,
            "archive-undeliverable": archive.dead_letter_queue,
            "follow-ups-undeliverable": routing.dead_letter_queue,
            **({"ingest-dlq": queue_ingest.dead_letter_queue} if queue_ingest else {}),
            **(
                {
                    "stream-malformed": self.stream.quarantine_queue,
                    "stream-failed": self.stream.failure_queue,
                }
                if self.stream
                else {}
            ),
            **({"outbox-dlq": self.aggregates.dead_letter_queue} if self.aggregates else {}),
        }
        for name, operator_queue in operator_queues.items():
            CfnOutput(self, so.OPERATOR_QUEUES[name], value=operator_queue.queue_url)
        # Functions log to their own log groups (CloudFormation-named), not /aws/lambda/<name>.
        log_groups = {
            "persister": persister.log_group,
            **({"stream-consumer": self.stream.log_group} if self.stream else {}),
            **({"queue-consumer": queue_ingest.log_group} if queue_ingest else {}),
            **(
                {"api-writer": self.api.writer_log_group, "api-reader": self.api.reader_log_group}
                if self.api
                else {}
            ),
            **(
                dict(
                    zip(
                        ("api-aggregate-writer", "api-aggregate-reader"),
                        self.api.aggregate_log_groups,
                        strict=True,
                    )
                )
                if self.api and self.api.aggregate_log_groups
                else {}
            ),
        }
        CfnOutput(
            self,
            "ArchiveDeliveryLogGroup",
            value=archive.delivery_log_group.log_group_name,
            description="Firehose's delivery-error log group (archive-freshness, -delivery)",
        )
        for function_key, log_group in log_groups.items():
            CfnOutput(
                self,
                f"LogGroup{''.join(part.title() for part in function_key.split('-'))}",
                value=log_group.log_group_name,
                description=f"the {function_key} function's log group",
            )

    def _acknowledge_environment_choices(self, config: EnvironmentConfig) -> None:
        """Control Tower findings that are this environment's decision, not a construct's."""
        reason = config.short_log_retention_reason
        for log_group, days in (
            (self.persister.log_group, config.persister.log_retention_days),
            (self.archive.delivery_log_group, config.archive.log_retention_days),
            *(
                [(self.stream.log_group, config.stream.log_retention_days)]
                if self.stream is not None and config.stream is not None
                else []
            ),
            *(
                [(self.queue_ingest.log_group, config.queue.log_retention_days)]
                if self.queue_ingest is not None and config.queue is not None
                else []
            ),
        ):
            if reason and days < 365:
                acknowledge(log_group, control("CT.CLOUDWATCH.PR.2"), reason)
        if self.api is not None and config.api is not None:
            for log_group in (
                self.api.writer_log_group,
                self.api.reader_log_group,
                self.api.access_log_group,
                *self.api.aggregate_log_groups,
            ):
                if reason and config.api.log_retention_days < 365:
                    acknowledge(log_group, control("CT.CLOUDWATCH.PR.2"), reason)


def build_app(
    app: App,
    configs: Sequence[EnvironmentConfig],
    *,
    prefix: str,
    control_tower: bool | None = None,
) -> list[Stack]:
    """Add one stack per environment to ``app`` and run cdk-nag over all of them at synth.

    ``control_tower`` (default: the context flag ``-c compliance=true``, as ``make scan`` sets
    it) also runs AWS Control Tower's proactive controls: synth fails on any unacknowledged one.
    """
    stacks: list[Stack] = [
        EventPersistenceStack(app, f"{prefix}-{config.name}", config=config, prefix=prefix)
        for config in configs
    ]
    if control_tower is None:
        control_tower = str(app.node.try_get_context("compliance")).lower() == "true"
    apply_checks(app, control_tower=control_tower)
    return stacks
