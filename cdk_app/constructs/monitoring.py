"""Alarms, their topic, and a dashboard: what the people on call need, per environment.

Built on cdk-monitoring-constructs (``MonitoringFacade``): it draws the per-resource dashboard
sections (Lambda, DynamoDB, Firehose, SQS) and creates the alarms through one alarm factory,
so every alarm gets the same action (the topic), the same evaluation defaults and an annotation
on its graph. What the library has no ready alarm for (Lambda's asynchronous delivery metrics,
EventBridge rule failures, Firehose freshness and S3 delivery, PutItem p99 latency, the
platform's own metrics) goes through its custom-metric monitoring, so it is drawn and alarmed
the same way. Every alarm keeps an exact name, ``{name_prefix}-<alarm>``, which the README's
runbook and the operators rely on.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

import cdk_monitoring_constructs as mc
from aws_cdk import ArnFormat, CfnResource, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
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
from kahula_core import spec

from .common import knob
from .encryption import grant_no_create_grant_except_for_aws

FIVE_MINUTES = Duration.minutes(5)
ONE_MINUTE = Duration.minutes(1)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_AT_LEAST_ONE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
_ABOVE = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
_BELOW = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
# Firehose keeps a record it cannot deliver for 24 hours (Firehose developer guide, "Data
# delivery failure handling"): a freshness threshold beyond that could never be reached.
_MAX_FRESHNESS_SECONDS = 86_400
# API Gateway's integration timeout is 29 s (API Gateway quotas): no request takes longer.
_MAX_API_LATENCY_MS = 29_000


@dataclass(frozen=True, kw_only=True)
class MonitoringProps:
    """What an operator may tune; every default is what the platform runs with."""

    alarm_email: str | None = knob(None, "email subscribed to the alarm topic")
    archive_freshness_alarm_seconds: int = knob(
        1800, "archive record age that alarms (above the buffer interval)"
    )
    write_latency_alarm_ms: int = knob(50, "PutItem p99 latency that alarms (15 min)")
    api_5xx_alarm_percent: float = knob(
        1.0, "HTTP API 5XX responses, percent of requests in 5 min, that alarms"
    )
    api_latency_alarm_ms: int = knob(2000, "HTTP API p99 latency that alarms (15 min)")
    retain: bool = knob(True, "RETAIN the alarm topic's key on stack deletion")
    dashboard_range_hours: int = knob(3, "hours the dashboard shows when opened")

    def __post_init__(self) -> None:
        if self.alarm_email is not None and not _EMAIL.fullmatch(self.alarm_email):
            raise ValueError(f"alarm_email={self.alarm_email!r} is not an email address")
        if not 0 < self.archive_freshness_alarm_seconds <= _MAX_FRESHNESS_SECONDS:
            raise ValueError(
                f"archive_freshness_alarm_seconds={self.archive_freshness_alarm_seconds} must "
                f"be positive and at most {_MAX_FRESHNESS_SECONDS}: Firehose keeps undelivered "
                "records for 24 hours, so an older record cannot exist"
            )
        if self.dashboard_range_hours <= 0:
            raise ValueError(f"dashboard_range_hours={self.dashboard_range_hours} must be positive")
        if not 0 < self.api_5xx_alarm_percent <= 100:
            raise ValueError(
                f"api_5xx_alarm_percent={self.api_5xx_alarm_percent} must be a percentage, "
                "above 0 and at most 100"
            )
        if not 0 < self.api_latency_alarm_ms <= _MAX_API_LATENCY_MS:
            raise ValueError(
                f"api_latency_alarm_ms={self.api_latency_alarm_ms} must be positive and at most "
                f"{_MAX_API_LATENCY_MS}: API Gateway ends an integration after 29 s"
            )
        if self.write_latency_alarm_ms <= 0:
            raise ValueError(
                f"write_latency_alarm_ms={self.write_latency_alarm_ms} must be positive"
            )


_DEFAULT_PROPS = MonitoringProps()
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def monitoring_props_docs() -> list[tuple[str, str, object]]:
    """(name, doc, default) of every knob, for generated documentation."""
    return [(f.name, f.metadata["doc"], f.default) for f in fields(MonitoringProps)]


_API_ALARMS = ("api-5xx", "api-latency")
_DLQ_NOTE = "events kept with a reason, to inspect and redrive."


def _runbook_entry(alarm: str, functions: Mapping[str, object]) -> str:
    if alarm in _API_ALARMS:
        return alarm
    for family in ("dlq-", "rule-failed-"):
        if alarm.startswith(family):
            return f"{family}*"
    for key in functions:
        if alarm.startswith(f"{key}-"):
            return f"<function>-{alarm.removeprefix(f'{key}-')}"
    return alarm


class Monitoring(Construct):
    """One alarm per failure an operator must act on, all notifying ``self.topic``.

    ``alarms`` maps a short name (the README runbook's entries) to its alarm; its CloudWatch
    name is ``{name_prefix}-{short name}``. Per function key ``f``: ``f-errors``,
    ``f-throttles``, and, when ``f`` is in ``asynchronous_functions`` (Lambda queues its
    events: an EventBridge rule's target), ``f-destination-delivery-failures`` and
    ``f-async-events-dropped`` (metrics Lambda publishes for asynchronous invocations only;
    on a function API Gateway or an event source mapping invokes they could never fire); per
    dead-letter queue key ``q``: ``dlq-q``; per rule key ``r``: ``rule-failed-r``; with a
    delivery stream: ``archive-freshness``, ``archive-delivery``; with a table:
    ``table-throttles``, ``table-write-latency``; with an ``api`` (REST API, its deployment
    stage): ``api-5xx`` and ``api-latency`` (4XX drawn, not alarmed: a client's error is the
    client's); always ``conflicts`` (the platform's own metric). ``dashboard`` is
    ``{name_prefix}-events``; the topic ``{name_prefix}-alarms``.
    Without ``name_prefix`` the topic's name is generated and the prefix is
    ``{stack name}-{construct id}``.

    ``per_event_function``: a function invoked once per event that writes no EventsPersisted
    metric (the bus's persister: no EMF line for the common outcome, a cost choice). The
    dashboard's EventsPersisted line is then its successful invocations less duplicates and
    conflicts (Invocations - Errors - DuplicateEvents - ConflictingEvents), at no cost.

    ``queue_notes``: per dead-letter queue key, what its messages hold and what to do, when it
    is not "events kept with a reason, to inspect and redrive" (each ``dlq-q`` alarm's
    description names the queue itself, then this).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        table: dynamodb.ITable | None = None,
        delivery_stream: firehose.IDeliveryStream | None = None,
        rules: Mapping[str, events.IRule] = _EMPTY,
        dead_letter_queues: Mapping[str, sqs.IQueue] = _EMPTY,
        metrics_namespace: str,
        service_name: str,
        name_prefix: str | None = None,
        props: MonitoringProps = _DEFAULT_PROPS,
        per_event_function: lambda_.IFunction | None = None,
        asynchronous_functions: Collection[str] = (),
        api: apigw.RestApi | None = None,
        queue_notes: Mapping[str, str] = _EMPTY,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        prefix = name_prefix or f"{stack.stack_name}-{construct_id}"
        _check_names(prefix, functions, rules, dead_letter_queues)
        if isinstance(asynchronous_functions, str):
            raise ValueError("asynchronous_functions must be a collection of function keys")
        unknown = sorted(set(asynchronous_functions) - set(functions))
        if unknown:
            raise ValueError(
                f"asynchronous_functions {unknown} are not keys of functions ({sorted(functions)})"
            )
        self._prefix = prefix
        self._functions = functions

        key = kms.Key(
            self,
            "TopicKey",
            description=f"{prefix}: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if props.retain else RemovalPolicy.DESTROY,
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=f"{prefix}-alarms" if name_prefix else None,
            master_key=key,
            enforce_ssl=True,
        )
        self.topic_key = key
        _let_cloudwatch_publish(stack, self.topic, key)
        # Control Tower CT.KMS.PR.3: grants only for AWS resources or by AWS services.
        grant_no_create_grant_except_for_aws(key)
        if props.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(props.alarm_email))

        dashboards = mc.DefaultDashboardFactory(
            self,
            "Dashboards",
            dashboard_name_prefix=f"{prefix}-events",
            create_dashboard=True,
            create_summary_dashboard=False,
            create_alarm_dashboard=False,
            detail_dashboard_range=Duration.hours(props.dashboard_range_hours),
            rendering_preference=mc.DashboardRenderingPreference.INTERACTIVE_ONLY,
        )
        facade = mc.MonitoringFacade(
            self,
            "Facade",
            alarm_factory_defaults=mc.AlarmFactoryDefaults(
                actions_enabled=True,
                alarm_name_prefix=prefix,
                action=mc.SnsAlarmActionStrategy(on_alarm_topic=self.topic),
                datapoints_to_alarm=1,
                evaluation_periods=1,
            ),
            metric_factory_defaults=mc.MetricFactoryDefaults(period=FIVE_MINUTES),
            dashboard_factory=dashboards,
        )

        custom = {
            name: cloudwatch.Metric(
                namespace=metrics_namespace,
                metric_name=name,
                dimensions_map={"service": service_name},
                period=ONE_MINUTE,
                statistic="Sum",
                label=name,
            )
            for name in (
                spec.Metric.PERSISTED,
                spec.Metric.DUPLICATE,
                spec.Metric.CONFLICT,
                spec.Metric.MALFORMED,
                spec.Metric.OVERSIZE,
                spec.Metric.FOLLOW_UPS_EMITTED,
                spec.Metric.FOLLOW_UP_FAILURES,
            )
        }
        facade.monitor_custom(
            alarm_friendly_name="events",
            human_readable_name=f"Events ({metrics_namespace}, service {service_name})",
            metric_groups=[
                mc.CustomMetricGroup(
                    title="Events per minute",
                    metrics=[
                        _persisted(custom, per_event_function),
                        custom[spec.Metric.DUPLICATE],
                        self._custom_alarm(
                            "conflicts",
                            custom[spec.Metric.CONFLICT],
                            "An event reused a stored unique_id with another payload; it is on "
                            "the conflicts queue, nothing was overwritten.",
                            period=FIVE_MINUTES,
                        ),
                        custom[spec.Metric.MALFORMED],
                        custom[spec.Metric.OVERSIZE],
                    ],
                ),
                mc.CustomMetricGroup(
                    title="Follow-ups per minute",
                    metrics=[
                        custom[spec.Metric.FOLLOW_UPS_EMITTED],
                        custom[spec.Metric.FOLLOW_UP_FAILURES],
                    ],
                ),
            ],
        )

        for name, function in functions.items():
            self._monitor_function(facade, name, function)
            if name in asynchronous_functions:
                self._monitor_async_delivery(facade, name, function)
        if api is not None:
            self._monitor_api(facade, api, props)
        if table is not None:
            self._monitor_table(facade, table, props)
        if delivery_stream is not None:
            self._monitor_archive(facade, delivery_stream, props)
        if rules:
            facade.monitor_custom(
                alarm_friendly_name="rules",
                human_readable_name="EventBridge rules: failed deliveries to targets",
                metric_groups=[
                    mc.CustomMetricGroup(
                        title="Failed invocations",
                        metrics=[
                            self._custom_alarm(
                                f"rule-failed-{name}",
                                _failed_invocations(rule, name),
                                f"EventBridge failed to deliver to the {name} rule's target "
                                "(it retries, then dead-letters).",
                            )
                            for name, rule in rules.items()
                        ],
                    )
                ],
            )
        for name, queue in dead_letter_queues.items():
            # The alarm only: seven full SQS sections would be 42 widgets of mostly empty
            # graphs; every dead-letter queue is drawn in the one compact group below.
            facade.monitor_sqs_queue(
                queue=queue,
                alarm_friendly_name=f"dlq-{name}",
                human_readable_name=f"Dead-letter queue {name}",
                add_to_detail_dashboard=False,
                add_queue_max_size_alarm={
                    "Warning": mc.MaxMessageCountThreshold(
                        max_message_count=1,
                        comparison_operator_override=_AT_LEAST_ONE,
                        treat_missing_data_override=cloudwatch.TreatMissingData.NOT_BREACHING,
                        **self._naming(
                            f"dlq-{name}",
                            # The queue's real name (a name key is not a queue name).
                            f"The queue {queue.queue_name} holds messages: "
                            + queue_notes.get(name, _DLQ_NOTE),
                        ),
                    )
                },
            )
        if dead_letter_queues:
            facade.monitor_custom(
                alarm_friendly_name="dead-letter-queues",
                human_readable_name="Queues that keep what was not stored or delivered",
                metric_groups=[
                    mc.CustomMetricGroup(
                        title="Messages visible",
                        metrics=[
                            queue.metric_approximate_number_of_messages_visible(
                                period=FIVE_MINUTES, statistic="Maximum", label=name
                            )
                            for name, queue in dead_letter_queues.items()
                        ],
                    ),
                    mc.CustomMetricGroup(
                        title="Oldest message age (s)",
                        metrics=[
                            queue.metric_approximate_age_of_oldest_message(
                                period=FIVE_MINUTES, statistic="Maximum", label=name
                            )
                            for name, queue in dead_letter_queues.items()
                        ],
                    ),
                ],
            )

        self.alarms: dict[str, cloudwatch.AlarmBase] = _alarms_by_name(self, prefix)
        facade.add_widget(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24
            )
        )
        dashboard = dashboards.dashboard
        assert dashboard is not None  # create_dashboard=True
        # Named alarms and the dashboard keep the logical ids they had before the library:
        # a new logical id with the same physical name would be created, then the old one
        # deleted by that name, taking the new one with it (or the deploy fails on the name).
        for name, alarm in self.alarms.items():
            _keep_logical_id(self, alarm, f"Alarm-{name}")
        _keep_logical_id(self, dashboard, "Dashboard")
        self.dashboard: cloudwatch.Dashboard = dashboard
        self.facade = facade

    # ------------------------------------------------------------------ per resource

    def _monitor_function(
        self, facade: mc.MonitoringFacade, name: str, function: lambda_.IFunction
    ) -> None:
        facade.monitor_lambda_function(
            lambda_function=function,
            alarm_friendly_name=name,
            human_readable_name=f"Function {name}",
            add_fault_count_alarm={
                "Critical": mc.ErrorCountThreshold(
                    max_error_count=1,
                    comparison_operator_override=_AT_LEAST_ONE,
                    **self._naming(
                        f"{name}-errors",
                        f"The {name} function failed an invocation (Lambda retries, then its "
                        "on-failure destination).",
                    ),
                )
            },
            add_throttles_count_alarm={
                "Critical": mc.ErrorCountThreshold(
                    max_error_count=1,
                    comparison_operator_override=_AT_LEAST_ONE,
                    **self._naming(
                        f"{name}-throttles",
                        f"The {name} function was throttled: concurrency is exhausted; events "
                        "wait and retry.",
                    ),
                )
            },
        )

    def _monitor_async_delivery(
        self, facade: mc.MonitoringFacade, name: str, function: lambda_.IFunction
    ) -> None:
        """What Lambda publishes for asynchronously invoked functions only."""
        facade.monitor_custom(
            alarm_friendly_name=f"{name}-async",
            human_readable_name=f"Function {name}: asynchronous delivery",
            metric_groups=[
                mc.CustomMetricGroup(
                    title="Lost or undeliverable events",
                    metrics=[
                        self._custom_alarm(
                            f"{name}-destination-delivery-failures",
                            function.metric(
                                "DestinationDeliveryFailures",
                                period=FIVE_MINUTES,
                                statistic="Sum",
                                label="DestinationDeliveryFailures",
                            ),
                            f"Lambda could not deliver a failed {name} event to its on-failure "
                            "destination: the event and its reason are not on the failure queue.",
                        ),
                        self._custom_alarm(
                            f"{name}-async-events-dropped",
                            function.metric(
                                "AsyncEventsDropped",
                                period=FIVE_MINUTES,
                                statistic="Sum",
                                label="AsyncEventsDropped",
                            ),
                            f"Lambda dropped asynchronous {name} events (too old, retries "
                            "exhausted) without running the function to success.",
                        ),
                    ],
                )
            ],
        )

    def _monitor_api(
        self, facade: mc.MonitoringFacade, api: apigw.RestApi, props: MonitoringProps
    ) -> None:
        """The API as its callers see it: 5XX rate and p99 latency alarmed, 4XX drawn."""
        stage = api.deployment_stage.stage_name
        facade.monitor_api_gateway(
            api=api,
            api_stage=stage,
            alarm_friendly_name="api",
            human_readable_name=f"HTTP API (stage {stage})",
            add5_xx_fault_rate_alarm={
                "Critical": mc.ErrorRateThreshold(
                    max_error_rate=props.api_5xx_alarm_percent / 100,
                    treat_missing_data_override=cloudwatch.TreatMissingData.NOT_BREACHING,
                    **self._naming(
                        _API_ALARMS[0],
                        "The HTTP API answered more than "
                        f"{props.api_5xx_alarm_percent} % of requests with 5XX in 5 minutes "
                        "(a function's 500, a dependency's 503, the gateway's 502 or 504).",
                    ),
                )
            },
            add_latency_p99_alarm={
                "Critical": mc.LatencyThreshold(
                    max_latency=Duration.millis(props.api_latency_alarm_ms),
                    datapoints_to_alarm=3,
                    evaluation_periods=3,
                    treat_missing_data_override=cloudwatch.TreatMissingData.NOT_BREACHING,
                    **self._naming(
                        _API_ALARMS[1],
                        f"The HTTP API's p99 latency is above {props.api_latency_alarm_ms} ms "
                        "for 15 minutes.",
                    ),
                )
            },
        )

    def _monitor_table(
        self, facade: mc.MonitoringFacade, table: dynamodb.ITable, props: MonitoringProps
    ) -> None:
        facade.monitor_dynamo_table(
            table=table, alarm_friendly_name="table", human_readable_name="Event table"
        )
        write_latency = table.metric_successful_request_latency(
            dimensions_map={"TableName": table.table_name, "Operation": "PutItem"},
            period=FIVE_MINUTES,
            statistic="p99",
            label="PutItem p99",
        )
        facade.monitor_custom(
            alarm_friendly_name="table-writes",
            human_readable_name="Event table: writes",
            metric_groups=[
                mc.CustomMetricGroup(
                    title="PutItem throttles",
                    metrics=[
                        self._custom_alarm(
                            "table-throttles",
                            table.metric(
                                "ThrottledRequests",
                                dimensions_map={
                                    "TableName": table.table_name,
                                    "Operation": "PutItem",
                                },
                                period=FIVE_MINUTES,
                                statistic="Sum",
                                label="PutItem throttled",
                            ),
                            "DynamoDB throttled writes (a hot partition or an account limit); "
                            "the persister retries.",
                        )
                    ],
                ),
                mc.CustomMetricGroup(
                    title="PutItem latency (ms)",
                    metrics=[
                        write_latency.with_(statistic="p50", label="PutItem p50"),
                        self._custom_alarm(
                            "table-write-latency",
                            write_latency,
                            "PutItem p99 latency is high for 15 minutes.",
                            threshold=props.write_latency_alarm_ms,
                            comparison=_ABOVE,
                            periods=3,
                        ),
                    ],
                ),
            ],
        )

    def _monitor_archive(
        self,
        facade: mc.MonitoringFacade,
        stream: firehose.IDeliveryStream,
        props: MonitoringProps,
    ) -> None:
        facade.monitor_kinesis_firehose(
            delivery_stream_name=stream.delivery_stream_name,
            alarm_friendly_name="archive",
            human_readable_name="Archive stream",
        )
        facade.monitor_custom(
            alarm_friendly_name="archive-delivery",
            human_readable_name="Archive stream: delivery to S3",
            metric_groups=[
                mc.CustomMetricGroup(
                    title="Archive freshness (s)",
                    metrics=[
                        self._custom_alarm(
                            "archive-freshness",
                            stream.metric(
                                "DeliveryToS3.DataFreshness",
                                period=FIVE_MINUTES,
                                statistic="Maximum",
                                label="DataFreshness",
                            ),
                            "The oldest record in the archive stream is older than expected: "
                            "delivery to S3 is stuck or slow.",
                            threshold=props.archive_freshness_alarm_seconds,
                            comparison=_ABOVE,
                        )
                    ],
                ),
                mc.CustomMetricGroup(
                    title="Delivery to S3 succeeded (ratio)",
                    metrics=[
                        self._custom_alarm(
                            "archive-delivery",
                            stream.metric(
                                "DeliveryToS3.Success",
                                period=FIVE_MINUTES,
                                statistic="Minimum",
                                label="DeliveryToS3.Success",
                            ),
                            "Firehose failed to deliver to S3 (records go to the errors/ "
                            "prefix after retries).",
                            threshold=1,
                            comparison=_BELOW,
                        )
                    ],
                ),
            ],
        )

    # ------------------------------------------------------------------ helpers

    def _naming(self, name: str, description: str) -> dict[str, Any]:
        """The exact name and the runbook pointer every alarm carries."""
        return {
            "alarm_name_override": f"{self._prefix}-{name}",
            "alarm_description_override": (
                f"{description} Runbook: README, Runbook, {_runbook_entry(name, self._functions)}."
            ),
        }

    def _custom_alarm(
        self,
        name: str,
        metric: cloudwatch.Metric | cloudwatch.MathExpression,
        description: str,
        *,
        threshold: float = 1,
        comparison: cloudwatch.ComparisonOperator = _AT_LEAST_ONE,
        periods: int = 1,
        period: Duration | None = None,
    ) -> mc.CustomMetricWithAlarm:
        return mc.CustomMetricWithAlarm(
            metric=metric,
            alarm_friendly_name=name,
            add_alarm={
                "Critical": mc.CustomThreshold(
                    threshold=threshold,
                    comparison_operator=comparison,
                    treat_missing_data_override=cloudwatch.TreatMissingData.NOT_BREACHING,
                    datapoints_to_alarm=periods,
                    evaluation_periods=periods,
                    period=period,
                    **self._naming(name, description),
                )
            },
        )


def _persisted(
    custom: Mapping[str, cloudwatch.Metric], per_event_function: lambda_.IFunction | None
) -> cloudwatch.Metric | cloudwatch.MathExpression:
    """Stored events: the metric as emitted, or derived from a per-event function's own
    metrics (each successful invocation stored, found a duplicate or quarantined a conflict)."""
    if per_event_function is None:
        return custom[spec.Metric.PERSISTED]
    return cloudwatch.MathExpression(
        expression="FILL(invocations, 0) - FILL(errors, 0) - FILL(duplicates, 0) "
        "- FILL(conflicts, 0)",
        using_metrics={
            "invocations": per_event_function.metric_invocations(
                period=ONE_MINUTE, statistic="Sum"
            ),
            "errors": per_event_function.metric_errors(period=ONE_MINUTE, statistic="Sum"),
            "duplicates": custom[spec.Metric.DUPLICATE],
            "conflicts": custom[spec.Metric.CONFLICT],
        },
        label=spec.Metric.PERSISTED,
        period=ONE_MINUTE,
    )


def _let_cloudwatch_publish(stack: Stack, topic: sns.ITopic, key: kms.IKey) -> None:
    """CloudWatch alarms of this account and region may publish to the topic, nobody else.

    The topic's policy (written because of ``enforce_ssl``) replaces SNS's default policy, so
    CloudWatch needs its own Allow; the encrypted topic also needs CloudWatch to use the key.
    Both are limited to alarms of this account (``aws:SourceAccount``, ``aws:SourceArn``), so
    no other account's alarm can use the service principal as a confused deputy.
    """
    conditions = {
        "StringEquals": {"aws:SourceAccount": stack.account},
        "ArnLike": {
            "aws:SourceArn": stack.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name="*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
        },
    }
    cloudwatch_principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToPublish",
            principals=[cloudwatch_principal],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions=conditions,
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchAlarmsToUseTheKey",
            principals=[cloudwatch_principal],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions=conditions,
        )
    )


