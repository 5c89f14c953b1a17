"""The README's "event sourcing with the store" examples, executed as written."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import TABLE


def test_raw_client_example_appends_reads_and_rejects_a_stale_writer(dynamodb: Any) -> None:
    # --8<-- [start:client]
    from kahula_core.aggregates import ConcurrencyError, NewEvent
    from kahula_core.aggregates.client import AggregateStore

    store = AggregateStore(table_name=TABLE, dynamodb=dynamodb)  # or dynamodb=None: lazy boto3

    placed = NewEvent("OrderPlaced", {"sku": "A-1", "qty": 2}, {"user": "u-7"}, event_id="cmd-1")
    store.append("order-42", "Order", [placed], expected_version=0)

    history = store.read("order-42")  # ordered, strongly consistent
    version = history[-1].sequence_number  # 1
    store.append("order-42", "Order", [NewEvent("OrderPaid", event_id="cmd-2")], version)

    try:  # a writer that still believes the order is at version 1
        store.append("order-42", "Order", [NewEvent("OrderCancelled")], expected_version=1)
    except ConcurrencyError as conflict:
        print(conflict.expected, conflict.actual)  # 1 2: reload, decide again
    # --8<-- [end:client]
    assert [e.event_type for e in store.read("order-42")] == ["OrderPlaced", "OrderPaid"]


def test_eventsourcing_example_saves_and_reloads_an_aggregate(dynamodb: Any) -> None:
    pytest.importorskip("eventsourcing")
    # --8<-- [start:eventsourcing]
    from eventsourcing.application import Repository
    from eventsourcing.domain import Aggregate, event
    from eventsourcing.persistence import (
        DatetimeAsISO,
        EventStore,
        JSONTranscoder,
        Mapper,
        UUIDAsHex,
    )
    from kahula_core.aggregates.client import AggregateStore
    from kahula_core.aggregates.eventsourcing_recorder import DynamoDBAggregateRecorder

    class Dog(Aggregate):
        @event("Registered")
        def __init__(self, name: str) -> None:
            self.name = name
            self.tricks: list[str] = []

        @event("TrickAdded")
        def add_trick(self, trick: str) -> None:
            self.tricks.append(trick)

    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    events = EventStore(
        mapper=Mapper(transcoder=transcoder),
        recorder=DynamoDBAggregateRecorder(AggregateStore(table_name=TABLE, dynamodb=dynamodb)),
    )
    dogs = Repository(event_store=events)

    dog = Dog("Fido")
    dog.add_trick("roll over")
    events.put(dog.collect_events())  # one transaction; a stale save raises IntegrityError

    assert dogs.get(dog.id).tricks == ["roll over"]
    # --8<-- [end:eventsourcing]
    stored = AggregateStore(table_name=TABLE, dynamodb=dynamodb).read(str(dog.id))
    assert [(e.aggregate_type, e.event_type) for e in stored] == [
        ("Dog", "Dog.Registered"),
        ("Dog", "Dog.TrickAdded"),
    ]
