"""Limits per item and per index: what DynamoDB would refuse is refused at once, by name."""

from __future__ import annotations

import pytest
from kahula_core import spec
from kahula_core.attributes import attribute_size
from kahula_core.envelope import parse_envelope
from kahula_core.errors import ItemTooLargeError, KeyTooLongError
from kahula_core.record import build_record
from kahula_core.settings import Settings
from kahula_core.store import PayloadStore

from ..conftest import load_event

NOW = "2026-11-21T00:00:00.000000Z"
# Where each key-capable attribute comes from in the sample event.
SETTERS = {
    "unique_id": lambda e, v: e["detail"]["metadata"].__setitem__("event_id", v),
    "saga_id": lambda e, v: e["detail"]["metadata"].__setitem__("saga_id", v),
    "domain": lambda e, v: e["detail"]["metadata"].__setitem__("domain", v),
    "mbocdp_id": lambda e, v: e["detail"]["metadata"].__setitem__("mbocdp_id", v),
    "event_name": lambda e, v: e.__setitem__("detail-type", v),
}


def record_with(attribute, value, settings=None):
    event = load_event("order_updated")
    SETTERS[attribute](event, value)
    return build_record(parse_envelope(event), settings or Settings(), NOW)


@pytest.mark.parametrize("attribute", sorted(SETTERS))
@pytest.mark.parametrize("text", ["k", "é", "🚀"])  # 1, 2 and 4 bytes of UTF-8
def test_a_key_attribute_at_its_limit_is_stored_and_one_byte_more_is_refused(attribute, text):
    limit = spec.KEY_ATTRIBUTES[attribute]
    fitting = text * (limit // len(text.encode()))
    # GIVEN a value of exactly the limit in bytes WHEN mapped THEN it is accepted
    assert record_with(attribute, fitting).item[attribute] == {"S": fitting}
    # GIVEN one byte more WHEN mapped THEN it is refused, naming the attribute and the limit
    with pytest.raises(KeyTooLongError, match=f"{attribute} is {len(fitting.encode()) + 1} bytes"):
        record_with(attribute, fitting + "x")


def test_an_attribute_keyed_as_a_sort_key_gets_the_sort_key_limit():
    # GIVEN an index whose sort key is saga_id (INDEXED_ATTRIBUTES, set by the construct)
    settings = Settings.from_environment(
        {spec.Env.INDEXED_ATTRIBUTES: spec.encode_indexed_attributes([("saga_id", "RANGE")])}
    )
    # THEN saga_id is held to DynamoDB's 1024-byte sort-key limit
    assert record_with("saga_id", "s" * 1024, settings).saga_id == "s" * 1024
    with pytest.raises(KeyTooLongError, match="at most 1024 bytes"):
        record_with("saga_id", "s" * 1025, settings)


def test_the_size_estimate_is_the_sum_of_the_stored_attribute_sizes():
    record = build_record(parse_envelope(load_event("order_updated")), Settings(), NOW)
    assert record.size_bytes == sum(attribute_size(k, v) for k, v in record.item.items())


def _oversize_record(source_bytes):
    event = load_event("order_updated")
    event["detail"]["blob"] = "x" * 500_000
    event["source"] = "s" * source_bytes  # no index keys on source, so no key limit holds it
    return build_record(parse_envelope(event), Settings(), NOW)


@pytest.mark.parametrize("prefix", ["oversize-payloads", "p" * 300])
@pytest.mark.parametrize("over", [0, 1], ids=["exactly fits", "one byte over"])
def test_the_item_is_measured_again_with_its_real_claim_check(prefix, over):
    # GIVEN an oversize event whose other attributes leave exactly room for its claim check
    # under DynamoDB's 400 KB (or ``over`` bytes less)
    store = PayloadStore(s3=lambda: None, bucket="b" * 63, prefix=prefix)
    probe = _oversize_record(1)
    claim = store.claim_for("detail", probe.unique_id, b"{}")
    claim_bytes = attribute_size("payload_claim_check", claim.attribute_value())
    rest = probe.size_bytes - probe.payload_bytes - 1  # everything but the payload and source
    record = _oversize_record(spec.DYNAMODB_MAX_ITEM_BYTES - rest - claim_bytes + over)
    assert record.unique_id == probe.unique_id  # the same claim check (its key names the id)
    # WHEN its detail moves to S3
    if over == 0:
        checked = record.with_claim_check(claim)
        # THEN it is kept at exactly the limit, measured as DynamoDB measures it, no payload
        assert checked.size_bytes == sum(attribute_size(k, v) for k, v in checked.item.items())
        assert checked.size_bytes == spec.DYNAMODB_MAX_ITEM_BYTES
        assert checked.payload_bytes == 0
        assert "payload" not in checked.item
    else:
        # THEN one byte more is refused, naming the largest attributes
        with pytest.raises(ItemTooLargeError, match="largest attributes: source"):
            record.with_claim_check(claim)


def test_an_item_too_large_even_with_its_claim_check_is_refused_naming_the_attribute():
    record = _oversize_record(spec.DYNAMODB_MAX_ITEM_BYTES)
    claim = PayloadStore(s3=lambda: None, bucket="b", prefix="p").claim_for("detail", "x", b"{}")
    with pytest.raises(ItemTooLargeError, match=r"over DynamoDB's 409600-byte item limit"):
        record.with_claim_check(claim)
