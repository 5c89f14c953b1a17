"""The Kinesis front door of the synthesized dev stack, end to end on a local moto server.

Records go in with PutRecords, as a producer puts them; the local event source mapping
(local/kinesis.py) polls the stream as Lambda does; each test waits with a bounded poll (no
fixed sleeps) until what it expects is true.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from local.pipeline import LocalPipeline, StreamPublished

WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Iterator[LocalPipeline]:
    workdir = tmp_path_factory.mktemp("stream")
    with LocalPipeline.start(workdir, handler_log=io.StringIO()) as local:
        yield local


def bare(event_id: str | None, **message: Any) -> bytes:
    body: dict[str, Any] = {"eventType": "PaymentCaptured", "message": message}
    if event_id is not None:
        body["eventId"] = event_id
    return json.dumps(body).encode()


def wait_until(pipeline: LocalPipeline, done: Callable[[], bool], what: str) -> None:
    """Let the mapping poll until ``done()``; fail after WAIT_SECONDS (a bounded wait)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")
        pipeline.run()


def item_exists(pipeline: LocalPipeline, unique_id: str) -> bool:
    table = pipeline.topology.name(pipeline.topology.of_type("AWS::DynamoDB::Table")[0].logical_id)
    return "Item" in pipeline.clients.dynamodb.get_item(
        TableName=table, Key={"unique_id": {"S": unique_id}}, ConsistentRead=True
    )


def consumer(pipeline: LocalPipeline) -> Any:
    """The stream function's own consumer object, as loaded from the synthesized asset."""
    function = pipeline.stream_function()
    function._load()
    return function.module.consumer()


@contextmanager
def hook(client: Any, event: str, handler: Callable[..., Any]) -> Iterator[None]:
    client.meta.events.register(event, handler)
    try:
        yield
    finally:
        client.meta.events.unregister(event, handler)


