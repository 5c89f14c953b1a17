"""Queries by event type, by aggregate type and by time, across a UTC date boundary."""

from __future__ import annotations

import pytest
from kahula_core.aggregates import InvalidPositionError, NewEvent
from kahula_core.aggregates.client import AggregateStore

from .conftest import TABLE, Clock

# 2026-11-21T23:59:59.000Z: one second before a UTC date boundary.
BEFORE_MIDNIGHT = 1_795_305_599_000
HOUR = 3_600_000


def seed(store: AggregateStore, clock: Clock) -> None:
    """Three aggregates, events on both sides of midnight UTC."""
    clock.now = BEFORE_MIDNIGHT
    store.append("order-1", "Order", [NewEvent("OrderPlaced", event_id="o1-1")], 0)
    store.append("cust-1", "Customer", [NewEvent("CustomerJoined", event_id="c1-1")], 0)
    clock.advance(2_000)  # 2026-11-22T00:00:01Z
    store.append("order-2", "Order", [NewEvent("OrderPlaced", event_id="o2-1")], 0)
    store.append("order-1", "Order", [NewEvent("OrderShipped", event_id="o1-2")], 1)
    clock.advance(HOUR)
    store.append("order-3", "Order", [NewEvent("OrderPlaced", event_id="o3-1")], 0)


def test_events_by_type_span_the_date_boundary_oldest_first(store, clock):
    # GIVEN OrderPlaced events on both sides of midnight
    seed(store, clock)
    # WHEN queried by type since before midnight
    page = store.events_by_type("OrderPlaced", since=BEFORE_MIDNIGHT)
    # THEN all three come back oldest first, and nothing more is pending
    assert [e.event_id for e in page.events] == ["o1-1", "o2-1", "o3-1"]
    assert page.position is None


def test_events_by_type_since_a_time_skips_older_events(store, clock):
    seed(store, clock)
    # WHEN queried since just after midnight, THEN the earlier event is left out
    page = store.events_by_type("OrderPlaced", since=BEFORE_MIDNIGHT + 1_500)
    assert [e.event_id for e in page.events] == ["o2-1", "o3-1"]


def test_events_by_type_resume_from_the_returned_position(store, clock):
    # GIVEN three matching events, read one per page
    seed(store, clock)
    first = store.events_by_type("OrderPlaced", limit=1)
    # WHEN each next page resumes from the previous position
    second = store.events_by_type("OrderPlaced", limit=1, position=first.position)
    third = store.events_by_type("OrderPlaced", limit=2, position=second.position)
    # THEN the pages continue where they stopped, without repeats
    assert [p.events[0].event_id for p in (first, second, third)] == ["o1-1", "o2-1", "o3-1"]
    assert third.position is None


def test_events_by_aggregate_type_return_every_aggregate_of_the_type(store, clock):
    seed(store, clock)
    # WHEN queried for Orders
    page = store.events_by_aggregate_type("Order")
    # THEN every Order event comes back in time order, no Customer; two events appended in
    # the same millisecond (o2-1, o1-2) come in no promised order (the stream orders ties)
    ids = [e.event_id for e in page.events]
    assert ids[0] == "o1-1" and set(ids[1:3]) == {"o2-1", "o1-2"} and ids[3] == "o3-1"
    assert [e.timestamp for e in page.events] == sorted(e.timestamp for e in page.events)


@pytest.mark.parametrize("shards", [1, 4])
def test_stream_merges_date_buckets_and_shards_in_time_order(dynamodb, clock, shards):
    # GIVEN a store whose time index is sharded (or not), with events across midnight
    store = AggregateStore(
        table_name=TABLE, dynamodb=dynamodb, clock=clock, date_bucket_shards=shards
    )
    seed(store, clock)
    # WHEN the whole time range is streamed
    page = store.stream(since=BEFORE_MIDNIGHT - HOUR)
    # THEN every event comes back once, ordered by time, then aggregate id, then version
    assert [e.event_id for e in page.events] == ["c1-1", "o1-1", "o1-2", "o2-1", "o3-1"]
    assert page.position is None


@pytest.mark.parametrize("shards", [1, 3])
def test_stream_resumes_from_its_position_across_the_boundary(dynamodb, clock, shards):
    # GIVEN the same events, read two at a time
    store = AggregateStore(
        table_name=TABLE, dynamodb=dynamodb, clock=clock, date_bucket_shards=shards
    )
    seed(store, clock)
    seen: list[str] = []
    position = None
    # WHEN each page resumes from the last position
    for _ in range(10):
        page = store.stream(since=BEFORE_MIDNIGHT - HOUR, limit=2, position=position)
        seen += [e.event_id for e in page.events]
        position = page.position
        if position is None:
            break
    # THEN the pages add up to the whole stream, in order, without repeats
    assert seen == ["c1-1", "o1-1", "o1-2", "o2-1", "o3-1"]


def test_stream_until_excludes_later_events(store, clock):
    seed(store, clock)
    # WHEN streamed up to just after midnight, THEN the event an hour later is left out
    page = store.stream(since=BEFORE_MIDNIGHT - HOUR, until=BEFORE_MIDNIGHT + 2_000)
    assert [e.event_id for e in page.events] == ["c1-1", "o1-1", "o1-2", "o2-1"]


def test_a_position_from_another_query_is_refused(store, clock):
    # GIVEN a position made by a query by event type
    seed(store, clock)
    position = store.events_by_type("OrderPlaced", limit=1).position
    assert position is not None
    # WHEN it is passed to the stream or to another type's query, THEN it is refused
    with pytest.raises(InvalidPositionError):
        store.stream(position=position)
    with pytest.raises(InvalidPositionError, match="another event_type"):
        store.events_by_type("OrderShipped", position=position)
    with pytest.raises(InvalidPositionError):
        store.events_by_type("OrderPlaced", position="not a token!")


def test_stream_over_a_long_quiet_stretch_returns_a_position_to_go_on(store, clock):
    # GIVEN events 40 days after the start of the requested range
    seed(store, clock)
    since = BEFORE_MIDNIGHT - 40 * 24 * HOUR
    # WHEN streamed from there
    first = store.stream(since=since)
    # THEN the call stops after 31 empty days with a position, and resuming finds the events
    assert first.events == [] and first.position is not None
    second = store.stream(since=since, position=first.position)
    assert [e.event_id for e in second.events] == ["c1-1", "o1-1", "o1-2", "o2-1", "o3-1"]
