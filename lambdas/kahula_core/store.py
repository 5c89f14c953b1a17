"""The data-access layer: the one conditional write, the S3 claim check, the conflicts queue.

Each class takes a zero-argument callable returning its boto3 client, so a client is created
only when first needed (most invocations never touch S3 or SQS) and tests can pass fakes.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from . import spec
from .record import ClaimCheck, identity_differences

ClientFactory = Callable[[], Any]

# Room left in an SQS message for the report around the event (1 MiB limit, spec).
_REPORT_HEADROOM_BYTES = 4096


class WriteOutcome(enum.Enum):
    PERSISTED = "persisted"
    DUPLICATE = "duplicate"  # the stored item is this event: same identity attributes
    CONFLICT = "conflict"  # same unique_id, another event: nothing overwritten


@dataclass(frozen=True)
class WriteResult:
    outcome: WriteOutcome
    stored: Mapping[str, Any] = field(default_factory=dict)  # the item already there, if any
    differences: Sequence[str] = ()  # identity attributes that differ (a conflict)

    @property
    def stored_payload_hash(self) -> str | None:
        value = self.stored.get("payload_hash")
        return value.get("S") if isinstance(value, dict) else None


# Immutable and the same for every newly stored item: built once (this is the hot path).
_PERSISTED = WriteResult(WriteOutcome.PERSISTED)


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
            stored: Mapping[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            differences = identity_differences(item, stored)
            if differences:
                return WriteResult(WriteOutcome.CONFLICT, stored, differences)
            return WriteResult(WriteOutcome.DUPLICATE, stored)
        return _PERSISTED


class PayloadStore:
    """Content-addressed S3 objects under one prefix: the same bytes always get the same key,
    so a retry rewrites identical content and a conflicting event never touches another's."""

    def __init__(self, *, s3: ClientFactory, bucket: str, prefix: str) -> None:
        self._client = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def claim_for(self, kind: str, owner_id: str, body: bytes) -> ClaimCheck:
        """Where ``body`` will live (pure: nothing is written yet)."""
        digest = hashlib.sha256(body).hexdigest()
        owner = hashlib.sha256(owner_id.encode("utf-8", "surrogatepass")).hexdigest()
        key = f"{self.prefix}/{kind}/{owner[:2]}/{owner}/{digest}.json"
        return ClaimCheck(bucket=self.bucket, key=key, sha256=digest, size_bytes=len(body))

    def put(self, claim: ClaimCheck, body: bytes) -> ClaimCheck:
        self._client().put_object(
            Bucket=claim.bucket, Key=claim.key, Body=body, ContentType="application/json"
        )
        return claim


class ConflictQueue:
    """Quarantines an event whose unique_id is already stored as another event."""

    def __init__(self, *, sqs: ClientFactory, queue_url: str, payloads: PayloadStore) -> None:
        self._client = sqs
        self.queue_url = queue_url
        self._payloads = payloads

    def send(
        self,
        *,
        event: Mapping[str, Any],
        unique_id: str,
        incoming: Mapping[str, Any],
        result: WriteResult,
    ) -> None:
        def value(item: Mapping[str, Any], name: str) -> Any:
            attribute = item.get(name)
            return attribute.get("S") if isinstance(attribute, dict) else None

        report: dict[str, Any] = {
            "reason": (
                "conflict: an item with this unique_id is already stored as another event "
                f"(different {', '.join(result.differences)}); nothing was overwritten"
            ),
            "unique_id": unique_id,
            "differences": list(result.differences),
            "stored_payload_hash": value(result.stored, "payload_hash"),
            "incoming_payload_hash": value(incoming, "payload_hash"),
            "stored_event_name": value(result.stored, "event_name"),
            "stored_source": value(result.stored, "source"),
            "event": event,
        }
        body = json.dumps(report, separators=(",", ":"), default=str)
        if len(body.encode("utf-8")) > spec.SQS_MAX_MESSAGE_BYTES - _REPORT_HEADROOM_BYTES:
            document = json.dumps(event, separators=(",", ":"), default=str).encode("utf-8")
            claim = self._payloads.put(
                self._payloads.claim_for("conflicts", unique_id, document), document
            )
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