def throttle(code: str = "ProvisionedThroughputExceededException") -> tuple[Any, dict[str, Any]]:
    """A before-call response botocore raises as a ClientError, as DynamoDB throttling does."""
    return SimpleNamespace(status_code=400), {
        "Error": {"Code": code, "Message": "injected"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


def sent(params: dict[str, Any]) -> dict[str, Any]:
    """The API request a before-call handler sees (JSON protocols: DynamoDB, Firehose)."""
    return dict(json.loads(params["body"]))


def put_id(params: dict[str, Any]) -> str:
    return str(sent(params)["Item"]["unique_id"]["S"])


def record_puts(client: Any) -> tuple[list[str], Callable[..., None]]:
    seen: list[str] = []

    def on_put(params: dict[str, Any], **_: Any) -> None:
        seen.append(put_id(params))

    return seen, on_put


def test_records_put_with_put_records_are_each_stored_within_a_bounded_wait(pipeline):
    # GIVEN 30 records over 5 partition keys, put with PutRecords as a producer would
    records = [(f"key-{i % 5}", bare(f"put-{i}", n=i)) for i in range(30)]
    published = pipeline.put_records(records)
    assert len(published.accepted) == 30
    # WHEN the mapping polls THEN each item exists, within the bounded wait
    for i in range(30):
        wait_until(pipeline, lambda i=i: item_exists(pipeline, f"put-{i}"), f"item put-{i}")
    # ... and the accounting finds every record stored and archived
    ledger = pipeline.account_stream(published)
    assert ledger.lost == []
    assert (ledger.stored, ledger.archived) == (30, 30)


def test_a_batch_mixing_malformed_duplicates_and_a_throttled_write_loses_nothing(pipeline):
    # GIVEN one partition key (so one shard, one batch): a good record, a malformed one, a
    # duplicate of the first, one whose first write is throttled, and one after it
    store = consumer(pipeline).pipeline.store._client()
    puts, on_put = record_puts(store)
    throttled = []

    def throttle_once(params: dict[str, Any], **_: Any) -> Any:
        if put_id(params) == "mix-throttled" and not throttled:
            throttled.append(True)
            return throttle()
        return None

    records = [
        ("mix", bare("mix-1", n=1)),
        ("mix", b"{not json"),
        ("mix", bare("mix-1", n=1)),
        ("mix", bare("mix-throttled", n=2)),
        ("mix", bare("mix-after", n=3)),
    ]
    before = pipeline.stream_mappings[0].stats.partial_failures
    with (
        hook(store, "before-call.dynamodb.PutItem", on_put),
        hook(store, "before-call.dynamodb.PutItem", throttle_once),
    ):
        published = pipeline.put_records(records)
        wait_until(pipeline, lambda: item_exists(pipeline, "mix-after"), "item mix-after")
    # THEN the malformed record is quarantined with its reason, the rest stored
    ledger = pipeline.account_stream(published)
    assert ledger.lost == []
    (bad_sequence,) = [s for (_, s), (_, d) in published.accepted.items() if d == b"{not json"]
    reasons = [r for rid, r in ledger.quarantined if rid.endswith(f":{bad_sequence}")]
    assert reasons and "not JSON" in reasons[0]
    # ... the throttled write was reported and redelivered: Lambda retried from it, so the
    # records before it were not written again and the one after it was written once
    assert pipeline.stream_mappings[0].stats.partial_failures == before + 1
    assert puts == ["mix-1", "mix-1", "mix-throttled", "mix-throttled", "mix-after"]


def test_records_of_one_partition_key_are_stored_in_order_even_across_a_throttle(pipeline):
    # GIVEN 3 partition keys, 10 records each, interleaved, and one write throttled mid-way
    store = consumer(pipeline).pipeline.store._client()
    puts, on_put = record_puts(store)
    throttled = []

    def throttle_once(params: dict[str, Any], **_: Any) -> Any:
        if put_id(params) == "order-b-4" and not throttled:
            throttled.append(True)
            return throttle()
        return None

    records = [(f"pk-{k}", bare(f"order-{k}-{n}", n=n)) for n in range(10) for k in "abc"]
    with (
        hook(store, "before-call.dynamodb.PutItem", on_put),
        hook(store, "before-call.dynamodb.PutItem", throttle_once),
    ):
        published = pipeline.put_records(records)
        wait_until(
            pipeline,
            lambda: all(item_exists(pipeline, f"order-{k}-9") for k in "abc"),
            "the last record of each key",
        )
    # THEN per key, the first write of each record follows the publishing order
    for k in "abc":
        first_writes = list(dict.fromkeys(p for p in puts if p.startswith(f"order-{k}-")))
        assert first_writes == [f"order-{k}-{n}" for n in range(10)]
    assert pipeline.account_stream(published).lost == []


def test_redelivering_the_whole_stream_stores_nothing_twice(pipeline):
    # GIVEN records already consumed
    published = pipeline.put_records([("again", bare("redelivered-1", n=1)), ("again", bare(None))])
    pipeline.run()
    table = pipeline.items()
    # WHEN the mapping reads every shard again from TRIM_HORIZON (a replay, a new mapping)
    mapping = pipeline.stream_mappings[0]
    mapping._checkpoints.clear()
    pipeline.run()
    # THEN the table holds exactly the same items: every redelivered record was a duplicate
    assert pipeline.items().keys() == table.keys()
    assert pipeline.account_stream(published).lost == []


def test_a_poison_record_is_bisected_to_itself_and_only_its_coordinates_go_to_on_failure(
    pipeline,
):
    # GIVEN the archive refusing, as a function error, any batch holding one poison record
    archive = consumer(pipeline).archive._firehose()

    def refuse_poison(params: dict[str, Any], **_: Any) -> Any:
        if any(b'"poison-1"' in base64.b64decode(r["Data"]) for r in sent(params)["Records"]):
            raise RuntimeError("injected: the archive call failed")
        return None

    records = [("poison", bare(f"poison-{i}", n=i)) for i in range(4)]
    stats = pipeline.stream_mappings[0].stats
    bisections, failed = stats.bisections, len(stats.failed_batches)
    with hook(archive, "before-call.firehose.PutRecordBatch", refuse_poison):
        published = pipeline.put_records(records)
        wait_until(
            pipeline,
            lambda: len(stats.failed_batches) > failed and item_exists(pipeline, "poison-3"),
            "the poison batch on the on-failure queue and the rest stored",
        )
    # THEN the batch was split until the poison record stood alone, which retried then went
    # to the on-failure queue as coordinates (shard, sequence numbers), and nothing else did
    assert stats.bisections > bisections
    (info,) = stats.failed_batches[failed:]
    (poison_sequence,) = [s for (_, s), (_, d) in published.accepted.items() if b'"poison-1"' in d]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison_sequence
    ledger = pipeline.account_stream(published)
    assert ledger.lost == []
    assert any(b["startSequenceNumber"] == poison_sequence for b in ledger.failed_batches)


def test_the_stream_ledger_counts_a_record_missing_from_the_table_as_lost(pipeline):
    # GIVEN a record the ledger believes was published but the stream never carried
    published = StreamPublished(stream=pipeline.stream_name or "")
    published.accepted[("shardId-000000000000", "999999999")] = ("ghost", bare("ghost-1"))
    # WHEN it is accounted THEN it is reported lost, with what is missing
    ledger = pipeline.account_stream(published)
    assert ledger.lost == [("shardId-000000000000:999999999", "no item in the table, not archived")]
