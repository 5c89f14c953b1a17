"""`make cost`: what a million events cost, per environment, from its synthesized template.

Inputs: each environment's template (Lambda memory, architecture, tracing, log levels, GSIs),
a fresh measurement of the handler's CPU time and log bytes per event (bench/run.py), and the
prices below. The floor beside each total is EventBridge ingest + one DynamoDB write unit + one
Firehose record: what any design that persists and archives each event pays.

    python -m bench.cost [--event-bytes 1024] [--follow-up-share 0.0] [--saga-share 1.0]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdk_app.config import select_environments
from local.synth import synthesize

# ----------------------------------------------------------------------------- prices
# us-east-1, as of 2026-11 (docs/limits-and-prices.md gives the sources); change over time.
EVENTBRIDGE_PER_MILLION = 1.00  # custom events, per 64 KB chunk (EventBridge pricing)
EVENTBRIDGE_CHUNK_BYTES = 64 * 1024
LAMBDA_REQUESTS_PER_MILLION = 0.20  # AWS whitepaper "How AWS pricing works"
LAMBDA_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}  # Lambda pricing
DYNAMODB_WRITE_UNITS_PER_MILLION = 0.625  # on demand, after the Nov-2024 cut
DYNAMODB_WRITE_UNIT_BYTES = 1024
FIREHOSE_PER_GB = 0.029  # ingest; per-GB price unconfirmed (docs/limits-and-prices.md)
FIREHOSE_RECORD_ROUNDING_BYTES = 5 * 1024  # each record rounded up to 5 KB (Firehose pricing)
S3_PUT_PER_THOUSAND = 0.005  # S3 pricing
XRAY_TRACES_PER_MILLION = 5.00  # X-Ray pricing, after the free tier
# CloudWatch Logs standard ingestion, CloudWatch pricing page (us-east-1).
CLOUDWATCH_LOGS_PER_GB = 0.50
# The compliance switches (AWS KMS pricing; AWS PrivateLink pricing, us-east-1, 2026-11).
KMS_KEY_PER_MONTH = 1.00  # per customer managed key, rotation included
KMS_PER_10K_REQUESTS = 0.03
INTERFACE_ENDPOINT_PER_AZ_HOUR = 0.01  # plus $0.01 per GB processed
HOURS_PER_MONTH = 730

# ----------------------------------------------------------------------------- assumptions
# Lambda gives a function CPU in proportion to memory: 1,769 MB is one full vCPU.
LAMBDA_FULL_VCPU_MB = 1769
# Lambda samples traces it starts at a fixed rate: the first request each second, then 5 %.
# Unlike API Gateway or Step Functions it does not read X-Ray sampling rules, so --xray-sampling
# models an upstream that decides instead (a traced producer). With PassThrough (the default
# outside dev) the function starts no trace: it adds segments to a trace its producer sampled,
# which X-Ray bills once, per trace recorded, on the producer's side.
LAMBDA_XRAY_SAMPLING = 0.05
# Network time of the AWS calls, not measurable offline: DynamoDB answers in single-digit
# milliseconds; PutEvents in tens of milliseconds. Stated, not measured.
PUT_ITEM_MS = 6.0
PUT_EVENTS_MS = 20.0
# The platform's START/END/REPORT lines when the system log level lets them through.
PLATFORM_LOG_BYTES = 360
FOLLOW_UP_EVENT_BYTES = 600
FOLLOW_UP_ITEM_BYTES = 800
GZIP_RATIO = 0.2  # NDJSON of events compresses about 5:1
FIREHOSE_BUFFER_BYTES = 128 * 1024 * 1024
GIB = 1024**3
MILLION = 1_000_000
# KMS requests with the customer managed key are bounded by time, not by events: SQS reuses a
# data key for 300 s per producer and queue, S3 Bucket Keys ask KMS once per bucket and period,
# CloudWatch Logs caches its data keys. Upper bound per month (30 days), stated not measured:
KMS_REUSE_SECONDS = 300
QUEUE_PRODUCERS = 9  # the nine queues, one producing principal each (EventBridge, the role)
BUCKET_KEY_REQUESTS = 2 * 24 * 30 * 4  # two writers, a data key at most every 15 min
LOG_GROUP_KEY_REQUESTS = 2 * 24 * 30 * 12  # two log groups, at most every 5 min


@dataclass(frozen=True)
class Function:
    memory_mb: int
    architecture: str
    tracing: bool  # Active: Lambda samples and records traces itself
    platform_logs: bool
    debug_logs: bool  # POWERTOOLS_LOG_LEVEL DEBUG: a log line per stored event
    saga_index: bool
    event_name_index: bool


def _is_aggregate_table(properties: dict[str, Any]) -> bool:
    return {"AttributeName": "aggregate_id", "KeyType": "HASH"} in properties.get("KeySchema", [])


def is_events_table(properties: dict[str, Any]) -> bool:
    """The events table (key unique_id), not the FIFO door's ledger or idempotency table."""
    key = properties.get("KeySchema") or [{"AttributeName": "unique_id"}]
    return bool(key[0].get("AttributeName") == "unique_id")


