"""`kahula seed`: the FIFO door's samples, sent as producers send, with their ledger status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdk_app import stack_outputs as so
from cdk_app.cli.output import ExitCode
from cdk_app.cli.seeding import ledger_status, sample_messages

LEDGER = "kahula-ledger-dev"


@pytest.fixture
def fifo_door(deployed):
    deployed.client("dynamodb").create_table(
        TableName=LEDGER,
        KeySchema=[
            {"AttributeName": "tenant_id", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "tenant_id", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    deployed.outputs[so.LEDGER_TABLE_NAME] = LEDGER
    return deployed


def _sent(deployed) -> list[dict]:
    sqs = deployed.client("sqs")
    url = deployed.outputs[so.INGEST_QUEUE_URL]
    out = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return out
        out += messages
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_seed_sends_one_sample_per_type_grouped_by_tenant_deduplicated_by_event_id(fifo_door, cli):
    # WHEN the FIFO door of a deployed environment is seeded
    ran = cli("--json", "seed")
    # THEN one message per event type went to its queue, each under its tenant's group
    report = json.loads(ran.stdout)
    messages = _sent(fifo_door)
    assert ran.code == ExitCode.OK
    assert report["sent"] == len(messages) == 5
    for message in messages:
        body = json.loads(message["Body"])
        assert message["Attributes"]["MessageGroupId"] == body["tenant_id"]
        assert message["Attributes"]["MessageDeduplicationId"] == body["event_id"]
    # AND, no consumer having run yet, each is pending in the ledger
    assert {m["status"] for m in report["messages"]} == {"pending"}


def test_seed_invalid_adds_one_invalid_sample_per_type(fifo_door, cli):
    ran = cli("--json", "seed", "--invalid")
    assert json.loads(ran.stdout)["sent"] == 10
    assert len({json.loads(m["Body"])["event_id"] for m in _sent(fifo_door)}) == 10


def test_seed_without_a_fifo_door_is_exit_3_with_a_sentence(deployed, cli):
    del deployed.outputs[so.INGEST_QUEUE_URL]
    ran = cli("seed")
    assert ran.code == ExitCode.UNREACHABLE
    assert "has no output IngestQueueUrl (the FIFO door's queue)" in ran.stderr


def test_the_ledger_status_is_read_under_the_consumers_key(fifo_door):
    # GIVEN the consumer's entry for a message created at 05:40:36Z (canonical time in the key)
    item = {
        "tenant_id": {"S": "tenant-b"},
        "sk": {"S": "2026-11-22T05:40:36.000000Z#e-1"},
        "status": {"S": "INVALID"},
        "reason": {"S": "payload must contain ['email'] properties"},
    }
    dynamodb = fifo_door.client("dynamodb")
    dynamodb.put_item(TableName=LEDGER, Item=item)
    message = {"tenant_id": "tenant-b", "event_id": "e-1", "created_at": "2026-11-22T05:40:36Z"}
    # THEN seed finds it
    assert ledger_status(dynamodb, LEDGER, message) == (
        "INVALID",
        "payload must contain ['email'] properties",
    )


def test_one_sample_per_schema_each_with_a_fresh_id():
    valid, both = sample_messages(invalid=False), sample_messages(invalid=True)
    assert len(valid) == 5
    assert len(both) == 10
    assert len({m["event_id"] for m in both}) == 10  # fresh ids, as the Go seeder sends


def test_a_schema_without_its_sample_is_a_clear_error(tmp_path: Path):
    (tmp_path / "x.schema.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"x: no x\.sample\.json beside its schema"):
        sample_messages(invalid=False, folder=tmp_path)


@pytest.fixture
def stream_door(deployed):
    kinesis = deployed.client("kinesis")
    kinesis.create_stream(StreamName="kahula-ingest-dev", ShardCount=1)
    deployed.outputs[so.STREAM_NAME] = "kahula-ingest-dev"
    return deployed


def _on_stream(deployed) -> list[dict]:
    kinesis = deployed.client("kinesis")
    (shard,) = kinesis.list_shards(StreamName="kahula-ingest-dev")["Shards"]
    iterator = kinesis.get_shard_iterator(
        StreamName="kahula-ingest-dev", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return kinesis.get_records(ShardIterator=iterator)["Records"]


def test_seed_stream_puts_every_record_and_names_each_line_it_could_not(stream_door, cli, tmp_path):
    # GIVEN the checkout's sample records, plus a line that is no record and one without a key
    samples = Path(__file__).resolve().parents[3] / "samples" / "stream_records.jsonl"
    lines = samples.read_text().splitlines()
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join([*lines, "not json", '{"data": {"a": 1}}']) + "\n")
    # WHEN the Kinesis door is seeded with them
    ran = cli("--json", "seed", "--stream", str(path))
    report = json.loads(ran.stdout)
    # THEN every sample is on the stream, in order, with its data as written
    on_stream = _on_stream(stream_door)
    assert [json.loads(r["Data"]) for r in on_stream[:1]] == [json.loads(lines[0])["data"]]
    assert len(on_stream) == len(lines) == report["accepted"]
    # AND each line has its row, in file order: accepted with its sequence number, or why not
    rows = report["records"]
    assert [r["where"] for r in rows] == [f"records.jsonl:{n}" for n in range(1, len(lines) + 3)]
    assert all(r["ok"] and "#" in r["result"] for r in rows[: len(lines)])
    assert [r["ok"] for r in rows[len(lines) :]] == [False, False]
    assert rows[-2]["result"].startswith("not a stream record line")
    assert ran.code == ExitCode.ITEMS_FAILED


def test_seed_stream_of_a_file_without_records_is_a_usage_error(stream_door, cli, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    ran = cli("seed", "--stream", str(path))
    assert ran.code == ExitCode.USAGE
    assert "holds no stream record" in ran.stderr
    assert cli("seed", "--stream", str(tmp_path / "missing")).code == ExitCode.USAGE


def test_seed_stream_where_no_kinesis_door_is_deployed_is_exit_3(deployed, cli, tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"partitionKey": "k", "data": {"a": 1}}\n')
    ran = cli("seed", "--stream", str(path))
    assert ran.code == ExitCode.UNREACHABLE
    assert "Kinesis door" in ran.stderr
