"""`make demo`'s stream input: JSON lines of Kinesis records (local/demo.py)."""

from __future__ import annotations

import json

from local.demo import STREAM_SAMPLES, read_stream_records


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
    assert records == [("a", b'{"message": {"k": 1}}'), ("b", b"{not json")]
    assert [where for where, _ in bad] == ["records.jsonl:3"]


def test_the_shipped_stream_samples_are_all_usable():
    bad: list[tuple[str, str]] = []
    records = read_stream_records(STREAM_SAMPLES, bad)
    assert bad == []
    assert len(records) == len(STREAM_SAMPLES.read_text().splitlines())
    assert any(data == b"{this is not json" for _, data in records)
    assert json.loads(records[0][1])["detail-type"] == "OrderUpdatedEvent"