def events_table(resources: dict[str, Any]) -> dict[str, Any]:
    """The persister's table: not the aggregate store's, the ledger or the idempotency table."""
    (table,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::DynamoDB::Table" and is_events_table(r["Properties"])
    ]
    return dict(table)


def read_template(template: dict[str, Any]) -> Function:
    (fn,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler", "").startswith("persister.")
    ]
    table = events_table(template["Resources"])
    indexes = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
    return Function(
        memory_mb=int(fn["MemorySize"]),
        architecture=fn.get("Architectures", ["x86_64"])[0],
        tracing=fn.get("TracingConfig", {}).get("Mode") == "Active",
        platform_logs=fn.get("LoggingConfig", {}).get("SystemLogLevel", "INFO") != "WARN",
        debug_logs=fn.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_LOG_LEVEL")
        == "DEBUG",
        saga_index="by-saga" in indexes,
        event_name_index="by-event-name" in indexes,
    )


def per_million(
    fn: Function,
    *,
    event_bytes: int,
    follow_up_share: float,
    saga_share: float,
    handler_cpu_ms: float,
    log_bytes: float,
    item_bytes: int,
    xray_sampling: float = LAMBDA_XRAY_SAMPLING,
    follow_up_log_bytes: float = 0.0,
    debug_log_bytes: float | None = None,
) -> dict[str, float]:
    """Dollars per million source events, line by line.

    ``log_bytes``: what an invocation that stores an event writes at INFO (nothing, by design);
    ``follow_up_log_bytes``: the EMF line of an invocation that emits a follow-up;
    ``debug_log_bytes``: what it writes at DEBUG (dev), when the template says DEBUG."""
    events = MILLION * (1 + follow_up_share)  # follow-ups are events on the bus too
    sizes = [(MILLION, event_bytes), (MILLION * follow_up_share, FOLLOW_UP_EVENT_BYTES)]

    cpu_ms = handler_cpu_ms * max(1.0, LAMBDA_FULL_VCPU_MB / fn.memory_mb)
    duration_ms = math.ceil(cpu_ms + PUT_ITEM_MS + follow_up_share * PUT_EVENTS_MS)
    write_units = sum(
        n * math.ceil(size / DYNAMODB_WRITE_UNIT_BYTES)
        for n, size in [(MILLION, item_bytes), (MILLION * follow_up_share, FOLLOW_UP_ITEM_BYTES)]
    )
    if fn.saga_index:
        write_units += MILLION * saga_share  # keys-only: one unit per indexed item
    if fn.event_name_index:
        write_units += events
    firehose_bytes = sum(
        n * math.ceil(size / FIREHOSE_RECORD_ROUNDING_BYTES) * FIREHOSE_RECORD_ROUNDING_BYTES
        for n, size in sizes
    )
    raw_bytes = sum(n * size for n, size in sizes)
    per_invocation = debug_log_bytes if fn.debug_logs and debug_log_bytes is not None else log_bytes
    logs = (
        events * (per_invocation + (PLATFORM_LOG_BYTES if fn.platform_logs else 0))
        + MILLION * follow_up_share * follow_up_log_bytes
    )
    return {
        "EventBridge ingest": sum(
            n * math.ceil(size / EVENTBRIDGE_CHUNK_BYTES) for n, size in sizes
        )
        / MILLION
        * EVENTBRIDGE_PER_MILLION,
        "Lambda requests": events / MILLION * LAMBDA_REQUESTS_PER_MILLION,
        "Lambda duration": events
        * duration_ms
        / 1000
        * fn.memory_mb
        / 1024
        * LAMBDA_GB_SECOND[fn.architecture],
        "DynamoDB writes": write_units / MILLION * DYNAMODB_WRITE_UNITS_PER_MILLION,
        "Firehose ingest": firehose_bytes / GIB * FIREHOSE_PER_GB,
        "S3 PUTs": math.ceil(raw_bytes / FIREHOSE_BUFFER_BYTES) / 1000 * S3_PUT_PER_THOUSAND,
        "X-Ray traces": (events * xray_sampling / MILLION * XRAY_TRACES_PER_MILLION)
        if fn.tracing
        else 0.0,
        "CloudWatch Logs": logs / GIB * CLOUDWATCH_LOGS_PER_GB,
        "_duration_ms": duration_ms,
        "_archive_gb_month": raw_bytes * GZIP_RATIO / GIB,
    }


