"""The FIFO door in `make bench` and `make cost`: CPU per message, write units and dollars per
message, and the idempotency choice measured both ways.

Write units are priced from the items the code builds (their DynamoDB sizes, measured with
``kahula_core.attributes``) by DynamoDB's rules: a write costs one unit per KB of the item; a
transactional write two per KB (DynamoDB quotas, TransactWriteItems); a GSI that projects ALL
writes the whole item again, at the standard rate; a failed conditional write still costs.

    python -m bench.queue [--payload-bytes 512]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from bench.cost import (  # noqa: E402
    DYNAMODB_WRITE_UNIT_BYTES,
    DYNAMODB_WRITE_UNITS_PER_MILLION,
    FIREHOSE_PER_GB,
    FIREHOSE_RECORD_ROUNDING_BYTES,
    GIB,
    LAMBDA_GB_SECOND,
    LAMBDA_REQUESTS_PER_MILLION,
    MILLION,
    PUT_ITEM_MS,
)

SQS_FIFO_PER_MILLION = 0.50  # requests, per 64 KB chunk (SQS pricing, us-east-1, 2026)
SQS_CHUNK_BYTES = 64 * 1024
BATCH = 10  # messages per invocation: one ReceiveMessage and one DeleteMessageBatch each
MEMORY_MB = 256
FIREHOSE_PUT_MS = 8.0  # one PutRecord round trip (estimate, like PUT_ITEM_MS)


def units(size: int, per_kb: int = 1) -> int:
    return per_kb * math.ceil(size / DYNAMODB_WRITE_UNIT_BYTES)


@dataclass(frozen=True)
class Sizes:
    idempotency: int
    ledger: int
    store: int


def measure_sizes(payload_bytes: int) -> Sizes:
    """The three items one READY message writes, sized as DynamoDB bills them."""
    from kahula_core.attributes import attribute_size  # noqa: PLC0415
    from kahula_core.envelope import parse_envelope  # noqa: PLC0415
    from kahula_core.record import build_record  # noqa: PLC0415
    from kahula_core.settings import Settings  # noqa: PLC0415
    from queue_consumer.ledger import LedgerEntry, TenantLedger  # noqa: PLC0415
    from queue_consumer.message import parse_message  # noqa: PLC0415

    message = parse_message(json.dumps(sample_message(payload_bytes)))
    created = "2026-11-22T05:40:36.000000Z"
    entry = LedgerEntry(
        tenant_id=message.tenant_id,
        event_id=message.event_id,
        event_type=message.event_type,
        status="READY",
        created_at=created,
        payload=message.payload,
        retries=0,
        route="default",
        schema_version="1.0.0",
    )
    ledger = TenantLedger(dynamodb=lambda: None, table_name="t", ttl_days=0, clock=time.time)
    ledger_item = ledger.item(entry)
    idem_item = {
        "pk": {"S": f"{message.tenant_id}#{message.event_id}"},
        "created_at": {"S": created},
        "event_type": {"S": message.event_type},
        "ttl": {"N": "1795000000"},
    }
    event = platform_event(message, created)
    record = build_record(parse_envelope(event), Settings(), created)

    def size(item: dict[str, Any]) -> int:
        return sum(attribute_size(k, v) for k, v in item.items())

    return Sizes(size(idem_item), size(ledger_item), record.size_bytes)


def sample_message(payload_bytes: int) -> dict[str, Any]:
    return {
        "tenant_id": "tenant-a",
        "event_id": "3f1e7c2a-1b7d-4f7e-9a51-0c2d9f6f1a10",
        "event_type": "user.created",
        "route": "default",
        "created_at": "2026-11-22T05:40:36Z",
        "payload": {
            "id": "3f1e7c2a-1b7d-4f7e-9a51-0c2d9f6f1a10",
            "email": "user@example.com",
            "name": "x" * max(0, payload_bytes - 80),
        },
    }


def platform_event(message: Any, created: str) -> dict[str, Any]:
    from types import SimpleNamespace  # noqa: PLC0415

    from kahula_core.settings import Settings  # noqa: PLC0415
    from queue_consumer.process import DEFAULT_SOURCE_PREFIX, to_platform_event  # noqa: PLC0415

    consumer: Any = SimpleNamespace(settings=Settings(), source_prefix=DEFAULT_SOURCE_PREFIX)
    return to_platform_event(message, created_at=created, route="default", consumer=consumer)


def write_units(sizes: Sizes) -> dict[str, dict[str, int]]:
    """Write units per message for each idempotency design: new, and redelivered."""
    claim = units(sizes.idempotency)
    ledger = units(sizes.ledger)
    gsi = units(sizes.ledger)  # gsi_status_tenant projects ALL
    store = units(sizes.store)
    return {
        # Chosen: conditional claim on the idempotency table, then a conditional ledger put.
        "claim + conditional put": {
            "new": claim + ledger + gsi + store,
            "redelivered": claim + ledger + store,  # three failed conditional writes
        },
        # The Go service's design: TransactWriteItems of the same two puts.
        "transaction": {
            "new": units(sizes.idempotency, 2) + units(sizes.ledger, 2) + gsi + store,
            "redelivered": units(sizes.idempotency, 2) + units(sizes.ledger, 2) + store,
        },
    }


def per_million(sizes: Sizes, *, payload_bytes: int, cpu_ms: float) -> dict[str, float]:
    """Dollars per million READY messages with the chosen design (batches of ten)."""
    body = len(json.dumps(sample_message(payload_bytes)))
    chunks = math.ceil(body / SQS_CHUNK_BYTES)
    requests = MILLION * chunks * (1 + 2 / BATCH)  # send; receive + delete per batch
    duration_ms = cpu_ms + 3 * PUT_ITEM_MS + FIREHOSE_PUT_MS + PUT_ITEM_MS
    wu = write_units(sizes)["claim + conditional put"]["new"]
    firehose = math.ceil(body / FIREHOSE_RECORD_ROUNDING_BYTES) * FIREHOSE_RECORD_ROUNDING_BYTES
    return {
        "SQS FIFO requests": requests / MILLION * SQS_FIFO_PER_MILLION,
        "Lambda requests": LAMBDA_REQUESTS_PER_MILLION / BATCH,
        "Lambda duration": MILLION
        * duration_ms
        / 1000
        * MEMORY_MB
        / 1024
        * LAMBDA_GB_SECOND["arm64"],
        "DynamoDB writes": wu * DYNAMODB_WRITE_UNITS_PER_MILLION,
        "Firehose ingest": MILLION * firehose / GIB * FIREHOSE_PER_GB,
    }


def measure_cpu(quick: bool = True) -> dict[str, float]:
    """Microseconds of consumer CPU per message (no-op AWS clients): READY, INVALID."""
    from queue_consumer.process import Received, build_consumer, process_message  # noqa: PLC0415

    from bench.run import best_of  # noqa: PLC0415

    class NoOp:
        def __getattr__(self, _name: str) -> Any:
            return lambda **_: {"FailedEntryCount": 0, "Entries": []}

    environment = {
        "TABLE_NAME": "t",
        "EVENT_BUS_NAME": "b",
        "CONFLICTS_QUEUE_URL": "q",
        "PAYLOAD_BUCKET": "p",
        "FOLLOW_UP_SOURCE": "kahula.event-persister",
        "LEDGER_TABLE": "l",
        "IDEMPOTENCY_TABLE": "i",
        "DEAD_LETTER_QUEUE_URL": "d",
        "ARCHIVE_STREAM": "a",
    }
    noop = NoOp()
    consumer = build_consumer(environment, lambda _service: lambda: noop)
    ready = Received("m", json.dumps(sample_message(512)), "tenant-a")
    bad = json.dumps({**sample_message(512), "payload": {"id": "1"}})
    invalid = Received("m", bad, "tenant-a")
    process_message(ready, consumer)  # compile the schema (once per container)
    repeat, number = (3, 200) if quick else (7, 1000)
    return {
        "ready_us": round(
            best_of(lambda: process_message(ready, consumer), repeat=repeat, number=number) * 1e6,
            1,
        ),
        "invalid_us": round(
            best_of(lambda: process_message(invalid, consumer), repeat=repeat, number=number) * 1e6,
            1,
        ),
    }


def bench_queue(quick: bool) -> dict[str, Any]:
    """For `make bench`: per-message CPU of the FIFO consumer (information, no target)."""
    return {"queue_consumer": measure_cpu(quick)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.queue")
    parser.add_argument("--payload-bytes", type=int, default=512)
    args = parser.parse_args(argv)
    sizes = measure_sizes(args.payload_bytes)
    cpu = measure_cpu(quick=True)
    print(
        f"\nFIFO door, per READY message ({args.payload_bytes} B payload; items: idempotency "
        f"{sizes.idempotency} B, ledger {sizes.ledger} B, store {sizes.store} B; "
        f"consumer CPU {cpu['ready_us']} us READY, {cpu['invalid_us']} us INVALID)\n"
    )
    print(
        "| idempotency design | write units, new | write units, redelivered | $ per million new |"
    )
    print("|---|---|---|---|")
    for design, wu in write_units(sizes).items():
        dollars = wu["new"] * DYNAMODB_WRITE_UNITS_PER_MILLION
        print(f"| {design} | {wu['new']} | {wu['redelivered']} | ${dollars:.3f} |")
    lines = per_million(sizes, payload_bytes=args.payload_bytes, cpu_ms=cpu["ready_us"] / 1000)
    print("\n| line (chosen design) | $ per million messages |\n|---|---|")
    for line, dollars in lines.items():
        print(f"| {line} | ${dollars:.3f} |")
    print(f"| **total** | **${sum(lines.values()):.2f}** |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
