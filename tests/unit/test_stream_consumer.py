"""The Kinesis consumer's Lambda entry on moto: partial batches, quarantine, archive, order."""

from __future__ import annotations

import gzip
import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from kahula_core import spec
from moto.firehose.models import FirehoseBackend
from stream_consumer import handler

from local.moto_server import _patch_firehose
from tests.moto_resources import DOOR_RESERVED_SOURCES
from tests.unit.conftest import lambda_context
from tests.unit.stream_records import SHARD, kinesis_event, kinesis_record, sequence_of

ARCHIVE = "kahula-test-archive"


@pytest.fixture
def stream(aws, monkeypatch):
    """The consumer with the shared resources, a quarantine queue and an archive stream."""
    quarantine = aws.sqs.create_queue(QueueName="kahula-test-malformed")["QueueUrl"]
    aws.s3.create_bucket(Bucket="kahula-test-archive")
    import boto3

    # Firehose's delivery as the local pipeline simulates it (the newline processor), undone
    # after the test.
    monkeypatch.setattr(FirehoseBackend, "put_s3_records", FirehoseBackend.put_s3_records)
    _patch_firehose()

    boto3.client("firehose", region_name="us-east-1").create_delivery_stream(
        DeliveryStreamName=ARCHIVE,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": "arn:aws:s3:::kahula-test-archive",
            "Prefix": "events/",
            # As the archive's stream: Firehose adds the newline between records.
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [{"Type": "AppendDelimiterToRecord"}],
            },
        },
    )
    monkeypatch.setenv("QUARANTINE_QUEUE_URL", quarantine)
    monkeypatch.setenv("ARCHIVE_STREAM_NAME", ARCHIVE)
    monkeypatch.setenv("BARE_SOURCE", "ingester.stream")
    monkeypatch.setenv(spec.Env.RESERVED_SOURCES, DOOR_RESERVED_SOURCES)
    handler.use_consumer(None)
    aws.quarantine_url = quarantine
    yield aws
    handler.use_consumer(None)


def consume(*records):
    return handler.lambda_handler(kinesis_event(*records), lambda_context())


def archived_lines(aws):
    lines = []
    for obj in aws.s3.list_objects_v2(Bucket="kahula-test-archive").get("Contents", []):
        body = aws.s3.get_object(Bucket="kahula-test-archive", Key=obj["Key"])["Body"].read()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        lines += [json.loads(x) for x in body.decode().splitlines() if x.strip()]
    return lines


def test_envelope_and_bare_records_are_persisted_with_the_contract(stream, event):
    # GIVEN a platform envelope and a bare event in one batch
    bare = {"eventId": "ingest-1", "eventType": "OrderClosed", "message": {"order": 7}}
    # WHEN the batch is consumed
    response = consume(kinesis_record(event("order_updated"), 1), kinesis_record(bare, 2))
    # THEN both are stored: the envelope under its producer id, the bare one under its id
    assert response == {"batchItemFailures": []}
    item = stream.item("ingest-1")
    assert item["payload"] == {"M": {"order": {"N": "7"}}}
    assert item["event_name"] == {"S": "OrderClosed"}
    assert item["source"] == {"S": "ingester.stream"}
    assert item["timestamp"] == {"S": "2026-11-25T09:46:40.500000Z"}
    assert "persisted_at" in item
    assert stream.item("order-1001-v3") is not None


def test_an_updated_event_from_the_stream_yields_its_follow_up(stream, event):
    consume(kinesis_record(event("order_updated"), 1))
    (follow_up,) = stream.follow_ups()
    assert follow_up["detail-type"] == "ValidatableEvent"
    assert follow_up["detail"]["source_unique_id"] == "order-1001-v3"


def test_a_record_without_id_is_keyed_by_shard_and_sequence_and_redelivery_is_a_duplicate(stream):
    # GIVEN a bare event without id
    record = kinesis_record({"message": {"n": 1}}, 3)
    # WHEN the same record is delivered twice (a retry, a replay)
    consume(record)
    consume(record)
    # THEN one item, under the shard-qualified sequence number (Lambda's eventID)
    assert [i["unique_id"]["S"] for i in stream.items()] == [record["eventID"]]


