"""Property-based: hundreds of malformed and edge-case events, each persisted or rejected with
a clear MalformedEventError; never another exception type, never a half-written item."""

from __future__ import annotations

import itertools
import json
import math
from decimal import Decimal

import boto3
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from persister.contract import ContractSettings, canonical_json, from_attribute_value
from persister.errors import MalformedEventError
from persister.follow_ups import FollowUpEmitter
from persister.persist import Pipeline, WriteOutcome, persist_event
from persister.store import ConflictQueue, EventStore, PayloadStore

EXAMPLES = 500

# Text that includes lone surrogates, control characters and astral-plane characters.
TEXT = st.text(st.characters() | st.sampled_from("\ud800\udfff\x00\u200b\U0001f680"), max_size=20)
NUMBERS = (
    st.integers(min_value=-(10**45), max_value=10**45)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e-300, 1e300, -0.0, 5e-324, 2**63, 10**38 - 1, 10**38 + 1])
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=25,
)


def _deep(levels: int) -> object:
    value: object = "bottom"
    for _ in range(levels):
        value = {"d": value}
    return value


BIG = st.sampled_from(
    [
        {"blob": "x" * 1_000_000},  # a 1 MB event (EventBridge's limit)
        {"blob": "é" * 200_000, "n": 1},  # 400 KB of two-byte characters
        {"wide": {f"k{i}": i for i in range(5_000)}},
        {"deep": _deep(31)},
        {"deeper": _deep(40)},
        {"binary_looking": "\x00\x01\x02\xff\ufffd" * 1000, "b64": "AAECA/8=" * 5000},
    ]
)
DETAIL = st.dictionaries(TEXT, JSON, max_size=6) | BIG
TIME = (
    st.sampled_from(
        ["2026-11-20T10:15:30Z", "2026-11-20T10:15:30.123+02:00", "2026-11-20T10:15:30", "nope", ""]
    )
    | TEXT
)
METADATA = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.none() | TEXT | st.integers() | JSON,
        "saga_id": st.none() | TEXT | st.booleans() | JSON,
        "domain": st.none() | TEXT | JSON,
        "mbocdp_id": st.none() | TEXT | JSON,
    },
)


# Hypothesis repeats simple values (the nil UUID) often; a counter keeps valid ids distinct so
# most valid events are new writes, not duplicates of an earlier example.
_ids = itertools.count()
VALID = {
    "id": st.uuids().map(lambda u: f"{u}-{next(_ids)}"),
    "detail-type": st.sampled_from(["OrderUpdatedEvent", "XValidatedEvent", "Ping", "ü"]),
    "source": st.sampled_from(["orders.service", "kahula.event-persister", "a"]),
    "time": st.sampled_from(["2026-11-20T10:15:30Z", "2026-11-20T10:15:30.123+02:00"]),
}


@st.composite
def events(draw):
    """An EventBridge envelope whose fields are each valid nine times in ten, and otherwise
    missing or of any JSON shape; the detail is anything JSON can hold, and then some."""
    if draw(st.sampled_from([False] * 30 + [True])):
        return draw(JSON)  # not an object, often
    event = {}
    for key, valid in VALID.items():
        # Hypothesis favours the first choices, so the valid one comes first.
        choice = draw(st.sampled_from(["valid"] * 18 + ["missing", "any"]))
        if choice == "valid":
            event[key] = draw(valid)
        elif choice == "any":
            event[key] = draw(TIME if key == "time" else JSON)
    detail = draw(draw(st.sampled_from([DETAIL] * 14 + [JSON])))
    if isinstance(detail, dict) and draw(st.booleans()):
        detail = {**detail, "metadata": draw(METADATA)}
    if draw(st.sampled_from([True] * 29 + [False])):
        event["detail"] = detail
    return event


class NoEvents:
    def put_events(self, Entries):
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}


@pytest.fixture(scope="module")
def pipeline():
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        dynamodb, s3, sqs = (session.client(s) for s in ("dynamodb", "s3", "sqs"))
        dynamodb.create_table(
            TableName="corpus",
            KeySchema=[{"AttributeName": "unique_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "unique_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3.create_bucket(Bucket="corpus-payloads")
        url = sqs.create_queue(QueueName="corpus-conflicts")["QueueUrl"]
        payloads = PayloadStore(s3=lambda: s3, bucket="corpus-payloads", prefix="oversize")
        yield (
            Pipeline(
                settings=ContractSettings(),
                store=EventStore(dynamodb=lambda: dynamodb, table_name="corpus"),
                payloads=payloads,
                conflicts=ConflictQueue(sqs=lambda: sqs, queue_url=url, payloads=payloads),
                emitter=FollowUpEmitter(
                    events_client=NoEvents, bus_name="bus", source="kahula.event-persister"
                ),
            ),
            dynamodb,
            s3,
        )


def _as_stored(value):
    """What the contract promises to give back: floats as exact decimals of their repr."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, list):
        return [_as_stored(v) for v in value]
    return {k: _as_stored(v) for k, v in value.items()}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(sample=events())
def test_every_event_is_persisted_or_rejected_with_a_clear_error(pipeline, sample):
    logic, dynamodb, s3 = pipeline
    event_ = sample
    try:
        outcome = persist_event(event_, logic)
    except MalformedEventError as exc:
        assert str(exc)  # a message a person can act on
        event(f"rejected: {type(exc).__name__}")
        return
    # Persisted (or a duplicate/conflict of an earlier example): the stored item holds the
    # detail exactly, inline or behind its claim check.
    assert outcome.write in (WriteOutcome.PERSISTED, WriteOutcome.DUPLICATE, WriteOutcome.CONFLICT)
    event(f"write: {outcome.write.value}{' (oversize)' if outcome.oversize else ''}")
    if outcome.write is not WriteOutcome.PERSISTED:
        return
    item = dynamodb.get_item(
        TableName="corpus", Key={"unique_id": {"S": outcome.unique_id}}, ConsistentRead=True
    )["Item"]
    if "payload" in item:
        assert from_attribute_value(item["payload"]) == _as_stored(event_["detail"])
    else:
        claim = from_attribute_value(item["payload_claim_check"])
        body = s3.get_object(Bucket=claim["bucket"], Key=claim["key"])["Body"].read()
        assert body == canonical_json(event_["detail"])
        assert json.loads(body) == json.loads(json.dumps(event_["detail"]))
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(event_["detail"]))


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value
