"""The FIFO consumer against moto: envelope, schemas, ledger, idempotency, store, archive.

Includes the Go service's own unit-test cases (MihailProcudin/event-processor): a valid
``user.created``; one missing ``email`` is INVALID with a reason; a duplicate is acknowledged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from kahula_core import spec
from moto import mock_aws
from queue_consumer import handler
from queue_consumer.message import UnreadableMessageError, parse_message
from queue_consumer.process import Consumer, Received, build_consumer, process_message

from tests.moto_resources import REGION, Resources, provision

TENANT = "tenant-a"


@dataclass
class Fifo:
    base: Resources
    ledger_table: str
    idempotency_table: str
    dlq_url: str
    archive_bucket: str
    consumer: Consumer

    def ledger(self, tenant: str = TENANT) -> list[dict[str, Any]]:
        return self.base.dynamodb.query(
            TableName=self.ledger_table,
            KeyConditionExpression="tenant_id = :t",
            ExpressionAttributeValues={":t": {"S": tenant}},
            ConsistentRead=True,
        )["Items"]

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.base.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])

    def archived(self) -> list[dict[str, Any]]:
        s3 = self.base.s3
        out = []
        for obj in s3.list_objects_v2(Bucket=self.archive_bucket).get("Contents", []):
            body = s3.get_object(Bucket=self.archive_bucket, Key=obj["Key"])["Body"].read()
            out += [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        return out


def provision_fifo(client: Any, base: Resources) -> dict[str, str]:
    """The ledger and idempotency tables as the construct declares them, the FIFO DLQ, and an
    archive stream; returns the consumer's extra environment."""
    dynamodb, sqs = client("dynamodb"), client("sqs")
    ledger = f"{base.name}-ledger"
    dynamodb.create_table(
        TableName=ledger,
        KeySchema=[
            {"AttributeName": "tenant_id", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"}
            for a in ("tenant_id", "sk", "status", "tenant_id_created_at")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": spec.LEDGER_STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "tenant_id_created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    idempotency = f"{base.name}-idempotency"
    dynamodb.create_table(
        TableName=idempotency,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dlq = sqs.create_queue(
        QueueName=f"{base.name}-dlq.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    archive_bucket = f"{base.name}-archive"
    client("s3").create_bucket(Bucket=archive_bucket)
    client("firehose").create_delivery_stream(
        DeliveryStreamName=f"{base.name}-archive",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{archive_bucket}",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
        },
    )
    return {
        spec.QueueEnv.LEDGER_TABLE: ledger,
        spec.QueueEnv.IDEMPOTENCY_TABLE: idempotency,
        spec.QueueEnv.DEAD_LETTER_QUEUE_URL: dlq,
        spec.QueueEnv.ARCHIVE_STREAM: f"{base.name}-archive",
        spec.QueueEnv.ROUTES: json.dumps({"monitoring": "observability"}),
        spec.QueueEnv.EVENTS_TTL_DAYS: "0",
        spec.QueueEnv.IDEMPOTENCY_TTL_DAYS: "7",
    }


@pytest.fixture
def fifo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fifo]:
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "queue-consumer",
        "POWERTOOLS_METRICS_NAMESPACE": "Kahula/Test",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():

        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION)

        base = provision(client)
        environment = {**base.environment(), **provision_fifo(client, base)}
        clients = {s: client(s) for s in ("dynamodb", "s3", "sqs", "events", "firehose")}
        consumer = build_consumer(environment, lambda service: lambda: clients[service])
        yield Fifo(
            base,
            environment[spec.QueueEnv.LEDGER_TABLE],
            environment[spec.QueueEnv.IDEMPOTENCY_TABLE],
            environment[spec.QueueEnv.DEAD_LETTER_QUEUE_URL],
            "kahula-test-archive",
            consumer,
        )


def message(
    event_type: str = "user.created",
    payload: dict[str, Any] | None = None,
    *,
    event_id: str = "e1",
    tenant: str = TENANT,
    **extra: Any,
) -> Received:
    body = {
        "tenant_id": tenant,
        "event_id": event_id,
        "event_type": event_type,
        "payload": {"id": "123", "email": "user@example.com"} if payload is None else payload,
        **extra,
    }
    return Received(message_id=f"m-{tenant}-{event_id}", body=json.dumps(body), group_id=tenant)


def sqs_event(*received: Received) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": r.message_id,
                "receiptHandle": f"rh-{r.message_id}",
                "body": r.body,
                "attributes": {
                    "MessageGroupId": r.group_id,
                    "ApproximateReceiveCount": str(r.receive_count),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:q.fifo",
                "awsRegion": REGION,
            }
            for r in received
        ]
    }


