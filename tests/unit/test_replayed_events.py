"""Replayed events (kahula replay): the wrapper under the reserved replay source is persisted as
the original it carries, with the original's identity, so a replay of what is stored is a
duplicate: zero new items, zero conflicts."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kahula_core import envelope as envelope_module
from kahula_core import spec
from kahula_core.errors import EnvelopeError, InvalidTimestampError, ReplayedEventError
from kahula_core.persist import Pipeline, persist_event
from kahula_core.store import WriteOutcome

from tests.moto_resources import FOLLOW_UP_SOURCE, Resources

REPLAY_SOURCE = spec.replay_source("kahula")


def wrap(original: dict[str, Any]) -> dict[str, Any]:
    """What the bus delivers for a replayed event: a NEW EventBridge id, the reserved source,
    and the archived original, unchanged, as the detail."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": spec.REPLAY_DETAIL_TYPE,
        "source": REPLAY_SOURCE,
        "account": "123456789012",
        "time": "2026-11-22T08:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": copy.deepcopy(original),
    }


@pytest.fixture
def pipeline(aws: Resources) -> Pipeline:
    return aws.pipeline(**{spec.Env.REPLAY_SOURCE: REPLAY_SOURCE})


@pytest.fixture
def originals(event) -> list[dict[str, Any]]:
    """One event keyed on the producer's id, one keyed on its EventBridge id (no event_id)."""
    keyed_by_producer = event("order_updated")
    keyed_by_eventbridge = event("shipment_created")
    keyed_by_eventbridge["detail"].get("metadata", {}).pop("event_id", None)
    return [keyed_by_producer, keyed_by_eventbridge]


def replay_identity(pipeline: Pipeline, aws: Resources, originals: list[dict[str, Any]]) -> str:
    """Store the originals, replay each wrapped; '' when the replay created nothing new and
    conflicted with nothing, else what went wrong (the property the mutation check breaks)."""
    for original in originals:
        persist_event(original, pipeline)
    before = {i["unique_id"]["S"]: i["payload_hash"]["S"] for i in aws.items()}
    outcomes = [persist_event(wrap(original), pipeline).write for original in originals]
    after = {i["unique_id"]["S"]: i["payload_hash"]["S"] for i in aws.items()}
    problems = []
    if after != before:
        problems.append(f"items changed: {sorted(set(after) - set(before))} new")
    if any(o is not WriteOutcome.DUPLICATE for o in outcomes):
        problems.append(f"outcomes {[o.value for o in outcomes]}")
    return "; ".join(problems)


def test_replaying_stored_events_creates_no_item_and_no_conflict(aws, pipeline, originals):
    # GIVEN events already stored, one keyed on the producer's id, one on its EventBridge id
    # WHEN each is replayed wrapped (a new EventBridge id on the wrapper)
    problems = replay_identity(pipeline, aws, originals)
    # THEN each is a duplicate of its stored item: no new item, no conflict
    assert problems == ""
    assert aws.conflicts() == []


def test_replayed_event_keeps_the_original_unique_id_and_hash(pipeline, originals):
    # GIVEN an event keyed on its EventBridge id
    original = originals[1]
    # WHEN it is persisted, then replayed
    stored = persist_event(original, pipeline)
    replayed = persist_event(wrap(original), pipeline)
    # THEN the replay maps to the original's unique_id (its EventBridge id) and payload hash
    assert stored.unique_id == original["id"]
    assert (replayed.unique_id, replayed.payload_hash) == (stored.unique_id, stored.payload_hash)
    assert replayed.replayed and not stored.replayed


def test_replayed_event_not_yet_stored_is_stored_as_the_original(aws, pipeline, originals):
    # GIVEN an archived event the table lost (never stored)
    original = originals[0]
    # WHEN it is replayed
    outcome = persist_event(wrap(original), pipeline)
    # THEN the original is stored, with its own id, source, type and time, not the wrapper's
    assert outcome.write is WriteOutcome.PERSISTED
    (item,) = aws.items()
    assert item["aws_id"] == {"S": original["id"]}
    assert item["source"] == {"S": original["source"]}
    assert item["event_name"] == {"S": original["detail-type"]}
    assert item["timestamp"] == {"S": "2026-11-20T10:15:30.000000Z"}


def test_replayed_event_yields_its_follow_up_again_with_the_same_id(pipeline, originals):
    # GIVEN a stored event that yields a follow-up
    original = originals[0]
    first = persist_event(original, pipeline)
    # WHEN it is replayed
    again = persist_event(wrap(original), pipeline)
    # THEN the same follow-up (same id) is emitted, which the persister stores once
    assert [f.follow_up_id for f in again.follow_ups] == [f.follow_up_id for f in first.follow_ups]
    assert again.follow_ups


def test_replayed_follow_up_is_a_duplicate_and_yields_nothing(pipeline, event):
    # GIVEN a follow-up the persister emitted and stored (source: the follow-up source)
    follow_up = event("validatable_follow_up")
    assert follow_up["source"] == FOLLOW_UP_SOURCE
    persist_event(follow_up, pipeline)
    # WHEN it is replayed from the archive
    outcome = persist_event(wrap(follow_up), pipeline)
    # THEN it is a duplicate and yields no follow-up of its own
    assert outcome.write is WriteOutcome.DUPLICATE
    assert outcome.follow_ups == []


