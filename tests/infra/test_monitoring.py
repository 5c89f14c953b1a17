"""Alarms per environment, their encrypted topic, and the dashboard."""

from __future__ import annotations

import json

import pytest

from cdk_app.config import ENVIRONMENTS

from .conftest import only

REQUIRED = {
    "persister-errors",
    "persister-throttles",
    "archive-freshness",
    "archive-delivery",
    "table-throttles",
    "table-write-latency",
    "conflicts",
    "rule-failed-persist",
    "rule-failed-archive",
    "rule-failed-validatable",
    "rule-failed-indexable",
}


def alarms(synth, env):
    prefix = f"kahula-{env}-"
    return {
        a["Properties"]["AlarmName"].removeprefix(prefix): a["Properties"]
        for a in synth.resources(env, "AWS::CloudWatch::Alarm").values()
    }


def test_every_failure_an_operator_must_act_on_has_an_alarm(synth, env):
    names = set(alarms(synth, env))
    assert names >= REQUIRED
    # every queue that keeps what was not stored or delivered
    dead_letter_queues = {n for n in names if n.startswith("dlq-")}
    assert dead_letter_queues == {
        "dlq-persister-failed",
        "dlq-persister-undeliverable",
        "dlq-persister-conflicts",
        "dlq-archive-undeliverable",
        "dlq-follow-ups-undeliverable",
        "dlq-validatable-consumer-dlq",
        "dlq-indexable-consumer-dlq",
    }


def test_every_alarm_notifies_the_environment_topic(synth, env):
    topic_id = next(iter(synth.resources(env, "AWS::SNS::Topic")))
    for name, alarm in alarms(synth, env).items():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert "Runbook" in alarm["AlarmDescription"], name


def test_topic_is_encrypted_with_a_rotating_key_cloudwatch_may_use(synth, env):
    topic = only(synth.resources(env, "AWS::SNS::Topic"))["Properties"]
    assert topic["TopicName"] == f"kahula-{env}-alarms"
    key_id = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = synth.raw[env]["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = [s["Principal"] for s in key["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals


def test_dlq_alarms_fire_on_any_visible_message(synth, env):
    alarm = alarms(synth, env)["dlq-persister-failed"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_conflicts_alarm_watches_the_handlers_own_metric(synth, env):
    alarm = alarms(synth, env)["conflicts"]
    assert alarm["Namespace"] == "Kahula/EventPersistence"
    assert alarm["MetricName"] == "ConflictingEvents"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "event-persister"}]
    function = next(
        f
        for f in synth.resources(env, "AWS::Lambda::Function").values()
        if f["Properties"].get("FunctionName") == f"kahula-event-persister-{env}"
    )
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == alarm["Namespace"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == alarm["Dimensions"][0]["Value"]


@pytest.mark.parametrize("env", ["prod"])
def test_thresholds_come_from_the_config(synth, env):
    config = ENVIRONMENTS[env]
    found = alarms(synth, env)
    assert (
        found["archive-freshness"]["Threshold"] == config.monitoring.archive_freshness_alarm_seconds
    )
    assert found["table-write-latency"]["Threshold"] == config.monitoring.write_latency_alarm_ms
    assert found["table-write-latency"]["EvaluationPeriods"] == 3
    assert found["table-write-latency"]["ExtendedStatistic"] == "p99"


def test_dashboard_shows_latency_counts_follow_ups_and_freshness(synth, env):
    dashboard = only(synth.resources(env, "AWS::CloudWatch::Dashboard"))["Properties"]
    body = json.dumps(dashboard["DashboardBody"])
    for needle in (
        "SuccessfulRequestLatency",
        "EventsPersisted",
        "DuplicateEvents",
        "ConflictingEvents",
        "FollowUpsEmitted",
        "DeliveryToS3.DataFreshness",
    ):
        assert needle in body, needle
