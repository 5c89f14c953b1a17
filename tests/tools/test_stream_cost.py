"""The Kinesis door's cost model and CPU benchmark (bench/stream.py)."""

from __future__ import annotations

import pytest

from bench import cost
from bench.stream import bench_stream, per_million_records, via_the_bus_extra

FN = cost.Function(
    memory_mb=256,
    architecture="arm64",
    tracing=True,
    platform_logs=False,
    debug_logs=False,
    saga_index=False,
    event_name_index=False,
)


def lines(**overrides):
    given = {
        "record_bytes": 1024,
        "item_bytes": 900,
        "batch_size": 100,
        "cpu_ms_per_record": 0.5,
        "log_bytes_per_batch": 1500,
    }
    return per_million_records(FN, **{**given, **overrides})


def test_lambda_requests_are_paid_per_batch_not_per_record():
    assert lines(batch_size=100)["Lambda requests (one per batch)"] == pytest.approx(0.002)
    assert lines(batch_size=10)["Lambda requests (one per batch)"] == pytest.approx(0.02)


def test_kinesis_ingest_rounds_each_record_up_to_one_kilobyte():
    one_kb = lines(record_bytes=1024)["Kinesis ingest (1 KB rounding)"]
    assert lines(record_bytes=1025)["Kinesis ingest (1 KB rounding)"] == pytest.approx(2 * one_kb)
    assert lines(record_bytes=100)["Kinesis ingest (1 KB rounding)"] == pytest.approx(one_kb)


def test_archiving_through_the_bus_would_cost_more_than_the_firehose_line():
    extra = sum(via_the_bus_extra(900, FN, cpu_ms=0.25).values())
    assert extra > 1.0 > lines()["Firehose ingest (PutRecordBatch, 5 KB rounding)"]


def test_cpu_benchmark_measures_per_record_cost_against_its_floor():
    figures = bench_stream(quick=True, records=10)["stream_1kb"]
    assert figures["records_per_batch"] == 10
    assert figures["handler_us_per_record"] > figures["floor_us_per_record"] > 0