def test_replayed_oversize_event_is_a_duplicate_of_its_claim_checked_item(aws, pipeline, event):
    # GIVEN an event over the inline limit, stored with its detail claim-checked to S3
    big = event("order_updated")
    big["detail"]["blob"] = "x" * 360_000
    stored = persist_event(big, pipeline)
    assert stored.oversize
    # WHEN it is replayed
    outcome = persist_event(wrap(big), pipeline)
    # THEN it is a duplicate of that item (same hash), and the item is unchanged
    assert (outcome.write, outcome.oversize) == (WriteOutcome.DUPLICATE, True)
    (item,) = aws.items()
    assert "payload_claim_check" in item


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda w: w.update({"detail-type": "Other"}), "must have detail-type 'Replayed'"),
        (lambda w: w.update({"detail": {"nope": 1}}), "original event inside a replayed event"),
        (lambda w: w.update({"detail": "text"}), r"must be the original event \(an object\)"),
        (lambda w: w["detail"].update({"source": REPLAY_SOURCE}), "wraps another replayed event"),
        (lambda w: w["detail"].pop("id"), "inside a replayed event: event has no 'id' field"),
    ],
)
def test_malformed_replayed_event_is_refused_with_its_reason(pipeline, originals, mutate, reason):
    # GIVEN a wrapper under the reserved source that does not carry one valid original event
    wrapper = wrap(originals[0])
    mutate(wrapper)
    # WHEN it is persisted
    # THEN it is refused as malformed (no retry helps), naming the problem
    with pytest.raises(EnvelopeError, match=reason):
        persist_event(wrapper, pipeline)


def test_replayed_original_with_a_bad_time_keeps_its_error_type(pipeline, originals):
    # GIVEN a wrapper whose original has a time without an offset
    wrapper = wrap(originals[0])
    wrapper["detail"]["time"] = "2026-11-20T10:15:30"
    # WHEN it is persisted
    # THEN the original's own error kind is raised, saying it is the replayed original
    with pytest.raises(InvalidTimestampError, match=r"inside a replayed event: .*no UTC offset"):
        persist_event(wrapper, pipeline)


def test_without_the_replay_source_a_wrapper_is_an_ordinary_event(aws, originals):
    # GIVEN a function NOT told the reserved source (a bus that does not reserve it)
    pipeline = aws.pipeline()
    wrapper = wrap(originals[0])
    # WHEN a wrapper arrives
    outcome = persist_event(wrapper, pipeline)
    # THEN nothing is unwrapped: its content is not trusted, it is stored as itself
    assert outcome.unique_id == wrapper["id"]
    assert not outcome.replayed


def test_replay_source_is_read_from_the_environment(aws):
    # GIVEN the variable the construct sets
    # WHEN the pipeline is built
    pipeline = aws.pipeline(**{spec.Env.REPLAY_SOURCE: " kahula.replay "})
    # THEN the settings hold the source; unset or blank means None
    assert pipeline.settings.replay_source == "kahula.replay"
    assert aws.pipeline().settings.replay_source is None
    assert aws.pipeline(**{spec.Env.REPLAY_SOURCE: " "}).settings.replay_source is None


def test_wrong_replay_wrapper_type_error_is_a_replayed_event_error(pipeline, originals):
    # GIVEN a wrapper with another detail-type
    wrapper = wrap(originals[0])
    wrapper["detail-type"] = "OrderUpdatedEvent"
    # WHEN / THEN it is refused with the specific error kind
    with pytest.raises(ReplayedEventError):
        persist_event(wrapper, pipeline)


# ------------------------------------------------------------------ mutation check
# The identity property must go red when the unwrap is broken the ways a replay could lose it.

Unwrap = Callable[[Any, "str | None"], "tuple[Any, bool]"]


def _no_unwrap(event: Any, replay_source: str | None) -> tuple[Any, bool]:
    return event, False  # the wrapper is stored as itself: a new item per replay


def _wrapper_id(event: Any, replay_source: str | None) -> tuple[Any, bool]:
    original, replayed = REAL_UNWRAP(event, replay_source)
    return ({**original, "id": event["id"]} if replayed else original), replayed


def _id_in_detail(event: Any, replay_source: str | None) -> tuple[Any, bool]:
    original, replayed = REAL_UNWRAP(event, replay_source)
    if replayed:  # carry the EventBridge id inside the detail: changes the payload hash
        original = copy.deepcopy(original)
        original["detail"].setdefault("metadata", {})["event_id"] = original["id"]
        original["id"] = event["id"]
    return original, replayed


REAL_UNWRAP = envelope_module.unwrap_replayed


@pytest.fixture
def mutated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Unwrap], None]]:
    def apply(mutant: Unwrap) -> None:
        monkeypatch.setattr(envelope_module, "unwrap_replayed", mutant)

    yield apply


@pytest.mark.parametrize("mutant", [_no_unwrap, _wrapper_id, _id_in_detail])
def test_identity_check_goes_red_when_the_unwrap_is_broken(
    aws, pipeline, originals, mutated, mutant
):
    # GIVEN the unwrap broken in a way that loses the replayed event's identity
    mutated(mutant)
    # WHEN the identity check of the first test runs
    problems = replay_identity(pipeline, aws, originals)
    # THEN it reports the new items or conflicts (so that test can fail)
    assert problems != ""
