"""Reliability under faults and duplicate storms: exactly once, nothing silently dropped."""

from __future__ import annotations

import concurrent.futures
import random

import boto3
import pytest
from persister.contract import ContractSettings
from persister.follow_ups import FollowUpEmitter
from persister.persist import Pipeline, persist_event
from persister.store import ConflictQueue, EventStore, PayloadStore, WriteOutcome

from local.faults import STANDARD, FaultPlan, run
from local.moto_server import moto_server

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
    assert faulty_run.follow_up_ids_stable


def test_nothing_is_silently_dropped(faulty_run):
    assert faulty_run.ledger.lost == []
    for _event_id, reason in faulty_run.ledger.failed:
        assert "injected" in reason  # kept with its reason, ready to redrive


# --------------------------------------------------------------------------- duplicate storm

STORM_TABLE = "storm-events"


@pytest.fixture
def storm_pipeline():
    """The persister's logic against a moto server (real HTTP, concurrent requests)."""
    with moto_server() as endpoint:
        session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
        )

        def client(service):
            return session.client(service, endpoint_url=endpoint)

        dynamodb = client("dynamodb")
        dynamodb.create_table(
            TableName=STORM_TABLE,
            KeySchema=[{"AttributeName": "unique_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "unique_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = client("sqs")
        conflicts = sqs.create_queue(QueueName="storm-conflicts")["QueueUrl"]
        events = client("events")
        events.create_event_bus(Name="storm-bus")
        s3 = client("s3")
        s3.create_bucket(Bucket="storm-payloads")
        payloads = PayloadStore(s3=lambda: s3, bucket="storm-payloads", prefix="p")
        yield (
            Pipeline(
                settings=ContractSettings(),
                store=EventStore(dynamodb=lambda: dynamodb, table_name=STORM_TABLE),
                payloads=payloads,
                conflicts=ConflictQueue(sqs=lambda: sqs, queue_url=conflicts, payloads=payloads),
                emitter=FollowUpEmitter(
                    events_client=lambda: events,
                    bus_name="storm-bus",
                    source="kahula.event-persister",
                ),
            ),
            dynamodb,
            sqs,
            conflicts,
        )


def test_duplicate_storm_stores_one_item_per_event_and_no_false_conflicts(storm_pipeline):
    pipeline, dynamodb, sqs, conflicts_url = storm_pipeline
    # GIVEN 60 distinct events, each delivered three times, shuffled
    deliveries = []
    for i in range(60):
        event = load_event("order_updated" if i % 2 else "shipment_created")
        event["id"] = f"eb-{i}-{random.random()}"  # EventBridge ids differ per delivery...
        if i % 2:
            event["detail"]["metadata"]["event_id"] = f"order-{i}"
        else:
            event["id"] = f"eb-{i}"  # ...unless EventBridge itself redelivers
        deliveries += [event] * 3
    random.Random(5).shuffle(deliveries)
    # WHEN they are handled concurrently
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda e: persist_event(e, pipeline), deliveries))
    # THEN there is exactly one item per event and no conflict
    items = dynamodb.scan(TableName=STORM_TABLE, ConsistentRead=True)["Items"]
    assert len(items) == 60
    writes = [o.write for o in outcomes]
    assert WriteOutcome.CONFLICT not in writes
    assert writes.count(WriteOutcome.PERSISTED) + writes.count(WriteOutcome.DUPLICATE) == 180
    assert "Messages" not in sqs.receive_message(QueueUrl=conflicts_url)
    assert len({o.unique_id for o in outcomes}) == 60


def test_fault_plan_is_quiet_when_switched_off():
    plan = FaultPlan()
    assert plan.on_put_item() is None
    assert plan.on_firehose() is False
    assert not plan.injected
