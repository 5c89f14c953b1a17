"""The synthesized dev stack, run on a local moto server, end to end."""

from __future__ import annotations

import io
import json

import pytest
from kahula_core.attributes import from_attribute_value

from local.demo import SAMPLES, read_entries
from local.pipeline import LocalPipeline


def entry(source, detail_type, detail):
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}


EVENTS = [
    entry("orders.service", "OrderUpdatedEvent", {"metadata": {"event_id": "o-1"}, "n": 1}),
    entry("customers.validator", "CustomerValidatedEvent", {"metadata": {"event_id": "c-1"}}),
    entry("logistics.shipping", "ShipmentCreatedEvent", {"shipment": "S-1", "kg": 2.5}),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("local")
    with LocalPipeline.start(workdir, handler_log=io.StringIO()) as pipeline:
        published = pipeline.publish(EVENTS)
        pipeline.run()
        yield pipeline, published


def test_every_published_event_is_accepted(run):
    _, published = run
    assert len(published.accepted) == len(EVENTS)
    assert published.rejected == []


def test_each_published_event_has_its_item(run):
    pipeline, published = run
    table = pipeline.topology.name(pipeline.topology.of_type("AWS::DynamoDB::Table")[0].logical_id)
    expected_ids = {"o-1", "c-1"} | {
        eid for eid, e in published.accepted.items() if e["DetailType"] == "ShipmentCreatedEvent"
    }
    for unique_id in expected_ids:
        item = pipeline.clients.dynamodb.get_item(
            TableName=table, Key={"unique_id": {"S": unique_id}}, ConsistentRead=True
        )["Item"]
        event = next(
            e
            for eid, e in published.accepted.items()
            if unique_id in (eid, json.loads(e["Detail"]).get("metadata", {}).get("event_id"))
        )
        assert item["event_name"]["S"] == event["DetailType"]
        assert from_attribute_value(item["payload"]) == json.loads(event["Detail"])


def test_archive_lines_parse_as_the_published_events(run):
    pipeline, published = run
    archived, objects = pipeline.archived_events()
    assert objects, "no archive object was written"
    assert all(key.startswith("events/year=") and key.endswith(".json.gz") for key, _ in objects)
    by_id = {e["id"]: e for e in archived}
    for event_id, entry_ in published.accepted.items():
        line = by_id[event_id]
        assert line["source"] == entry_["Source"]
        assert line["detail-type"] == entry_["DetailType"]
        assert line["detail"] == json.loads(entry_["Detail"])


def test_follow_ups_landed_in_their_queues(run):
    pipeline, _ = run
    received = {
        detail_type: [m["detail"] for q in queues for m in pipeline._drain_queue(q)]
        for detail_type, queues in pipeline.follow_up_queues().items()
    }
    assert [d["source_unique_id"] for d in received["ValidatableEvent"]] == ["o-1"]
    assert [d["source_unique_id"] for d in received["IndexableEvent"]] == ["c-1"]


def test_follow_ups_are_persisted_and_archived_too(run):
    pipeline, _ = run
    items = pipeline.items()
    follow_up_items = [i for i in items.values() if i["source"]["S"] == "kahula.event-persister"]
    assert sorted(i["event_name"]["S"] for i in follow_up_items) == [
        "IndexableEvent",
        "ValidatableEvent",
    ]


def test_shipped_samples_cover_what_the_demo_promises():
    bad: list = []
    entries = list(read_entries(SAMPLES, bad))
    assert bad == []
    names = [e["DetailType"] for e in entries]
    assert any(n.endswith("UpdatedEvent") for n in names)
    assert any(n.endswith("ValidatedEvent") for n in names)
    ids = [json.loads(e["Detail"]).get("metadata", {}).get("event_id") for e in entries]
    assert any(ids.count(i) > 1 for i in ids if isinstance(i, str))  # a duplicate
    assert max(len(e["Detail"]) for e in entries) > 400_000  # an oversize event
    assert any(not isinstance(i, (str, type(None))) for i in ids)  # a malformed one
