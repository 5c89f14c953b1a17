"""What goes into the store and what comes out of it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _new_event_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class NewEvent:
    """An event to append. Give ``event_id`` a stable value (derived from the command) if
    the append may be redelivered: the same ids at the same positions are then recognised
    as already appended instead of being reported as a conflict."""

    event_type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=_new_event_id)
    schema_version: int = 1


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: numbers come back as ``Decimal`` (exact), binary as ``bytes``."""

    aggregate_id: str
    aggregate_type: str
    sequence_number: int
    event_type: str
    data: Mapping[str, Any]
    metadata: Mapping[str, Any]
    timestamp: int
    schema_version: int
    event_id: str


@dataclass(frozen=True)
class AppendResult:
    """The outcome of an append. ``version`` is the aggregate's version after it (the last
    sequence number written); pass it as the next ``expected_version``.

    ``already_appended`` is true when this call found its events already stored (a
    redelivery); it is left out of equality so a redelivery's result equals the original.
    """

    aggregate_id: str
    version: int
    sequence_numbers: tuple[int, ...]
    event_ids: tuple[str, ...]
    timestamp: int
    already_appended: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Page:
    """One page of a query. ``position`` resumes after the last event; ``None`` means the
    query has nothing more now (the time index may still grow: call again later with the
    last position you had)."""

    events: list[RecordedEvent]
    position: str | None


@dataclass(frozen=True)
class NewRecord:
    """A low-level record for :meth:`AggregateStore.record`: an explicit position, no
    version check beyond "this position is free". The eventsourcing adapter uses it."""

    aggregate_id: str
    aggregate_type: str
    sequence_number: int
    event: NewEvent