def floor(event_bytes: int) -> float:
    """EventBridge ingest + one write unit + one Firehose record, per million events."""
    return (
        math.ceil(event_bytes / EVENTBRIDGE_CHUNK_BYTES) * EVENTBRIDGE_PER_MILLION
        + DYNAMODB_WRITE_UNITS_PER_MILLION
        + math.ceil(event_bytes / FIREHOSE_RECORD_ROUNDING_BYTES)
        * FIREHOSE_RECORD_ROUNDING_BYTES
        * MILLION
        / GIB
        * FIREHOSE_PER_GB
    )


@dataclass(frozen=True)
class Measured:
    """The handler's figures per event, measured in this run (bench/run.py)."""

    cpu_ms: float  # an event stored, no follow-up
    log_bytes: float  # INFO, an event stored
    debug_log_bytes: float  # DEBUG, an event stored
    follow_up_log_bytes: float  # INFO, the EMF line of an event that yields a follow-up
    item_bytes: int


def measure_handler(event_bytes: int) -> Measured:
    """The handler's CPU, log bytes and stored item size per event, measured now."""
    from kahula_core.envelope import parse_envelope  # noqa: PLC0415
    from kahula_core.record import build_record  # noqa: PLC0415
    from kahula_core.settings import Settings  # noqa: PLC0415

    from bench.run import bench_handler, sample_event  # noqa: PLC0415

    figures = bench_handler(quick=True)
    key = "handler_1kb" if event_bytes <= 10 * 1024 else "handler_100kb"
    envelope = parse_envelope(json.loads(sample_event(event_bytes, follow_up=False)))
    item = build_record(envelope, Settings(), "2026-11-21T00:00:00.000001Z")
    stored, with_follow_up = figures[key], figures["handler_1kb_follow_up"]
    return Measured(
        cpu_ms=stored["handler_us"] / 1000,
        log_bytes=stored["log_bytes_per_event"],
        debug_log_bytes=stored["debug_log_bytes_per_event"],
        follow_up_log_bytes=with_follow_up["log_bytes_per_event"],
        item_bytes=item.size_bytes,
    )


def customer_managed_key_per_month() -> dict[str, float]:
    """What ``EncryptionProps(customer_managed_key=True)`` adds per month, whatever the volume."""
    queue_requests = QUEUE_PRODUCERS * 30 * 24 * 3600 / KMS_REUSE_SECONDS
    requests = queue_requests + BUCKET_KEY_REQUESTS + LOG_GROUP_KEY_REQUESTS
    return {
        "key": KMS_KEY_PER_MONTH,
        "requests": requests / 10_000 * KMS_PER_10K_REQUESTS,
        "_requests": requests,
    }


