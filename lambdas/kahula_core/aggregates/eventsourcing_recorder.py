"""The ``eventsourcing`` library's :class:`AggregateRecorder` on the aggregate event store.

An ``eventsourcing`` event store (``EventStore(mapper, recorder)``) and ``Repository`` can
persist to this table through :class:`DynamoDBAggregateRecorder`; the library's own
conformance suite (``AggregateRecorderTestCase``) passes against it on moto.

Mapping: ``originator_id`` -> ``aggregate_id`` (as text), ``originator_version`` ->
``sequence_number``, the topic's last two names (``Dog.Registered``) -> ``event_type``,
the class that holds the event (``Dog``) -> ``aggregate_type``; ``event_data`` holds
``{"topic", "state"}`` with the state as binary (the mapper may compress or encrypt it),
and ``event_id`` is ``<aggregate_id>/<version>``, the position itself, so a redelivery of the
same stored event maps to the same bus event id.

Not offered: ``ApplicationRecorder`` (a totally ordered, gap-free notification log). Its
ids must be contiguous integers assigned in commit order across every aggregate; in
DynamoDB that needs one counter item that every append updates in its transaction, which
caps the whole store at one partition's write rate (1,000 units/s) and turns every pair of
concurrent appends into a transaction conflict. The time index gives an ordered (by writer
clock) but not gap-free feed; the outbox gives a per-aggregate ordered feed on the bus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)

from .client import MAX_NAME_CHARS, AggregateStore
from .errors import (
    AggregateStoreError,
    InvalidEventError,
    PositionTakenError,
    RetryableStoreError,
    StoreConfigurationError,
)
from .model import NewEvent, NewRecord

TOPIC = "topic"
STATE = "state"


class DynamoDBAggregateRecorder(AggregateRecorder):
    """Stores ``eventsourcing`` stored events as aggregate store items.

    ``aggregate_id_prefix`` keeps two recorders on one table apart: give the snapshot
    recorder ``"snapshot#"`` so a snapshot at version 3 does not take event 3's position.
    ``default_aggregate_type`` is used when a topic has no class part.
    """

    def __init__(
        self,
        store: AggregateStore,
        *,
        aggregate_id_prefix: str = "",
        default_aggregate_type: str = "eventsourcing",
    ) -> None:
        self.store = store
        self.aggregate_id_prefix = aggregate_id_prefix
        self.default_aggregate_type = default_aggregate_type

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        records = [self._record(e) for e in stored_events]
        if not records:
            return None
        try:
            self.store.record(records)
        except PositionTakenError as exc:
            raise IntegrityError(str(exc)) from exc
        except InvalidEventError as exc:
            raise DataError(str(exc)) from exc
        except RetryableStoreError as exc:
            raise OperationalError(str(exc)) from exc
        except StoreConfigurationError as exc:
            raise InterfaceError(str(exc)) from exc
        except AggregateStoreError as exc:
            raise PersistenceError(str(exc)) from exc
        return None

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        try:
            events = list(
                self.store.iter_events(
                    self._aggregate_id(originator_id),
                    gt=gt,
                    lte=lte,
                    descending=desc,
                    limit=limit,
                )
            )
        except RetryableStoreError as exc:
            raise OperationalError(str(exc)) from exc
        except AggregateStoreError as exc:
            raise PersistenceError(str(exc)) from exc
        return [
            StoredEvent(
                originator_id=originator_id,
                originator_version=e.sequence_number,
                topic=str(e.data[TOPIC]),
                state=bytes(e.data[STATE]),
            )
            for e in events
        ]

    # ------------------------------------------------------------------ mapping
    def _aggregate_id(self, originator_id: UUID | str) -> str:
        return f"{self.aggregate_id_prefix}{originator_id}"

    def _record(self, stored: StoredEvent) -> NewRecord:
        aggregate_id = self._aggregate_id(stored.originator_id)
        qualname = (stored.topic.rpartition(":")[2] or stored.topic).split(".")
        aggregate_type = qualname[-2] if len(qualname) > 1 else self.default_aggregate_type
        event_type = ".".join(qualname[-2:])
        return NewRecord(
            aggregate_id=aggregate_id,
            aggregate_type=aggregate_type[:MAX_NAME_CHARS],
            sequence_number=stored.originator_version,
            event=NewEvent(
                event_type=event_type[-MAX_NAME_CHARS:],
                data={TOPIC: stored.topic, STATE: stored.state},
                event_id=f"{aggregate_id}/{stored.originator_version}",
            ),
        )
