"""The aggregate store on moto: a table laid out exactly as schema.py (and the construct) say."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from kahula_core.aggregates import schema
from kahula_core.aggregates.client import AggregateStore
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

REGION = "us-east-1"
TABLE = "kahula-aggregates-test"


def create_table(client: Any, name: str = TABLE) -> None:
    attributes = {schema.AGGREGATE_ID: "S", schema.SEQUENCE_NUMBER: "N"}
    indexes = []
    for index, pk, pk_type, sk, sk_type in schema.INDEXES:
        attributes[pk] = pk_type
        attributes[sk] = sk_type
        indexes.append(
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": schema.AGGREGATE_ID, "KeyType": "HASH"},
            {"AttributeName": schema.SEQUENCE_NUMBER, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": k, "AttributeType": t} for k, t in attributes.items()
        ],
        GlobalSecondaryIndexes=indexes,
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


class Clock:
    """Epoch milliseconds that tests set and advance."""

    def __init__(self, now_ms: int = 1_795_000_000_000) -> None:
        self.now = now_ms

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


_SERIALIZED = ("transact_write_items", "query", "get_item", "put_item", "scan")


@pytest.fixture
def serializable_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB serializes transactions on an item; moto's in-process backend does not (it
    checks, writes, and on failure restores a deep copy of the table, so two threads can
    erase each other's writes). One lock around the backend's operations gives moto the
    service's isolation, so racing tests exercise the client, not moto's races."""
    lock = threading.RLock()

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return call

    for name in _SERIALIZED:
        monkeypatch.setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch, serializable_moto: None) -> Iterator[Any]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client)
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(dynamodb: Any, clock: Clock) -> AggregateStore:
    return AggregateStore(table_name=TABLE, dynamodb=dynamodb, clock=clock)
