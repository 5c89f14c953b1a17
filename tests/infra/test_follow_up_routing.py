"""Follow-up routing, checked with a real EventBridge pattern matcher against the templates."""

from __future__ import annotations

import json

import pytest
from kahula_core.envelope import parse_envelope
from kahula_core.follow_ups import follow_up_for, follow_up_type
from kahula_core.record import build_record
from kahula_core.settings import Settings
from kahula_core.spec import DEFAULT_FOLLOW_UP_RULES
from moto.events.models import EventPattern

from ..conftest import load_event

SOURCE = "kahula.event-persister"
FOLLOW_UP_TYPES = [r.detail_type for r in DEFAULT_FOLLOW_UP_RULES]


def follow_up_rules(synth, env):
    """detail type -> (pattern, target queue logical id) for each follow-up rule."""
    out = {}
    for rule in synth.resources(env, "AWS::Events::Rule").values():
        pattern = rule["Properties"]["EventPattern"]
        if pattern.get("source") == [SOURCE]:
            (detail_type,) = pattern["detail-type"]
            (target,) = rule["Properties"]["Targets"]
            out[detail_type] = (pattern, target)
    return out


def all_patterns(synth, env):
    return [
        r["Properties"]["EventPattern"] for r in synth.resources(env, "AWS::Events::Rule").values()
    ]


def matches(pattern, event):
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


def emitted_follow_up(sample):
    """The follow-up event the runtime would put on the bus for a sample event."""
    record = build_record(parse_envelope(load_event(sample)), Settings(), "now")
    follow_up = follow_up_for(record, follow_up_source=SOURCE, settings=Settings())
    assert follow_up is not None
    return {
        "id": "x",
        "source": SOURCE,
        "detail-type": follow_up.detail_type,
        "detail": follow_up.detail,
        "time": "2026-11-20T10:15:31Z",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [],
    }


def test_one_rule_and_queue_per_follow_up_type(synth, env):
    rules = follow_up_rules(synth, env)
    assert set(rules) == set(FOLLOW_UP_TYPES)
    for detail_type, (_, target) in rules.items():
        queue = synth.raw[env]["Resources"][target["Arn"]["Fn::GetAtt"][0]]["Properties"]
        name = detail_type.removesuffix("Event").lower()
        assert queue["QueueName"] == f"kahula-follow-ups-{env}-{name}"
        assert queue["SqsManagedSseEnabled"] is True
        assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
        assert "DeadLetterConfig" in target
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 185


@pytest.mark.parametrize(
    ("sample", "expected"),
    [("order_updated", "ValidatableEvent"), ("customer_validated", "IndexableEvent")],
)
def test_each_follow_up_reaches_exactly_its_own_queue(synth, env, sample, expected):
    event = emitted_follow_up(sample)
    routed = [t for t, (p, _) in follow_up_rules(synth, env).items() if matches(p, event)]
    assert routed == [expected]


@pytest.mark.parametrize(
    "sample",
    ["order_updated", "customer_validated", "shipment_created", "spoofed_follow_up_source"],
)
def test_source_events_do_not_reach_follow_up_queues_unless_from_the_persister(synth, env, sample):
    event = load_event(sample)
    routed = [t for t, (p, _) in follow_up_rules(synth, env).items() if matches(p, event)]
    expected_from_source = event["source"] == SOURCE and event["detail-type"] in FOLLOW_UP_TYPES
    assert bool(routed) == expected_from_source


def test_a_follow_up_never_produces_another_follow_up(synth, env):
    # Every event a follow-up rule can match is, by its own pattern, a follow-up: the runtime
    # rule must yield nothing for it, whatever its detail type.
    for detail_type, (pattern, _) in follow_up_rules(synth, env).items():
        (source,) = pattern["source"]
        assert follow_up_type(detail_type, source, follow_up_source=SOURCE) is None
    # And an emitted follow-up, routed back to the persister by the catch-all rule, yields none.
    for sample in ("order_updated", "customer_validated"):
        event = emitted_follow_up(sample)
        assert any(matches(p, event) for p in all_patterns(synth, env))  # it is persisted...
        assert (
            follow_up_type(event["detail-type"], event["source"], follow_up_source=SOURCE) is None
        )  # ...only


def test_catch_all_rules_match_every_event(synth, env):
    every = {"source": [{"prefix": ""}]}
    all_but_replays = {"source": [{"anything-but": ["kahula.replay"]}]}
    catch_all = [p for p in all_patterns(synth, env) if p in (every, all_but_replays)]
    assert catch_all.count(every) == 1  # the persister
    assert catch_all.count(all_but_replays) == 1  # the archive (replay wrappers excluded)
    for sample in ("order_updated", "shipment_created", "validatable_follow_up"):
        assert all(matches(p, load_event(sample)) for p in catch_all)
