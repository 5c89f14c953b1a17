"""The FIFO door under hostile and unlucky input: every message is recorded, refused with its
reason, or retried for a transient cause only; no tenant can reach another tenant's keys."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from queue_consumer import handler
from queue_consumer.message import UnreadableMessageError, parse_message
from queue_consumer.process import Received, process_message

from tests.unit.test_queue_consumer import (  # noqa: F401 - the fixture
    Fifo,
    _context,
    fifo,
    message,
    sqs_event,
)


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


def _dead_letter_reasons(fifo: Fifo) -> list[str]:  # noqa: F811
    return [m["MessageAttributes"]["reason"]["StringValue"] for m in fifo.dead_letters()]


@pytest.mark.parametrize(
    ("payload_text", "reason"),
    [
        ("1" * 5000, "message body is not JSON: an integer of more than 4300 digits"),
        ("[" * 100_000 + "]" * 100_000, "message body is not JSON: nested too deeply"),
    ],
    ids=["an integer of 5,000 digits", "100,000 nested arrays"],
)
def test_a_body_the_json_parser_cannot_hold_goes_to_the_dlq_with_its_reason(
    fifo: Fifo,  # noqa: F811
    payload_text: str,
    reason: str,
) -> None:
    # GIVEN a body Python's json module refuses with ValueError or RecursionError, not a
    # JSONDecodeError
    body = '{"tenant_id": "t", "event_id": "e", "event_type": "monitoring", "payload": {"n": '
    received = Received(message_id="m-1", body=body + payload_text + "}}", group_id="t")
    # WHEN it is processed
    result = process_message(received, fifo.consumer)
    # THEN it is refused to the DLQ with the reason (not retried until the receive limit)
    assert result.status == "UNREADABLE"
    (dead,) = _dead_letter_reasons(fifo)
    assert dead.startswith(reason)


@pytest.mark.parametrize(
    "field",
    ["event_type", "route"],
)
def test_an_oversized_event_type_or_route_is_refused_naming_the_field(field: str) -> None:
    # GIVEN an envelope whose event_type or route is 200 KB (with a 300 KB payload, the ledger
    # item would pass DynamoDB's 400 KB although the payload alone is under the inline limit)
    envelope = {"tenant_id": "t", "event_id": "e", "event_type": "monitoring", "payload": {}}
    envelope[field] = "x" * 200_000
    # WHEN it is parsed
    # THEN it is refused, naming the field and its limit
    with pytest.raises(UnreadableMessageError, match=f"'{field}' is longer than"):
        parse_message(json.dumps(envelope))


def test_a_schema_reason_quoting_a_huge_key_is_recorded_shortened(fifo: Fifo) -> None:  # noqa: F811
    # GIVEN a monitoring payload of ~300 KB whose invalid label key is 100 KB: the validator's
    # reason quotes the key's path
    labels = {"k" * 100_000: 5, "pad": "p" * 230_000}
    payload = {"timestamp": "2026-11-22T00:00:00Z", "level": "INFO", "message": "m"}
    received = message("monitoring", {**payload, "labels": labels})
    # WHEN it is processed
    result = process_message(received, fifo.consumer)
    # THEN it is INVALID in the ledger, its reason bounded (not an item DynamoDB refuses)
    assert (result.status, result.recorded) == ("INVALID", True)
    (entry,) = fifo.ledger()
    assert entry["reason"]["S"].endswith("must be string")
    assert len(entry["reason"]["S"]) <= 1024


def test_a_ready_event_too_large_for_the_archive_goes_to_the_dlq_before_any_write(
    fifo: Fifo,  # noqa: F811
) -> None:
    # GIVEN a valid message whose archive line passes Firehose's 1,000 KiB record limit (the
    # queue takes 1 MiB): Firehose would refuse it after the ledger and store writes
    payload = {"timestamp": "2026-11-22T00:00:00Z", "level": "INFO", "message": "m"}
    payload["labels"] = {f"k{i}": "v" * 1000 for i in range(1030)}
    # WHEN it is processed
    result = process_message(message("monitoring", payload), fifo.consumer)
    # THEN it is refused to the DLQ naming the limit, with nothing written anywhere
    assert result.status == "REFUSED"
    (reason,) = _dead_letter_reasons(fifo)
    assert "Firehose's record limit" in reason
    assert fifo.ledger() == []
    assert fifo.base.items() == []


def test_a_valid_message_reusing_an_invalid_entrys_event_id_is_not_stored(fifo: Fifo) -> None:  # noqa: F811
    # GIVEN tenant-a's event e1 recorded INVALID (no email)
    first = process_message(message(payload={"id": "1"}), fifo.consumer)
    assert first.status == "INVALID"
    # WHEN another message reuses e1 with a valid payload (a retry by a "fixed" producer)
    again = process_message(message(), fifo.consumer)
    # THEN the ledger's entry stands: the message is a duplicate of an INVALID entry, and the
    # store does not hold an event its tenant ledger records as INVALID
    assert (again.status, again.recorded) == ("INVALID", False)
    assert "already recorded INVALID" in (again.reason or "")
    (entry,) = fifo.ledger()
    assert entry["status"]["S"] == "INVALID"
    assert fifo.base.items() == []


class SizeCheckingSQS:
    """moto's client, refusing a message over 1 MiB counting its attributes, as SQS does."""

    def __init__(self, client) -> None:
        self._client = client

    def send_message(self, **request):
        size = len(request["MessageBody"].encode()) + sum(
            len(name.encode()) + len(v["DataType"]) + len(v["StringValue"].encode())
            for name, v in request.get("MessageAttributes", {}).items()
        )
        if size > 1024 * 1024:
            raise ClientError(
                {"Error": {"Code": "InvalidParameterValue", "Message": "message too long"}},
                "SendMessage",
            )
        return self._client.send_message(**request)