def test_a_malformed_record_is_quarantined_with_its_coordinates_and_never_blocks_the_shard(
    stream, event
):
    # GIVEN a batch with a record that is not JSON between two good ones
    good = kinesis_record(event("order_updated"), 1)
    bad = kinesis_record(None, 2, raw=b"{oops", key="pk-bad")
    later = kinesis_record({"eventId": "after-bad", "message": {"k": 1}}, 3)
    # WHEN it is consumed
    response = consume(good, bad, later)
    # THEN no record is reported failed: the shard moves on ...
    assert response == {"batchItemFailures": []}
    assert stream.item("after-bad") is not None
    # ... and the bad one is on the quarantine queue with reason and coordinates
    (kept,) = stream.drain(stream.quarantine_url)
    assert "not JSON" in kept["reason"]
    assert kept["errorType"] == "MalformedRecordError"
    assert kept["coordinates"]["shardId"] == SHARD
    assert kept["coordinates"]["sequenceNumber"] == sequence_of(bad)
    assert kept["coordinates"]["partitionKey"] == "pk-bad"
    assert kept["data"] == bad["kinesis"]["data"]


def test_a_record_the_core_refuses_is_quarantined_with_the_cores_reason(stream):
    record = kinesis_record({"source": "s", "detail-type": "T", "detail": {"x": 1e400}}, 1)
    assert consume(record) == {"batchItemFailures": []}
    (kept,) = stream.drain(stream.quarantine_url)
    assert kept["errorType"] == "UnstorableValueError"


def test_a_throttled_write_fails_it_and_every_later_record_without_touching_them(stream):
    # GIVEN three records and DynamoDB throttling the second write
    records = [kinesis_record({"eventId": f"e{i}", "message": {"i": i}}, i) for i in (1, 2, 3)]
    consumer = handler.consumer()
    client = consumer.pipeline.store._client()
    real_put = client.put_item
    calls = []

    def put_item(**kwargs):
        calls.append(kwargs["Item"]["unique_id"]["S"])
        if len(calls) == 2:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutItem"
            )
        return real_put(**kwargs)

    client.put_item = put_item
    # WHEN the batch is consumed
    response = consume(*records)
    # THEN the throttled record and the one after it are reported, in order ...
    assert response["batchItemFailures"] == [
        {"itemIdentifier": sequence_of(records[1])},
        {"itemIdentifier": sequence_of(records[2])},
    ]
    # ... the one after it was never written (order kept), the first was written once
    assert calls == ["e1", "e2"]
    assert [i["unique_id"]["S"] for i in stream.items()] == ["e1"]
    # WHEN Lambda redelivers from the first failure THEN the rest is stored
    client.put_item = real_put
    assert consume(*records[1:]) == {"batchItemFailures": []}
    assert sorted(i["unique_id"]["S"] for i in stream.items()) == ["e1", "e2", "e3"]


def test_stored_records_reach_the_archive_in_the_bus_line_format(stream, event):
    # GIVEN an envelope record and a bare one
    consume(
        kinesis_record(event("order_updated"), 1),
        kinesis_record({"eventId": "b-1", "message": {"k": 1}}, 2),
    )
    # THEN each is one archive line: an EventBridge event with id, source, detail-type, detail
    lines = archived_lines(stream)
    assert [(x["id"], x["detail-type"]) for x in lines] == [
        (event("order_updated")["id"], "OrderUpdatedEvent"),
        ("b-1", "StreamRecord"),
    ]
    assert lines[1]["detail"] == {"k": 1}


def test_records_the_archive_refuses_are_reported_for_redelivery(stream):
    # GIVEN Firehose refusing every record
    consumer = handler.consumer()
    records = [kinesis_record({"eventId": f"a{i}", "message": {}}, i) for i in (1, 2)]
    refused = {"FailedPutCount": 2, "RequestResponses": [{"ErrorCode": "ServiceUnavailable"}] * 2}
    firehose = SimpleNamespace(put_record_batch=lambda **_: refused)
    consumer.archive._firehose = lambda: firehose
    consumer.archive._sleep = lambda _: None
    # WHEN the batch is consumed THEN both are stored and both reported for redelivery
    response = consume(*records)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        sequence_of(r) for r in records
    ]
    assert {i["unique_id"]["S"] for i in stream.items()} == {"a1", "a2"}
