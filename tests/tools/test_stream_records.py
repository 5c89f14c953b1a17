"""The stream input of `make demo` and `kahula seed --stream`: JSON lines of Kinesis records."""

from __future__ import annotations

import json

from cdk_app.cli.seeding import read_stream_records
from local.demo import STREAM_SAMPLES


def test_data_is_json_encoded_and_raw_is_kept_as_bytes(tmp_path):
    # GIVEN a record with JSON data, one with raw text, and a line without a partition key
    path = tmp_path / "records.jsonl"
    path.write_text(
        '{"partitionKey": "a", "data": {"message": {"k": 1}}}\n'
        '{"partitionKey": "b", "raw": "{not json"}\n'
        '{"data": {}}\n'
    )
    bad: list[tuple[str, str]] = []
    # WHEN the file is read
    records = read_stream_records(path, bad)
    # THEN the first two are PutRecords entries and the third is reported with its line
    assert records == [
        ("records.jsonl:1", "a", b'{"message": {"k": 1}}'),
        ("records.jsonl:2", "b", b"{not json"),
    ]
    assert [where for where, _ in bad] == ["records.jsonl:3"]


def test_the_shipped_stream_samples_are_all_usable():
    bad: list[tuple[str, str]] = []
    records = read_stream_records(STREAM_SAMPLES, bad)
    assert bad == []
    assert len(records) == len(STREAM_SAMPLES.read_text().splitlines())
    assert any(data == b"{this is not json" for _, _, data in records)
    assert json.loads(records[0][2])["detail-type"] == "OrderUpdatedEvent"
