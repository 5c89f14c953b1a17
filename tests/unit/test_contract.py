"""The data contract as pure functions: envelope, record mapping, hashing, limits."""

from __future__ import annotations

import math

import pytest
from kahula_core import hashing
from kahula_core.attributes import to_attribute_value
from kahula_core.envelope import normalise_time, parse_envelope
from kahula_core.errors import (
    EnvelopeError,
    InvalidIdentifierError,
    InvalidTimestampError,
    KeyTooLongError,
    MalformedEventError,
    UnstorableValueError,
)
from kahula_core.hashing import canonical_json
from kahula_core.record import build_record
from kahula_core.settings import Settings

from ..conftest import load_event

SETTINGS = Settings()
NOW = "2026-11-21T00:00:00.000000Z"


def payload_hash(detail, settings):
    return hashing.payload_hash(detail, settings.hash_excluded_paths)


def record_of(event):
    return build_record(parse_envelope(event), SETTINGS, NOW)


def with_(mutate):
    event = load_event("order_updated")
    mutate(event)
    return event


def _set(key, value):
    return lambda e: e.__setitem__(key, value)


def _del(key):
    return lambda e: e.pop(key)


def _meta(key, value):
    return lambda e: e["detail"]["metadata"].__setitem__(key, value)


def _detail(key, value):
    return lambda e: e["detail"].__setitem__(key, value)


def _nested(levels):
    value = 1
    for _ in range(levels):
        value = [value]
    return value


