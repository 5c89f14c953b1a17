"""Monitoring: alarms with exact names, a topic CloudWatch can publish to, the dashboard.

Most tests synthesize the construct alone in a bare ``App`` (no cdk.json context) with its own
function, table, stream, rules and queues, so they do not depend on the stack's composition;
the last ones check what the stack wires into it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from kahula_core import spec

from cdk_app.constructs.monitoring import Monitoring, MonitoringProps
from local.synth import use_project_node

from .conftest import only

ACCOUNT = "111122223333"
REGION = "eu-west-1"
PREFIX = "acme-test"
ALARM_SOURCE = f":cloudwatch:{REGION}:{ACCOUNT}:alarm:*"


def _stack(app: App) -> Stack:
    return Stack(app, "Watched", env=Environment(account=ACCOUNT, region=REGION))


def _function(stack: Stack, id_: str) -> lambda_.Function:
    return lambda_.Function(
        stack,
        id_,
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
    )


def _watched_resources(stack: Stack) -> dict[str, Any]:
    """A function pair, a table, a stream, a custom-bus and a default-bus rule, two queues."""
    persister = _function(stack, "Persister")
    bucket = s3.Bucket(stack, "Bucket")
    bus = events.EventBus(stack, "Bus", event_bus_name="acme-events")
    pattern = events.EventPattern(source=["acme.orders"])
    return {
        "functions": {"persister": persister, "stream-consumer": _function(stack, "Consumer")},
        # the persister is an EventBridge rule's target (asynchronous); the consumer is not
        "asynchronous_functions": ("persister",),
        "table": dynamodb.Table(
            stack,
            "Table",
            partition_key=dynamodb.Attribute(name="unique_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        ),
        "delivery_stream": firehose.DeliveryStream(
            stack, "Stream", destination=firehose.S3Bucket(bucket)
        ),
        "rules": {
            "persist": events.Rule(stack, "Rule", event_bus=bus, event_pattern=pattern),
            "legacy": events.Rule(stack, "DefaultBusRule", event_pattern=pattern),
        },
        "dead_letter_queues": {
            "persister-failed": sqs.Queue(stack, "Failed"),
            "persister-conflicts": sqs.Queue(stack, "Conflicts"),
        },
    }


def _synth(props: MonitoringProps | None = None, **overrides: Any) -> dict[str, Any]:
    use_project_node()
    app = App()
    stack = _stack(app)
    arguments = {
        **_watched_resources(stack),
        "metrics_namespace": "Acme/Events",
        "service_name": "event-persister",
        "name_prefix": PREFIX,
        "props": props or MonitoringProps(),
        **overrides,
    }
    Monitoring(stack, "Monitoring", **arguments)
    return app.synth().get_stack_by_name(stack.stack_name).template  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _synth()


def _of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def _alarms(template: dict[str, Any], prefix: str = PREFIX) -> dict[str, dict[str, Any]]:
    found = {}
    for alarm in _of_type(template, "AWS::CloudWatch::Alarm").values():
        name = alarm["Properties"]["AlarmName"]
        assert name.startswith(f"{prefix}-"), name
        found[name.removeprefix(f"{prefix}-")] = alarm["Properties"]
    return found


def _metric(alarm: dict[str, Any]) -> dict[str, Any]:
    """The one metric an alarm watches, whichever form CloudFormation got it in."""
    if "Metrics" not in alarm:
        return {k: alarm.get(k) for k in ("Namespace", "MetricName", "Dimensions", "Period")} | {
            "Stat": alarm.get("Statistic") or alarm.get("ExtendedStatistic")
        }
    (query,) = alarm["Metrics"]
    stat = query["MetricStat"]
    return {**stat["Metric"], "Period": stat["Period"], "Stat": stat["Stat"]}


def _dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in _metric(alarm)["Dimensions"]}


def _logical_id(template: dict[str, Any], type_: str, path_part: str) -> str:
    (found,) = [k for k, v in _of_type(template, type_).items() if k.startswith(path_part)] or [
        None
    ]
    assert found, f"no {type_} whose logical id starts with {path_part}"
    return found


def _statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in document["Statement"] if s.get("Sid") == sid]
    return found


def _source_arn(condition: dict[str, Any]) -> str:
    value = condition["ArnLike"]["aws:SourceArn"]
    return "".join(p if isinstance(p, str) else "<partition>" for p in value["Fn::Join"][1])


# ------------------------------------------------------------------------------ alarms


def test_every_failure_an_operator_must_act_on_has_an_alarm_named_for_it(template):
    # GIVEN two functions, a table, a stream, two rules and two queues to watch
    # WHEN the construct is synthesized
    # THEN each gets its alarms, named {prefix}-<alarm> as the runbook lists them
    assert set(_alarms(template)) == {
        "persister-errors",
        "persister-throttles",
        "persister-destination-delivery-failures",
        "persister-async-events-dropped",
        "stream-consumer-errors",
        "stream-consumer-throttles",
        "table-throttles",
        "table-write-latency",
        "archive-freshness",
        "archive-delivery",
        "rule-failed-persist",
        "rule-failed-legacy",
        "dlq-persister-failed",
        "dlq-persister-conflicts",
        "conflicts",
    }


@pytest.mark.parametrize(
    ("alarm", "metric"),
    [
        ("errors", "Errors"),
        ("throttles", "Throttles"),
        ("destination-delivery-failures", "DestinationDeliveryFailures"),
        ("async-events-dropped", "AsyncEventsDropped"),
    ],
)
def test_each_function_alarm_fires_on_one_occurrence_of_its_own_lambda_metric(
    template, alarm, metric
):
    # GIVEN the synthesized template
    persister = _logical_id(template, "AWS::Lambda::Function", "Persister")
    found = _alarms(template)[f"persister-{alarm}"]
    # THEN the persister's alarm sums the AWS/Lambda metric of that function over 5 minutes
    watched = _metric(found)
    assert (watched["Namespace"], watched["MetricName"]) == ("AWS/Lambda", metric)
    assert (watched["Stat"], watched["Period"]) == ("Sum", 300)
    assert _dimensions(found) == {"FunctionName": {"Ref": persister}}
    # AND one occurrence in one period is enough
    assert (found["Threshold"], found["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert (found["EvaluationPeriods"], found["DatapointsToAlarm"]) == (1, 1)


def test_only_asynchronous_functions_get_asynchronous_delivery_alarms():
    # GIVEN the same functions, none declared asynchronous (API Gateway, an event source mapping)
    alarms = set(_alarms(_synth(asynchronous_functions=())))
    # THEN errors and throttles for each, and no delivery alarm that could never fire
    assert not {a for a in alarms if a.endswith(("-async-events-dropped", "-delivery-failures"))}
    assert {"persister-errors", "stream-consumer-errors"} <= alarms
    # AND declared asynchronous, the consumer gets them too
    both = set(_alarms(_synth(asynchronous_functions=("persister", "stream-consumer"))))
    assert {
        "stream-consumer-async-events-dropped",
        "stream-consumer-destination-delivery-failures",
    } <= both


def _api_template(props: MonitoringProps | None = None) -> dict[str, Any]:
    use_project_node()
    app = App()
    stack = _stack(app)
    api = apigw.RestApi(stack, "Api", rest_api_name="acme-api", deploy_options={"stage_name": "v1"})
    api.root.add_method("GET", apigw.MockIntegration())
    Monitoring(
        stack,
        "Monitoring",
        functions={"api-writer": _function(stack, "Writer")},
        metrics_namespace="Acme/Events",
        service_name="api",
        name_prefix=PREFIX,
        props=props or MonitoringProps(),
        api=api,
    )
    return app.synth().get_stack_by_name(stack.stack_name).template  # type: ignore[no-any-return]


def test_the_api_alarms_on_its_5xx_rate_and_p99_latency():
    # GIVEN a REST API to watch, with its knobs
    template = _api_template(MonitoringProps(api_5xx_alarm_percent=2, api_latency_alarm_ms=1500))
    alarms = _alarms(template)
    # THEN 5XX: the share of requests (5XXError's average) above 2 % in one 5-minute period
    fault = _metric(alarms["api-5xx"])
    assert (fault["Namespace"], fault["MetricName"], fault["Stat"]) == (
        "AWS/ApiGateway",
        "5XXError",
        "Average",
    )
    assert _dimensions(alarms["api-5xx"])["ApiName"] == "acme-api"
    assert (alarms["api-5xx"]["Threshold"], alarms["api-5xx"]["EvaluationPeriods"]) == (0.02, 1)
    # AND latency: p99 above 1,500 ms for three 5-minute periods
    latency = alarms["api-latency"]
    assert (_metric(latency)["MetricName"], _metric(latency)["Stat"]) == ("Latency", "p99")
    assert (latency["Threshold"], latency["ComparisonOperator"]) == (1500, "GreaterThanThreshold")
    assert (latency["EvaluationPeriods"], latency["DatapointsToAlarm"]) == (3, 3)
    assert "Runbook: README, Runbook, api-5xx." in alarms["api-5xx"]["AlarmDescription"]


def test_the_api_4xx_is_drawn_not_alarmed():
    template = _api_template()
    assert not [a for a in _alarms(template).values() if "4XX" in json.dumps(a)]
    assert "4XXError" in json.dumps(_dashboard_widgets(template))


def test_every_alarm_notifies_the_topic_and_points_to_the_runbook(template):
    topic = _logical_id(template, "AWS::SNS::Topic", "MonitoringAlarmTopic")
    for name, alarm in _alarms(template).items():
        assert alarm["AlarmActions"] == [{"Ref": topic}], name
        assert alarm["ActionsEnabled"] is True, name
        assert alarm["TreatMissingData"] == "notBreaching", name
        # A dead-letter alarm's description is joined with its queue's name (a token).
        assert "Runbook: README, Runbook, " in json.dumps(alarm["AlarmDescription"]), name


def test_dlq_alarms_fire_on_any_visible_message(template):
    alarm = _alarms(template)["dlq-persister-failed"]
    failed = _logical_id(template, "AWS::SQS::Queue", "Failed")
    watched = _metric(alarm)
    assert watched["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert watched["Stat"] == "Maximum"
    assert _dimensions(alarm) == {"QueueName": {"Fn::GetAtt": [failed, "QueueName"]}}
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )


def test_a_rule_on_a_custom_bus_is_watched_under_its_bus_and_bare_rule_name(template):
    # GIVEN a rule on a custom bus, whose Ref is "bus-name|rule-name"
    rule = _logical_id(template, "AWS::Events::Rule", "Rule")
    bus = _logical_id(template, "AWS::Events::EventBus", "Bus")
    # THEN the alarm's dimensions are the two halves, as EventBridge publishes them
    alarm = _alarms(template)["rule-failed-persist"]
    assert _metric(alarm)["MetricName"] == "FailedInvocations"
    assert _dimensions(alarm) == {
        "EventBusName": {"Ref": bus},
        "RuleName": {"Fn::Select": [1, {"Fn::Split": ["|", {"Ref": rule}]}]},
    }


def test_a_rule_on_the_default_bus_is_watched_under_its_name_alone(template):
    rule = _logical_id(template, "AWS::Events::Rule", "DefaultBusRule")
    assert _dimensions(_alarms(template)["rule-failed-legacy"]) == {"RuleName": {"Ref": rule}}


def test_conflicts_alarm_watches_the_spec_metric_in_the_given_namespace(template):
    alarm = _alarms(template)["conflicts"]
    watched = _metric(alarm)
    assert (watched["Namespace"], watched["MetricName"]) == ("Acme/Events", spec.Metric.CONFLICT)
    assert _dimensions(alarm) == {"service": "event-persister"}
    assert (watched["Stat"], watched["Period"]) == ("Sum", 300)


def test_archive_alarms_watch_freshness_and_delivery_success(template):
    alarms = _alarms(template)
    freshness, delivery = alarms["archive-freshness"], alarms["archive-delivery"]
    assert (_metric(freshness)["MetricName"], _metric(freshness)["Stat"]) == (
        "DeliveryToS3.DataFreshness",
        "Maximum",
    )
    assert (freshness["Threshold"], freshness["ComparisonOperator"]) == (
        1800,
        "GreaterThanThreshold",
    )
    assert (_metric(delivery)["MetricName"], _metric(delivery)["Stat"]) == (
        "DeliveryToS3.Success",
        "Minimum",
    )
    assert (delivery["Threshold"], delivery["ComparisonOperator"]) == (1, "LessThanThreshold")


def test_table_alarms_watch_put_item_throttles_and_p99_latency(template):
    alarms = _alarms(template)
    table = _logical_id(template, "AWS::DynamoDB::Table", "Table")
    for name, metric in (
        ("table-throttles", "ThrottledRequests"),
        ("table-write-latency", "SuccessfulRequestLatency"),
    ):
        assert _metric(alarms[name])["MetricName"] == metric
        assert _dimensions(alarms[name]) == {"TableName": {"Ref": table}, "Operation": "PutItem"}
    latency = alarms["table-write-latency"]
    assert _metric(latency)["Stat"] == "p99"
    assert (latency["EvaluationPeriods"], latency["DatapointsToAlarm"]) == (3, 3)


def test_thresholds_come_from_the_props():
    # GIVEN other thresholds than the defaults
    props = MonitoringProps(archive_freshness_alarm_seconds=3600, write_latency_alarm_ms=80)
    # WHEN synthesized THEN the alarms use them
    alarms = _alarms(_synth(props))
    assert alarms["archive-freshness"]["Threshold"] == 3600
    assert alarms["table-write-latency"]["Threshold"] == 80


def test_only_what_is_given_is_watched():
    # GIVEN only a function (no table, stream, rules or queues)
    use_project_node()
    app = App()
    stack = _stack(app)
    Monitoring(
        stack,
        "Monitoring",
        functions={"api": _function(stack, "Api")},
        metrics_namespace="Acme/Events",
        service_name="api",
        name_prefix=PREFIX,
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    # THEN it has the function's alarms and the conflicts alarm, nothing else
    assert set(_alarms(template)) == {"api-errors", "api-throttles", "conflicts"}


def test_alarms_and_dashboard_keep_their_logical_ids_from_before_the_library(template):
    # GIVEN named alarms and a named dashboard: a new logical id with the same name would be
    # created, then the old resource deleted by that name. THEN each keeps the id it had as
    # Monitoring/Alarm-<name>/Resource and Monitoring/Dashboard/Resource, and no probe is left
    for name, alarm in _alarms(template).items():
        (logical_id,) = [
            k
            for k, v in _of_type(template, "AWS::CloudWatch::Alarm").items()
            if v["Properties"] is alarm
        ]
        human = "MonitoringAlarm" + name.replace("-", "")
        assert logical_id[:-8] == human, (name, logical_id)
    (dashboard,) = _of_type(template, "AWS::CloudWatch::Dashboard")
    assert dashboard[:-8] == "MonitoringDashboard"
    assert not [v for v in template["Resources"].values() if v["Type"].startswith("Kahula::")]


# ------------------------------------------------------------------------------ topic and key


def test_topic_is_named_for_the_prefix_and_encrypted_with_a_rotating_key(template):
    topic = only(_of_type(template, "AWS::SNS::Topic"))["Properties"]
    assert topic["TopicName"] == f"{PREFIX}-alarms"
    key_id = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
    assert template["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True


def test_topic_policy_lets_cloudwatch_alarms_of_this_account_publish(template):
    # GIVEN the topic policy (it replaces SNS's default policy, so it must hold the Allow)
    topic = _logical_id(template, "AWS::SNS::Topic", "MonitoringAlarmTopic")
    policy = only(_of_type(template, "AWS::SNS::TopicPolicy"))["Properties"]
    assert policy["Topics"] == [{"Ref": topic}]
    document = policy["PolicyDocument"]
    # THEN CloudWatch may publish, only for alarms of this account and region
    allow = _statement(document, "AllowCloudWatchAlarmsToPublish")
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert _source_arn(allow["Condition"]) == f"arn:<partition>{ALARM_SOURCE}"
    # AND publishing without TLS is still denied to everyone
    deny = _statement(document, "AllowPublishThroughSSLOnly")
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # AND nothing else is allowed
    assert [s["Sid"] for s in document["Statement"] if s["Effect"] == "Allow"] == [
        "AllowCloudWatchAlarmsToPublish"
    ]


def test_topic_key_lets_cloudwatch_encrypt_for_alarms_of_this_account_only(template):
    key = only(_of_type(template, "AWS::KMS::Key"))["Properties"]
    document = key["KeyPolicy"]
    # THEN CloudWatch may use the key to publish, under the same conditions as the topic
    allow = _statement(document, "AllowCloudWatchAlarmsToUseTheKey")
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(allow["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert _source_arn(allow["Condition"]) == f"arn:<partition>{ALARM_SOURCE}"
    # AND grants are refused unless for an AWS resource or made by an AWS service
    deny = _statement(document, "GrantsOnlyForAwsServices")
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == (
        "Deny",
        "kms:CreateGrant",
        {"AWS": "*"},
    )
    assert deny["Condition"] == {
        "BoolIfExists": {
            "kms:GrantIsForAWSResource": "false",
            "aws:PrincipalIsAWSService": "false",
        }
    }
    # AND every other statement is the account's own administration of the key
    for statement in document["Statement"]:
        if statement is allow or statement is deny:
            continue
        assert "Service" not in statement["Principal"]
        joined = json.dumps(statement["Principal"])
        assert f":iam::{ACCOUNT}:root" in joined, statement
    # AND no service principal may create grants on it
    service_actions = [
        a
        for s in document["Statement"]
        if "Service" in s["Principal"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [a for a in service_actions if "Grant" in a or a == "kms:*"]


@pytest.mark.parametrize(("retain", "policy"), [(True, "Retain"), (False, "Delete")])
def test_the_topic_key_is_kept_unless_told_otherwise(retain, policy):
    key = only(_of_type(_synth(MonitoringProps(retain=retain)), "AWS::KMS::Key"))
    assert key["DeletionPolicy"] == policy


def test_an_alarm_email_is_subscribed_to_the_topic():
    template = _synth(MonitoringProps(alarm_email="oncall@example.com"))
    subscription = only(_of_type(template, "AWS::SNS::Subscription"))["Properties"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "oncall@example.com")


def test_no_email_means_no_subscription(template):
    assert _of_type(template, "AWS::SNS::Subscription") == {}


def test_without_a_name_prefix_names_come_from_the_stack_and_the_topic_name_is_generated():
    template = _synth(name_prefix=None)
    assert "TopicName" not in only(_of_type(template, "AWS::SNS::Topic"))["Properties"]
    assert "persister-errors" in _alarms(template, prefix="Watched-Monitoring")
    dashboard = only(_of_type(template, "AWS::CloudWatch::Dashboard"))["Properties"]
    assert dashboard["DashboardName"] == "Watched-Monitoring-events"


# ------------------------------------------------------------------------------ dashboard


def _dashboard_widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    body = only(_of_type(template, "AWS::CloudWatch::Dashboard"))["Properties"]["DashboardBody"]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1])
    return json.loads(text)["widgets"]  # type: ignore[no-any-return]


def test_dashboard_is_named_for_the_prefix(template):
    dashboard = only(_of_type(template, "AWS::CloudWatch::Dashboard"))["Properties"]
    assert dashboard["DashboardName"] == f"{PREFIX}-events"


def test_dashboard_shows_the_platform_metrics_latency_and_freshness(template):
    body = json.dumps(_dashboard_widgets(template))
    for needle in (
        spec.Metric.PERSISTED,
        spec.Metric.DUPLICATE,
        spec.Metric.CONFLICT,
        spec.Metric.MALFORMED,
        spec.Metric.FOLLOW_UPS_EMITTED,
        spec.Metric.FOLLOW_UP_FAILURES,
        "SuccessfulRequestLatency",
        "DeliveryToS3.DataFreshness",
        "AsyncEventsDropped",
        "ApproximateNumberOfMessagesVisible",
    ):
        assert needle in body, needle


def test_dashboard_shows_the_state_of_every_alarm(template):
    (status,) = [w for w in _dashboard_widgets(template) if w["type"] == "alarm"]
    assert len(status["properties"]["alarms"]) == len(_alarms(template))


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("knobs", "reason"),
    [
        ({"alarm_email": "oncall"}, "not an email address"),
        ({"archive_freshness_alarm_seconds": 0}, "must be positive"),
        ({"archive_freshness_alarm_seconds": 90_000}, "Firehose keeps undelivered records"),
        ({"write_latency_alarm_ms": 0}, "must be positive"),
        ({"dashboard_range_hours": 0}, "must be positive"),
        ({"api_5xx_alarm_percent": 0}, "must be a percentage"),
        ({"api_5xx_alarm_percent": 101}, "must be a percentage"),
        ({"api_latency_alarm_ms": 30_000}, "ends an integration after 29 s"),
    ],
)
def test_props_refuse_values_that_cannot_work(knobs, reason):
    with pytest.raises(ValueError, match=reason):
        MonitoringProps(**knobs)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"functions": {}}, "at least one function"),
        ({"name_prefix": "acme test"}, "name_prefix='acme test'"),
        ({"dead_letter_queues": {"bad key": None}}, "dead_letter_queues key 'bad key'"),
        ({"asynchronous_functions": ("nobody",)}, r"\['nobody'\] are not keys of functions"),
        ({"asynchronous_functions": "persister"}, "a collection of function keys"),
    ],
)
def test_bad_names_are_refused_with_their_reason(overrides, reason):
    with pytest.raises(ValueError, match=reason):
        _synth(**overrides)


# ------------------------------------------------------------------------------ cdk-nag


def test_monitoring_imported_resources_is_cdk_nag_clean_in_a_bare_app(tmp_path: Path):
    # GIVEN a bare App with the cdk-nag packs, watching only imported resources,
    # so that every resource in the stack is one the construct created
    use_project_node()
    app = App(outdir=str(tmp_path))
    stack = _stack(app)
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    Monitoring(
        stack,
        "Monitoring",
        functions={
            "persister": lambda_.Function.from_function_arn(
                stack, "Fn", arn.format("lambda", "function:acme-persister")
            )
        },
        table=dynamodb.Table.from_table_name(stack, "Table", "acme-events"),
        delivery_stream=firehose.DeliveryStream.from_delivery_stream_name(
            stack, "Stream", "acme-archive"
        ),
        rules={
            "persist": events.Rule.from_event_rule_arn(
                stack, "Rule", arn.format("events", "rule/acme-persist")
            )
        },
        dead_letter_queues={
            "failed": sqs.Queue.from_queue_arn(stack, "Queue", arn.format("sqs", "acme-failed"))
        },
        metrics_namespace="Acme/Events",
        service_name="event-persister",
        name_prefix=PREFIX,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    # WHEN synthesized (cdk-nag fails synth on any finding)
    app.synth()
    # THEN no pack reports anything
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = [v for p in report["pluginReports"] for v in p.get("violations", [])]
    assert violations == []


# ------------------------------------------------------------------------------ the stack


def test_the_stack_alarms_on_every_queue_where_messages_end(synth, env):
    # GIVEN the stack's queues that have no redrive policy: nothing consumes them, so a
    # message there is an event kept with its reason (conflicts, failures, undeliverables)
    queues = synth.resources(env, "AWS::SQS::Queue")
    terminal = {k for k, q in queues.items() if "RedrivePolicy" not in q["Properties"]}
    # THEN each is watched by a dlq-* alarm
    watched = set()
    for alarm in synth.resources(env, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        name = properties["AlarmName"]
        if "-dlq-" in name or name.endswith("-outbox-dlq"):  # the aggregate store's outbox
            watched.add(_dimensions(properties)["QueueName"]["Fn::GetAtt"][0])
    assert terminal
    assert watched == terminal


def _platform_functions(synth, env):
    """The stack's own functions (they emit the platform's metrics), not CDK's helpers."""
    return {
        k: f
        for k, f in synth.resources(env, "AWS::Lambda::Function").items()
        if spec.Env.POWERTOOLS_METRICS_NAMESPACE
        in f["Properties"].get("Environment", {}).get("Variables", {})
    }


