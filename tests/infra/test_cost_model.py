"""The cost model reads each environment's template and prices it line by line."""

from __future__ import annotations

import dataclasses

import pytest

from bench.cost import (
    DYNAMODB_WRITE_UNITS_PER_MILLION,
    EVENTBRIDGE_PER_MILLION,
    LAMBDA_REQUESTS_PER_MILLION,
    AggregateTable,
    aggregate_table,
    append_write_units,
    floor,
    per_million,
    read_template,
)

INPUTS = {"handler_cpu_ms": 0.25, "log_bytes": 300, "item_bytes": 900}


def lines(fn, **changes):
    args = {"event_bytes": 1024, "follow_up_share": 0.0, "saga_share": 1.0, **INPUTS, **changes}
    return per_million(fn, **args)


def total(result):
    return sum(v for k, v in result.items() if not k.startswith("_"))


def test_reads_memory_architecture_tracing_logs_and_indexes_from_the_template(synth):
    dev, prod = read_template(synth.raw["dev"]), read_template(synth.raw["prod"])
    assert (prod.memory_mb, prod.architecture) == (256, "arm64")
    assert (dev.tracing, prod.tracing) == (True, False)
    assert (dev.platform_logs, prod.platform_logs) == (True, False)
    assert (dev.debug_logs, prod.debug_logs) == (True, False)
    assert (dev.saga_index, prod.saga_index) == (False, False)


def test_floor_is_eventbridge_one_write_unit_and_one_firehose_record():
    # 1 KB: one 64 KB chunk, one write unit, one 5 KB Firehose record (~$0.138)
    assert floor(1024) == pytest.approx(
        EVENTBRIDGE_PER_MILLION + DYNAMODB_WRITE_UNITS_PER_MILLION + 0.138, abs=0.001
    )
    # 65 KB: two EventBridge chunks, and 15 KB of Firehose rounding
    assert floor(65 * 1024) > floor(1024) + EVENTBRIDGE_PER_MILLION


def test_every_event_pays_a_lambda_request(synth):
    fn = read_template(synth.raw["staging"])
    assert lines(fn)["Lambda requests"] == pytest.approx(LAMBDA_REQUESTS_PER_MILLION)


def test_items_over_one_kilobyte_pay_two_write_units(synth):
    fn = read_template(synth.raw["staging"])
    assert lines(fn, item_bytes=1025)["DynamoDB writes"] == pytest.approx(
        2 * DYNAMODB_WRITE_UNITS_PER_MILLION
    )


def test_the_saga_index_adds_a_write_unit_per_indexed_event(synth):
    fn = read_template(synth.raw["staging"])
    with_index = dataclasses.replace(fn, saga_index=True)
    assert lines(with_index)["DynamoDB writes"] - lines(fn)["DynamoDB writes"] == pytest.approx(
        DYNAMODB_WRITE_UNITS_PER_MILLION
    )


def test_follow_ups_are_events_that_are_persisted_and_archived_too(synth):
    fn = read_template(synth.raw["staging"])
    none, half = lines(fn), lines(fn, follow_up_share=0.5)
    assert half["EventBridge ingest"] == pytest.approx(1.5 * none["EventBridge ingest"])
    assert half["Lambda requests"] == pytest.approx(1.5 * none["Lambda requests"])
    assert half["_duration_ms"] > none["_duration_ms"]  # PutEvents on the way


def test_platform_log_lines_and_tracing_cost_money(synth):
    fn = read_template(synth.raw["staging"])
    chatty = dataclasses.replace(fn, platform_logs=True)
    traced = dataclasses.replace(fn, tracing=True)
    untraced = dataclasses.replace(fn, tracing=False)
    assert lines(chatty)["CloudWatch Logs"] > lines(fn)["CloudWatch Logs"]
    assert lines(untraced)["X-Ray traces"] == 0
    assert total(lines(untraced)) < total(lines(traced))


def test_less_memory_means_longer_cpu_time(synth):
    fn = read_template(synth.raw["staging"])
    small = dataclasses.replace(fn, memory_mb=128)
    assert (
        lines(small, handler_cpu_ms=2.0)["_duration_ms"]
        > lines(fn, handler_cpu_ms=2.0)["_duration_ms"]
    )


def test_an_appended_event_pays_the_transactional_put_and_each_index(synth):
    # GIVEN the aggregate store of the prod template (three indexes projecting everything)
    table = aggregate_table(synth.raw["prod"])
    assert table == AggregateTable(full_indexes=3, keys_only_indexes=0)
    # THEN a 1 KB event costs 2 (transactional put) + 3 (indexes) write units, plus the
    # version check (2) shared by the events of an append to an existing aggregate
    new = append_write_units(table, event_bytes=1024, events_per_append=1, existing=False)
    existing = append_write_units(table, event_bytes=1024, events_per_append=1, existing=True)
    batch = append_write_units(table, event_bytes=1024, events_per_append=10, existing=True)
    assert (new, existing, batch) == (5, 7, 5.2)
    # a 1.5 KB event is two KB in the table and in each index
    assert append_write_units(table, event_bytes=1536, events_per_append=1, existing=False) == 10


def test_a_template_without_the_store_has_no_append_cost():
    assert aggregate_table({"Resources": {}}) is None


def test_debug_logs_are_priced_only_where_the_template_says_debug(synth):
    # GIVEN staging (INFO) and the same function at DEBUG
    fn = read_template(synth.raw["staging"])
    debug = dataclasses.replace(fn, debug_logs=True)
    # WHEN each is priced with a stored event writing 0 bytes at INFO and 500 at DEBUG
    quiet = lines(fn, log_bytes=0, debug_log_bytes=500)
    chatty = lines(debug, log_bytes=0, debug_log_bytes=500)
    # THEN only the DEBUG function pays for log lines
    assert quiet["CloudWatch Logs"] == 0
    assert chatty["CloudWatch Logs"] > 0


def test_a_follow_up_pays_for_its_emf_line(synth):
    fn = read_template(synth.raw["staging"])
    none = lines(fn, log_bytes=0, follow_up_log_bytes=250)
    half = lines(fn, log_bytes=0, follow_up_log_bytes=250, follow_up_share=0.5)
    assert none["CloudWatch Logs"] == 0
    assert half["CloudWatch Logs"] > 0
