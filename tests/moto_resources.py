"""The one set of AWS resources every persister test runs against, on moto.

Unit tests (``mock_aws``), the bad-input corpus and the reliability storm (a moto server) all
provision through :func:`provision` and build the pipeline with the core's own
``build_pipeline`` from the environment a deployed function gets. The table has the prod
indexes: key ``unique_id``, and the keys-only ``by-saga`` GSI on saga_id + timestamp.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kahula_core import spec
from kahula_core.persist import Pipeline, build_pipeline

REGION = "us-east-1"
FOLLOW_UP_SOURCE = spec.follow_up_source("kahula")
OUTBOX_SOURCE = "kahula.aggregate-store"  # AggregateEventStoreProps.outbox_source's default
TENANT_SOURCE = "tenant.acme"  # what the FIFO door stamps (QueueIngestProps.source_prefix)
#: What the constructs give a front door (PersistenceCore.door_environment): every source
#: reserved on the bus, and the FIFO door's prefix.
DOOR_RESERVED_SOURCES = spec.encode_reserved_sources(
    {FOLLOW_UP_SOURCE, OUTBOX_SOURCE, spec.replay_source("kahula"), "tenant.*"}
)


@dataclass
class Resources:
    """Resources created for one test (or module), their clients and a few readers."""

    name: str
    dynamodb: Any
    s3: Any
    sqs: Any
    events: Any
    conflicts_url: str
    follow_ups_url: str

    @property
    def table(self) -> str:
        return self.name

    @property
    def bucket(self) -> str:
        return f"{self.name}-payloads"

    def environment(self, **overrides: str) -> dict[str, str]:
        """What the construct gives the function (spec.Env names), plus ``overrides``."""
        return {
            spec.Env.TABLE_NAME: self.table,
            spec.Env.EVENT_BUS_NAME: self.name,
            spec.Env.CONFLICTS_QUEUE_URL: self.conflicts_url,
            spec.Env.PAYLOAD_BUCKET: self.bucket,
            spec.Env.PAYLOAD_PREFIX: spec.PAYLOADS_PREFIX,
            spec.Env.FOLLOW_UP_SOURCE: FOLLOW_UP_SOURCE,
            spec.Env.INDEXED_ATTRIBUTES: spec.encode_indexed_attributes(
                [("saga_id", "HASH"), ("timestamp", "RANGE")]
            ),
            **overrides,
        }

    def client(self, service: str) -> Any:
        return {"dynamodb": self.dynamodb, "s3": self.s3, "sqs": self.sqs, "events": self.events}[
            service
        ]

    def pipeline(self, **overrides: str) -> Pipeline:
        """The core's pipeline on these resources, wired exactly as in Lambda."""
        return build_pipeline(
            self.environment(**overrides), lambda service: lambda: self.client(service)
        )

    # ------------------------------------------------------------------ readers

    def items(self) -> list[dict[str, Any]]:
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table, ConsistentRead=True
        )
        return [item for page in pages for item in page["Items"]]

    def item(self, unique_id: str) -> dict[str, Any] | None:
        return self.dynamodb.get_item(
            TableName=self.table, Key={"unique_id": {"S": unique_id}}, ConsistentRead=True
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


def provision(client: Callable[[str], Any], name: str = "kahula-test") -> Resources:
    """Create the table (prod indexes), payload bucket, conflicts queue, and a bus whose rule
    captures every follow-up into a queue; ``client(service)`` gives a boto3 client."""
    dynamodb, s3, sqs, events = (client(s) for s in ("dynamodb", "s3", "sqs", "events"))
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "unique_id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "unique_id", "AttributeType": "S"},
            {"AttributeName": "saga_id", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-saga",
                "KeySchema": [
                    {"AttributeName": "saga_id", "KeyType": "HASH"},
                    {"AttributeName": "timestamp", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.create_bucket(Bucket=f"{name}-payloads")
    conflicts_url = sqs.create_queue(QueueName=f"{name}-conflicts")["QueueUrl"]
    follow_ups_url = sqs.create_queue(QueueName=f"{name}-follow-ups")["QueueUrl"]
    follow_ups_arn = sqs.get_queue_attributes(QueueUrl=follow_ups_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.create_event_bus(Name=name)
    events.put_rule(
        Name=f"{name}-capture-follow-ups",
        EventBusName=name,
        EventPattern=json.dumps({"source": [FOLLOW_UP_SOURCE]}),
    )
    events.put_targets(
        Rule=f"{name}-capture-follow-ups",
        EventBusName=name,
        Targets=[{"Id": "queue", "Arn": follow_ups_arn}],
    )
    return Resources(name, dynamodb, s3, sqs, events, conflicts_url, follow_ups_url)
