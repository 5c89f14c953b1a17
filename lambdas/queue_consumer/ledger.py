"""The tenant ledger and its idempotency record: each (tenant_id, event_id) recorded once.

Ledger item (table key ``tenant_id`` + ``sk``):

| attribute | type | value |
|---|---|---|
| ``tenant_id`` | S (partition key) | the message's tenant |
| ``sk`` | S (sort key) | ``created_at#event_id`` |
| ``event_id``, ``event_type`` | S | from the message |
| ``status`` | S | ``READY`` or ``INVALID`` |
| ``route`` | S | the message's route, else the type's configured route (omitted if neither) |
| ``payload`` | M | the message's payload as a native map |
| ``payload_claim_check`` | M | instead of ``payload`` when over 350 KB: its JSON's S3 claim check |
| ``retries`` | N | SQS receives before the one that recorded it (ApproximateReceiveCount - 1) |
| ``reason`` | S | why it is INVALID (INVALID only) |
| ``schema_version`` | S | the version of the schema it was checked against (absent: no schema) |
| ``created_at`` | S | the message's created_at, else when it was first processed (canonical UTC) |
| ``tenant_id_created_at`` | S | ``tenant_id#created_at``: the sort key of ``gsi_status_tenant`` |
| ``ttl`` | N | epoch seconds, ``events_ttl_days`` after recording (absent when 0: never) |

Idempotency, and why not a transaction: the ledger's sort key holds ``created_at``, which is the
processing time when the message has none, so a redelivery would get another key. The
idempotency item (``pk`` = ``tenant_id#event_id``, TTL ``idempotency_ttl_days``) is claimed
first with a conditional put and keeps the ``created_at`` the first attempt chose; every later
attempt (a redelivery, a concurrent duplicate, a retry after a crash between the writes) reads
it back from the failed condition and writes the ledger item under the same key, again
conditionally. So a second entry cannot appear, and an entry lost to a crash is written by the
retry. 1 write unit (claim) + 1 (ledger) + 1 (its GSI) per message; the Go service's
TransactWriteItems of the same two puts costs 2 + 2 + 1 (bench/cost.py measures both).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from kahula_core.attributes import to_attribute_value
from kahula_core.store import PayloadStore

ClientFactory = Callable[[], Any]
DAY_SECONDS = 86_400


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Claim:
    created_at: str  # the created_at every attempt uses for this (tenant, event)
    first: bool  # this attempt made the claim


class IdempotencyStore:
    def __init__(
        self, *, dynamodb: ClientFactory, table_name: str, ttl_days: int, clock: Callable[[], float]
    ) -> None:
        self._client = dynamodb
        self.table_name = table_name
        self.ttl_days = ttl_days
        self._clock = clock

    def claim(self, tenant_id: str, event_id: str, event_type: str, created_at: str) -> Claim:
        item: dict[str, Any] = {
            "pk": {"S": f"{tenant_id}#{event_id}"},
            "created_at": {"S": created_at},
            "event_type": {"S": event_type},
        }
        if self.ttl_days > 0:
            item["ttl"] = {"N": str(int(self._clock()) + self.ttl_days * DAY_SECONDS)}
        try:
            self._client().put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            stored: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            earlier = stored.get("created_at", {}).get("S")
            return Claim(created_at=earlier or created_at, first=False)
        return Claim(created_at=created_at, first=True)


@dataclass(frozen=True)
class LedgerEntry:
    tenant_id: str
    event_id: str
    event_type: str
    status: str
    created_at: str
    payload: dict[str, Any]
    retries: int
    route: str | None = None
    reason: str | None = None
    schema_version: str | None = None

    @property
    def sk(self) -> str:
        return f"{self.created_at}#{self.event_id}"


@dataclass(frozen=True)
class Recorded:
    """What ``TenantLedger.record`` did: truthy when it wrote the entry."""

    written: bool
    existing_status: str | None = None  # the entry already there (when not written)

    def __bool__(self) -> bool:
        return self.written


#: A payload larger than this (as DynamoDB sizes it) is claim-checked: the item limit is 400 KB.
MAX_INLINE_PAYLOAD_BYTES = 350_000


class TenantLedger:
    def __init__(
        self,
        *,
        dynamodb: ClientFactory,
        table_name: str,
        ttl_days: int,
        clock: Callable[[], float],
        payloads: PayloadStore | None = None,
        max_inline_bytes: int = MAX_INLINE_PAYLOAD_BYTES,
    ) -> None:
        self._client = dynamodb
        self.table_name = table_name
        self.ttl_days = ttl_days
        self._clock = clock
        self._payloads = payloads
        self.max_inline_bytes = max_inline_bytes

    def _payload(self, entry: LedgerEntry) -> tuple[str, dict[str, Any]]:
        """The payload attribute: the map, or a claim check to its JSON in S3 when too big.

        Refuses (UnstorableValueError, a MalformedEventError) what DynamoDB cannot hold.
        """
        payload, size = to_attribute_value(entry.payload, "payload")
        if size <= self.max_inline_bytes or self._payloads is None:
            return "payload", payload
        body = json.dumps(entry.payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
        claim = self._payloads.claim_for("ledger", f"{entry.tenant_id}#{entry.event_id}", body)
        self._payloads.put(claim, body)
        return "payload_claim_check", claim.attribute_value()

    def item(self, entry: LedgerEntry) -> dict[str, Any]:
        payload_name, payload = self._payload(entry)
        item: dict[str, Any] = {
            "tenant_id": {"S": entry.tenant_id},
            "sk": {"S": entry.sk},
            "event_id": {"S": entry.event_id},
            "event_type": {"S": entry.event_type},
            "status": {"S": entry.status},
            payload_name: payload,
            "retries": {"N": str(entry.retries)},
            "created_at": {"S": entry.created_at},
            "tenant_id_created_at": {"S": f"{entry.tenant_id}#{entry.created_at}"},
        }
        optional = {
            "route": entry.route,
            "reason": entry.reason,
            "schema_version": entry.schema_version,
        }
        item.update({k: {"S": v} for k, v in optional.items() if v is not None})
        if self.ttl_days > 0:
            item["ttl"] = {"N": str(int(self._clock()) + self.ttl_days * DAY_SECONDS)}
        return item

    def record(self, entry: LedgerEntry) -> Recorded:
        """Write the entry unless it exists; truthy if this call wrote it, else the status the
        existing entry holds (read back from the failed condition, no extra request)."""
        try:
            self._client().put_item(
                TableName=self.table_name,
                Item=self.item(entry),
                ConditionExpression="attribute_not_exists(sk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                stored: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
                return Recorded(False, stored.get("status", {}).get("S"))
            raise
        return Recorded(True)


def now_seconds() -> float:
    return time.time()
