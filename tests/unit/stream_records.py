"""Lambda Kinesis events for the stream consumer's tests: records as Lambda delivers them."""

from __future__ import annotations

import base64
import json
from typing import Any

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/kahula-test"
SHARD = "shardId-000000000000"
ARRIVAL = 1_795_600_000.5  # 2026-11-25T09:46:40.5Z, when Kinesis received the record


def kinesis_record(data: Any, sequence: int, *, key: str = "pk-1", raw: bytes | None = None):
    """One record; ``data`` is JSON-encoded unless ``raw`` bytes are given."""
    body = raw if raw is not None else json.dumps(data).encode("utf-8")
    sequence_number = f"4954{sequence:052d}"
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(body).decode("ascii"),
            "approximateArrivalTimestamp": ARRIVAL,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/consumer",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def kinesis_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def sequence_of(record: dict[str, Any]) -> str:
    return str(record["kinesis"]["sequenceNumber"])
