"""The EventBridge envelope: validated fields, the event time in its one canonical form, and
lookups by dotted path.

Canonical time: ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, always 27 characters (microseconds
always written, the year always four digits), so comparing two stored times as strings is
comparing them as instants: a ``timestamp`` index sorts in time order. Any ISO-8601 form
Python's ``datetime.fromisoformat`` reads is accepted if it carries a UTC offset; one without
an offset, one that is not ISO-8601, or one whose instant falls outside years 0001-9999 once
moved to UTC is refused with InvalidTimestampError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import EnvelopeError, InvalidTimestampError

#: The value of a path that is absent (distinct from a present null).
MISSING: Any = object()


@dataclass(frozen=True)
class Envelope:
    """The validated EventBridge envelope of one event."""

    aws_id: str
    detail_type: str
    source: str
    time: str  # canonical, see the module docstring
    detail: dict[str, Any]
    raw: dict[str, Any]


def format_utc(moment: datetime) -> str:
    """An aware datetime in the canonical fixed-width UTC form."""
    u = moment.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def normalise_time(value: str) -> str:
    """Any ISO-8601 time with an offset -> the canonical form; else InvalidTimestampError."""
    shown = repr(value[:64])
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidTimestampError(
            f"event field 'time' is not an ISO-8601 timestamp: {shown}"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidTimestampError(
            f"event field 'time' has no UTC offset, so its instant is ambiguous: {shown}"
        )
    try:
        return format_utc(parsed)
    except (OverflowError, ValueError):
        raise InvalidTimestampError(
            f"event field 'time' is outside years 0001-9999 once moved to UTC: {shown}"
        ) from None


def _required_string(event: Mapping[str, Any], key: str) -> str:
    if key not in event:
        raise EnvelopeError(f"event has no {key!r} field")
    value = event[key]
    if not isinstance(value, str):
        raise EnvelopeError(f"event field {key!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise EnvelopeError(f"event field {key!r} is empty")
    return value


def parse_envelope(event: Any) -> Envelope:
    """Validate the EventBridge envelope; raise a specific MalformedEventError if it is bad."""
    if not isinstance(event, dict):
        raise EnvelopeError(f"event must be a JSON object, got {type(event).__name__}")
    aws_id = _required_string(event, "id")
    detail_type = _required_string(event, "detail-type")
    source = _required_string(event, "source")
    time_text = _required_string(event, "time")
    if "detail" not in event:
        raise EnvelopeError("event has no 'detail' field")
    detail = event["detail"]
    if not isinstance(detail, dict):
        raise EnvelopeError(f"event field 'detail' must be an object, got {type(detail).__name__}")
    return Envelope(
        aws_id=aws_id,
        detail_type=detail_type,
        source=source,
        time=normalise_time(time_text),
        detail=detail,
        raw=event,
    )


def lookup(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path, or MISSING if any step is absent or not an object."""
    node: Any = event
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node
