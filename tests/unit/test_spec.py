"""The spec: what infrastructure hands the runtime, encoded and decoded in one place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kahula_core import spec
from kahula_core.errors import ConfigurationError
from kahula_core.settings import Settings

NAMES = st.from_regex(r"[A-Z][A-Za-z0-9]{0,20}", fullmatch=True)


@given(pairs=st.lists(st.tuples(NAMES, NAMES), max_size=5))
def test_follow_up_rules_round_trip_or_are_refused_as_a_set(pairs):
    rules = [spec.FollowUpRule(suffix, detail_type) for suffix, detail_type in pairs]
    try:
        checked = spec.check_follow_up_rules(rules)
    except spec.SpecError:
        return
    # GIVEN a valid rule set WHEN encoded for the function and decoded THEN it is the same
    # (an empty set is kept: "no follow-ups" is a valid configuration, unlike "unset")
    assert spec.decode_follow_up_rules(spec.encode_follow_up_rules(checked)) == checked


@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ([("UpdatedEvent", "AEvent"), ("UpdatedEvent", "BEvent")], "repeat the suffix"),
        ([("UpdatedEvent", "ValidatedEvent"), ("ValidatedEvent", "X")], "would yield a follow-up"),
        ([("Event", "AuditEvent")], "would yield a follow-up"),
    ],
)
def test_rule_sets_that_are_ambiguous_or_loop_are_refused(rules, fragment):
    with pytest.raises(spec.SpecError, match=fragment):
        spec.encode_follow_up_rules(spec.FollowUpRule(s, t) for s, t in rules)


def test_absent_follow_up_rules_mean_the_defaults():
    assert Settings.from_environment({}).follow_up_rules == spec.DEFAULT_FOLLOW_UP_RULES


def test_contract_paths_round_trip_through_the_environment():
    paths = spec.ContractPaths(
        event_id_path="detail.header.id",
        hash_excluded_paths=("detail.header.sent_at",),
        max_inline_item_bytes=1000,
    )
    settings = Settings.from_environment(paths.to_environment())
    assert settings.paths == paths
    assert settings.event_id_path == ("detail", "header", "id")
    assert settings.hash_excluded_paths == (("header", "sent_at"),)


def test_indexed_attributes_round_trip_into_key_limits():
    text = spec.encode_indexed_attributes([("timestamp", "RANGE"), ("saga_id", "HASH")])
    assert text == "saga_id:HASH,timestamp:RANGE"
    assert spec.decode_indexed_attributes(text) == dict(spec.KEY_ATTRIBUTES)
    assert spec.decode_indexed_attributes("domain:RANGE")["domain"] == 1024


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({spec.Env.EVENT_ID_PATH: "detail..id"}, "event_id_path"),
        ({spec.Env.HASH_EXCLUDED_PATHS: "metadata.saga_id"}, "under 'detail.'"),
        ({spec.Env.MAX_INLINE_ITEM_BYTES: "lots"}, "not an integer"),
        ({spec.Env.MAX_INLINE_ITEM_BYTES: "500000"}, "409600-byte item limit"),
        ({spec.Env.FOLLOW_UP_RULES: "not json"}, "JSON list of [suffix, detail type] pairs"),
        ({spec.Env.FOLLOW_UP_RULES: '["ab"]'}, "JSON list of [suffix, detail type] pairs"),
        ({spec.Env.FOLLOW_UP_RULES: '[["Updated Event", "X"]]'}, "letters and digits"),
        ({spec.Env.INDEXED_ATTRIBUTES: "payload:HASH"}, "'payload' cannot key an index"),
        ({spec.Env.INDEXED_ATTRIBUTES: "saga_id:SORT"}, "HASH or RANGE"),
    ],
)
def test_a_bad_environment_value_is_a_configuration_error_naming_it(environ, fragment):
    # GIVEN a function environment with one bad value WHEN the settings are read
    # THEN a ConfigurationError names the problem (never a raw ValueError or JSON error)
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_environment(environ)
    assert type(caught.value) is ConfigurationError
    assert fragment in str(caught.value)


def test_reserved_sources_round_trip_into_the_settings_and_bad_ones_are_refused():
    # GIVEN the sources a construct reserves, unordered and with a duplicate
    text = spec.encode_reserved_sources(
        ["kahula.replay", "kahula.aggregate-store", "kahula.replay"]
    )
    # THEN the variable is sorted and de-duplicated, and the settings read it back
    assert text == "kahula.aggregate-store,kahula.replay"
    settings = Settings.from_environment({spec.Env.RESERVED_SOURCES: text})
    assert settings.reserved_sources == {"kahula.aggregate-store", "kahula.replay"}
    # AND unset means none; a source the variable could not carry is refused at synth
    assert Settings.from_environment({}).reserved_sources == frozenset()
    for bad in ("", "a,b", " padded", "*", "a*b", "a?"):
        with pytest.raises(spec.SpecError, match="reserved source"):
            spec.encode_reserved_sources([bad])


@pytest.mark.parametrize(
    ("source", "reserved"),
    [
        ("kahula.replay", True),
        ("tenant.acme", True),
        ("tenant.", True),
        ("kahula.replay.x", False),
        ("tenant", False),
        ("xtenant.acme", False),
        ("Tenant.acme", False),
    ],
)
def test_a_source_is_reserved_exactly_or_by_a_prefix_entry(source, reserved):
    # GIVEN a door's reserved list with one source and one prefix (``prefix*``)
    entries = spec.decode_reserved_sources(
        spec.encode_reserved_sources(["kahula.replay", "tenant.*"])
    )
    # THEN a source matches the source exactly, or starts with the prefix (case-sensitive,
    # as EventBridge's StringLike is)
    assert spec.source_is_reserved(source, entries) is reserved
