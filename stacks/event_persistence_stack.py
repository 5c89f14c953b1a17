"""One stack per environment: the whole event-persistence pipeline."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import (
    App,
    CfnOutput,
    Duration,
    Environment,
    Size,
    Stack,
    Validations,
)
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from constructs import Construct

from cdk_app.config import FOLLOW_UP_DETAIL_TYPES, EnvironmentConfig
from cdk_app.constructs import (
    EventArchive,
    EventBus,
    EventTable,
    FollowUpRouting,
    Monitoring,
    Persister,
)
from cdk_app.constructs.event_archive import PAYLOADS_PREFIX
from cdk_app.constructs.monitoring import MonitoringProps
from cdk_app.naming import Names

# CloudWatch's retention periods (config.LOG_RETENTION_DAYS) by their CDK enum names.
_RETENTION_NAMES = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def _retention(days: int) -> logs.RetentionDays:
    return getattr(logs.RetentionDays, _RETENTION_NAMES[days])  # type: ignore[no-any-return]


SERVICE_NAME = "event-persister"


class EventPersistenceStack(Stack):
    """Bus, table, persister, archive and follow-up routing for one environment."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        prefix: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=config.account, region=config.region),
            description=f"{prefix} event persistence ({config.name})",
            termination_protection=config.retain_data,
            tags={"project": prefix, "environment": config.name},
        )
        names = Names(prefix, config.name)
        queue_retention = Duration.days(config.queue_retention_days)
        rule_max_age = Duration.seconds(config.rule_max_event_age_seconds)

        bus = EventBus(
            self,
            "EventBus",
            bus_name=names.event_bus,
            archive_retention=Duration.days(config.replay_archive_retention_days),
            producer_account_ids=config.producer_account_ids,
            producer_organization_id=config.producer_organization_id,
        )
        table = EventTable(
            self,
            "EventTable",
            table_name=names.table,
            retain=config.retain_data,
            saga_index=config.saga_index,
            event_name_index=config.event_name_index,
        )
        archive = EventArchive(
            self,
            "EventArchive",
            event_bus=bus.bus,
            stream_name=names.of("archive"),
            dead_letter_queue_name=names.of("archive-undeliverable"),
            retain=config.retain_data,
            buffer_size=Size.mebibytes(config.archive_buffer_mib),
            buffer_interval=Duration.seconds(config.archive_buffer_seconds),
            infrequent_access_after=Duration.days(config.archive_infrequent_access_after_days),
            glacier_after=Duration.days(config.archive_glacier_after_days),
            expire_after=(
                Duration.days(config.archive_expire_after_days)
                if config.archive_expire_after_days
                else None
            ),
            access_log_retention=Duration.days(config.access_log_retention_days),
            log_retention=_retention(config.log_retention_days),
            queue_retention=queue_retention,
            retry_attempts=config.rule_retry_attempts,
            max_event_age=rule_max_age,
        )
        persister = Persister(
            self,
            "Persister",
            event_bus=bus.bus,
            table=table.table,
            payload_bucket=archive.bucket,
            payload_prefix=PAYLOADS_PREFIX,
            function_name=names.of("persister"),
            queue_name_prefix=names.of("persister"),
            follow_up_source=names.follow_up_source,
            contract=config.contract,
            service_name=SERVICE_NAME,
            metrics_namespace=names.metrics_namespace,
            memory_mb=config.persister_memory_mb,
            timeout=Duration.seconds(config.persister_timeout_seconds),
            log_retention=_retention(config.log_retention_days),
            log_level=config.log_level,
            platform_log_level=config.platform_log_level,
            detailed_tracing=config.detailed_tracing,
            powertools_version=config.powertools_version,
            async_retry_attempts=config.async_retry_attempts,
            async_max_event_age=Duration.seconds(config.async_max_event_age_seconds),
            rule_retry_attempts=config.rule_retry_attempts,
            rule_max_event_age=rule_max_age,
            queue_retention=queue_retention,
            reserved_concurrency=config.persister_reserved_concurrency,
        )
        routing = FollowUpRouting(
            self,
            "FollowUpRouting",
            event_bus=bus.bus,
            follow_up_source=names.follow_up_source,
            detail_types=FOLLOW_UP_DETAIL_TYPES,
            queue_name_prefix=names.of("follow-ups"),
            queue_retention=queue_retention,
            max_receive_count=config.follow_up_max_receive_count,
            retry_attempts=config.rule_retry_attempts,
            max_event_age=rule_max_age,
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
            metrics_namespace=names.metrics_namespace,
            service_name=SERVICE_NAME,
            name_prefix=f"{prefix}-{config.name}",
            props=MonitoringProps(
                alarm_email=config.alarm_email,
                archive_freshness_alarm_seconds=config.archive_freshness_alarm_seconds,
                write_latency_alarm_ms=config.write_latency_alarm_ms,
                retain=config.retain_data,
            ),
        )

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
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return stacks
