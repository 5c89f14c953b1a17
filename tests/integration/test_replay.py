"""kahula replay on the local pipeline: the demo's events, then their whole window replayed
from the S3 archive, through the synthesized stack's real rules and persister.

One scenario (module fixture), its facts checked one by one: publish the samples (as
`make demo` does); a dry run; a replay interrupted after its first PutEvents, then resumed from
its checkpoint. Replaying what is stored must create no item and no conflict.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kahula_core import spec

from cdk_app.cli.replay import Replayer, Summary, Window
from local.demo import SAMPLES, read_entries
from local.pipeline import LocalPipeline

REPLAY_SOURCE = spec.replay_source("kahula")


class StopAfter:
    """The bus's PutEvents, interrupted (Ctrl-C) when call number ``calls + 1`` starts."""

    def __init__(self, events: Any, calls: int) -> None:
        self._events = events
        self._left = calls

    def put_events(self, **kwargs: Any) -> Any:
        if self._left == 0:
            raise KeyboardInterrupt
        self._left -= 1
        return self._events.put_events(**kwargs)


@dataclass
class Scenario:
    items_before: dict[str, tuple[str, str, str]]
    items_after: dict[str, tuple[str, str, str]]
    first: dict[str, str]  # original EventBridge id -> outcome of its first delivery
    replayed: list[tuple[str, str]] = field(default_factory=list)  # (original id, outcome)
    conflicts_first: list[str] = field(default_factory=list)  # original ids
    conflicts_replayed: list[str] = field(default_factory=list)
    dry_run: Summary | None = None
    dry_run_invocations: int = 0
    resumed: Summary | None = None
    interrupted_published: int = 0
    archived_sources_after: set[str] = field(default_factory=set)
    shipment_id: str = ""


def _items(pipeline: LocalPipeline) -> dict[str, tuple[str, str, str]]:
    return {
        k: (i["payload_hash"]["S"], i["persisted_at"]["S"], i["aws_id"]["S"])
        for k, i in pipeline.items().items()
    }


def _outcome(invocation: Any) -> str:
    return invocation.response["outcome"] if invocation.response else "failed"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    workdir = tmp_path_factory.mktemp("replay")
    started = datetime.now(UTC) - timedelta(minutes=1)
    with LocalPipeline.start(workdir, handler_log=io.StringIO()) as pipeline:
        published = pipeline.process(list(read_entries(SAMPLES, [])))
        function = pipeline.function
        first = {i.event["id"]: _outcome(i) for i in function.invocations}
        conflicts_first = [c["event"]["id"] for c in pipeline._queue("persister/conflicts")]
        facts = Scenario(
            items_before=_items(pipeline),
            items_after={},
            first=first,
            conflicts_first=conflicts_first,
            shipment_id=next(
                eid
                for eid, e in published.accepted.items()
                if e["DetailType"] == "ShipmentCreatedEvent"
            ),
        )
        window = Window(start=started, end=datetime.now(UTC) + timedelta(minutes=1))
        bucket = next(
            pipeline.topology.name(b.logical_id)
            for b in pipeline.topology.of_type("AWS::S3::Bucket")
            if b.logical_id.startswith("EventArchiveBucket")
        )

        def replayer(events: Any, **kwargs: Any) -> Replayer:
            return Replayer(
                s3=pipeline.clients.s3,
                events=events,
                bucket=bucket,
                bus_name=pipeline.bus_name,
                replay_source=REPLAY_SOURCE,
                **kwargs,
            )

        # a dry run
        before = len(function.invocations)
        facts.dry_run = replayer(pipeline.clients.events, dry_run=True).run(window)
        pipeline.run()
        facts.dry_run_invocations = len(function.invocations) - before

        # a replay interrupted after its first PutEvents, then resumed from its checkpoint
        checkpoint = Path(workdir) / "replay.checkpoint"
        interrupted = StopAfter(pipeline.clients.events, calls=1)
        with pytest.raises(KeyboardInterrupt):
            replayer(interrupted, checkpoint=checkpoint).run(window)
        pipeline.run()
        facts.interrupted_published = sum(
            1 for i in function.invocations[before:] if i.event.get("source") == REPLAY_SOURCE
        )
        facts.resumed = replayer(pipeline.clients.events, checkpoint=checkpoint).run(window)
        pipeline.run()

        facts.replayed = [
            (i.event["detail"]["id"], _outcome(i))
            for i in function.invocations[before:]
            if i.event.get("source") == REPLAY_SOURCE
        ]
        conflicts_all = [c["event"]["id"] for c in pipeline._queue("persister/conflicts")]
        facts.conflicts_replayed = conflicts_all[len(conflicts_first) :]
        facts.items_after = _items(pipeline)
        facts.archived_sources_after = {e["source"] for e in pipeline.archived_events()[0]}
    return facts