# ---------------------------------------------------------------- the Go service's cases


def test_a_valid_user_created_is_recorded_ready_and_stored(fifo: Fifo) -> None:
    # GIVEN a valid user.created (the Go service's TestValidate_UserCreatedValid)
    # WHEN it is processed
    result = process_message(message(), fifo.consumer)
    # THEN it is READY in the ledger, stored under tenant#event id, and archived
    assert (result.status, result.recorded) == ("READY", True)
    (entry,) = fifo.ledger()
    assert entry["status"]["S"] == "READY"
    assert entry["schema_version"]["S"] == "1.0.0"
    assert "reason" not in entry
    item = fifo.base.item("tenant-a#e1")
    assert item is not None
    assert item["event_name"]["S"] == "user.created"
    assert item["source"]["S"] == "tenant.tenant-a"
    assert [e["detail"]["payload"]["email"] for e in fifo.archived()] == ["user@example.com"]


def test_a_user_created_without_email_is_invalid_with_its_reason(fifo: Fifo) -> None:
    # GIVEN a user.created without email (TestValidate_UserCreatedInvalid)
    result = process_message(message(payload={"id": "123"}), fifo.consumer)
    # THEN it is INVALID with the schema's reason, acknowledged, and not stored
    assert result.status == "INVALID"
    (entry,) = fifo.ledger()
    assert entry["status"]["S"] == "INVALID"
    assert entry["reason"]["S"] == "payload must contain ['email'] properties"
    assert fifo.base.items() == []
    assert fifo.archived() == []


def test_a_duplicate_is_acknowledged_without_a_second_entry(fifo: Fifo) -> None:
    # GIVEN a message already processed (TestHandler_DuplicateAck)
    process_message(message(), fifo.consumer)
    # WHEN it arrives again
    again = process_message(message(), fifo.consumer)
    # THEN it succeeds, records nothing new, and the store holds one item
    assert (again.status, again.recorded) == ("READY", False)
    assert len(fifo.ledger()) == 1
    assert len(fifo.base.items()) == 1


# ---------------------------------------------------------------- envelope and schemas


def test_an_unknown_event_type_is_invalid_naming_the_type(fifo: Fifo) -> None:
    result = process_message(message("order.shipped", {"x": 1}), fifo.consumer)
    assert result.status == "INVALID"
    (entry,) = fifo.ledger()
    assert entry["reason"]["S"] == "no schema for event type order.shipped"
    assert "schema_version" not in entry


def test_a_message_without_created_at_gets_the_processing_time_once(fifo: Fifo) -> None:
    # GIVEN a message without created_at, delivered twice at different times
    fifo.consumer.clock = lambda: "2026-11-22T06:00:00.000000Z"
    process_message(message(), fifo.consumer)
    fifo.consumer.clock = lambda: "2026-11-22T06:05:00.000000Z"
    process_message(message(), fifo.consumer)
    # THEN one entry, keyed by the first attempt's time
    (entry,) = fifo.ledger()
    assert entry["sk"]["S"] == "2026-11-22T06:00:00.000000Z#e1"
    assert entry["tenant_id_created_at"]["S"] == "tenant-a#2026-11-22T06:00:00.000000Z"


def test_a_given_created_at_keys_the_entry_in_canonical_form(fifo: Fifo) -> None:
    process_message(message(created_at="2026-11-22T05:40:36Z"), fifo.consumer)
    (entry,) = fifo.ledger()
    assert entry["sk"]["S"] == "2026-11-22T05:40:36.000000Z#e1"


