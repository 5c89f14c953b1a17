"""The AggregateEventStore construct, synthesized alone in a bare App with cdk-nag on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks
from kahula_core.aggregates import schema

from cdk_app.constructs.aggregate_event_store import (
    AggregateEventStore,
    AggregateEventStoreProps,
)


@dataclass
class Synth:
    template: Template
    raw: dict[str, Any]
    stack: Stack

    def of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == type_}

    def one(self, type_: str) -> dict[str, Any]:
        found = self.of_type(type_)
        assert len(found) == 1, list(found)
        return next(iter(found.values()))


def synthesize(props: AggregateEventStoreProps | None = None, *, topic: bool = True) -> Synth:
    app = App()
    stack = Stack(app, "AggregateStoreTest", env={"account": "123456789012", "region": "eu-west-1"})
    bus = events.EventBus(stack, "Bus", event_bus_name="platform-bus")
    alarm_topic = sns.Topic(stack, "Alarms", enforce_ssl=True) if topic else None
    AggregateEventStore(stack, "Store", event_bus=bus, props=props, alarm_topic=alarm_topic)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    raw = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(Template.from_json(raw), raw, stack)


@pytest.fixture(scope="module")
def synth() -> Synth:
    return synthesize(
        AggregateEventStoreProps(
            table_name="kahula-aggregates-test",
            date_bucket_shards=4,
            metrics_namespace="Kahula/Aggregates",
            outbox_source="kahula.aggregate-store",
            alarm_name_prefix="kahula-aggregates-test",
        )
    )


@pytest.fixture(scope="module")
def dev_synth() -> Synth:
    return synthesize(AggregateEventStoreProps(retain=False, backups=False), topic=False)


def test_table_is_keyed_by_aggregate_and_sequence_with_stream_and_pitr(synth):
    table = synth.one("AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "aggregate_id", "KeyType": "HASH"},
        {"AttributeName": "sequence_number", "KeyType": "RANGE"},
    ]
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_table_has_the_three_indexes_the_client_queries(synth):
    props = synth.one("AWS::DynamoDB::Table")["Properties"]
    indexes = {
        i["IndexName"]: ([k["AttributeName"] for k in i["KeySchema"]], i["Projection"])
        for i in props["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        name: ([pk, sk], {"ProjectionType": "ALL"}) for name, pk, _, sk, _ in schema.INDEXES
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types["timestamp"] == "N" and types["time_key"] == "S"


def test_retain_keeps_the_table_with_deletion_protection(synth, dev_synth):
    kept = synth.one("AWS::DynamoDB::Table")
    assert kept["DeletionPolicy"] == "Retain"
    assert kept["Properties"]["DeletionProtectionEnabled"] is True
    dropped = dev_synth.one("AWS::DynamoDB::Table")
    assert dropped["DeletionPolicy"] == "Delete"
    assert dropped["Properties"]["DeletionProtectionEnabled"] is False


def test_backup_plan_takes_a_daily_backup_kept_90_days_of_the_table(synth, dev_synth):
    plan = synth.one("AWS::Backup::BackupPlan")["Properties"]["BackupPlan"]
    [rule] = plan["BackupPlanRule"]
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert rule["Lifecycle"] == {"DeleteAfterDays": 90}
    selection = synth.one("AWS::Backup::BackupSelection")["Properties"]["BackupSelection"]
    [resource] = selection["Resources"]
    [table] = synth.of_type("AWS::DynamoDB::Table")
    assert resource == {"Fn::GetAtt": [table, "Arn"]}
    assert dev_synth.of_type("AWS::Backup::BackupPlan") == {}


def test_pipe_reads_the_stream_in_order_with_retries_and_a_dead_letter_queue(synth):
    pipe = synth.one("AWS::Pipes::Pipe")["Properties"]
    stream = pipe["SourceParameters"]["DynamoDBStreamParameters"]
    assert stream["StartingPosition"] == "TRIM_HORIZON"
    assert stream["ParallelizationFactor"] == 1
    assert stream["BatchSize"] == 10
    assert stream["MaximumRetryAttempts"] == 185
    assert stream["MaximumRecordAgeInSeconds"] == 21_600
    assert stream["OnPartialBatchItemFailure"] == "AUTOMATIC_BISECT"
    [dlq] = synth.of_type("AWS::SQS::Queue")
    assert stream["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}}
    [table] = synth.of_type("AWS::DynamoDB::Table")
    assert pipe["Source"] == {"Fn::GetAtt": [table, "StreamArn"]}
    [filter_] = pipe["SourceParameters"]["FilterCriteria"]["Filters"]
    assert json.loads(filter_["Pattern"]) == {"eventName": ["INSERT"]}


def test_pipe_publishes_to_the_bus_with_source_and_event_type_as_detail_type(synth):
    pipe = synth.one("AWS::Pipes::Pipe")["Properties"]
    [bus] = synth.of_type("AWS::Events::EventBus")
    assert pipe["Target"] == {"Fn::GetAtt": [bus, "Arn"]}
    target = pipe["TargetParameters"]["EventBridgeEventBusParameters"]
    assert target == {
        "Source": "kahula.aggregate-store",
        "DetailType": "$.dynamodb.NewImage.event_type.S",
    }


def test_input_template_puts_event_id_and_domain_where_the_persister_reads_them(synth):
    template = synth.one("AWS::Pipes::Pipe")["Properties"]["TargetParameters"]["InputTemplate"]
    # Substitute what Pipes would insert for one record, then read it as JSON.
    image = "$.dynamodb.NewImage"
    filled = template
    for path, value in {
        f"<{image}.metadata.M>": '{"user":{"S":"u-1"}}',
        f"<{image}.event_data.M>": '{"qty":{"N":"2"}}',
    }.items():
        filled = filled.replace(path, value)
    for attribute in ("event_id", "aggregate_id", "aggregate_type", "event_type"):
        filled = filled.replace(f"<{image}.{attribute}.S>", f"{attribute}-value")
    for attribute in ("sequence_number", "schema_version", "timestamp"):
        filled = filled.replace(f"<{image}.{attribute}.N>", "7")
    detail = json.loads(filled)
    assert detail["metadata"]["event_id"] == "event_id-value"  # the persister's unique_id
    assert detail["metadata"]["domain"] == "aggregate_type-value"  # default: aggregate type
    assert detail["metadata"]["aggregate_id"] == "aggregate_id-value"
    assert detail["metadata"]["sequence_number"] == "7"
    assert detail["data"] == {"qty": {"N": "2"}}
    assert detail["event_metadata"] == {"user": {"S": "u-1"}}


def test_outbox_domain_can_be_fixed():
    synth = synthesize(AggregateEventStoreProps(outbox_domain="orders", backups=False))
    template = synth.one("AWS::Pipes::Pipe")["Properties"]["TargetParameters"]["InputTemplate"]
    assert '"domain":"orders"' in template


def test_pipe_role_may_read_the_stream_put_on_the_bus_and_dead_letter_nothing_more(synth):
    [role_id] = [
        k
        for k, v in synth.of_type("AWS::IAM::Role").items()
        if "pipes.amazonaws.com" in json.dumps(v["Properties"]["AssumeRolePolicyDocument"])
    ]
    role = synth.raw["Resources"][role_id]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "pipes.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    policies = [
        p["Properties"]
        for p in synth.of_type("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    [table] = synth.of_type("AWS::DynamoDB::Table")
    [bus] = synth.of_type("AWS::Events::EventBus")
    [dlq] = synth.of_type("AWS::SQS::Queue")
    granted = sorted(
        (json.dumps(s["Action"], sort_keys=True), json.dumps(s["Resource"], sort_keys=True))
        for s in statements
    )
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in statements)
    assert granted == sorted(
        [
            (
                json.dumps(
                    [
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                        "dynamodb:ListStreams",
                    ]
                ),
                json.dumps({"Fn::GetAtt": [table, "StreamArn"]}),
            ),
            (json.dumps("events:PutEvents"), json.dumps({"Fn::GetAtt": [bus, "Arn"]})),
            (json.dumps("sqs:SendMessage"), json.dumps({"Fn::GetAtt": [dlq, "Arn"]})),
        ]
    )


def test_dead_letter_queue_is_encrypted_and_tls_only(synth):
    queue = synth.one("AWS::SQS::Queue")["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    synth.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


ALARMS = {
    "append-latency": ("AWS/DynamoDB", "SuccessfulRequestLatency"),
    "append-system-errors": ("AWS/DynamoDB", "SystemErrors"),
    "transaction-conflicts": ("AWS/DynamoDB", "TransactionConflict"),
    "append-conflicts": ("Kahula/Aggregates", "AppendConflicts"),
    "index-throttles-by-event-type": ("AWS/DynamoDB", "WriteThrottleEvents"),
    "index-throttles-by-aggregate-type": ("AWS/DynamoDB", "WriteThrottleEvents"),
    "index-throttles-by-time": ("AWS/DynamoDB", "WriteThrottleEvents"),
    "outbox-ExecutionFailed": ("AWS/EventBridge/Pipes", "ExecutionFailed"),
    "outbox-ExecutionThrottled": ("AWS/EventBridge/Pipes", "ExecutionThrottled"),
    "outbox-TargetStageFailed": ("AWS/EventBridge/Pipes", "TargetStageFailed"),
    "outbox-dlq": ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
}


@pytest.mark.parametrize(("name", "metric"), ALARMS.items())
def test_each_failure_has_an_alarm_that_notifies_the_topic(synth, name, metric):
    [topic] = synth.of_type("AWS::SNS::Topic")
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
    }
    alarm = alarms[f"kahula-aggregates-test-{name}"]
    assert (alarm["Namespace"], alarm["MetricName"]) == metric
    assert alarm["AlarmActions"] == [{"Ref": topic}]


def test_throttle_alarm_watches_transactional_writes(synth):
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"AlarmName": "kahula-aggregates-test-append-throttles", "Metrics": Match.any_value()},
    )


def test_pipe_alarms_name_the_pipe(synth):
    [pipe] = synth.of_type("AWS::Pipes::Pipe")
    synth.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ExecutionFailed",
            "Dimensions": [{"Name": "PipeName", "Value": {"Ref": pipe}}],
        },
    )


def test_no_conflict_metric_alarm_without_a_namespace(dev_synth):
    names = [
        a["Properties"].get("MetricName")
        for a in dev_synth.of_type("AWS::CloudWatch::Alarm").values()
    ]
    assert "AppendConflicts" not in names
    assert "TransactionConflict" in names


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"date_bucket_shards": 0}, "date_bucket_shards"),
        ({"outbox_batch_size": 11}, "PutEvents takes 10"),
        ({"outbox_max_record_age_seconds": 90_000}, "24 h"),
        ({"outbox_max_retry_attempts": -1}, "0..10000"),
        ({"backup_retention_days": 0}, "at least 1"),
    ],
)
def test_props_refuse_values_that_would_lose_or_reorder_events(overrides, message):
    with pytest.raises(ValueError, match=message):
        AggregateEventStoreProps(**overrides)


def test_existing_dead_letter_queue_and_its_props_are_exclusive():
    app = App()
    stack = Stack(app, "S")
    bus = events.EventBus(stack, "Bus")
    queue = sqs.Queue(stack, "Q")
    with pytest.raises(ValueError, match="not both"):
        AggregateEventStore(
            stack,
            "Store",
            event_bus=bus,
            existing_dead_letter_queue=queue,
            dead_letter_queue_props=sqs.QueueProps(),
        )
