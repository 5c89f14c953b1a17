"""The record -> platform event mapping of the Kinesis front door (kahula_core.stream_events)."""

from __future__ import annotations

import pytest
from kahula_core.envelope import parse_envelope
from kahula_core.stream_events import (
    BareEventFields,
    MalformedRecordError,
    coordinates,
    decode_data,
    to_platform_event,
)

from tests.unit.stream_records import SHARD, STREAM_ARN, kinesis_record, sequence_of


def mapped(data, sequence=1, fields=None):
    record = kinesis_record(data, sequence)
    out = to_platform_event(decode_data(record), coordinates(record), fields or BareEventFields())
    return out, record


def test_envelope_record_keeps_its_fields_and_is_a_valid_bus_event(event):
    # GIVEN a record holding the platform envelope with id and time
    given = event("order_updated")
    # WHEN it is mapped
    out, _ = mapped(given)
    # THEN it is the same event as on the bus, with the stream as its resource
    assert {k: out[k] for k in ("id", "source", "detail-type", "time", "detail")} == {
        k: given[k] for k in ("id", "source", "detail-type", "time", "detail")
    }
    assert out["resources"] == [STREAM_ARN]
    parse_envelope(out)


def test_envelope_without_id_or_time_takes_shard_sequence_number_and_arrival_time():
    # GIVEN an envelope with neither id nor time
    out, record = mapped({"source": "orders", "detail-type": "OrderPlaced", "detail": {"a": 1}})
    # THEN the id is the record's shard and sequence number, the time when Kinesis received it
    assert out["id"] == f"{SHARD}:{sequence_of(record)}"
    assert parse_envelope(out).time.startswith("2026-11-25T")


def test_bare_event_maps_id_message_and_type_onto_the_envelope():
    # GIVEN a bare event with the configured id, message and type fields
    fields = BareEventFields(source="ingester.stream")
    data = {"eventId": "evt-9", "eventType": "OrderClosed", "message": {"order": 7}}
    # WHEN it is mapped
    out, _ = mapped(data, fields=fields)
    # THEN its id, message, type and the configured source make the envelope
    assert (out["id"], out["detail"], out["detail-type"], out["source"]) == (
        "evt-9",
        {"order": 7},
        "OrderClosed",
        "ingester.stream",
    )


def test_bare_event_without_id_or_type_uses_shard_and_sequence_number_and_default_type():
    out, record = mapped({"message": {"x": True}})
    assert out["id"] == record["eventID"] == f"{SHARD}:{sequence_of(record)}"
    assert out["detail-type"] == "StreamRecord"


def test_bare_field_names_come_from_the_environment():
    fields = BareEventFields.from_environment(
        {"BARE_ID_FIELD": "uuid", "BARE_MESSAGE_FIELD": "body", "BARE_SOURCE": "x.y"}
    )
    out, _ = mapped({"uuid": 12, "body": {"k": "v"}}, fields=fields)
    assert (out["id"], out["detail"], out["source"]) == ("12", {"k": "v"}, "x.y")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not base64-encoded UTF-8"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'{"other": 1}', "neither the platform envelope"),
        (b'{"message": "text"}', "'message' must be a JSON object, got str"),
        (b'{"eventId": {"a": 1}, "message": {}}', "'eventId' must be a string or an integer"),
        (b'{"id": "", "source": "s", "detail-type": "t", "detail": {}}', "'id' is empty"),
    ],
)
def test_unusable_record_data_is_refused_with_its_reason(raw, reason):
    # GIVEN a record whose data is in neither accepted shape
    record = kinesis_record(None, 1, raw=raw)
    # WHEN it is mapped THEN a MalformedRecordError names the problem
    with pytest.raises(MalformedRecordError, match=reason):
        to_platform_event(decode_data(record), coordinates(record))


def test_coordinates_name_shard_sequence_key_and_stream():
    record = kinesis_record({}, 5, key="customer-3")
    where = coordinates(record).as_dict()
    assert where["shardId"] == SHARD
    assert where["sequenceNumber"] == sequence_of(record)
    assert where["partitionKey"] == "customer-3"
    assert where["streamArn"] == STREAM_ARN