def _alarms_by_name(scope: Construct, prefix: str) -> dict[str, cloudwatch.AlarmBase]:
    """Every alarm the facade created under ``scope``, by its name without ``prefix-``.

    Read from the construct tree, each name from its CloudFormation resource: the facade's
    ``created_alarms()`` returns structs whose every field crosses the jsii process one call at
    a time (about 40 calls an alarm, a third of the app's round trips; `make bench`).
    """
    alarms: dict[str, cloudwatch.AlarmBase] = {}
    for construct in scope.node.find_all():
        if isinstance(construct, cloudwatch.Alarm):
            resource = construct.node.default_child
            assert isinstance(resource, cloudwatch.CfnAlarm)
            name = resource.alarm_name
            assert isinstance(name, str) and name.startswith(f"{prefix}-"), name
            alarms[name.removeprefix(f"{prefix}-")] = construct
    return alarms


def _keep_logical_id(owner: Construct, construct: Construct, former_id: str) -> None:
    """Give ``construct``'s resource the logical id it had at ``owner/former_id/Resource``.

    The id is asked of the stack (a probe placed at the former path, then removed), so it is
    exactly what CDK allocated there, wherever ``owner`` sits in the tree.
    """
    resource = construct.node.default_child
    if not isinstance(resource, CfnResource):
        return
    holder = Construct(owner, former_id)
    probe = CfnResource(holder, "Resource", type="Kahula::Probe::Probe")
    logical_id = Stack.of(owner).get_logical_id(probe)
    owner.node.try_remove_child(former_id)
    resource.override_logical_id(logical_id)