def test_an_unreadable_body_near_1_mib_is_kept_whole_without_the_reason(fifo: Fifo) -> None:  # noqa: F811
    # GIVEN an unreadable body 50 bytes under SQS's 1 MiB: with the reason attribute the DLQ
    # message would be over the limit (SQS counts attributes too); the source id still fits
    sqs = SizeCheckingSQS(fifo.base.sqs)
    fifo.consumer.dead_letters._client = lambda: sqs
    body = "x" * (1024 * 1024 - 50)
    received = Received(message_id="m-big", body=body, group_id="t")
    # WHEN it is processed
    result = process_message(received, fifo.consumer)
    # THEN it is on the DLQ with its body whole (not retried until SQS's redrive drops the
    # reason), and the result says the reason could not go with it
    assert result.status == "UNREADABLE"
    assert result.reason_on_dead_letter is False
    (dead,) = fifo.dead_letters()
    assert dead["Body"] == body
    assert "reason" not in dead.get("MessageAttributes", {})
    assert dead["MessageAttributes"]["source_message_id"]["StringValue"] == "m-big"


def test_an_unreadable_small_body_carries_its_reason_on_the_dlq(fifo: Fifo) -> None:  # noqa: F811
    sqs = SizeCheckingSQS(fifo.base.sqs)
    fifo.consumer.dead_letters._client = lambda: sqs
    result = process_message(Received(message_id="m-1", body="nope", group_id="t"), fifo.consumer)
    assert result.reason_on_dead_letter is True
    (reason,) = _dead_letter_reasons(fifo)
    assert reason.startswith("message body is not JSON")


def test_the_handler_logs_an_error_with_the_reason_the_dlq_message_could_not_carry(
    fifo: Fifo,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN an unreadable body too large to carry its reason to the DLQ, through the handler
    sqs = SizeCheckingSQS(fifo.base.sqs)
    fifo.consumer.dead_letters._client = lambda: sqs
    handler.use_consumer(fifo.consumer)
    batch = sqs_event(Received(message_id="m-big", body="x" * (1024 * 1024 - 50), group_id="t"))
    try:
        response = handler.lambda_handler(batch, SimpleNamespace(**_context()))
    finally:
        handler.use_consumer(None)
    # THEN the message is done (on the DLQ), and an ERROR line keeps the reason and its id
    assert response == {"batchItemFailures": []}
    (line,) = [r for r in caplog.records if r.getMessage().startswith("message UNREADABLE")]
    assert line.levelname == "ERROR"
    assert line.reason.startswith("message body is not JSON")  # type: ignore[attr-defined]
    assert line.message_id == "m-big"  # type: ignore[attr-defined]
