"""What the front doors are seeded with, sent as producers send: the FIFO door's sample
messages, and records for the Kinesis door.

The samples are the files beside the FIFO door's schemas (``<type>.sample.json`` and
``<type>.invalid.json`` in ``lambdas/queue_consumer/schemas/``; installed, the same files in
``kahula_lambdas/queue_consumer/schemas/``), so adding a schema with its samples adds it here.
Each message gets a fresh event id and the current time as ``created_at``, as the Go seeder
does; it is sent with the tenant as its message group and the event id as its deduplication
id. ``make seed``, ``make demo`` (local/fifo.py) and ``kahula seed`` all send through here.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_SUFFIX = ".schema.json"
_CHECKOUT_SCHEMAS = Path(__file__).resolve().parents[2] / "lambdas" / "queue_consumer" / "schemas"


def schemas_folder() -> Path:
    """The FIFO door's schemas: the checkout's, else the installed asset's."""
    if _CHECKOUT_SCHEMAS.is_dir():
        return _CHECKOUT_SCHEMAS
    found = importlib.util.find_spec("kahula_lambdas.queue_consumer")
    if found is not None and found.origin:
        return Path(found.origin).parent / "schemas"
    raise FileNotFoundError("the FIFO door's schemas are neither in a checkout nor installed")


def sample_messages(*, invalid: bool, folder: Path | None = None) -> list[dict[str, Any]]:
    """One sample message per event type with a schema in ``folder`` (``invalid``: plus its
    invalid sample), each with a fresh event id and the current time."""
    folder = folder or schemas_folder()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kinds = ("sample", "invalid") if invalid else ("sample",)
    out = []
    for schema in sorted(folder.glob(f"*{SCHEMA_SUFFIX}")):
        event_type = schema.name.removesuffix(SCHEMA_SUFFIX)
        for kind in kinds:
            path = folder / f"{event_type}.{kind}.json"
            if not path.is_file():
                raise FileNotFoundError(f"{event_type}: no {path.name} beside its schema")
            message = json.loads(path.read_text())
            message.update(event_id=str(uuid.uuid4()), created_at=now)
            out.append(message)
    return out


def send_envelopes(sqs: Any, queue_url: str, envelopes: Iterable[Mapping[str, Any]]) -> int:
    """SendMessage each envelope: group = tenant, deduplication id = event id."""
    sent = 0
    for envelope in envelopes:
        kwargs: dict[str, Any] = {
            "QueueUrl": queue_url,
            "MessageBody": json.dumps(envelope),
            "MessageGroupId": str(envelope.get("tenant_id") or "unknown"),
        }
        if envelope.get("event_id"):
            kwargs["MessageDeduplicationId"] = str(envelope["event_id"])[:128]
        sqs.send_message(**kwargs)
        sent += 1
    return sent


def ledger_status(dynamodb: Any, table: str, message: Mapping[str, Any]) -> tuple[str, str]:
    """(status, reason) of a sent message's ledger entry, read consistently; ("pending", "")
    while the consumer has not recorded it."""
    from kahula_core.envelope import normalise_time  # noqa: PLC0415

    sk = f"{normalise_time(str(message['created_at']))}#{message['event_id']}"
    item = dynamodb.get_item(
        TableName=table,
        Key={"tenant_id": {"S": str(message["tenant_id"])}, "sk": {"S": sk}},
        ConsistentRead=True,
    ).get("Item")
    if not item:
        return "pending", ""
    return item["status"]["S"], item.get("reason", {}).get("S", "")


#: Kinesis PutRecords takes at most 500 records a call.
PUT_RECORDS_BATCH = 500


def read_stream_records(path: Path, bad: list[tuple[str, str]]) -> list[tuple[str, str, bytes]]:
    """Lines ``{"partitionKey", "data": {...}}`` (or ``"raw": "text"`` for bytes that are not
    JSON) as (where, partition key, data); a line that is neither is added to ``bad`` with its
    reason. ``make demo`` and ``kahula seed --stream`` read the same file format."""
    out = []
    with path.open(encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                record = json.loads(line)
                key = record["partitionKey"]
                data = (
                    record["raw"].encode("utf-8")
                    if "raw" in record
                    else json.dumps(record["data"]).encode("utf-8")
                )
            except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as exc:
                bad.append((where, f"not a stream record line: {exc}"))
                continue
            if not isinstance(key, str) or not 1 <= len(key) <= 256:
                bad.append((where, "partitionKey must be a string of 1 to 256 characters"))
                continue
            out.append((where, key, data))
    return out


def put_records(
    kinesis: Any, stream_name: str, records: list[tuple[str, bytes]]
) -> list[dict[str, Any]]:
    """PutRecords in batches of 500: each (partition key, data) -> its result, in order
    (``SequenceNumber`` and ``ShardId``, or ``ErrorCode``)."""
    results: list[dict[str, Any]] = []
    for start in range(0, len(records), PUT_RECORDS_BATCH):
        chunk = records[start : start + PUT_RECORDS_BATCH]
        response = kinesis.put_records(
            StreamName=stream_name,
            Records=[{"PartitionKey": key, "Data": data} for key, data in chunk],
        )
        results += response["Records"]
    return results
