"""Reliability under faults and duplicate storms: exactly once, nothing silently dropped."""

from __future__ import annotations

import collections
import concurrent.futures
import copy
import random

import boto3
import pytest
from kahula_core.persist import persist_event
from kahula_core.store import WriteOutcome

from local.faults import STANDARD, FaultPlan, run
from local.moto_server import moto_server
from tests.moto_resources import REGION, provision

from ..conftest import load_event


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    plan = FaultPlan(**STANDARD, seed=3)
    return run(150, plan, tmp_path_factory.mktemp("faults"))


def test_every_kind_of_fault_was_injected_and_retried(faulty_run):
    assert set(faulty_run.injected) == {
        "dynamodb throttling (400)",
        "dynamodb 5xx",
        "PutEvents entries failed",
        "PutEvents response lost after success",
        "crash between write and follow-up",
        "firehose delivery failed",
    }
    assert faulty_run.sdk_retries > 0
    assert faulty_run.lambda_retries > 0


def test_every_event_is_persisted_exactly_once(faulty_run):
    assert faulty_run.stored_ids == faulty_run.expected_ids
    assert faulty_run.quarantined["conflicts queue"] == 0


def test_every_due_follow_up_is_emitted_with_a_stable_id(faulty_run):
    assert faulty_run.ledger.missing_follow_ups == []
    assert faulty_run.follow_ups_received >= faulty_run.follow_ups_due > 0
    # Some follow-ups really went out twice (lost responses, crashes), and every source
    # event's copies carry one id, which is stored once.
    assert faulty_run.follow_ups_sent_more_than_once > 0
    assert faulty_run.follow_up_ids_stable


def test_nothing_is_silently_dropped(faulty_run):
    assert faulty_run.ledger.lost == []
    for _event_id, reason in faulty_run.ledger.failed:
        assert "injected" in reason  # kept with its reason, ready to redrive


# --------------------------------------------------------------------------- duplicate storm


@pytest.fixture
def storm():
    """The shared resources on a moto server (real HTTP, concurrent requests)."""
    with moto_server() as endpoint:
        session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
        )
        yield provision(lambda service: session.client(service, endpoint_url=endpoint))


def test_duplicate_storm_stores_one_item_per_event_and_no_false_conflicts(storm):
    pipeline = storm.pipeline()
    # GIVEN 60 distinct events, each delivered three times, shuffled: an event with a producer
    # id is resent by its producer (a NEW EventBridge id each time); one without is redelivered
    # by EventBridge (the same id)
    deliveries = []
    for i in range(60):
        event = load_event("order_updated" if i % 2 else "shipment_created")
        event["id"] = f"eb-{i}"
        if i % 2:
            event["detail"]["metadata"]["event_id"] = f"order-{i}"
        for attempt in range(3):
            delivery = copy.deepcopy(event)
            if i % 2:
                delivery["id"] = f"eb-{i}-retry-{attempt}"
            deliveries.append(delivery)
    random.Random(5).shuffle(deliveries)
    # WHEN they are handled concurrently
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda e: persist_event(e, pipeline), deliveries))
    # THEN exactly one write per event stored it, the other two are duplicates, nothing else
    writes = collections.Counter(o.write for o in outcomes)
    assert writes == {WriteOutcome.PERSISTED: 60, WriteOutcome.DUPLICATE: 120}
    items = storm.items()
    assert sorted(i["unique_id"]["S"] for i in items) == sorted({o.unique_id for o in outcomes})
    assert len(items) == 60
    # and each item is the event delivered first under its id (kept, never overwritten)
    by_id = {i["unique_id"]["S"]: i for i in items}
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        if outcome.write is WriteOutcome.PERSISTED:
            assert by_id[outcome.unique_id]["aws_id"]["S"] == delivery["id"]
    assert storm.conflicts() == []
    # and each *UpdatedEvent's follow-up went out three times under one id
    follow_ups = collections.defaultdict(set)
    for message in storm.follow_ups():
        follow_ups[message["detail"]["source_unique_id"]].add(message["detail"]["follow_up_id"])
    assert len(follow_ups) == 30
    assert all(len(ids) == 1 for ids in follow_ups.values())


def test_fault_plan_injects_each_fault_at_its_share():
    # GIVEN a plan that throttles every PutItem and loses every PutEvents response
    plan = FaultPlan(throttle=1.0, lost_response=1.0)
    # THEN every call gets its fault, and a switched-off fault never fires
    assert plan.on_put_item().status_code == 400
    with pytest.raises(Exception, match="response lost"):
        plan.after_put_events(None, {"FailedEntryCount": 0})
    assert plan.on_firehose() is False
    assert plan.injected == {
        "dynamodb throttling (400)": 1,
        "PutEvents response lost after success": 1,
    }
