"""The persister against moto: a table, a payload bucket, a conflicts queue, and the bus with a
rule that captures follow-ups into a queue, exactly as the handler sees them in AWS."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

# Powertools reads these when the handler module is imported, as Lambda sets them before import.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "event-persister")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Kahula/Test")

import boto3
import pytest
from moto import mock_aws
from persister import handler

REGION = "us-east-1"
TABLE = "kahula-events-test"
BUCKET = "kahula-archive-test"
BUS = "kahula-events-test"
FOLLOW_UP_SOURCE = "kahula.event-persister"


def lambda_context() -> Any:
    return SimpleNamespace(
        function_name="kahula-persister-test",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:kahula-persister-test",
        aws_request_id="00000000-0000-4000-8000-000000000000",
    )


@dataclass
class FakeAws:
    dynamodb: Any
    s3: Any
    sqs: Any
    events: Any
    conflicts_url: str
    follow_ups_url: str

    def items(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]

    def item(self, unique_id: str) -> dict[str, Any] | None:
        return self.dynamodb.get_item(
            TableName=TABLE, Key={"unique_id": {"S": unique_id}}, ConsistentRead=True
        ).get("Item")

    def drain(self, url: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return out
            for message in batch:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def follow_ups(self) -> list[dict[str, Any]]:
        return self.drain(self.follow_ups_url)

    def conflicts(self) -> list[dict[str, Any]]:
        return self.drain(self.conflicts_url)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAws]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "event-persister",
        "POWERTOOLS_METRICS_NAMESPACE": "Kahula/Test",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "unique_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "unique_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sqs = boto3.client("sqs", region_name=REGION)
        conflicts_url = sqs.create_queue(QueueName="conflicts")["QueueUrl"]
        follow_ups_url = sqs.create_queue(QueueName="follow-ups")["QueueUrl"]
        follow_ups_arn = sqs.get_queue_attributes(
            QueueUrl=follow_ups_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name=BUS)
        events.put_rule(
            Name="capture-follow-ups",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": [FOLLOW_UP_SOURCE]}),
        )
        events.put_targets(
            Rule="capture-follow-ups",
            EventBusName=BUS,
            Targets=[{"Id": "queue", "Arn": follow_ups_arn}],
        )
        for key, value in {
            "TABLE_NAME": TABLE,
            "EVENT_BUS_NAME": BUS,
            "CONFLICTS_QUEUE_URL": conflicts_url,
            "PAYLOAD_BUCKET": BUCKET,
            "PAYLOAD_PREFIX": "oversize-payloads",
            "FOLLOW_UP_SOURCE": FOLLOW_UP_SOURCE,
        }.items():
            monkeypatch.setenv(key, value)
        handler.use_pipeline(None)
        yield FakeAws(ddb, s3, sqs, events, conflicts_url, follow_ups_url)
        handler.use_pipeline(None)


@pytest.fixture
def invoke(aws: FakeAws):
    """Call the real Lambda entry point, as the async invoke from the bus rule does."""

    def call(event: Any) -> dict[str, Any]:
        return handler.lambda_handler(event, lambda_context())

    return call
