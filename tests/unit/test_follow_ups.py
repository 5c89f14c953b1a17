"""Follow-up rules and the emitter's retry behaviour, with a fake EventBridge client."""

from __future__ import annotations

import json

import pytest
from kahula_core import spec
from kahula_core.errors import FollowUpEmissionError
from kahula_core.follow_ups import FollowUp, FollowUpEmitter, follow_up_id, follow_up_type

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
    assert follow_up_type(event_name, "orders.service", follow_up_source=SOURCE) == expected


def test_nothing_from_the_follow_up_source_yields_a_follow_up():
    assert follow_up_type("OrderUpdatedEvent", SOURCE, follow_up_source=SOURCE) is None


def test_configured_rules_replace_the_defaults():
    # GIVEN a third rule given as configuration
    rules = (*spec.DEFAULT_FOLLOW_UP_RULES, spec.FollowUpRule("ShippedEvent", "ArchivableEvent"))
    # THEN it yields its type, and the defaults still hold
    assert follow_up_type("OrderShippedEvent", "o.s", follow_up_source=SOURCE, rules=rules) == (
        "ArchivableEvent"
    )
    assert follow_up_type("OrderUpdatedEvent", "o.s", follow_up_source=SOURCE, rules=rules) == (
        "ValidatableEvent"
    )
    # and without it, the same event yields nothing
    assert follow_up_type("OrderShippedEvent", "o.s", follow_up_source=SOURCE) is None


def test_follow_up_id_is_deterministic_and_distinct_per_type_and_event():
    # A published value: consumers may already hold ids made with it, so it must never change.
    assert follow_up_id("ValidatableEvent", "a") == "b8254c43-bf04-57f9-92dc-fcbd7eea14e3"
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


def emitter(fake, attempts=4, jitter=0.5):
    sleeps: list[float] = []
    e = FollowUpEmitter(
        events_client=lambda: fake,
        bus_name="bus",
        source=SOURCE,
        attempts=attempts,
        base_delay_seconds=0.05,
        sleep=sleeps.append,
        jitter=lambda: jitter,
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
    assert sleeps == [0.05, 0.1]  # base, then doubled (jitter factor 1.0 here)


@pytest.mark.parametrize(("jitter", "factor"), [(0.0, 0.5), (0.999, 1.499)])
def test_backoff_doubles_per_retry_within_its_jitter_band(jitter, factor):
    e, _ = emitter(FakeEvents([]), jitter=jitter)
    assert [round(e.delay(n), 6) for n in (1, 2, 3)] == [
        round(0.05 * 2 ** (n - 1) * factor, 6) for n in (1, 2, 3)
    ]


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
    assert caught.value.failed_entries == 3


class ShortAnswers(FakeEvents):
    """PutEvents answering the first call with fewer results than entries (one of them a
    failure): never seen from AWS, and exactly where a follow-up could be dropped unnoticed."""

    def put_events(self, Entries):
        response = super().put_events(Entries)
        if len(self.calls) == 1:
            response["Entries"] = response["Entries"][:2]
        return response


def test_entries_put_events_does_not_answer_are_retried_with_the_failed_ones():
    # GIVEN four follow-ups, the second refused and the last two not answered at all
    fake = ShortAnswers([{1}, set()])
    e, _ = emitter(fake)
    # WHEN emitted
    report = e.emit(follow_ups(4))
    # THEN the refused one and both unanswered ones are sent again, none of them dropped
    assert [json.loads(entry["Detail"])["follow_up_id"] for entry in fake.calls[1]] == [
        "id1",
        "id2",
        "id3",
    ]
    assert report.emitted == 4
    assert report.failed_entries == 3


def test_entries_never_answered_raise_naming_why():
    class NeverAnswers(FakeEvents):
        def put_events(self, Entries):
            self.calls.append(Entries)
            return {"FailedEntryCount": 0, "Entries": []}

    e, _ = emitter(NeverAnswers([]), attempts=2)
    with pytest.raises(FollowUpEmissionError, match="NoResult") as caught:
        e.emit(follow_ups(2))
    assert caught.value.failed_entries == 4
    assert caught.value.emitted == 0
