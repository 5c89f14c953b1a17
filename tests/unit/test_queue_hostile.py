"""The FIFO door under hostile and unlucky input: every message is recorded, refused with its
reason, or retried for a transient cause only; no tenant can reach another tenant's keys."""

from __future__ import annotations

import json

import pytest
from queue_consumer.message import UnreadableMessageError, parse_message
from queue_consumer.process import process_message

from tests.unit.test_queue_consumer import Fifo, fifo, message  # noqa: F401 - the fixture


def test_a_tenant_id_holding_the_key_separator_is_refused() -> None:
    # GIVEN a tenant id with '#', which joins tenant_id#event_id in the idempotency key, the
    # store's unique_id and the ledger's GSI sort key
    body = json.dumps(
        {"tenant_id": "a#b", "event_id": "c", "event_type": "monitoring", "payload": {}}
    )
    # WHEN the envelope is parsed
    # THEN it is refused, naming the field and why
    with pytest.raises(UnreadableMessageError, match="'tenant_id' must not contain '#'"):
        parse_message(body)


def test_one_tenant_cannot_take_another_tenants_event_keys(fifo: Fifo) -> None:  # noqa: F811
    # GIVEN tenant "a#b" sends event "c" before tenant "a" sends event "b#c" (same a#b#c)
    intruder = process_message(message(tenant="a#b", event_id="c"), fifo.consumer)
    # WHEN tenant "a" sends its event
    victim = process_message(
        message(tenant="a", event_id="b#c", created_at="2026-02-02T00:00:00Z"), fifo.consumer
    )
    # THEN the intruder's message is refused to the DLQ, and tenant a's event is recorded
    # under its own created_at and stored without a conflict
    assert intruder.status == "UNREADABLE"
    assert (victim.status, victim.recorded) == ("READY", True)
    (entry,) = fifo.ledger("a")
    assert entry["sk"]["S"] == "2026-02-02T00:00:00.000000Z#b#c"
    assert fifo.base.item("a#b#c")["source"]["S"] == "tenant.a"
    assert fifo.base.conflicts() == []
