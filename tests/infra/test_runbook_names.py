"""What the runbook and the alarms tell an operator names real resources.

A dead-letter alarm's description names the queue it watches (its key in Monitoring is not a
queue name), and every function's log group is a stack output: functions log to their own,
CloudFormation-named, log groups, not /aws/lambda/<function name>.
"""

from __future__ import annotations

from typing import Any

from .conftest import Synth


def _render(value: Any, resources: dict[str, dict[str, Any]]) -> str:
    """An alarm description as CloudFormation will write it, queue names resolved."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(part, resources) for part in parts)
    if "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "QueueName":
        return resources[value["Fn::GetAtt"][0]]["Properties"]["QueueName"]
    raise AssertionError(f"unexpected token in a description: {value}")


def _dlq_alarms(synth: Synth, env: str) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synth.resources(env, "AWS::CloudWatch::Alarm").values()
        if "-dlq-" in a["Properties"]["AlarmName"]
        and not a["Properties"]["AlarmName"].endswith("aggregates-outbox-dlq")
    }


def test_every_dead_letter_alarm_names_the_queue_it_watches(synth: Synth, env: str):
    resources = synth.raw[env]["Resources"]
    alarms = _dlq_alarms(synth, env)
    assert alarms
    for name, alarm in alarms.items():
        # GIVEN the queue the alarm's metric watches
        (metric,) = alarm["Metrics"]
        dimensions = metric["MetricStat"]["Metric"]["Dimensions"]
        (dimension,) = [d for d in dimensions if d["Name"] == "QueueName"]
        watched = _render(dimension["Value"], resources)
        # THEN its description names that queue, by its real name
        assert f"The queue {watched} holds messages" in _render(
            alarm["AlarmDescription"], resources
        ), name


def test_the_follow_up_consumer_dlq_alarm_names_its_real_queue(synth: Synth):
    resources = synth.raw["prod"]["Resources"]
    alarm = _dlq_alarms(synth, "prod")["kahula-prod-dlq-validatable-consumer-dlq"]
    description = _render(alarm["AlarmDescription"], resources)
    assert "kahula-follow-ups-prod-validatable-dlq" in description
    assert "The validatable-consumer-dlq queue" not in description


def test_the_stream_failed_alarm_says_the_records_are_not_in_the_message(synth: Synth):
    resources = synth.raw["dev"]["Resources"]
    alarm = _dlq_alarms(synth, "dev")["kahula-dev-dlq-stream-failed"]
    description = _render(alarm["AlarmDescription"], resources)
    assert "NOT the records" in description
    assert "read them from the stream" in description
    assert "to inspect and redrive" not in description


def test_every_functions_log_group_is_a_stack_output(synth: Synth, env: str):
    outputs = synth.raw[env]["Outputs"]
    exported = [o["Value"] for o in outputs.values()]
    functions = synth.resources(env, "AWS::Lambda::Function")
    assert functions
    for logical_id, function in functions.items():
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]
        assert log_group in exported, logical_id
    delivery = synth.resources(env, "AWS::KinesisFirehose::DeliveryStream")
    (stream,) = delivery.values()
    options = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    assert options["CloudWatchLoggingOptions"]["LogGroupName"] in exported