def _failed_invocations(rule: events.IRule, name: str) -> cloudwatch.Metric:
    """AWS/Events FailedInvocations of one rule, with the dimensions EventBridge publishes.

    A rule on a custom bus is published under ``EventBusName`` and ``RuleName``; its
    CloudFormation ``Ref`` (what ``rule_name`` holds for a rule made here) is
    ``bus-name|rule-name``, so both dimensions are cut from it. A rule on the default bus, or an
    imported one, is published under ``RuleName`` alone.
    """
    cfn = rule.node.default_child
    bus_name = getattr(cfn, "event_bus_name", None)
    dimensions: dict[str, str]
    if bus_name is None:
        dimensions = {"RuleName": rule.rule_name}
    elif isinstance(cfn, events.CfnRule) and cfn.name and not Token.is_unresolved(cfn.name):
        dimensions = {"EventBusName": bus_name, "RuleName": cfn.name}
    else:
        dimensions = {
            "EventBusName": bus_name,
            "RuleName": Fn.select(1, Fn.split("|", rule.rule_name)),
        }
    return cloudwatch.Metric(
        namespace="AWS/Events",
        metric_name="FailedInvocations",
        dimensions_map=dimensions,
        period=FIVE_MINUTES,
        statistic="Sum",
        label=f"{name} FailedInvocations",
    )


def _check_names(
    prefix: str,
    functions: Mapping[str, object],
    rules: Mapping[str, object],
    queues: Mapping[str, object],
) -> None:
    """Alarm names become construct ids and CloudWatch names: plain, distinct, tokens-free."""
    if Token.is_unresolved(prefix) or not _NAME.fullmatch(prefix):
        raise ValueError(
            f"name_prefix={prefix!r} must be letters, digits, '-' or '_' (it starts every "
            "alarm and dashboard name)"
        )
    if not functions:
        raise ValueError("functions must name at least one function to watch")
    for kind, keys in (("functions", functions), ("rules", rules), ("dead_letter_queues", queues)):
        for key in keys:
            if not _NAME.fullmatch(key):
                raise ValueError(
                    f"{kind} key {key!r} must be letters, digits, '-' or '_' (it names alarms)"
                )