def vpc_endpoints_per_month(interface_endpoints: int = 4, azs: int = 2) -> float:
    """``FunctionNetwork(add_endpoints=True)``: interface endpoints by the hour (gateways: free)."""
    return interface_endpoints * azs * INTERFACE_ENDPOINT_PER_AZ_HOUR * HOURS_PER_MONTH


# ----------------------------------------------------------------------------- aggregate store
# Write units of one append (docs/aggregate-event-store.md, "Cost and speed"; DynamoDB
# developer guide: a transactional write costs two units per KB, each index write one unit per
# KB of what it projects). The version check is a transactional ConditionCheck: two units, once
# per append to an existing aggregate.
TRANSACTIONAL_WRITE_FACTOR = 2
VERSION_CHECK_UNITS = 2


@dataclass(frozen=True)
class AggregateTable:
    full_indexes: int  # indexes projecting every attribute (one unit per KB of the item)
    keys_only_indexes: int  # indexes projecting keys only (one unit per write)


def aggregate_table(template: dict[str, Any]) -> AggregateTable | None:
    """The aggregate store's table in a template (keyed by aggregate_id), if deployed."""
    tables = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::Table" and _is_aggregate_table(r["Properties"])
    ]
    if not tables:
        return None
    (table,) = tables
    projections = [
        i["Projection"]["ProjectionType"] for i in table.get("GlobalSecondaryIndexes", [])
    ]
    return AggregateTable(
        full_indexes=sum(1 for p in projections if p != "KEYS_ONLY"),
        keys_only_indexes=sum(1 for p in projections if p == "KEYS_ONLY"),
    )


def append_write_units(
    table: AggregateTable, *, event_bytes: int, events_per_append: int, existing: bool
) -> float:
    """Write units per appended event: the table's transactional put, every index's write,
    and the append's version check shared by its events."""
    kb = math.ceil(event_bytes / DYNAMODB_WRITE_UNIT_BYTES)
    per_event = TRANSACTIONAL_WRITE_FACTOR * kb + table.full_indexes * kb
    per_event += table.keys_only_indexes
    check = VERSION_CHECK_UNITS if existing else 0
    return per_event + check / events_per_append


def print_aggregates(tables: dict[str, AggregateTable | None], event_bytes: int) -> None:
    envs = [e for e, t in tables.items() if t is not None]
    if not envs:
        return
    print(
        f"\nAggregate event store, write units per appended {event_bytes}-byte event "
        "(table + indexes + version check; $ per million events at "
        f"${DYNAMODB_WRITE_UNITS_PER_MILLION} per million write units):\n"
    )
    print("| append | " + " | ".join(envs) + " |")
    print("|---" * (len(envs) + 1) + "|")
    for label, events, existing in (
        ("1 event, new aggregate", 1, False),
        ("1 event, existing aggregate", 1, True),
        ("10 events, existing aggregate", 10, True),
    ):
        cells = []
        for e in envs:
            table = tables[e]
            assert table is not None
            units = append_write_units(
                table, event_bytes=event_bytes, events_per_append=events, existing=existing
            )
            dollars = math.floor(units * DYNAMODB_WRITE_UNITS_PER_MILLION * 100 + 0.5) / 100
            cells.append(f"{units:g} units, ${dollars:.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(
        "\nEach appended event is then published by the outbox and persisted and archived like "
        "any bus event (the pipeline's lines above); the pipe's own price is not included."
    )


