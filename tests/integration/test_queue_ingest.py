"""The FIFO door of the synthesized dev stack on a local moto server, end to end: the real
consumer from the asset, polled like the event source mapping polls it."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kahula_core.attributes import from_attribute_value

from local.pipeline import LocalPipeline

SCHEMAS = "lambdas/queue_consumer/schemas"


def envelope(tenant: str, event_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "event_id": event_id,
        "event_type": "user.created",
        "payload": {"id": event_id, "email": f"{event_id}@example.com"},
        **overrides,
    }


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    with LocalPipeline.start(tmp_path_factory.mktemp("fifo"), handler_log=io.StringIO()) as p:
        p.door.function._load()  # import the asset's consumer once, to reach its collaborators
        yield p


def asset_consumer(pipeline: LocalPipeline) -> Any:
    """The consumer the asset's handler built (the one the poller invokes)."""
    return pipeline.door.function.module.consumer()


def entries(pipeline: LocalPipeline, tenant: str) -> list[dict[str, Any]]:
    return pipeline.clients.dynamodb.query(
        TableName=pipeline.ledger_table(),
        KeyConditionExpression="tenant_id = :t",
        ExpressionAttributeValues={":t": {"S": tenant}},
        ConsistentRead=True,
    )["Items"]


def warm(pipeline: LocalPipeline) -> None:
    pipeline.door.send([envelope("warm-up", "w-1")])
    pipeline.door.poll()


def test_order_within_a_group_holds_when_a_message_in_the_middle_fails(pipeline):
    # GIVEN three messages of one tenant, the middle one failing on its first attempt
    warm(pipeline)
    consumer = asset_consumer(pipeline)
    real, recorded, failures = consumer.ledger.record, [], {"o-2": 1}

    def record(entry: Any) -> bool:
        if failures.get(entry.event_id):
            failures[entry.event_id] -= 1
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "PutItem")
        recorded.append(entry.event_id)
        return real(entry)

    consumer.ledger.record = record
    try:
        pipeline.door.send([envelope("t-order", f"o-{i}") for i in (1, 2, 3)])
        # WHEN the queue is polled until empty
        pipeline.door.poll()
    finally:
        consumer.ledger.record = real
    # THEN o-3 was not recorded before o-2: the failure held back the rest of its group
    assert recorded == ["o-1", "o-2", "o-3"]
    assert len(entries(pipeline, "t-order")) == 3


def test_a_redelivery_after_a_crash_between_ledger_and_store_stores_the_event(pipeline):
    # GIVEN the store write fails once, after the ledger entry was written
    warm(pipeline)
    consumer = asset_consumer(pipeline)
    real, crashes = consumer.pipeline.store.put_new, [1]

    def put_new(item: Any) -> Any:
        if crashes:
            crashes.pop()
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")
        return real(item)

    consumer.pipeline.store.put_new = put_new
    try:
        pipeline.door.send([envelope("t-crash", "c-1")])
        pipeline.door.poll()
    finally:
        consumer.pipeline.store.put_new = real
    # THEN SQS redelivered it: one ledger entry, and the event is in the store
    assert len(entries(pipeline, "t-crash")) == 1
    assert "t-crash#c-1" in pipeline.items()


def test_concurrent_duplicate_deliveries_make_one_entry_and_one_item(pipeline):
    # GIVEN the same event sent three times (past the FIFO deduplication window: new message
    # ids) and processed at once, as three Lambda containers would
    body = json.dumps(envelope("t-dup", "d-1"))
    warm(pipeline)
    process = pipeline.door.function.modules["queue_consumer.process"]
    consumer = asset_consumer(pipeline)
    results: list[Any] = []
    barrier = threading.Barrier(3)

    def deliver(message_id: str) -> None:
        barrier.wait()
        received = process.Received(message_id=message_id, body=body, group_id="t-dup")
        results.append(process.process_message(received, consumer))

    threads = [threading.Thread(target=deliver, args=(m,)) for m in ("m-a", "m-b", "m-c")]
    # WHEN they run concurrently
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN all are acknowledged as READY, one of them recorded it, and one item is stored
    assert sorted(r.status for r in results) == ["READY"] * 3
    assert sum(r.recorded for r in results) == 1
    assert len(entries(pipeline, "t-dup")) == 1
    assert "t-dup#d-1" in pipeline.items()


