"""The FIFO door's template: queues, ledger, idempotency table, consumer and its exact IAM."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from kahula_core import spec

from cdk_app.config import ENVIRONMENTS
from cdk_app.constructs import (
    EventArchive,
    EventBus,
    EventTable,
    Persister,
    QueueIngest,
    QueueIngestProps,
)

from .conftest import only
from .test_persister import as_list, role_statements

ALLOWED_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:SendMessage",
    "dynamodb:PutItem",
    "events:PutEvents",
    "s3:PutObject",
    "firehose:PutRecord",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def consumer(synth):
    return next(
        (lid, v)
        for lid, v in synth.resources("dev", "AWS::Lambda::Function").items()
        if v["Properties"].get("FunctionName") == "kahula-queue-consumer-dev"
    )


def statements(synth):
    _, function = consumer(synth)
    return role_statements(synth, "dev", function["Properties"]["Role"]["Fn::GetAtt"][0])


def logical_id(synth, type_, name):
    (lid,) = [
        k
        for k, v in synth.resources("dev", type_).items()
        if name in (v["Properties"].get("QueueName"), v["Properties"].get("TableName"))
    ]
    return lid


def test_the_door_is_on_in_dev_only(synth):
    assert ENVIRONMENTS["dev"].queue is not None
    for env in ("staging", "prod"):
        assert ENVIRONMENTS[env].queue is None
        assert not any(
            "queue-consumer" in str(v["Properties"].get("FunctionName"))
            for v in synth.resources(env, "AWS::Lambda::Function").values()
        )


def test_fifo_queue_with_fifo_dlq_sse_and_redrive(synth):
    t = synth.templates["dev"]
    dlq = logical_id(synth, "AWS::SQS::Queue", "kahula-queue-ingest-dev-dlq.fifo")
    t.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": "kahula-queue-ingest-dev.fifo",
            "FifoQueue": True,
            "ContentBasedDeduplication": True,
            "SqsManagedSseEnabled": True,
            "VisibilityTimeout": 180,
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                "maxReceiveCount": 5,
            },
        },
    )
    t.has_resource_properties(
        "AWS::SQS::Queue",
        {"QueueName": "kahula-queue-ingest-dev-dlq.fifo", "FifoQueue": True,
         "SqsManagedSseEnabled": True},
    )  # fmt: skip


def test_both_queues_refuse_non_tls_access(synth):
    for name in ("kahula-queue-ingest-dev.fifo", "kahula-queue-ingest-dev-dlq.fifo"):
        lid = logical_id(synth, "AWS::SQS::Queue", name)
        policy = only(
            {
                k: v
                for k, v in synth.resources("dev", "AWS::SQS::QueuePolicy").items()
                if {"Ref": lid} in v["Properties"]["Queues"]
            }
        )
        (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                   if s["Effect"] == "Deny"]  # fmt: skip
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_ledger_table_is_as_the_issue_specifies(synth):
    synth.templates["dev"].has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": "kahula-ledger-dev",
            "KeySchema": [
                {"AttributeName": "tenant_id", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "gsi_status_tenant",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "tenant_id_created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
            "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "BillingMode": "PAY_PER_REQUEST",
        },
    )


def test_idempotency_table_keys_on_pk_with_ttl(synth):
    synth.templates["dev"].has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": "kahula-idempotency-dev",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        },
    )


def test_event_source_mapping_reports_batch_item_failures(synth):
    lid, _ = consumer(synth)
    mapping = only(
        {
            k: v
            for k, v in synth.resources("dev", "AWS::Lambda::EventSourceMapping").items()
            if k.startswith("QueueIngest")
        }
    )
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["BatchSize"] == 10
    assert mapping["Properties"]["FunctionName"] == {"Ref": lid}


def test_consumer_environment_names_its_tables_ttls_and_the_store(synth):
    _, function = consumer(synth)
    environment = function["Properties"]["Environment"]["Variables"]
    assert function["Properties"]["Handler"] == "queue_consumer.handler.lambda_handler"
    assert environment[spec.QueueEnv.EVENTS_TTL_DAYS] == "0"
    assert environment[spec.QueueEnv.IDEMPOTENCY_TTL_DAYS] == "7"
    assert environment[spec.QueueEnv.DEFAULT_ROUTE] == "default"
    assert json.loads(environment[spec.QueueEnv.ROUTES]) == {}
    for name in (spec.Env.TABLE_NAME, spec.Env.CONFLICTS_QUEUE_URL, spec.Env.FOLLOW_UP_SOURCE,
                 spec.QueueEnv.LEDGER_TABLE, spec.QueueEnv.ARCHIVE_STREAM):  # fmt: skip
        assert name in environment


def test_consumer_role_allows_exactly_the_listed_actions(synth):
    actions = {a for s in statements(synth) for a in as_list(s["Action"])}
    assert actions == ALLOWED_ACTIONS


def test_consumer_writes_only_where_it_must(synth):
    by_sid = {s.get("Sid"): s for s in statements(synth)}
    ledger = logical_id(synth, "AWS::DynamoDB::Table", "kahula-ledger-dev")
    idempotency = logical_id(synth, "AWS::DynamoDB::Table", "kahula-idempotency-dev")
    queue = logical_id(synth, "AWS::SQS::Queue", "kahula-queue-ingest-dev.fifo")
    dlq = logical_id(synth, "AWS::SQS::Queue", "kahula-queue-ingest-dev-dlq.fifo")
    assert sorted(
        r["Fn::GetAtt"][0] for r in by_sid["RecordLedgerAndIdempotency"]["Resource"]
    ) == sorted([ledger, idempotency])
    receive = [s for s in statements(synth) if "sqs:ReceiveMessage" in as_list(s["Action"])]
    assert [s["Resource"] for s in receive] == [{"Fn::GetAtt": [queue, "Arn"]}]
    assert by_sid["DeadLetterUnreadableMessages"]["Resource"] == {"Fn::GetAtt": [dlq, "Arn"]}
    for statement in statements(synth):
        if statement["Resource"] == "*":
            assert set(as_list(statement["Action"])) == {
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
            }


def test_monitoring_watches_the_consumer_and_its_dlq(synth):
    alarms = synth.resources("dev", "AWS::CloudWatch::Alarm")
    text = json.dumps(alarms)
    dlq = logical_id(synth, "AWS::SQS::Queue", "kahula-queue-ingest-dev-dlq.fifo")
    assert dlq in text
    lid, _ = consumer(synth)
    assert lid in text


# ---------------------------------------------------------------- props, in a bare App


def test_a_visibility_timeout_under_six_times_the_timeout_is_refused_at_synth():
    with pytest.raises(ValueError, match=r"visibility_timeout_seconds \(60\) must be at least "
                       r"6 x timeout_seconds \(30\) = 180"):  # fmt: skip
        QueueIngestProps(visibility_timeout_seconds=60)


@pytest.mark.parametrize(
    ("field", "value"),
    [("batch_size", 11), ("max_receive_count", 0), ("idempotency_ttl_days", 0),
     ("events_ttl_days", -1), ("routes", (("only-one",),))],
)  # fmt: skip
def test_out_of_range_props_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        QueueIngestProps(**{field: value})


def test_in_a_bare_app_routes_and_high_throughput_reach_the_template():
    app = App()
    stack = Stack(app, "S")
    bus = EventBus(stack, "Bus")
    table = EventTable(stack, "Table")
    archive = EventArchive(stack, "Archive", event_bus=bus)
    persister = Persister(stack, "P", event_bus=bus, table=table)
    ingest = QueueIngest(
        stack,
        "Q",
        persister=persister,
        table=table,
        event_bus=bus,
        archive=archive,
        props=QueueIngestProps(
            routes=(("monitoring", "observability"),), high_throughput=True, events_ttl_days=30
        ),
    )
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SQS::Queue",
        {"FifoQueue": True, "FifoThroughputLimit": "perMessageGroupId",
         "DeduplicationScope": "messageGroup", "QueueName": Match.absent()},
    )  # fmt: skip
    variables = t.find_resources("AWS::Lambda::Function")[
        stack.get_logical_id(ingest.function.node.default_child)
    ]["Properties"]["Environment"]["Variables"]
    assert json.loads(variables[spec.QueueEnv.ROUTES]) == {"monitoring": "observability"}
    assert variables[spec.QueueEnv.EVENTS_TTL_DAYS] == "30"
