"""The data-access layer: the one conditional write, the S3 claim check, the conflicts queue.

Each class takes a zero-argument callable returning its boto3 client, so a client is created
only when first needed (most invocations never touch S3 or SQS) and tests can pass fakes.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .contract import ClaimCheck, stored_payload_hash

ClientFactory = Callable[[], Any]

# SQS accepts messages up to 1 MiB (FACTS.md); larger conflict reports keep the event in S3.
MAX_QUEUE_MESSAGE_BYTES = 1_048_576


class WriteOutcome(enum.Enum):
    PERSISTED = "persisted"
    DUPLICATE = "duplicate"  # same unique_id, same payload_hash: already stored
    CONFLICT = "conflict"  # same unique_id, different payload_hash: nothing overwritten


@dataclass(frozen=True)
class WriteResult:
    outcome: WriteOutcome
    stored_payload_hash: str | None = None


class EventStore:
    """Writes an item once and never overwrites it."""

    def __init__(self, *, dynamodb: ClientFactory, table_name: str) -> None:
        self._client = dynamodb
        self.table_name = table_name

    def put_new(self, item: Mapping[str, Any]) -> WriteResult:
        try:
            self._client().put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(unique_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            existing: Mapping[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            existing_hash = stored_payload_hash(existing)
            incoming_hash = stored_payload_hash(item)
            if existing_hash == incoming_hash:
                return WriteResult(WriteOutcome.DUPLICATE, existing_hash)
            return WriteResult(WriteOutcome.CONFLICT, existing_hash)
        return WriteResult(WriteOutcome.PERSISTED)


class PayloadStore:
    """Content-addressed S3 objects under one prefix: the same bytes always get the same key,
    so a retry rewrites identical content and a conflicting event never touches another's."""

    def __init__(self, *, s3: ClientFactory, bucket: str, prefix: str) -> None:
        self._client = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def put(self, kind: str, owner_id: str, body: bytes) -> ClaimCheck:
        digest = hashlib.sha256(body).hexdigest()
        owner = hashlib.sha256(owner_id.encode("utf-8")).hexdigest()
        key = f"{self.prefix}/{kind}/{owner[:2]}/{owner}/{digest}.json"
        self._client().put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
        )
        return ClaimCheck(bucket=self.bucket, key=key, sha256=digest, size_bytes=len(body))


class ConflictQueue:
    """Quarantines an event whose unique_id is already stored with a different payload."""

    def __init__(self, *, sqs: ClientFactory, queue_url: str, payloads: PayloadStore) -> None:
        self._client = sqs
        self.queue_url = queue_url
        self._payloads = payloads

    def send(
        self,
        *,
        event: Mapping[str, Any],
        unique_id: str,
        stored_hash: str | None,
        incoming_hash: str,
    ) -> None:
        report: dict[str, Any] = {
            "reason": (
                "conflict: an item with this unique_id is already stored with a different "
                "payload_hash; nothing was overwritten"
            ),
            "unique_id": unique_id,
            "stored_payload_hash": stored_hash,
            "incoming_payload_hash": incoming_hash,
            "event": event,
        }
        body = json.dumps(report, separators=(",", ":"), default=str)
        if len(body.encode("utf-8")) > MAX_QUEUE_MESSAGE_BYTES - 4096:
            document = json.dumps(event, separators=(",", ":"), default=str).encode("utf-8")
            claim = self._payloads.put("conflicts", unique_id, document)
            report["event"] = None
            report["event_claim_check"] = {
                "bucket": claim.bucket,
                "key": claim.key,
                "sha256": claim.sha256,
                "size_bytes": claim.size_bytes,
            }
            body = json.dumps(report, separators=(",", ":"), default=str)
        self._client().send_message(
            QueueUrl=self.queue_url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": "conflict"}},
        )
