"""The read path: one strongly consistent GetItem by unique_id, the claim check restored.

There is no query or scan: an event is read by the id it was stored under, and nothing else.
``EventReader.get`` returns the stored event as plain JSON-ready values (numbers as ``int`` or
``float``: a stored number is an integer, kept exact, or the shortest decimal of a double, which
``float`` reproduces exactly), or None when no item has that id. A claim-checked detail is
fetched from S3 and checked against its recorded SHA-256 before it is returned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import spec
from .attributes import from_attribute_value
from .errors import PersisterError

ClientFactory = Callable[[], Any]

#: Item attributes returned as the event's fields, in this order (absent ones are omitted).
FIELDS = (
    "unique_id",
    "event_name",
    "source",
    "timestamp",
    "domain",
    "saga_id",
    "mbocdp_id",
    "payload_hash",
    "aws_id",
    "persisted_at",
)


class ClaimCheckUnavailableError(PersisterError):
    """A stored event's claim-checked detail cannot be returned: its object is gone or damaged.

    The item exists, so this is neither "not found" nor a transient failure: the detail was
    deleted or replaced in S3 behind the store's back. An operator restores it from the archive.
    """


class ClaimCheckMissingError(ClaimCheckUnavailableError):
    """The claim-check object the item names does not exist (deleted, or its bucket emptied)."""


class ClaimCheckMismatchError(ClaimCheckUnavailableError):
    """A claim-check object's bytes do not hash to the SHA-256 the item recorded."""


def plain(value: Any) -> Any:
    """DynamoDB's Decimals -> int (exact) or float (the double the producer sent)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class StoredEvent:
    """One stored event: its contract fields, and its detail or where the detail lives."""

    fields: dict[str, Any]
    detail: dict[str, Any] | None  # None when left in S3 (see ``claim_check``)
    claim_check: dict[str, Any] | None  # {bucket, key, sha256, size_bytes} if claim-checked

    @property
    def payload_hash(self) -> str:
        return str(self.fields["payload_hash"])


class EventReader:
    """GetItem (ConsistentRead) and, for a claim-checked detail, GetObject."""

    def __init__(self, *, dynamodb: ClientFactory, s3: ClientFactory, table_name: str) -> None:
        self._dynamodb = dynamodb
        self._s3 = s3
        self.table_name = table_name

    def get(self, unique_id: str, *, restore: bool = True) -> StoredEvent | None:
        """The event stored under ``unique_id``, read after every acknowledged write."""
        size = len(unique_id.encode("utf-8", "surrogatepass"))
        if not size or size > spec.DYNAMODB_MAX_PARTITION_KEY_BYTES:
            # No item can have this key (DynamoDB would refuse the request, not answer None).
            return None
        response = self._dynamodb().get_item(
            TableName=self.table_name,
            Key={"unique_id": {"S": unique_id}},
            ConsistentRead=True,
        )
        item: Mapping[str, Any] | None = response.get("Item")
        if not item:
            return None
        fields = {name: plain(from_attribute_value(item[name])) for name in FIELDS if name in item}
        if "payload" in item:
            return StoredEvent(fields, plain(from_attribute_value(item["payload"])), None)
        claim = plain(from_attribute_value(item["payload_claim_check"]))
        detail = self.restore(claim) if restore else None
        return StoredEvent(fields, detail, claim)

    def restore(self, claim: Mapping[str, Any]) -> dict[str, Any]:
        try:
            body = self._s3().get_object(Bucket=claim["bucket"], Key=claim["key"])["Body"].read()
        except Exception as exc:  # botocore's ClientError, without importing botocore here
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code not in {"NoSuchKey", "NoSuchBucket", "404"}:
                raise
            raise ClaimCheckMissingError(
                f"claim check s3://{claim['bucket']}/{claim['key']} does not exist ({code}): "
                "the stored event's detail was deleted; restore it from the archive"
            ) from exc
        digest = hashlib.sha256(body).hexdigest()
        if digest != claim["sha256"]:
            raise ClaimCheckMismatchError(
                f"claim check s3://{claim['bucket']}/{claim['key']} hashes to {digest}, "
                f"the item recorded {claim['sha256']}: the object was replaced or damaged"
            )
        return plain(json.loads(body, parse_float=Decimal))  # type: ignore[no-any-return]

    def presigned_url(self, claim: Mapping[str, Any]) -> str:
        """A short-lived GET URL for a claim-checked detail (signed with the reader's role)."""
        return str(
            self._s3().generate_presigned_url(
                "get_object",
                Params={"Bucket": claim["bucket"], "Key": claim["key"]},
                ExpiresIn=spec.API_PRESIGNED_URL_SECONDS,
            )
        )