def test_an_invalid_message_is_recorded_with_its_reason_and_not_stored(pipeline):
    pipeline.door.send([envelope("t-invalid", "i-1", payload={"id": "i-1"})])
    pipeline.door.poll()
    (entry,) = entries(pipeline, "t-invalid")
    assert entry["status"]["S"] == "INVALID"
    assert entry["reason"]["S"] == "payload must contain ['email'] properties"
    assert "t-invalid#i-1" not in pipeline.items()


def test_invalid_entries_of_one_tenant_are_queried_through_the_gsi(pipeline):
    # GIVEN two tenants with INVALID and READY entries
    pipeline.door.send(
        [
            envelope("t-gsi", "g-1", payload={}),
            envelope("t-gsi", "g-2"),
            envelope("t-gsi", "g-3", event_type="no.such.type"),
            envelope("t-gsi-other", "g-4", payload={}),
        ]
    )
    pipeline.door.poll()
    # WHEN the README's query runs: status INVALID, sort key prefix "t-gsi#"
    found = pipeline.clients.dynamodb.query(
        TableName=pipeline.ledger_table(),
        IndexName="gsi_status_tenant",
        KeyConditionExpression="#s = :status AND begins_with(tenant_id_created_at, :tenant)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":status": {"S": "INVALID"}, ":tenant": {"S": "t-gsi#"}},
    )["Items"]
    # THEN exactly that tenant's INVALID entries come back, with their reasons
    assert {i["event_id"]["S"]: i["reason"]["S"] for i in found} == {
        "g-1": "payload must contain ['id', 'email'] properties",
        "g-3": "no schema for event type no.such.type",
    }


def test_an_unreadable_message_reaches_the_dlq_with_its_reason(pipeline):
    pipeline.door.send([{"tenant_id": "t-bad", "event_id": "b-1", "payload": {}}])
    pipeline.door.poll()
    (dead,) = pipeline.door.dead_letters()
    assert "'event_type' is required" in dead["reason"]


def test_a_message_that_always_fails_ends_on_the_dlq_after_the_receive_limit(pipeline):
    warm(pipeline)
    consumer = asset_consumer(pipeline)
    real = consumer.idempotency.claim

    def claim(*args: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")

    consumer.idempotency.claim = claim
    try:
        pipeline.door.send([envelope("t-poison", "p-1")])
        pipeline.door.poll()
    finally:
        consumer.idempotency.claim = real
    (dead,) = pipeline.door.dead_letters()
    assert json.loads(dead["body"])["event_id"] == "p-1"
    assert entries(pipeline, "t-poison") == []


def test_ready_events_reach_the_archive_as_platform_events(pipeline):
    pipeline.door.send([envelope("t-archive", "a-1")])
    pipeline.door.poll()
    archived, _ = pipeline.archived_events()
    (line,) = [e for e in archived if e.get("source") == "tenant.t-archive"]
    assert line["detail-type"] == "user.created"
    assert line["detail"]["metadata"]["event_id"] == "t-archive#a-1"
    item = pipeline.items()["t-archive#a-1"]
    assert from_attribute_value(item["payload"])["payload"]["email"] == "a-1@example.com"


def test_the_seeders_samples_are_ready_and_its_invalid_ones_invalid(pipeline):
    from cdk_app.cli.seeding import sample_messages

    pipeline.door.send(sample_messages(invalid=True))
    pipeline.door.poll()
    assert {e["status"]["S"] for e in entries(pipeline, "tenant-a")} == {"READY"}
    assert len(entries(pipeline, "tenant-a")) == 5
    assert {e["status"]["S"] for e in entries(pipeline, "tenant-b")} == {"INVALID"}
