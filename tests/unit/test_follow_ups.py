"""Follow-up rules and the emitter's retry behaviour, with a fake EventBridge client."""

from __future__ import annotations

import pytest
from persister.errors import FollowUpEmissionError
from persister.follow_ups import (
    FOLLOW_UP_DETAIL_TYPES,
    FollowUp,
    FollowUpEmitter,
    follow_up_id,
    follow_up_type,
)

SOURCE = "kahula.event-persister"


@pytest.mark.parametrize(
    ("event_name", "expected"),
    [
        ("OrderUpdatedEvent", "ValidatableEvent"),
        ("UpdatedEvent", "ValidatableEvent"),
        ("CustomerValidatedEvent", "IndexableEvent"),
        ("ValidatedEvent", "IndexableEvent"),
        ("OrderCreatedEvent", None),
        ("OrderUpdated", None),
        ("UpdatedEventV2", None),
        ("orderupdatedevent", None),
        ("ValidatableEvent", None),
        ("IndexableEvent", None),
    ],
)
def test_follow_up_rule(event_name, expected):
    assert follow_up_type(event_name, "orders.service", SOURCE) == expected


def test_nothing_from_the_follow_up_source_yields_a_follow_up():
    assert follow_up_type("OrderUpdatedEvent", SOURCE, SOURCE) is None


def test_follow_up_types_never_match_a_producing_suffix():
    for detail_type in FOLLOW_UP_DETAIL_TYPES:
        assert follow_up_type(detail_type, "any.source", SOURCE) is None


def test_follow_up_id_is_deterministic_and_distinct_per_type_and_event():
    assert follow_up_id("ValidatableEvent", "a") == follow_up_id("ValidatableEvent", "a")
    assert follow_up_id("ValidatableEvent", "a") != follow_up_id("IndexableEvent", "a")
    assert follow_up_id("ValidatableEvent", "a") != follow_up_id("ValidatableEvent", "b")


class FakeEvents:
    """Answers PutEvents from a script of per-call failure sets (indexes to reject)."""

    def __init__(self, script):
        self.script = list(script)
        self.calls: list[list[dict]] = []

    def put_events(self, Entries):
        self.calls.append(Entries)
        reject = self.script.pop(0) if self.script else set()
        results = [
            {"ErrorCode": "ThrottlingException"} if i in reject else {"EventId": f"e{i}"}
            for i in range(len(Entries))
        ]
        return {"FailedEntryCount": len(reject), "Entries": results}


def emitter(fake, attempts=4):
    sleeps: list[float] = []
    e = FollowUpEmitter(
        events_client=lambda: fake,
        bus_name="bus",
        source=SOURCE,
        attempts=attempts,
        sleep=sleeps.append,
    )
    return e, sleeps


def follow_ups(n):
    return [FollowUp("ValidatableEvent", f"id{i}", {"follow_up_id": f"id{i}"}) for i in range(n)]


def test_only_failed_entries_are_retried_with_backoff():
    fake = FakeEvents([{1, 3}, {0}, set()])
    e, sleeps = emitter(fake)
    report = e.emit(follow_ups(4))
    assert [len(c) for c in fake.calls] == [4, 2, 1]
    assert fake.calls[1][0]["Detail"] == fake.calls[0][1]["Detail"]
    assert report.emitted == 4
    assert report.failed_entries == 3
    assert len(sleeps) == 2
    assert sleeps[1] > sleeps[0] * 0.5  # exponential with jitter: the second wait is longer


def test_more_than_ten_entries_go_in_batches_of_ten():
    fake = FakeEvents([])
    e, _ = emitter(fake)
    assert e.emit(follow_ups(23)).emitted == 23
    assert [len(c) for c in fake.calls] == [10, 10, 3]


def test_entries_still_failing_after_all_attempts_raise_with_the_codes():
    fake = FakeEvents([{0}] * 3)
    e, _ = emitter(fake, attempts=3)
    with pytest.raises(FollowUpEmissionError, match="ThrottlingException") as caught:
        e.emit(follow_ups(1))
    assert len(fake.calls) == 3
    assert caught.value.report.failed_entries == 3
