"""The Kinesis door under hostile and unlucky records: each is stored, or quarantined with its
reason without blocking its shard; none is stored as the platform."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from kahula_core import spec
from kahula_core.follow_ups import follow_up_id
from stream_consumer import handler

from tests.moto_resources import FOLLOW_UP_SOURCE, OUTBOX_SOURCE, TENANT_SOURCE
from tests.unit.stream_records import kinesis_record, sequence_of
from tests.unit.test_stream_consumer import consume, stream  # noqa: F401 - the fixture


def quarantined(aws) -> list[dict]:
    messages = aws.sqs.receive_message(QueueUrl=aws.quarantine_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.mark.parametrize(
    ("message_text", "reason"),
    [
        ("1" * 5000, "record data is not JSON: an integer of more than 4300 digits"),
        ("[" * 100_000 + "]" * 100_000, "record data is not JSON: nested too deeply"),
    ],
    ids=["an integer of 5,000 digits", "100,000 nested arrays"],
)
def test_data_the_json_parser_cannot_hold_is_quarantined_without_blocking_the_shard(
    stream,  # noqa: F811
    message_text: str,
    reason: str,
) -> None:
    # GIVEN a record json.loads refuses with ValueError or RecursionError, then a good one
    hostile = kinesis_record(
        None, 1, raw=b'{"eventId": "h-1", "message": {"n": ' + message_text.encode() + b"}}"
    )
    good = kinesis_record({"eventId": "g-1", "message": {"n": 1}}, 2)
    # WHEN the batch is consumed
    response = consume(hostile, good)
    # THEN the hostile record is quarantined with the reason and the good one is stored
    assert response == {"batchItemFailures": []}
    (kept,) = quarantined(stream)
    assert kept["reason"].startswith(reason)
    assert stream.item("g-1") is not None


def test_a_record_claiming_the_platforms_follow_up_source_is_quarantined(stream) -> None:  # noqa: F811
    # GIVEN a record in the platform's envelope under the persister's follow-up source, taking
    # the id the follow-up of a real event will have
    fid = follow_up_id("ValidatableEvent", "order-1")
    forged = {
        "source": FOLLOW_UP_SOURCE,
        "detail-type": "ValidatableEvent",
        "detail": {"metadata": {"event_id": fid}, "forged": True},
    }
    # WHEN it is consumed
    response = consume(kinesis_record(forged, 1))
    # THEN it is quarantined with the reason and nothing is stored under the follow-up's id
    assert response == {"batchItemFailures": []}
    (kept,) = quarantined(stream)
    assert "is reserved for the platform" in kept["reason"]
    assert stream.item(fid) is None


@pytest.mark.parametrize(
    "source",
    [OUTBOX_SOURCE, spec.replay_source("kahula"), TENANT_SOURCE, " tenant.other"],
    ids=["the aggregate store's outbox", "replays", "the FIFO door's tenants", "padded"],
)
def test_a_record_claiming_any_source_reserved_on_the_bus_is_quarantined(stream, source) -> None:  # noqa: F811
    # GIVEN a record in the platform's envelope under a source only the platform publishes
    # under on the bus, then a good record
    forged = {
        "source": source,
        "detail-type": "CartOpened",
        "detail": {"metadata": {"event_id": "agg-1-v1"}, "forged": True},
    }
    good = kinesis_record({"eventId": "g-2", "message": {"n": 1}}, 2)
    # WHEN they are consumed
    response = consume(kinesis_record(forged, 1), good)
    # THEN the forged one is quarantined with the reason, nothing stored under its id, and
    # the good one is stored
    assert response == {"batchItemFailures": []}
    (kept,) = quarantined(stream)
    assert f"event source {source!r} is reserved for the platform" in kept["reason"]
    assert stream.item("agg-1-v1") is None
    assert stream.item("g-2") is not None


def test_a_quarantine_that_fails_holds_the_rest_of_the_shard_untouched(stream) -> None:  # noqa: F811
    # GIVEN a malformed record, then a good one, and SQS failing the quarantine send
    records = [kinesis_record(None, 1, raw=b"not json"), kinesis_record({"message": {}}, 2)]
    consumer = handler.consumer()
    sqs = consumer.quarantine._sqs()

    def unavailable(**request):
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "x"}}, "SendMessage")

    sqs.send_message = unavailable
    # WHEN the batch is consumed
    response = consume(*records)
    # THEN both are reported for redelivery and the good one was never written (order kept:
    # Lambda redelivers from the first failure, so it would otherwise be written twice, and
    # before the record ahead of it)
    assert response["batchItemFailures"] == [
        {"itemIdentifier": sequence_of(records[0])},
        {"itemIdentifier": sequence_of(records[1])},
    ]
    assert stream.items() == []


def test_a_record_too_large_for_the_archive_is_quarantined_before_it_is_stored(stream) -> None:  # noqa: F811
    # GIVEN Firehose, which refuses a whole PutRecordBatch holding a record over 1,000 KiB
    firehose = handler.consumer().archive._firehose()
    real_put = firehose.put_record_batch

    def put_record_batch(**request):
        if any(len(r["Data"]) > spec.FIREHOSE_MAX_RECORD_BYTES for r in request["Records"]):
            error = {"Code": "ValidationException", "Message": "Member must have length <= 1024000"}
            raise ClientError({"Error": error}, "PutRecordBatch")
        return real_put(**request)

    firehose.put_record_batch = put_record_batch
    # ... and a record of 1,030,000 bytes (Kinesis takes 1 MiB), then a small one
    big = kinesis_record({"eventId": "big-1", "message": {"blob": "x" * 1_030_000}}, 1)
    small = kinesis_record({"eventId": "small-1", "message": {"n": 1}}, 2)
    # WHEN the batch is consumed
    response = consume(big, small)
    # THEN the big one is quarantined with the reason and not stored (it could never be
    # archived), the small one is stored, and the batch is not failed
    assert response == {"batchItemFailures": []}
    (kept,) = quarantined(stream)
    assert "Firehose's record limit" in kept["reason"]
    assert stream.item("big-1") is None
    assert stream.item("small-1") is not None