def kms_keys(template: dict[str, Any]) -> int:
    return sum(1 for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key")


def print_compliance(keys: dict[str, int]) -> None:
    cmk = customer_managed_key_per_month()
    switch = cmk["key"] + cmk["requests"]
    envs = list(keys)
    print("\nCompliance settings, per month whatever the volume:\n")
    print("| setting | " + " | ".join(envs) + " |")
    print("|---" * (len(envs) + 1) + "|")
    print(
        "| KMS keys in the template ($1 each) | "
        + " | ".join(f"{keys[e]}: ${keys[e] * KMS_KEY_PER_MONTH:.2f}" for e in envs)
        + " |"
    )
    print(
        f"| customer_managed_key: 1 key + at most {cmk['_requests']:,.0f} requests | "
        + " | ".join(f"+${switch:.2f}" for _ in envs)
        + " |"
    )
    print(
        "| VPC with add_endpoints: 4 interface endpoints in 2 AZs | "
        + " | ".join(f"+${vpc_endpoints_per_month():.2f}" for _ in envs)
        + " |"
    )
    print("| Object Lock, EventBridge notifications | $0 (locked versions are billed as storage) |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost")
    parser.add_argument("--event-bytes", type=int, default=1024)
    parser.add_argument("--follow-up-share", type=float, default=0.0)
    parser.add_argument("--saga-share", type=float, default=1.0)
    parser.add_argument("--xray-sampling", type=float, default=LAMBDA_XRAY_SAMPLING)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    measured = measure_handler(args.event_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        assembly, stacks = synthesize(Path(tmp), select_environments(None))
        templates = {
            s.stack_name.rsplit("-", 1)[1]: assembly.get_stack_by_name(s.stack_name).template
            for s in stacks
        }
        functions = {env: read_template(t) for env, t in templates.items()}
    base = floor(args.event_bytes)
    print(
        f"Per million {args.event_bytes}-byte events, follow-up share {args.follow_up_share:.0%}"
        f" (measured: handler CPU {measured.cpu_ms:.3f} ms, log bytes {measured.log_bytes:.0f}"
        f" at INFO, {measured.debug_log_bytes:.0f} at DEBUG, {measured.follow_up_log_bytes:.0f}"
        f" with a follow-up, and a {measured.item_bytes}-byte item per event):\n"
    )
    results: dict[str, Any] = {}
    lines: dict[str, dict[str, float]] = {}
    for env, fn in functions.items():
        lines[env] = per_million(
            fn,
            event_bytes=args.event_bytes,
            follow_up_share=args.follow_up_share,
            saga_share=args.saga_share,
            handler_cpu_ms=measured.cpu_ms,
            log_bytes=measured.log_bytes,
            item_bytes=measured.item_bytes,
            xray_sampling=args.xray_sampling,
            follow_up_log_bytes=measured.follow_up_log_bytes,
            debug_log_bytes=measured.debug_log_bytes,
        )
    envs = list(lines)
    print("| line | " + " | ".join(envs) + " |")
    print("|---" * (len(envs) + 1) + "|")
    for line in [k for k in lines[envs[0]] if not k.startswith("_")]:
        print(f"| {line} | " + " | ".join(f"${lines[e][line]:.3f}" for e in envs) + " |")
    totals = {e: sum(v for k, v in lines[e].items() if not k.startswith("_")) for e in envs}
    print("| **total** | " + " | ".join(f"**${totals[e]:.2f}**" for e in envs) + " |")
    print("| floor | " + " | ".join(f"${base:.2f}" for _ in envs) + " |")
    print("| total / floor | " + " | ".join(f"{totals[e] / base:.2f}x" for e in envs) + " |")
    print(
        "| billed duration | "
        + " | ".join(f"{lines[e]['_duration_ms']:.0f} ms" for e in envs)
        + " |"
    )
    print(
        "\nS3 storage, not per event: about "
        f"{lines[envs[0]]['_archive_gb_month']:.2f} GB-month of gzipped archive per million."
    )
    print_compliance({e: kms_keys(t) for e, t in templates.items()})
    print_aggregates({e: aggregate_table(t) for e, t in templates.items()}, args.event_bytes)

    from .api_cost import print_api  # noqa: PLC0415 - the HTTP API's lines, where deployed

    print_api(
        templates,
        event_bytes=args.event_bytes,
        handler_cpu_ms=measured.cpu_ms,
        log_bytes=measured.log_bytes,
        item_bytes=measured.item_bytes,
    )
    for e in envs:
        results[e] = {"lines": lines[e], "total": totals[e], "floor": base}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