def test_replaying_the_demo_window_creates_no_item(scenario):
    # GIVEN the demo's events stored, then their whole window replayed from the archive
    # THEN the table holds exactly the same items, unchanged (same hashes, never rewritten)
    assert scenario.items_after == scenario.items_before


def test_every_stored_event_replays_as_a_duplicate(scenario):
    # GIVEN the events whose first delivery stored them (or was a duplicate)
    stored = {i for i, o in scenario.first.items() if o in ("persisted", "duplicate")}
    # THEN each replay of them is a duplicate
    replayed = dict(scenario.replayed)
    assert stored <= set(replayed)
    assert {replayed[i] for i in stored} == {"duplicate"}


def test_event_keyed_on_its_eventbridge_id_replays_as_a_duplicate(scenario):
    # GIVEN the sample without a producer id (its unique_id is its EventBridge id)
    shipment = scenario.shipment_id
    assert shipment in scenario.items_before  # keyed on the EventBridge id
    # THEN its replay, which the bus gave a new id (the wrapper's), is still that item
    assert dict(scenario.replayed)[shipment] == "duplicate"


def test_replay_conflicts_only_where_the_original_conflicted(scenario):
    # GIVEN the demo's deliberate conflict (same event id, another payload)
    assert scenario.conflicts_first
    # THEN replaying conflicts exactly that event again, and no stored event
    assert sorted(scenario.conflicts_replayed) == sorted(scenario.conflicts_first)


def test_malformed_originals_are_refused_again_with_their_reasons(scenario):
    # GIVEN the demo's malformed samples (refused at first delivery)
    failed = {i for i, o in scenario.first.items() if o == "failed"}
    assert failed
    # THEN their replays are refused too (to the failure queue with the reason), not stored
    assert {o for i, o in scenario.replayed if i in failed} == {"failed"}


def test_dry_run_publishes_nothing(scenario):
    # GIVEN a dry run of the window
    # THEN it counted the archived events and nothing reached the persister
    assert scenario.dry_run is not None
    assert scenario.dry_run.matched > 0
    assert (scenario.dry_run.published, scenario.dry_run_invocations) == (0, 0)


def test_interrupted_replay_resumes_without_duplicates_on_the_bus(scenario):
    # GIVEN a replay interrupted after its first PutEvents, then resumed from its checkpoint
    resumed = scenario.resumed
    assert resumed is not None and resumed.resumed_from is not None
    assert 0 < scenario.interrupted_published < resumed.matched + resumed.already_done
    # THEN every archived event of the window was put on the bus exactly once across both runs
    originals = [i for i, _ in scenario.replayed]
    assert len(originals) == len(set(originals))
    assert len(originals) == scenario.interrupted_published + resumed.published
    assert resumed.failed == [] and resumed.skipped == []


def test_replay_wrappers_are_not_archived(scenario):
    # GIVEN the archive after the replays
    # THEN no line is a replay wrapper (the archive rule leaves the replay source out)
    assert REPLAY_SOURCE not in scenario.archived_sources_after
