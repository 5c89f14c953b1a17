"""Alarms, their topic, and a dashboard: what the people on call need, per environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .common import knob

FIVE_MINUTES = Duration.minutes(5)
ONE_MINUTE = Duration.minutes(1)


def _runbook_entry(alarm: str) -> str:
    for family in ("dlq-", "rule-failed-"):
        if alarm.startswith(family):
            return f"{family}*"
    return alarm


@dataclass(frozen=True, kw_only=True)
class MonitoringProps:
    """Who is told, and when."""

    alarm_email: str | None = knob(None, "email subscribed to the alarm topic")
    archive_freshness_alarm_seconds: int = knob(1800, "archive record age that alarms")
    write_latency_alarm_ms: int = knob(50, "PutItem p99 latency that alarms (15 min)")
    retain: bool = knob(True, "RETAIN the alarm topic's key on stack deletion")


class Monitoring(Construct):
    """One alarm per failure an operator must act on, all notifying ``self.topic``.

    ``alarms`` maps a short name (the README runbook's headings) to its alarm:
    ``persister-errors``, ``persister-throttles``, ``dlq-<queue>`` for every queue that keeps
    what was not stored or delivered, ``rule-failed-<rule>``, ``archive-freshness``,
    ``archive-delivery``, ``table-throttles``, ``table-write-latency`` and ``conflicts``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        function: lambda_.IFunction,
        table: dynamodb.ITable,
        delivery_stream: firehose.IDeliveryStream,
        rules: Mapping[str, events.IRule],
        event_bus_name: str,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        metrics_namespace: str,
        service_name: str,
        freshness_threshold: Duration,
        write_latency_threshold_ms: int,
        alarm_email: str | None = None,
        retain: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self._prefix = name_prefix
        key = kms.Key(
            self,
            "TopicKey",
            description=f"{name_prefix}: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        # CloudWatch must be able to use the key to publish to the encrypted topic.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=f"{name_prefix}-alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self._action = actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        self._alarm(
            "persister-errors",
            function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            "The persister failed an invocation (Lambda retries, then the failure queue).",
        )
        self._alarm(
            "persister-throttles",
            function.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
            "The persister was throttled: concurrency is exhausted; events wait and retry.",
        )
        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"dlq-{name}",
                queue.metric_approximate_number_of_messages_visible(
                    period=FIVE_MINUTES, statistic="Maximum"
                ),
                f"The {name} queue holds messages: events kept with a reason, to inspect and "
                "redrive.",
            )
        for name, rule in rules.items():
            self._alarm(
                f"rule-failed-{name}",
                cloudwatch.Metric(
                    namespace="AWS/Events",
                    metric_name="FailedInvocations",
                    dimensions_map={"RuleName": rule.rule_name, "EventBusName": event_bus_name},
                    period=FIVE_MINUTES,
                    statistic="Sum",
                ),
                f"EventBridge failed to deliver to the {name} rule's target (it retries, then "
                "dead-letters).",
            )
        freshness = delivery_stream.metric(
            "DeliveryToS3.DataFreshness", period=FIVE_MINUTES, statistic="Maximum"
        )
        self._alarm(
            "archive-freshness",
            freshness,
            "The oldest record in the archive stream is older than expected: delivery to S3 "
            "is stuck or slow.",
            threshold=freshness_threshold.to_seconds(),
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self._alarm(
            "archive-delivery",
            delivery_stream.metric(
                "DeliveryToS3.Success", period=FIVE_MINUTES, statistic="Minimum"
            ),
            "Firehose failed to deliver to S3 (records go to the errors/ prefix after retries).",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        )
        self._alarm(
            "table-throttles",
            table.metric_throttled_requests_for_operations(
                operations=[dynamodb.Operation.PUT_ITEM], period=FIVE_MINUTES
            ),
            "DynamoDB throttled writes (a hot partition or an account limit); the persister "
            "retries.",
        )
        write_latency = table.metric_successful_request_latency(
            dimensions_map={"TableName": table.table_name, "Operation": "PutItem"},
            period=FIVE_MINUTES,
            statistic="p99",
        )
        self._alarm(
            "table-write-latency",
            write_latency,
            "PutItem p99 latency is high for 15 minutes.",
            threshold=write_latency_threshold_ms,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            periods=3,
        )
        custom = {
            name: cloudwatch.Metric(
                namespace=metrics_namespace,
                metric_name=name,
                dimensions_map={"service": service_name},
                period=ONE_MINUTE,
                statistic="Sum",
            )
            for name in (
                "EventsPersisted",
                "DuplicateEvents",
                "ConflictingEvents",
                "FollowUpsEmitted",
                "FollowUpFailures",
                "OversizeEvents",
                "MalformedEvents",
            )
        }
        self._alarm(
            "conflicts",
            custom["ConflictingEvents"].with_(period=FIVE_MINUTES),
            "An event reused a stored unique_id with another payload; it is on the conflicts "
            "queue, nothing was overwritten.",
        )

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{name_prefix}-events",
            default_interval=Duration.hours(3),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Events per minute",
                left=[
                    custom["EventsPersisted"],
                    custom["DuplicateEvents"],
                    custom["ConflictingEvents"],
                    custom["MalformedEvents"],
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="PutItem latency (ms)",
                left=[write_latency.with_(statistic="p50"), write_latency],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Follow-ups per minute",
                left=[custom["FollowUpsEmitted"], custom["FollowUpFailures"]],
                width=12,
            ),
            cloudwatch.GraphWidget(title="Archive freshness (s)", left=[freshness], width=12),
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24
            ),
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
        alarm = cloudwatch.Alarm(
            self,
            f"Alarm-{name}",
            alarm_name=f"{self._prefix}-{name}",
            alarm_description=f"{description} Runbook: README, Runbook, {_runbook_entry(name)}.",
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        self.alarms[name] = alarm