def test_the_stack_alarms_on_every_rule_and_function(synth, env):
    alarms = [a["Properties"] for a in synth.resources(env, "AWS::CloudWatch::Alarm").values()]
    # each metric an alarm reads (a math alarm, such as the aggregate store's throttles, reads
    # several)
    watched = json.dumps(
        [
            {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"].get("Dimensions", [])}
            for a in alarms
            for query in a.get("Metrics", [])
            if "MetricStat" in query
        ]
        + [_dimensions(a) for a in alarms if "Metrics" not in a]
    )
    assert _platform_functions(synth, env)
    for rule in synth.resources(env, "AWS::Events::Rule"):
        assert json.dumps({"Ref": rule}) in watched, rule
    for function in _platform_functions(synth, env):
        assert json.dumps({"FunctionName": {"Ref": function}}) in watched, function


def test_the_stack_gives_asynchronous_delivery_alarms_to_the_persister_only(synth, env):
    names = [
        a["Properties"]["AlarmName"]
        for a in synth.resources(env, "AWS::CloudWatch::Alarm").values()
    ]
    delivery = {n for n in names if n.endswith(("-async-events-dropped", "-delivery-failures"))}
    assert delivery == {
        f"kahula-{env}-persister-async-events-dropped",
        f"kahula-{env}-persister-destination-delivery-failures",
    }
    has_api = bool(synth.resources(env, "AWS::ApiGateway::RestApi"))
    assert ({f"kahula-{env}-api-5xx", f"kahula-{env}-api-latency"} <= set(names)) == has_api


def test_the_stack_conflicts_alarm_reads_what_its_function_emits(synth, env):
    alarm = next(
        a["Properties"]
        for a in synth.resources(env, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == f"kahula-{env}-conflicts"
    )
    emitting = [
        f["Properties"]["Environment"]["Variables"]
        for f in _platform_functions(synth, env).values()
    ]
    assert emitting
    for variables in emitting:
        assert variables[spec.Env.POWERTOOLS_METRICS_NAMESPACE] == _metric(alarm)["Namespace"]
        assert variables[spec.Env.POWERTOOLS_SERVICE_NAME] == _dimensions(alarm)["service"]


def test_the_stack_draws_stored_events_from_the_persisters_own_metrics(synth, env):
    # GIVEN the persister, which writes no EMF line for a newly stored event (a cost choice)
    (dashboard,) = synth.resources(env, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    # WHEN the dashboard is drawn THEN EventsPersisted is derived: successful invocations less
    # duplicates and conflicts, all metrics CloudWatch has anyway
    assert "FILL(invocations, 0) - FILL(errors, 0) - FILL(duplicates, 0)" in body
    assert '\\"label\\":\\"EventsPersisted\\"' in body.replace(" ", "")
    assert '\\"Invocations\\"' in body
