"""The aggregate store's outbox on the local pipeline: stream -> pipe -> bus -> persister.

One scenario on the synthesized dev stack (moto server): appends through the client, the pipe
emulation (local/pipes.py) reading the table's stream as the template's pipe declares, and the
existing routing delivering to the persister and the archive.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from kahula_core.aggregates import ConcurrencyError, NewEvent

from local.pipeline import Ledger, LocalPipeline, Published
from local.pipes import aggregate_store

SOURCE = "kahula.aggregate-store"  # the dev stack's outbox source ({prefix}.aggregate-store)


@dataclass
class Scenario:
    pipeline: LocalPipeline
    appended: dict[str, tuple[str, str, int, str]]  # event id -> aggregate, type, seq, event type
    first: dict[str, dict[str, Any]]  # what the first pump published
    after_failed_appends: dict[str, dict[str, Any]]
    after_a_modify: dict[str, dict[str, Any]]
    conflicts: list[ConcurrencyError]
    redelivered: Published
    ledger: Ledger


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("outbox")
    with LocalPipeline.start(workdir, handler_log=io.StringIO()) as pipeline:
        store = aggregate_store(pipeline.topology, pipeline.clients.dynamodb)
        # GIVEN three committed appends to two aggregates (one of them two events at once)
        store.append(
            "order-42",
            "Order",
            [
                NewEvent("OrderPlaced", {"sku": "A-1", "qty": 2}, {"user": "u-7"}, "cmd-1"),
                NewEvent("OrderPaid", {"amount": 129.95}, event_id="cmd-2"),
            ],
            expected_version=0,
        )
        store.append("order-42", "Order", [NewEvent("OrderShipped", event_id="cmd-3")], 2)
        store.append("cart-7", "Cart", [NewEvent("ItemAdded", {"sku": "B-2"}, {}, "cmd-4")], 0)
        appended = {
            "cmd-1": ("order-42", "Order", 1, "OrderPlaced"),
            "cmd-2": ("order-42", "Order", 2, "OrderPaid"),
            "cmd-3": ("order-42", "Order", 3, "OrderShipped"),
            "cmd-4": ("cart-7", "Cart", 1, "ItemAdded"),
        }
        pipeline.run()
        first = dict(pipeline.outbox.accepted)

        # WHEN appends fail: a stale writer (its positions are taken) and a writer ahead of
        # the stream (its positions are free, the version check fails), then a pump
        conflicts = []
        for expected in (1, 9):
            try:
                store.append("order-42", "Order", [NewEvent("OrderCancelled")], expected)
            except ConcurrencyError as conflict:
                conflicts.append(conflict)
        pipeline.run()
        after_failed = {k: v for k, v in pipeline.outbox.accepted.items() if k not in first}

        # an update of a stored event (a MODIFY record: the pipe's filter passes INSERT only)
        pipeline.clients.dynamodb.update_item(
            TableName=store.table_name,
            Key={"aggregate_id": {"S": "cart-7"}, "sequence_number": {"N": "1"}},
            UpdateExpression="SET touched = :t",
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )
        pipeline.run()
        after_modify = {k: v for k, v in pipeline.outbox.accepted.items() if k not in first}

        # a pipe retry delivers the same events again (new EventBridge ids, same event ids)
        redelivered = pipeline.publish(list(first.values()))
        pipeline.run()
        ledger = pipeline.account(
            Published(accepted={**first, **redelivered.accepted}, rejected=redelivered.rejected)
        )
        yield Scenario(
            pipeline,
            appended,
            first,
            after_failed,
            after_modify,
            conflicts,
            redelivered,
            ledger,
        )


def _details(published: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        json.loads(e["Detail"])["metadata"]["event_id"]: {**e, "Detail": json.loads(e["Detail"])}
        for e in published.values()
    }


def test_the_outbox_publishes_each_committed_event_once_with_its_position(scenario):
    # THEN each committed event is on the bus once, under the store's source, its event type
    # as detail-type, with its aggregate id, type and sequence number
    details = _details(scenario.first)
    assert len(scenario.first) == len(scenario.appended)
    assert set(details) == set(scenario.appended)
    for event_id, (aggregate_id, aggregate_type, sequence, event_type) in scenario.appended.items():
        entry = details[event_id]
        assert entry["Source"] == SOURCE
        assert entry["DetailType"] == event_type
        metadata = entry["Detail"]["metadata"]
        assert metadata["aggregate_id"] == aggregate_id
        assert metadata["aggregate_type"] == aggregate_type
        assert metadata["domain"] == aggregate_type
        assert metadata["sequence_number"] == str(sequence)
        assert metadata["event_type"] == event_type


def test_the_outbox_keeps_data_and_metadata_in_dynamodbs_typed_form(scenario):
    placed = _details(scenario.first)["cmd-1"]["Detail"]
    assert placed["data"] == {"sku": {"S": "A-1"}, "qty": {"N": "2"}}
    assert placed["event_metadata"] == {"user": {"S": "u-7"}}
    assert placed["metadata"]["schema_version"] == "1"
    assert placed["metadata"]["recorded_at_ms"].isdigit()


def test_the_outbox_publishes_each_aggregates_events_in_sequence_order(scenario):
    published = [
        json.loads(e["Detail"])["metadata"]
        for e in scenario.first.values()
        if json.loads(e["Detail"])["metadata"]["aggregate_id"] == "order-42"
    ]
    assert [m["sequence_number"] for m in published] == ["1", "2", "3"]


def test_a_failed_append_publishes_nothing(scenario):
    # THEN both writers got a ConcurrencyError and no event of theirs reached the bus
    assert [(c.expected, c.actual) for c in scenario.conflicts] == [(1, 3), (9, 3)]
    assert scenario.after_failed_appends == {}


def test_a_second_pump_publishes_nothing_new_and_updates_are_not_events(scenario):
    # THEN the pipe resumed after what it had read: a MODIFY record does not pass its filter
    assert scenario.after_a_modify == {}
    (pipe,) = scenario.pipeline.pipes.pipes
    assert pipe.stats.published == len(scenario.appended)
    assert pipe.stats.filtered_out == 1
    assert pipe.stats.dead_lettered == 0


def test_the_persister_stores_each_outbox_event_exactly_once_under_its_event_id(scenario):
    items = scenario.pipeline.items()
    for event_id, (_, _, _, event_type) in scenario.appended.items():
        item = items[event_id]
        assert item["event_name"]["S"] == event_type
        assert item["source"]["S"] == SOURCE
    # the redelivered copies were duplicates, not new items
    ledger = scenario.ledger
    assert ledger.persisted == len(scenario.appended)
    assert ledger.duplicates == len(scenario.redelivered.accepted) == len(scenario.appended)
    assert ledger.conflicts == []
    assert ledger.items_in_table == len(scenario.appended)


def test_every_outbox_event_is_archived_and_nothing_is_lost(scenario):
    archived, _ = scenario.pipeline.archived_events()
    archived_ids = {e["detail"]["metadata"]["event_id"] for e in archived if e["source"] == SOURCE}
    assert archived_ids == set(scenario.appended)
    assert scenario.ledger.lost == []
