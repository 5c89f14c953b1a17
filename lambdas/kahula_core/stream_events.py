"""From one Kinesis record to the EventBridge-shaped event the persistence core stores.

A record's data is one JSON object, in either of two shapes:

* the platform's envelope: ``{"source", "detail-type", "detail", "id"?, "time"?}``, stored as
  if it had crossed the bus;
* a bare event, ``{"eventId": ..., "message": {...}, "eventType"?: ...}`` (field names are
  settings), which the mapping below wraps in an envelope.

The mapping (then record.py's contract applies unchanged):

  envelope ``id``          the envelope's ``id``; a bare event's id field; else the record's
                           sequence number qualified by its shard, ``shardId-...:4954...``
                           (Lambda's ``eventID``: stable across retries and redeliveries, and
                           unique in the stream, where a bare sequence number is unique only
                           within its shard). It
                           becomes ``unique_id`` and ``aws_id`` unless the detail carries the
                           contract's event id (``detail.metadata.event_id``), which wins as
                           it does for bus events
  envelope ``detail``      the envelope's ``detail``; a bare event's message (a JSON object)
                           -> ``payload`` and ``payload_hash``
  envelope ``detail-type`` the envelope's; a bare event's type field, else ``StreamRecord``
                           -> ``event_name``
  envelope ``source``      the envelope's; for a bare event the configured source
                           (``{prefix}.stream``) -> ``source``, and ``domain`` when the
                           detail names none
  envelope ``time``        the envelope's ``time``; else when Kinesis received the record
                           (``approximateArrivalTimestamp``, stable across retries)
                           -> ``timestamp``
  ``persisted_at``         processing time, as for every front door

Nothing here touches AWS; a record that cannot be mapped raises MalformedRecordError with
the reason, and the batch machinery quarantines it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import spec
from .envelope import format_utc
from .errors import MalformedEventError
from .json_text import UnparsableJsonError, parse_json


class MalformedRecordError(MalformedEventError):
    """A stream record's data is not a JSON object in either accepted shape."""


@dataclass(frozen=True, kw_only=True)
class BareEventFields:
    """Where a bare event keeps its id, message and type, and the source it is stored under."""

    id_field: str = spec.BARE_ID_FIELD
    message_field: str = spec.BARE_MESSAGE_FIELD
    type_field: str = spec.BARE_TYPE_FIELD
    default_type: str = spec.BARE_DEFAULT_TYPE
    source: str = spec.bare_event_source("kahula")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> BareEventFields:
        given = {
            "id_field": environ.get(spec.BatchEnv.BARE_ID_FIELD, ""),
            "message_field": environ.get(spec.BatchEnv.BARE_MESSAGE_FIELD, ""),
            "type_field": environ.get(spec.BatchEnv.BARE_TYPE_FIELD, ""),
            "default_type": environ.get(spec.BatchEnv.BARE_DEFAULT_TYPE, ""),
            "source": environ.get(spec.BatchEnv.BARE_SOURCE, ""),
        }
        return cls(**{k: v.strip() for k, v in given.items() if v.strip()})


@dataclass(frozen=True)
class Coordinates:
    """Where a record sits in its stream: enough to find it again with GetRecords."""

    stream_arn: str
    shard_id: str
    sequence_number: str
    partition_key: str
    arrival: str  # canonical UTC time

    @property
    def record_id(self) -> str:
        """The record's id in its stream: shard and sequence number (Lambda's eventID)."""
        return f"{self.shard_id}:{self.sequence_number}"

    def as_dict(self) -> dict[str, str]:
        return {
            "streamArn": self.stream_arn,
            "shardId": self.shard_id,
            "sequenceNumber": self.sequence_number,
            "partitionKey": self.partition_key,
            "approximateArrivalTimestamp": self.arrival,
        }


def coordinates(record: Mapping[str, Any]) -> Coordinates:
    """The coordinates of a record of a Lambda Kinesis event (``eventID`` is shard:sequence)."""
    kinesis = record.get("kinesis") or {}
    arrival: Any = kinesis.get("approximateArrivalTimestamp")
    try:
        when = format_utc(datetime.fromtimestamp(float(arrival), UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        when = ""
    return Coordinates(
        stream_arn=str(record.get("eventSourceARN", "")),
        shard_id=str(record.get("eventID", "")).partition(":")[0],
        sequence_number=str(kinesis.get("sequenceNumber", "")),
        partition_key=str(kinesis.get("partitionKey", "")),
        arrival=when,
    )


def decode_data(record: Mapping[str, Any]) -> Any:
    """The record's data, base64-decoded and parsed as JSON; MalformedRecordError if not."""
    raw = (record.get("kinesis") or {}).get("data")
    if not isinstance(raw, str):
        raise MalformedRecordError("record has no base64 'data'")
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedRecordError("record data is not base64-encoded UTF-8 text") from None
    try:
        return parse_json(text)
    except UnparsableJsonError as exc:
        raise MalformedRecordError(f"record data is not JSON: {exc}") from None


def _id_text(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedRecordError(
            f"field {field!r} must be a string or an integer, got {type(value).__name__}"
        )
    text = str(value)
    if not text.strip():
        raise MalformedRecordError(f"field {field!r} is empty")
    return text


def to_platform_event(
    data: Any, where: Coordinates, fields: BareEventFields = BareEventFields()
) -> dict[str, Any]:
    """The EventBridge-shaped event for one record's parsed data (see the module docstring).

    The result still goes through the core's own checks (envelope, contract, limits), which
    raise their own MalformedEventError subclasses.
    """
    if not isinstance(data, dict):
        raise MalformedRecordError(f"record data must be a JSON object, got {type(data).__name__}")
    fallback_time = where.arrival or None
    if "detail" in data or "detail-type" in data or "source" in data:
        event = {
            "version": "0",
            "id": _id_text(data["id"], "id") if "id" in data else where.record_id,
            "detail-type": data.get("detail-type"),
            "source": data.get("source"),
            "time": data.get("time", fallback_time),
            "detail": data.get("detail"),
        }
    else:
        if fields.message_field not in data:
            raise MalformedRecordError(
                f"record is neither the platform envelope (source, detail-type, detail) nor a "
                f"bare event with a {fields.message_field!r} field"
            )
        message = data[fields.message_field]
        if not isinstance(message, dict):
            raise MalformedRecordError(
                f"field {fields.message_field!r} must be a JSON object, "
                f"got {type(message).__name__}"
            )
        event_type = data.get(fields.type_field, fields.default_type)
        event = {
            "version": "0",
            "id": (
                _id_text(data[fields.id_field], fields.id_field)
                if data.get(fields.id_field) is not None
                else where.record_id
            ),
            "detail-type": event_type,
            "source": fields.source,
            "time": fallback_time,
            "detail": message,
        }
    if where.stream_arn:
        event["resources"] = [where.stream_arn]
    return event
