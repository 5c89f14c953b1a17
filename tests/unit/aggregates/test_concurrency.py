"""Racing writers on one aggregate: a contiguous stream, no gaps, no duplicates."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kahula_core.aggregates import ConcurrencyError, NewEvent
from kahula_core.aggregates.client import AggregateStore
from moto import mock_aws

from .conftest import REGION, TABLE, create_table

WRITERS = 8
APPENDS = 200


def test_eight_racing_writers_leave_a_contiguous_stream_and_every_loser_is_told(store):
    # GIVEN eight threads that each read the version and append one event, until 200 land
    committed: list[str] = []
    lost: list[str] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        start.wait()
        attempt = 0
        while True:
            with lock:
                if len(committed) >= APPENDS or unexpected:
                    return
            attempt += 1
            event_id = f"w{n}-{attempt}"
            version = store.version("hot")
            try:
                store.append(
                    "hot", "Counter", [NewEvent("Incremented", event_id=event_id)], version
                )
            except ConcurrencyError as exc:
                with lock:
                    lost.append(event_id)
                assert exc.expected == version and exc.actual > version
            except BaseException as exc:
                with lock:
                    unexpected.append(exc)
            else:
                with lock:
                    committed.append(event_id)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    # WHEN they race
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every failure was a ConcurrencyError, and the race really happened
    assert unexpected == []
    assert lost, "no writer ever lost: the test did not race"
    # AND the stream is 1..N with no gap, each committed event exactly once, no loser's event
    stream = store.read("hot")
    assert [e.sequence_number for e in stream] == list(range(1, len(stream) + 1))
    assert len(stream) == len(committed) >= APPENDS
    assert sorted(e.event_id for e in stream) == sorted(committed)
    assert not {e.event_id for e in stream} & set(lost)


# An operation: (writer, how far its expected version is off: <0 stale, 0 fresh, >0 ahead,
# number of events, whether to redeliver an earlier successful append instead).
operations = st.lists(
    st.tuples(st.integers(0, 3), st.integers(-3, 2), st.integers(1, 3), st.booleans()),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_interleaved_appends_match_a_model_of_optimistic_concurrency(ops: Any) -> None:
    # GIVEN a model (the list of event ids in version order) and a fresh table
    with mock_aws():
        client = boto3.client(
            "dynamodb",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        create_table(client)
        store = AggregateStore(table_name=TABLE, dynamodb=client, clock=lambda: 1_795_000_000_000)
        model: list[str] = []
        done: list[tuple[int, list[NewEvent], Any]] = []
        # WHEN each operation appends with a stale, fresh or ahead version, or redelivers
        for step, (writer, offset, count, redeliver) in enumerate(ops):
            if redeliver and done:
                expected, batch, result = done[step % len(done)]
                again = store.append("agg", "T", batch, expected)
                # THEN a redelivery returns the original result and changes nothing
                assert again == result and again.already_appended
                continue
            expected = max(0, len(model) + offset)
            batch = [NewEvent("E", event_id=f"{step}-{writer}-{i}") for i in range(count)]
            if expected == len(model):
                result = store.append("agg", "T", batch, expected)
                model += [e.event_id for e in batch]
                assert result.version == len(model)
                done.append((expected, batch, result))
            else:
                try:
                    store.append("agg", "T", batch, expected)
                except ConcurrencyError as exc:
                    # THEN a stale or ahead append is refused, naming the real version
                    assert (exc.expected, exc.actual) == (expected, len(model))
                else:
                    raise AssertionError(f"append at {expected} succeeded at {len(model)}")
        # AND the store holds exactly the model, in order, numbered 1..N
        stream = store.read("agg")
        assert [e.event_id for e in stream] == model
        assert [e.sequence_number for e in stream] == list(range(1, len(model) + 1))
