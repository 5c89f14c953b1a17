"""One stack per environment: the whole event-persistence pipeline, composed."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from aws_cdk import App, CfnOutput, Environment, Stack
from constructs import Construct
from kahula_core import spec

from cdk_app.checks import apply_checks
from cdk_app.config import EnvironmentConfig
from cdk_app.constructs import (
    AggregateEventStore,
    EventArchive,
    EventBus,
    EventTable,
    FollowUpRouting,
    Monitoring,
    Persister,
)


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
        bus = EventBus(self, "EventBus", naming=naming, props=config.bus)
        table = EventTable(self, "EventTable", naming=naming, props=config.table)
        archive = EventArchive(
            self, "EventArchive", event_bus=bus, naming=naming, props=config.archive
        )
        persister = Persister(
            self,
            "Persister",
            event_bus=bus,
            table=table,
            existing_payload_bucket=archive.bucket,
            naming=naming,
            props=config.persister,
        )
        routing = FollowUpRouting(
            self,
            "FollowUpRouting",
            event_bus=bus,
            persister=persister,
            naming=naming,
            props=config.follow_ups,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            functions={"persister": persister.function},
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
                **{
                    f"{t.removesuffix('Event').lower()}-consumer-dlq": q
                    for t, q in routing.consumer_dead_letter_queues.items()
                },
            },
            metrics_namespace=naming.metrics_namespace,
            service_name=spec.PERSISTER_SERVICE_NAME,
            name_prefix=naming.alarm_prefix,
            props=config.monitoring,
        )

        self.aggregates: AggregateEventStore | None = None
        if config.aggregates is not None:
            # Events appended by event-sourced services reach the bus through the store's
            # outbox; only its pipe may publish under the store's source.
            given = config.aggregates
            self.aggregates = AggregateEventStore(
                self,
                "AggregateEventStore",
                event_bus=bus.bus,
                alarm_topic=monitoring.topic,
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

        self.event_bus = bus
        self.table = table
        self.archive = archive
        self.persister = persister
        self.follow_ups = routing
        self.monitoring = monitoring

        CfnOutput(self, "EventBusName", value=bus.bus.event_bus_name)
        CfnOutput(self, "EventBusArn", value=bus.bus.event_bus_arn)
        CfnOutput(self, "EventTableName", value=table.table.table_name)
        CfnOutput(self, "ArchiveBucketName", value=archive.bucket.bucket_name)
        for detail_type, queue in routing.queues.items():
            CfnOutput(self, f"{detail_type}QueueUrl", value=queue.queue_url)


def build_app(app: App, configs: Sequence[EnvironmentConfig], *, prefix: str) -> list[Stack]:
    """Add one stack per environment to ``app`` and run cdk-nag over all of them at synth."""
    stacks: list[Stack] = [
        EventPersistenceStack(app, f"{prefix}-{config.name}", config=config, prefix=prefix)
        for config in configs
    ]
    apply_checks(app)
    return stacks