def test_route_comes_from_the_message_else_the_configured_map(fifo: Fifo) -> None:
    monitoring = {"timestamp": "2026-11-22T05:40:36Z", "level": "INFO", "message": "ok"}
    process_message(message("monitoring", monitoring, event_id="m1"), fifo.consumer)
    process_message(message("monitoring", monitoring, event_id="m2", route="pager"), fifo.consumer)
    process_message(message(event_id="u1"), fifo.consumer)
    routes = {e["event_id"]["S"]: e.get("route", {}).get("S") for e in fifo.ledger()}
    assert routes == {"m1": "observability", "m2": "pager", "u1": None}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "message body is not JSON"),
        ("[1]", "message body must be a JSON object, got list"),
        ('{"event_id": "e", "event_type": "t", "payload": {}}', "'tenant_id' is required"),
        ('{"tenant_id": "a", "event_type": "t", "payload": {}}', "'event_id' is required"),
        ('{"tenant_id": "a", "event_id": "e", "payload": {}}', "'event_type' is required"),
        ('{"tenant_id": "a", "event_id": "e", "event_type": "t"}', "'payload' must be an object"),
        (
            '{"tenant_id": "a", "event_id": "e", "event_type": "t", "payload": {}, '
            '"created_at": "yesterday"}',
            "'created_at' is not an ISO-8601 timestamp",
        ),
        (
            '{"tenant_id": "a", "event_id": "e", "event_type": "t", "payload": {}, "route": 5}',
            "'route' must be a string, got int",
        ),
    ],
)
def test_an_unreadable_envelope_is_refused_naming_the_field(body: str, reason: str) -> None:
    with pytest.raises(UnreadableMessageError, match=reason.replace("[", r"\[")):
        parse_message(body)


def test_empty_optional_fields_behave_as_absent() -> None:
    # The Go service's envelope marks route and created_at omitempty.
    parsed = parse_message(
        '{"tenant_id": "a", "event_id": "e", "event_type": "t", "payload": {}, '
        '"route": "", "created_at": ""}'
    )
    assert (parsed.route, parsed.created_at) == (None, None)


def test_an_unreadable_message_goes_to_the_dlq_with_its_reason(fifo: Fifo) -> None:
    received = Received(message_id="m-bad", body='{"tenant_id": "a"}', group_id="a")
    result = process_message(received, fifo.consumer)
    assert result.status == "UNREADABLE"
    (dead,) = fifo.dead_letters()
    assert dead["Body"] == '{"tenant_id": "a"}'
    assert "'event_id' is required" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert fifo.ledger("a") == []


# ---------------------------------------------------------------- idempotency


def test_a_retry_after_a_crash_between_claim_and_ledger_writes_the_entry(fifo: Fifo) -> None:
    # GIVEN the idempotency claim was made, then the function died before the ledger write
    fifo.consumer.idempotency.claim(TENANT, "e1", "user.created", "2026-11-22T01:00:00.000000Z")
    # WHEN the message is redelivered later
    fifo.consumer.clock = lambda: "2026-11-22T09:00:00.000000Z"
    result = process_message(message(), fifo.consumer)
    # THEN the entry is written under the first attempt's key, and the event is stored
    assert result.recorded is True
    (entry,) = fifo.ledger()
    assert entry["sk"]["S"] == "2026-11-22T01:00:00.000000Z#e1"
    assert fifo.base.item("tenant-a#e1") is not None


