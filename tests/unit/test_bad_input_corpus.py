"""Property-based: hundreds of malformed and edge-case events, each persisted or rejected with
a clear MalformedEventError; never another exception type, never a half-written item, never an
overwrite. Runs on the shared moto resources, whose table has the prod indexes (by-saga)."""

from __future__ import annotations

import itertools
import json
import math

import boto3
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kahula_core import spec
from kahula_core.attributes import from_attribute_value
from kahula_core.errors import MalformedEventError
from kahula_core.hashing import canonical_json
from kahula_core.persist import persist_event
from kahula_core.store import WriteOutcome
from moto import mock_aws

from tests.moto_resources import REGION, provision

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
# Identifiers around DynamoDB's 2048-byte key limit, in 1-, 2- and 4-byte characters.
LONG_ID = st.builds(
    lambda char, size: char * (size // len(char.encode())),
    st.sampled_from(["k", "é", "🚀"]),
    st.integers(min_value=spec.DYNAMODB_MAX_PARTITION_KEY_BYTES - 8, max_value=2056),
)
METADATA = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.none() | TEXT | st.integers() | JSON | LONG_ID,
        "saga_id": st.none() | TEXT | st.booleans() | JSON | LONG_ID,
        "domain": st.none() | TEXT | JSON | LONG_ID,
        "mbocdp_id": st.none() | TEXT | JSON | LONG_ID,
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


@pytest.fixture(scope="module")
def resources():
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        yield provision(session.client, name="corpus")


# unique_id -> canonical JSON of the detail first stored under it (Hypothesis replays
# examples while shrinking, against the same table, so this lives as long as the table).
FIRST_STORED: dict[str, bytes] = {}


def _stored_detail(resources, item):
    """The detail an item holds, inline or behind its claim check, as canonical JSON."""
    if "payload" in item:
        return canonical_json(from_attribute_value(item["payload"]))
    claim = from_attribute_value(item["payload_claim_check"])
    body = resources.s3.get_object(Bucket=claim["bucket"], Key=claim["key"])["Body"].read()
    assert canonical_json(json.loads(body)) == body  # the object is canonical JSON itself
    return body


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
def test_every_event_is_persisted_or_rejected_with_a_clear_error(resources, sample):
    logic = resources.pipeline()
    try:
        outcome = persist_event(sample, logic)
    except MalformedEventError as exc:
        assert str(exc)  # a message a person can act on
        event(f"rejected: {type(exc).__name__}")
        return
    event(f"write: {outcome.write.value}{' (oversize)' if outcome.oversize else ''}")
    item = resources.item(outcome.unique_id)
    assert item is not None, "accepted but not stored"
    stored = _stored_detail(resources, item)
    incoming = canonical_json(sample["detail"])
    first = FIRST_STORED.setdefault(outcome.unique_id, stored)
    # Nothing is ever overwritten: the item is the one first stored under its id ...
    assert stored == first
    if outcome.write is WriteOutcome.PERSISTED:
        # ... a new write stores the detail exactly (as canonical JSON text) ...
        assert stored == incoming
        assert first is stored, "an id already stored was written again"
    elif outcome.write is WriteOutcome.DUPLICATE:
        # ... a duplicate is the same event (same hash, type and source) ...
        assert item["payload_hash"]["S"] == outcome.payload_hash
        assert item["event_name"]["S"] == sample["detail-type"]
        assert item["source"]["S"] == sample["source"]
    else:
        # ... and a conflict is another event under the same id.
        assert outcome.differences
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(sample["detail"]))


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value
