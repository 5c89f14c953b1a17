"""The EventBridge envelope: validated fields, the event time in its one canonical form, and
lookups by dotted path.

Canonical time: ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, always 27 characters (microseconds
always written, the year always four digits), so comparing two stored times as strings is
comparing them as instants: a ``timestamp`` index sorts in time order. Any ISO-8601 form
Python's ``datetime.fromisoformat`` reads is accepted if it carries a UTC offset; one without
an offset, one that is not ISO-8601, or one whose instant falls outside years 0001-9999 once
moved to UTC is refused with InvalidTimestampError.

Replayed events (``kahula replay``): the replay tool puts each archived event back on the bus
wrapped, under the reserved source ``spec.replay_source(prefix)`` with detail-type
``spec.REPLAY_DETAIL_TYPE`` and the archived event, unchanged, as its detail. PutEvents always
gives an event a new EventBridge id, so the original cannot travel as itself without losing its
identity; inside the wrapper it keeps its ``id``, ``time``, ``source``, ``detail-type`` and
``detail``, so it maps to the same unique_id and payload_hash: a duplicate, never a new item or
a conflict. :func:`parse_event` unwraps it, only when the function is told the reserved source
(the bus denies that source to every principal but the replay role, so its content is
trusted), and then validates the original like any other event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import spec
from .errors import EnvelopeError, InvalidTimestampError, MalformedEventError, ReplayedEventError

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
    replayed: bool = False  # it arrived wrapped by the replay tool (see the module docstring)


def format_utc(moment: datetime) -> str:
    """An aware datetime in the canonical fixed-width UTC form."""
    # isoformat pads the year to four digits and, in UTC, always ends "+00:00"
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


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
    if not value or value.isspace():
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


def unwrap_replayed(event: Any, replay_source: str | None) -> tuple[Any, bool]:
    """(the original event, True) for a wrapper under ``replay_source``; (event, False) for
    every other event. A wrapper that does not hold one original event is refused with its
    reason (ReplayedEventError): it is malformed, like any event that cannot be stored."""
    if replay_source is None or not isinstance(event, dict):
        return event, False
    if event.get("source") != replay_source:
        return event, False
    detail_type = event.get("detail-type")
    if detail_type != spec.REPLAY_DETAIL_TYPE:
        raise ReplayedEventError(
            f"an event from the reserved replay source {replay_source!r} must have detail-type "
            f"{spec.REPLAY_DETAIL_TYPE!r}, got {str(detail_type)[:64]!r}"
        )
    original = event.get("detail")
    if not isinstance(original, dict):
        raise ReplayedEventError(
            "a replayed event's detail must be the original event (an object), got "
            f"{type(original).__name__}"
        )
    if original.get("source") == replay_source:
        raise ReplayedEventError(
            "a replayed event wraps another replayed event; replay the original event instead"
        )
    return original, True


def parse_event(event: Any, replay_source: str | None = None) -> Envelope:
    """The envelope of ``event``, or of the original inside a replayed event (unwrapped only
    when ``replay_source`` is given). Refused with a MalformedEventError naming the problem;
    for a replayed event the reason says it is the original that is malformed."""
    original, replayed = unwrap_replayed(event, replay_source)
    if not replayed:
        return parse_envelope(original)
    try:
        envelope = parse_envelope(original)
    except MalformedEventError as exc:
        raise type(exc)(f"the original event inside a replayed event: {exc}") from None
    return Envelope(
        aws_id=envelope.aws_id,
        detail_type=envelope.detail_type,
        source=envelope.source,
        time=envelope.time,
        detail=envelope.detail,
        raw=envelope.raw,
        replayed=True,
    )


def lookup(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path, or MISSING if any step is absent or not an object."""
    node: Any = event
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node
