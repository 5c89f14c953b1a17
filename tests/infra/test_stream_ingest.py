"""The Kinesis front door in the template: stream, mapping, exact permissions, alarms."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_kinesis as kinesis

from cdk_app.checks import apply_checks
from cdk_app.config import ENVIRONMENTS
from cdk_app.constructs import (
    EncryptionKey,
    EncryptionProps,
    EventArchive,
    EventBus,
    EventTable,
    Persister,
    StreamIngest,
    StreamIngestProps,
    StreamMode,
)

from .conftest import only
from .test_persister import as_list, persister_function, role_statements

# The consumer may read its stream and write what the persister writes (plus its quarantine
# and the archive): nothing more.
ALLOWED_ACTIONS = {
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "dynamodb:PutItem",
    "events:PutEvents",
    "s3:PutObject",
    "sqs:SendMessage",
    "firehose:PutRecordBatch",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def consumer_function(synth, env="dev") -> dict[str, Any]:
    return next(
        v
        for v in synth.resources(env, "AWS::Lambda::Function").values()
        if v["Properties"].get("FunctionName") == f"kahula-stream-consumer-{env}"
    )


def consumer_statements(synth, env="dev"):
    role_id = consumer_function(synth, env)["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in synth.raw[env]["Resources"][role_id]["Properties"]
    return role_statements(synth, env, role_id)


def logical_id(synth, env, type_, contains):
    (found,) = [k for k in synth.resources(env, type_) if contains in k]
    return found


def test_the_stream_is_on_in_dev_only(synth):
    assert ENVIRONMENTS["dev"].stream is not None
    for env in ("staging", "prod"):
        assert synth.resources(env, "AWS::Kinesis::Stream") == {}
        assert synth.resources(env, "AWS::Lambda::EventSourceMapping") == {}


def test_dev_stream_is_on_demand_and_encrypted_with_the_aws_managed_key(synth):
    stream = only(synth.resources("dev", "AWS::Kinesis::Stream"))["Properties"]
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert stream["RetentionPeriodHours"] == 24


def test_mapping_reports_partial_failures_bisects_and_bounds_retries_and_age(synth):
    mapping = only(
        {
            k: v
            for k, v in synth.resources("dev", "AWS::Lambda::EventSourceMapping").items()
            if k.startswith("StreamIngest")
        }
    )["Properties"]
    failures = logical_id(synth, "dev", "AWS::SQS::Queue", "StreamIngestFailures")
    assert mapping["EventSourceArn"] == {
        "Fn::GetAtt": [logical_id(synth, "dev", "AWS::Kinesis::Stream", "StreamIngest"), "Arn"]
    }
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 10
    assert mapping["MaximumRecordAgeInSeconds"] == 6 * 3600
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (100, 1)
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [failures, "Arn"]
    }


def test_consumer_role_allows_exactly_the_listed_actions(synth):
    actions = {a for s in consumer_statements(synth) for a in as_list(s["Action"])}
    assert actions == ALLOWED_ACTIONS


def test_consumer_role_has_no_wildcards_except_xray(synth):
    for statement in consumer_statements(synth):
        assert statement["Effect"] == "Allow"
        assert not any("*" in a for a in as_list(statement["Action"]))
        if statement["Resource"] == "*":
            assert set(as_list(statement["Action"])) == {
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
            }


def resources_of(synth, action):
    return [
        r
        for s in consumer_statements(synth)
        if action in as_list(s["Action"])
        for r in as_list(s["Resource"])
    ]


def test_each_write_is_on_the_resource_it_needs_only(synth):
    arn = lambda type_, part: {"Fn::GetAtt": [logical_id(synth, "dev", type_, part), "Arn"]}  # noqa: E731
    assert resources_of(synth, "kinesis:GetRecords") == [
        arn("AWS::Kinesis::Stream", "StreamIngest")
    ]
    assert resources_of(synth, "dynamodb:PutItem") == [arn("AWS::DynamoDB::Table", "EventTable")]
    assert resources_of(synth, "firehose:PutRecordBatch") == [
        arn("AWS::KinesisFirehose::DeliveryStream", "EventArchive")
    ]
    assert sorted(map(json.dumps, resources_of(synth, "sqs:SendMessage"))) == sorted(
        json.dumps(arn("AWS::SQS::Queue", part))
        for part in ("PersisterConflicts", "StreamIngestQuarantine", "StreamIngestFailures")
    )
    (objects,) = resources_of(synth, "s3:PutObject")
    assert objects["Fn::Join"][1][-1] == "/oversize-payloads/*"


def test_consumer_stores_with_the_persisters_contract_and_follow_up_settings(synth):
    persister = persister_function(synth, "dev")["Properties"]["Environment"]["Variables"]
    consumer = consumer_function(synth)["Properties"]["Environment"]["Variables"]
    # the replay source is the persister's alone (only the bus reserves it): a consumer told it
    # would trust whatever a stream producer writes under it
    assert "REPLAY_SOURCE" not in consumer
    shared = {
        k: v
        for k, v in persister.items()
        if k not in ("POWERTOOLS_TRACE_DISABLED", "REPLAY_SOURCE")
    }
    # the same contract, follow-up rules and source, and the same metrics service and namespace
    assert {k: consumer[k] for k in shared} == shared
    assert (consumer["BARE_ID_FIELD"], consumer["BARE_MESSAGE_FIELD"]) == ("eventId", "message")
    assert consumer["BARE_SOURCE"] == "kahula.stream"
    assert consumer["ARCHIVE_STREAM_NAME"] == {
        "Ref": logical_id(synth, "dev", "AWS::KinesisFirehose::DeliveryStream", "EventArchive")
    }
    function = consumer_function(synth)["Properties"]
    assert function["Handler"] == "stream_consumer.handler.lambda_handler"
    assert function["Architectures"] == ["arm64"]
    assert function["Runtime"] == persister_function(synth, "dev")["Properties"]["Runtime"]
    assert function["Layers"] == persister_function(synth, "dev")["Properties"]["Layers"]


def test_only_the_persister_and_the_consumer_may_publish_as_the_follow_up_source(synth):
    bus = only(synth.resources("dev", "AWS::Events::EventBus"))["Properties"]
    (deny,) = [
        s
        for s in bus["Policy"]["Statement"]
        if s["Effect"] == "Deny"
        and s["Condition"].get("StringEquals") == {"events:source": "kahula.event-persister"}
    ]
    allowed = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    for role in ("PersisterRole", "StreamIngestRole"):
        assert {"Fn::GetAtt": [logical_id(synth, "dev", "AWS::IAM::Role", role), "Arn"]} in allowed


@pytest.mark.parametrize(
    "name",
    [
        "kahula-dev-stream-iterator-age",
        "kahula-dev-stream-batch-item-failures",
        "kahula-dev-stream-consumer-errors",
        "kahula-dev-dlq-stream-failed",
        "kahula-dev-dlq-stream-malformed",
    ],
)
def test_stream_alarms_notify_the_alarm_topic(synth, name):
    alarms = synth.resources("dev", "AWS::CloudWatch::Alarm").values()
    (alarm,) = [a for a in alarms if a["Properties"].get("AlarmName") == name]
    topic = logical_id(synth, "dev", "AWS::SNS::Topic", "Monitoring")
    assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]


def test_iterator_age_alarm_reads_the_functions_maximum_iterator_age(synth):
    alarms = synth.resources("dev", "AWS::CloudWatch::Alarm").values()
    (alarm,) = [
        a["Properties"]
        for a in alarms
        if a["Properties"].get("AlarmName") == "kahula-dev-stream-iterator-age"
    ]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == (
        "IteratorAge",
        "Maximum",
        300_000,
    )


# ---------------------------------------------------------------- in a user's bare App


def bare_app(**kwargs: Any) -> dict[str, Any]:
    """The front door in a bare App with every check on (cdk-nag); its template."""
    app = App()
    stack = Stack(app, "Door", env=Environment(account="111111111111", region="eu-west-1"))
    key = kwargs.pop("key", False)
    encryption_key = (
        EncryptionKey(stack, "Key", props=EncryptionProps(customer_managed_key=True)).key
        if key
        else None
    )
    bus = EventBus(stack, "Bus")
    table = EventTable(stack, "Table")
    archive = EventArchive(stack, "Archive", event_bus=bus, encryption_key=encryption_key)
    persister = Persister(
        stack,
        "Persister",
        event_bus=bus,
        table=table,
        existing_payload_bucket=archive.bucket,
        encryption_key=encryption_key,
    )
    StreamIngest(
        stack,
        "Door",
        event_bus=bus,
        table=table,
        persister=persister,
        archive=archive,
        encryption_key=encryption_key,
        **kwargs,
    )
    apply_checks(app)
    return app.synth().get_stack_by_name("Door").template


def of_type(template, type_):
    return [r for r in template["Resources"].values() if r["Type"] == type_]


def test_enhanced_fan_out_maps_through_a_consumer_with_subscribe_rights_on_it_only():
    template = bare_app(props=StreamIngestProps(enhanced_fan_out=True, parallelization_factor=4))
    (consumer,) = [
        k for k, r in template["Resources"].items() if r["Type"] == "AWS::Kinesis::StreamConsumer"
    ]
    (mapping,) = of_type(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [consumer, "ConsumerARN"]}
    assert mapping["Properties"]["ParallelizationFactor"] == 4
    statements = [
        s
        for p in of_type(template, "AWS::IAM::Policy")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (subscribe,) = [s for s in statements if "kinesis:SubscribeToShard" in as_list(s["Action"])]
    assert subscribe["Resource"] == {"Fn::GetAtt": [consumer, "ConsumerARN"]}


def test_with_the_projects_key_the_stream_uses_it_and_the_consumer_may_decrypt():
    template = bare_app(
        key=True, props=StreamIngestProps(stream_mode=StreamMode.PROVISIONED, shard_count=2)
    )
    (stream,) = of_type(template, "AWS::Kinesis::Stream")
    assert stream["Properties"]["StreamEncryption"]["KeyId"]["Fn::GetAtt"][1] == "Arn"
    assert stream["Properties"]["ShardCount"] == 2
    statements = [
        s
        for p in of_type(template, "AWS::IAM::Policy")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any("kms:Decrypt" in as_list(s["Action"]) for s in statements)


def test_an_existing_stream_is_read_not_created():
    app = App()
    stack = Stack(app, "S")
    theirs = kinesis.Stream.from_stream_arn(
        stack, "Theirs", "arn:aws:kinesis:eu-west-1:111111111111:stream/ingester"
    )
    bus, table = EventBus(stack, "Bus"), EventTable(stack, "Table")
    persister = Persister(stack, "P", event_bus=bus, table=table)
    StreamIngest(
        stack,
        "Door",
        event_bus=bus,
        table=table,
        persister=persister,
        archive=None,
        existing_stream=theirs,
    )
    template = app.synth().get_stack_by_name("S").template
    assert of_type(template, "AWS::Kinesis::Stream") == []
    (mapping,) = of_type(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["EventSourceArn"].endswith(":stream/ingester")


def test_existing_stream_and_stream_props_together_are_refused():
    stack = Stack(App(), "S")
    bus, table = EventBus(stack, "Bus"), EventTable(stack, "Table")
    persister = Persister(stack, "P", event_bus=bus, table=table)
    theirs = kinesis.Stream.from_stream_arn(stack, "T", "arn:aws:kinesis:eu-west-1:1:stream/x")
    with pytest.raises(ValueError, match="existing_stream or stream_props, not both"):
        StreamIngest(
            stack,
            "Door",
            event_bus=bus,
            table=table,
            persister=persister,
            archive=None,
            existing_stream=theirs,
            stream_props={"shard_count": 2},
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"retry_attempts": -1}, "retry_attempts must be an integer from 0 to 10000"),
        ({"max_record_age_seconds": -1}, "max_record_age_seconds must be an integer from 60"),
        ({"max_record_age_seconds": 48 * 3600}, "must not exceed the stream retention"),
        ({"batch_size": 0}, "batch_size must be an integer from 1 to 10000"),
        ({"parallelization_factor": 11}, "parallelization_factor must be an integer from 1 to 10"),
        ({"stream_mode": "ON_DEMAND"}, "stream_mode must be a StreamMode"),
        ({"bare_id_field": "x", "bare_message_field": "x"}, "must differ"),
    ],
)
def test_bad_props_are_refused_at_synth_with_the_reason(change, message):
    with pytest.raises(ValueError, match=message):
        StreamIngestProps(**change)


def test_every_stream_knob_is_in_the_readme_with_its_doc():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for f in fields(StreamIngestProps):
        assert f"| `{f.name}` | {f.metadata['doc']} |" in readme, f.name
