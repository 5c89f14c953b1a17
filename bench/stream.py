"""The Kinesis front door: per-record CPU (``make bench``) and cost per million records
(``make cost``), measured and priced the way bench/run.py and bench/cost.py do the bus.

    python -m bench.stream            # both
    python -m bench.stream --cpu      # per-record CPU only

The prices this door adds are named constants below with their source; the rest come from
bench/cost.py. Kinesis per-GB prices could not be re-read offline (like Firehose's, they are
marked unconfirmed in docs/limits-and-prices.md); the 1 KB rounding of each record is from the
Kinesis Data Streams pricing page.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import cost
from bench.run import best_of, sample_event

# Kinesis Data Streams, on-demand, us-east-1 (Kinesis Data Streams pricing; per-GB figures
# unconfirmed offline, see docs/limits-and-prices.md)
KINESIS_INGEST_PER_GB = 0.08  # each record rounded up to 1 KB
KINESIS_RECORD_ROUNDING_BYTES = 1024
KINESIS_RETRIEVAL_PER_GB = 0.04  # shared-throughput reads by the event source mapping
KINESIS_STREAM_HOUR = 0.04  # per on-demand stream, whatever the traffic
# Stated assumptions (not measured here): one PutRecordBatch per batch to the archive
PUT_RECORD_BATCH_MS = 20.0


class _NoOp:
    """Answers every AWS call the consumer makes, instantly and successfully."""

    def put_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def put_events(self, Entries: list[Any]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}

    def put_object(self, **_: Any) -> dict[str, Any]:
        return {}

    def send_message(self, **_: Any) -> dict[str, Any]:
        return {}

    def put_record_batch(self, Records: list[Any], **_: Any) -> dict[str, Any]:
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"} for _ in Records]}


def kinesis_batch(size: int, records: int) -> dict[str, Any]:
    """A Lambda Kinesis event of ``records`` envelopes of about ``size`` bytes each."""
    template = json.loads(sample_event(size))
    out = []
    for i in range(records):
        template["detail"]["metadata"]["event_id"] = f"order-{i}"
        sequence = f"4954{i:052d}"
        out.append(
            {
                "kinesis": {
                    "partitionKey": f"pk-{i % 10}",
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(json.dumps(template).encode()).decode(),
                    "approximateArrivalTimestamp": 1795600000.0,
                },
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
            }
        )
    return {"Records": out}


def bench_stream(quick: bool, *, records: int = 100) -> dict[str, Any]:
    """CPU per record of the consumer on 100-record batches of 1 KB envelopes, against the
    floor (base64, JSON parse and a SHA-256 of the sorted detail per record)."""
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "event-persister")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Kahula/Bench")
    from kahula_core import batch as core_batch  # noqa: PLC0415
    from kahula_core import persist  # noqa: PLC0415
    from kahula_core.stream_events import BareEventFields  # noqa: PLC0415
    from stream_consumer import handler  # noqa: PLC0415

    noop = _NoOp()
    factory = lambda _service: lambda: noop  # noqa: E731
    environ = {
        "TABLE_NAME": "t",
        "EVENT_BUS_NAME": "b",
        "CONFLICTS_QUEUE_URL": "q",
        "PAYLOAD_BUCKET": "p",
        "FOLLOW_UP_SOURCE": "kahula.event-persister",
        "QUARANTINE_QUEUE_URL": "m",
        "ARCHIVE_STREAM_NAME": "a",
    }
    consumer = handler.StreamConsumer.__new__(handler.StreamConsumer)
    consumer.pipeline = persist.build_pipeline(environ, factory)
    consumer.quarantine = core_batch.build_quarantine(environ, factory)
    consumer.archive = core_batch.build_archive(environ, factory)
    consumer.fields = BareEventFields()
    handler.use_consumer(consumer)
    event = kinesis_batch(1024, records)
    context = type(
        "Context",
        (),
        {
            "function_name": "bench",
            "memory_limit_in_mb": 256,
            "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
            "aws_request_id": "r",
        },
    )()

    def floor() -> None:
        for record in event["Records"]:
            detail = json.loads(base64.b64decode(record["kinesis"]["data"]))["detail"]
            text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            hashlib.sha256(text.encode()).hexdigest()

    def run() -> None:
        handler.lambda_handler(event, context)

    repeat, number = (3, 5) if quick else (10, 10)
    log_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    saved_fd = os.dup(1)
    os.dup2(log_file.fileno(), 1)
    try:
        run()  # warm
        sys.stdout.flush()
        before = os.fstat(1).st_size
        run()
        sys.stdout.flush()
        log_bytes = os.fstat(1).st_size - before
        floor_s = best_of(floor, repeat=repeat, number=number)
        handler_s = best_of(run, repeat=repeat, number=number)
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        log_file.close()
        os.close(saved_fd)
        handler.use_consumer(None)
    return {
        "stream_1kb": {
            "records_per_batch": records,
            "floor_us_per_record": round(floor_s * 1e6 / records, 1),
            "handler_us_per_record": round(handler_s * 1e6 / records, 1),
            "log_bytes_per_batch": log_bytes,
            "ratio": round(handler_s / floor_s, 2),
        }
    }


def per_million_records(
    fn: cost.Function,
    *,
    record_bytes: int,
    item_bytes: int,
    batch_size: int,
    cpu_ms_per_record: float,
    log_bytes_per_batch: float,
) -> dict[str, float]:
    """Dollars per million records through the Kinesis door (archive by PutRecordBatch)."""
    n = cost.MILLION
    invocations = n / batch_size
    cpu_ms = cpu_ms_per_record * max(1.0, cost.LAMBDA_FULL_VCPU_MB / fn.memory_mb)
    # Records are written one after another (order per shard): one PutItem each per batch.
    batch_ms = math.ceil(batch_size * (cpu_ms + cost.PUT_ITEM_MS) + PUT_RECORD_BATCH_MS)
    rounded = (
        math.ceil(record_bytes / KINESIS_RECORD_ROUNDING_BYTES) * KINESIS_RECORD_ROUNDING_BYTES
    )
    firehose_bytes = (
        n
        * math.ceil(record_bytes / cost.FIREHOSE_RECORD_ROUNDING_BYTES)
        * cost.FIREHOSE_RECORD_ROUNDING_BYTES
    )
    logs = invocations * (
        log_bytes_per_batch + (cost.PLATFORM_LOG_BYTES if fn.platform_logs else 0)
    )
    return {
        "Kinesis ingest (1 KB rounding)": n * rounded / cost.GIB * KINESIS_INGEST_PER_GB,
        "Kinesis retrieval": n * record_bytes / cost.GIB * KINESIS_RETRIEVAL_PER_GB,
        "Lambda requests (one per batch)": invocations / n * cost.LAMBDA_REQUESTS_PER_MILLION,
        "Lambda duration": invocations
        * batch_ms
        / 1000
        * fn.memory_mb
        / 1024
        * cost.LAMBDA_GB_SECOND[fn.architecture],
        "DynamoDB writes": n
        * math.ceil(item_bytes / cost.DYNAMODB_WRITE_UNIT_BYTES)
        / n
        * cost.DYNAMODB_WRITE_UNITS_PER_MILLION,
        "Firehose ingest (PutRecordBatch, 5 KB rounding)": firehose_bytes
        / cost.GIB
        * cost.FIREHOSE_PER_GB,
        "X-Ray traces (per batch)": (
            invocations * cost.LAMBDA_XRAY_SAMPLING / n * cost.XRAY_TRACES_PER_MILLION
        )
        if fn.tracing
        else 0.0,
        "CloudWatch Logs": logs / cost.GIB * cost.CLOUDWATCH_LOGS_PER_GB,
        "_batch_ms": batch_ms,
    }


def via_the_bus_extra(item_bytes: int, fn: cost.Function, cpu_ms: float) -> dict[str, float]:
    """What archiving through the bus would add per million records: PutEvents, and the
    persister storing each record again (a duplicate still pays its write unit)."""
    duration_ms = math.ceil(cpu_ms + cost.PUT_ITEM_MS)
    return {
        "EventBridge ingest": cost.EVENTBRIDGE_PER_MILLION,
        "persister requests": cost.LAMBDA_REQUESTS_PER_MILLION,
        "persister duration": cost.MILLION
        * duration_ms
        / 1000
        * fn.memory_mb
        / 1024
        * cost.LAMBDA_GB_SECOND[fn.architecture],
        "duplicate conditional writes": math.ceil(item_bytes / cost.DYNAMODB_WRITE_UNIT_BYTES)
        * cost.DYNAMODB_WRITE_UNITS_PER_MILLION,
    }


def _stream_batch_size(template: dict[str, Any]) -> int | None:
    mappings = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    ]
    return int(mappings[0].get("BatchSize", 100)) if mappings else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream")
    parser.add_argument("--cpu", action="store_true", help="per-record CPU only")
    parser.add_argument("--record-bytes", type=int, default=1024)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    figures = bench_stream(quick=not args.cpu)["stream_1kb"]
    print(
        f"Kinesis consumer, {figures['records_per_batch']}-record batches of 1 KB envelopes: "
        f"{figures['handler_us_per_record']} us CPU per record (floor "
        f"{figures['floor_us_per_record']} us, {figures['ratio']}x); "
        f"{figures['log_bytes_per_batch']} log bytes per batch"
    )
    if args.cpu:
        return 0

    from kahula_core.envelope import parse_envelope  # noqa: PLC0415
    from kahula_core.record import build_record  # noqa: PLC0415
    from kahula_core.settings import Settings  # noqa: PLC0415

    from cdk_app.config import select_environments  # noqa: PLC0415
    from local.synth import synthesize  # noqa: PLC0415

    envelope = parse_envelope(json.loads(sample_event(args.record_bytes)))
    item_bytes = build_record(envelope, Settings(), "2026-11-21T00:00:00.000001Z").size_bytes
    with tempfile.TemporaryDirectory() as tmp:
        assembly, stacks = synthesize(Path(tmp), select_environments("dev"))
        template = assembly.get_stack_by_name(stacks[0].stack_name).template
    batch_size = _stream_batch_size(template) or 100
    fn = cost.read_template(template)
    lines = per_million_records(
        fn,
        record_bytes=args.record_bytes,
        item_bytes=item_bytes,
        batch_size=batch_size,
        cpu_ms_per_record=figures["handler_us_per_record"] / 1000,
        log_bytes_per_batch=figures["log_bytes_per_batch"],
    )
    total = sum(v for k, v in lines.items() if not k.startswith("_"))
    extra = via_the_bus_extra(item_bytes, fn, cpu_ms=0.25)
    print(f"\nPer million {args.record_bytes}-byte records through the Kinesis door (dev):\n")
    print("| line | dev |\n|---|---|")
    for line, value in lines.items():
        if not line.startswith("_"):
            print(f"| {line} | ${value:.3f} |")
    print(f"| **total** | **${total:.2f}** |")
    print(f"| billed duration per {batch_size}-record batch | {lines['_batch_ms']:.0f} ms |")
    print(
        f"\nPlus the stream itself: ${KINESIS_STREAM_HOUR * cost.HOURS_PER_MONTH:.2f} a month "
        "per on-demand stream, whatever the traffic."
    )
    print(
        "Archiving by putting each stored record on the bus instead would add "
        f"${sum(extra.values()):.2f} per million ("
        + ", ".join(f"{k} ${v:.3f}" for k, v in extra.items())
        + "): the chosen PutRecordBatch costs only the Firehose line above."
    )
    if args.json:
        args.json.write_text(json.dumps({"cpu": figures, "lines": lines}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