MALFORMED = [
    # (case, event, error type, message fragment)
    ("not an object", ["a", "list"], EnvelopeError, "must be a JSON object, got list"),
    ("a string", "hello", EnvelopeError, "must be a JSON object, got str"),
    ("null", None, EnvelopeError, "got NoneType"),
    ("missing id", with_(_del("id")), EnvelopeError, "no 'id' field"),
    ("missing detail-type", with_(_del("detail-type")), EnvelopeError, "no 'detail-type'"),
    ("missing source", with_(_del("source")), EnvelopeError, "no 'source' field"),
    ("missing time", with_(_del("time")), EnvelopeError, "no 'time' field"),
    ("missing detail", with_(_del("detail")), EnvelopeError, "no 'detail' field"),
    ("numeric id", with_(_set("id", 42)), EnvelopeError, "'id' must be a string, got int"),
    ("empty source", with_(_set("source", "  ")), EnvelopeError, "'source' is empty"),
    ("detail a list", with_(_set("detail", [1])), EnvelopeError, "'detail' must be an object"),
    ("detail a string", with_(_set("detail", "{}")), EnvelopeError, "got str"),
    ("unparsable time", with_(_set("time", "yesterday")), InvalidTimestampError, "not an ISO"),
    ("naive time", with_(_set("time", "2026-11-20T10:15:30")), InvalidTimestampError, "offset"),
    ("event_id a dict", with_(_meta("event_id", {"a": 1})), InvalidIdentifierError, "event_id"),
    ("saga_id a bool", with_(_meta("saga_id", True)), InvalidIdentifierError, "saga_id"),
    ("NaN", with_(_detail("x", math.nan)), UnstorableValueError, "detail.x: nan"),
    ("Infinity", with_(_detail("x", math.inf)), UnstorableValueError, "detail.x: inf"),
    ("39 digits", with_(_detail("x", 10**38 + 1)), UnstorableValueError, "39 significant"),
    ("too small", with_(_detail("x", 1e-300)), UnstorableValueError, "outside DynamoDB's range"),
    ("lone surrogate", with_(_detail("x", "\ud800")), UnstorableValueError, "lone surrogate"),
    ("empty map key", with_(_detail("x", {"": 1})), UnstorableValueError, "non-empty strings"),
    ("too deep", with_(_detail("x", _nested(32))), UnstorableValueError,
     "deeper than DynamoDB's 32 levels"),
    ("huge unique_id", with_(_meta("event_id", "k" * 2049)), KeyTooLongError, "at most 2048"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("event", "error", "fragment"),
    [pytest.param(e, err, frag, id=case) for case, e, err, frag in MALFORMED],
)
def test_each_malformed_shape_raises_its_own_clear_error(event, error, fragment):
    # GIVEN a malformed event WHEN it is mapped THEN its specific error names the problem
    with pytest.raises(error, match=None) as caught:
        record_of(event)
    assert type(caught.value) is error
    assert isinstance(caught.value, MalformedEventError)
    assert fragment in str(caught.value)


def test_nesting_at_exactly_the_limit_is_stored():
    # GIVEN a detail whose deepest container sits at level 32 (the detail itself is level 1)
    # WHEN it is mapped THEN it is accepted
    assert record_of(with_(_set("detail", {"x": _nested(31)}))).payload_bytes > 0


def test_producer_event_id_wins_over_eventbridge_id():
    assert record_of(load_event("order_updated")).unique_id == "order-1001-v3"


def test_integer_producer_ids_become_strings():
    record = record_of(with_(_meta("event_id", 1001)))
    assert record.unique_id == "1001"


def test_null_or_empty_optional_ids_are_absent():
    event = with_(_meta("saga_id", None))
    event["detail"]["metadata"]["mbocdp_id"] = ""
    record = record_of(event)
    assert "saga_id" not in record.item
    assert "mbocdp_id" not in record.item


def test_time_is_normalised_to_one_fixed_width_utc_form():
    assert normalise_time("2026-11-20T11:00:00.250+01:00") == "2026-11-20T10:00:00.250000Z"
    assert normalise_time("2026-11-20T10:15:30Z") == "2026-11-20T10:15:30.000000Z"
    assert normalise_time("2026-11-20T10:15:30.000000+00:00") == "2026-11-20T10:15:30.000000Z"


def test_payload_hash_ignores_exactly_saga_and_time_fields():
    # GIVEN the documented exclusions
    base = load_event("order_updated")["detail"]
    digest = payload_hash(base, SETTINGS)
    # WHEN only excluded fields change THEN the hash holds
    changed = load_event("order_updated")["detail"]
    changed["metadata"].update(saga_id="other", timestamp="x", occurred_at="y")
    assert payload_hash(changed, SETTINGS) == digest
    # WHEN removing them entirely THEN it holds too
    for key in ("saga_id", "timestamp"):
        changed["metadata"].pop(key)
    assert payload_hash(changed, SETTINGS) == digest
    # WHEN any other field changes THEN the hash changes
    for mutate in (_meta("mbocdp_id", "other"), _meta("domain", "x"), _detail("total", 1)):
        other = load_event("order_updated")
        mutate(other)
        assert payload_hash(other["detail"], SETTINGS) != digest


def test_payload_hash_does_not_mutate_the_detail():
    detail = load_event("order_updated")["detail"]
    before = canonical_json(detail)
    payload_hash(detail, SETTINGS)
    assert canonical_json(detail) == before


def test_payload_hash_is_independent_of_key_order():
    a = {"b": 1, "a": {"y": [1, 2], "x": "é"}}
    b = {"a": {"x": "é", "y": [1, 2]}, "b": 1}
    assert payload_hash(a, SETTINGS) == payload_hash(b, SETTINGS)


def test_canonical_json_is_sorted_compact_utf8():
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_floats_are_stored_as_their_shortest_exact_decimal():
    assert to_attribute_value(0.1)[0] == {"N": "0.1"}
    assert to_attribute_value(1e21)[0] == {"N": "1E+21"}
    assert to_attribute_value(-0.0)[0] == {"N": "-0.0"}


def test_item_size_estimate_tracks_payload_size():
    small = record_of(load_event("shipment_created"))
    big = record_of(with_(_detail("blob", "x" * 10_000)))
    assert 10_000 < big.size_bytes - small.size_bytes < 11_000