def test_a_retry_after_a_crash_between_ledger_and_store_stores_the_event(fifo: Fifo) -> None:
    # GIVEN the ledger entry was written, then the store write failed (a crash)
    real = fifo.consumer.pipeline.store.put_new

    def crash(item: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")

    fifo.consumer.pipeline.store.put_new = crash  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        process_message(message(), fifo.consumer)
    assert fifo.base.items() == []
    # WHEN SQS redelivers it
    fifo.consumer.pipeline.store.put_new = real  # type: ignore[method-assign]
    result = process_message(message(), fifo.consumer)
    # THEN the event is stored, and the ledger still has one entry
    assert result.recorded is False
    assert fifo.base.item("tenant-a#e1") is not None
    assert len(fifo.ledger()) == 1


def test_the_same_event_id_in_two_tenants_is_two_events(fifo: Fifo) -> None:
    process_message(message(tenant="tenant-a"), fifo.consumer)
    process_message(message(tenant="tenant-b"), fifo.consumer)
    assert {i["unique_id"]["S"] for i in fifo.base.items()} == {"tenant-a#e1", "tenant-b#e1"}
    assert fifo.base.conflicts() == []


def test_events_ttl_days_sets_ttl_and_zero_leaves_it_out(fifo: Fifo) -> None:
    process_message(message(event_id="forever"), fifo.consumer)
    fifo.consumer.ledger.ttl_days = 30
    fifo.consumer.ledger._clock = lambda: 1_000_000.0
    process_message(message(event_id="month"), fifo.consumer)
    ttl = {e["event_id"]["S"]: e.get("ttl", {}).get("N") for e in fifo.ledger()}
    assert ttl == {"forever": None, "month": str(1_000_000 + 30 * 86_400)}


# ---------------------------------------------------------------- the handler


def test_the_handler_reports_a_failure_and_the_rest_of_its_group(
    fifo: Fifo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a batch: a1, a2 (fails), a3 in tenant-a's group and b1 in tenant-b's
    handler.use_consumer(fifo.consumer)
    real = fifo.consumer.ledger.record

    def flaky(entry: Any) -> bool:
        if entry.event_id == "a2":
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceeded"}}, "PutItem")
        return real(entry)

    monkeypatch.setattr(fifo.consumer.ledger, "record", flaky)
    batch = sqs_event(
        message(event_id="a1"),
        message(event_id="a2"),
        message(event_id="a3"),
        message(event_id="b1", tenant="tenant-b"),
    )
    try:
        response = handler.lambda_handler(batch, SimpleNamespace(**_context()))
    finally:
        handler.use_consumer(None)
    # THEN a2 and a3 go back to the queue; a1 and tenant-b's message are done
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == ["m-tenant-a-a2", "m-tenant-a-a3"]
    assert [e["event_id"]["S"] for e in fifo.ledger()] == ["a1"]
    assert [e["event_id"]["S"] for e in fifo.ledger("tenant-b")] == ["b1"]


def _context() -> dict[str, Any]:
    return {
        "function_name": "kahula-queue-consumer-test",
        "memory_limit_in_mb": 256,
        "invoked_function_arn": f"arn:aws:lambda:{REGION}:123456789012:function:q",
        "aws_request_id": "00000000-0000-4000-8000-000000000001",
    }


def test_a_payload_over_the_inline_limit_is_claim_checked_in_the_ledger(fifo: Fifo) -> None:
    # GIVEN a valid message whose payload is bigger than the ledger keeps inline
    fifo.consumer.ledger.max_inline_bytes = 1000
    payload = {"integration_id": "i", "provider": "p", "event": "e", "payload": {"x": "y" * 5000}}
    # WHEN it is processed
    result = process_message(message("integrations", payload), fifo.consumer)
    # THEN the ledger entry points at the payload's JSON in S3, and the event is stored
    assert result.status == "READY"
    (entry,) = fifo.ledger()
    assert "payload" not in entry
    claim = entry["payload_claim_check"]["M"]
    body = fifo.base.s3.get_object(Bucket=claim["bucket"]["S"], Key=claim["key"]["S"])["Body"]
    assert json.loads(body.read()) == payload
    assert fifo.base.item("tenant-a#e1") is not None


def test_a_payload_dynamodb_cannot_hold_goes_to_the_dlq_with_its_reason(fifo: Fifo) -> None:
    # GIVEN a number with more significant digits than DynamoDB stores
    received = Received(
        message_id="m-big",
        body='{"tenant_id": "a", "event_id": "e", "event_type": "x", "payload": {"n": '
        + "1" * 43
        + "}}",
        group_id="a",
    )
    # WHEN it is processed
    result = process_message(received, fifo.consumer)
    # THEN it is refused with the field and the limit, kept on the DLQ, and not recorded
    assert result.status == "REFUSED"
    (dead,) = fifo.dead_letters()
    assert "payload.n" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert "38" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert fifo.ledger("a") == []
