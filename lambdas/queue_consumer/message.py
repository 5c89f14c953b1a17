"""The queue message's envelope: what a producer sends on the FIFO queue.

    {"tenant_id": "tenant-a", "event_id": "7b0c...", "event_type": "user.created",
     "payload": {...}, "created_at": "2026-11-22T05:40:36Z", "route": "default"}

``tenant_id``, ``event_id`` and ``event_type`` are non-empty strings (``tenant_id`` without
``#``, which separates it from the event id in the keys) and ``payload`` is an
object (required); ``created_at`` (an ISO-8601 time with an offset) and ``route`` are optional
strings: an absent or empty one behaves as absent, the way the Go service's ``omitempty``
fields do (created_at -> the processing time, route -> the configured route of the type).
Anything else is an UnreadableMessageError naming the field: the message goes to the
dead-letter queue with that reason (it cannot be recorded in a tenant's ledger without them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kahula_core import spec
from kahula_core.envelope import normalise_time
from kahula_core.errors import InvalidTimestampError, MalformedEventError
from kahula_core.json_text import UnparsableJsonError, parse_json

REQUIRED = ("tenant_id", "event_id", "event_type")
#: Joins tenant_id to event_id (idempotency key, store unique_id) and to created_at (GSI key).
KEY_SEPARATOR = "#"


class UnreadableMessageError(MalformedEventError):
    """The message is not an envelope the ledger can record (the reason names the field)."""


@dataclass(frozen=True)
class QueueMessage:
    tenant_id: str
    event_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: str | None  # canonical UTC form; None: not given
    route: str | None  # None: not given


def _optional_string(envelope: dict[str, Any], key: str) -> str | None:
    value = envelope.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UnreadableMessageError(
            f"message field {key!r} must be a string, got {type(value).__name__}"
        )
    return value


def parse_message(body: str) -> QueueMessage:
    """The envelope of one SQS message body, validated."""
    try:
        envelope = parse_json(body)
    except UnparsableJsonError as exc:
        raise UnreadableMessageError(f"message body is not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise UnreadableMessageError(
            f"message body must be a JSON object, got {type(envelope).__name__}"
        )
    values: dict[str, str] = {}
    for key in REQUIRED:
        value = envelope.get(key)
        if not isinstance(value, str) or not value.strip():
            got = "nothing" if value is None else repr(value)[:64]
            raise UnreadableMessageError(
                f"message field {key!r} is required (a non-empty string), got {got}"
            )
        values[key] = value
    if KEY_SEPARATOR in values["tenant_id"]:
        # tenant_id#event_id keys the idempotency table and the store, and tenant_id#created_at
        # the ledger's GSI: a '#' in a tenant id would reach another tenant's keys.
        raise UnreadableMessageError(
            f"message field 'tenant_id' must not contain {KEY_SEPARATOR!r} (it separates the "
            f"tenant from the event id in the keys), got {values['tenant_id'][:64]!r}"
        )
    for key in REQUIRED:
        # tenant_id and event_id key the ledger (partition key; sort key with created_at);
        # event_type is bounded likewise so the ledger item's size is its payload's (plus ~4 KB).
        if len(values[key].encode("utf-8")) > spec.DYNAMODB_MAX_SORT_KEY_BYTES // 2:
            raise UnreadableMessageError(
                f"message field {key!r} is longer than {spec.DYNAMODB_MAX_SORT_KEY_BYTES // 2} "
                "bytes (UTF-8)"
            )
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        got = "nothing" if payload is None else type(payload).__name__
        raise UnreadableMessageError(f"message field 'payload' must be an object, got {got}")
    created_text = _optional_string(envelope, "created_at")
    created_at = None
    if created_text is not None:
        try:
            created_at = normalise_time(created_text)
        except InvalidTimestampError as exc:
            raise UnreadableMessageError(str(exc).replace("'time'", "'created_at'")) from None
    route = _optional_string(envelope, "route")
    if route is not None and len(route.encode("utf-8")) > spec.DYNAMODB_MAX_SORT_KEY_BYTES // 2:
        raise UnreadableMessageError(
            f"message field 'route' is longer than {spec.DYNAMODB_MAX_SORT_KEY_BYTES // 2} "
            "bytes (UTF-8)"
        )
    return QueueMessage(
        tenant_id=values["tenant_id"],
        event_id=values["event_id"],
        event_type=values["event_type"],
        payload=payload,
        created_at=created_at,
        route=route,
    )
