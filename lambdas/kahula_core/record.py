"""The data contract: how one event becomes one DynamoDB item. Every field, in one place.

  unique_id            S, the table key: the producer's id at ``event_id_path`` (a string or
                       an integer) when present, else the EventBridge ``id``
  aws_id               S, the EventBridge ``id``
  event_name           S, the ``detail-type``
  source               S, the ``source``
  timestamp            S, the event ``time`` in the one canonical form
                       ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, fixed width: string order is time
                       order; see envelope.py)
  domain               S, the value at ``domain_path``, else the first dot-segment of ``source``
  saga_id              S, the value at ``saga_id_path``; omitted when absent, null or empty
  mbocdp_id            S, the value at ``mbocdp_id_path``; omitted likewise
  payload              M, the detail as a native DynamoDB map (attributes.py: numbers exact)
  payload_claim_check  M, instead of ``payload`` when the item would pass the inline limit:
                       {bucket, key, sha256, size_bytes} of the detail's canonical JSON in S3
  payload_hash         S, SHA-256 (hex) of the canonical JSON (hashing.py, RFC 8785) of the
                       detail less ``hash_excluded_paths``
  persisted_at         S, when it was stored, in the same canonical time form

A replayed event (envelope.py, ``kahula replay``) is mapped as the original it wraps: every
field above comes from the original, so a replay of a stored event is that event again.

Identity: an item IS an event when unique_id, event_name, source and payload_hash all match.
The same unique_id with any of the other three different is a conflict, never a duplicate.

Refused at once (a MalformedEventError subclass naming the field and the limit): an attribute
that can key the table or an index (spec.KEY_ATTRIBUTES) longer than its key limit, and an item
over DynamoDB's 400 KB even with its detail claim-checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import spec
from .attributes import attribute_size, detail_attribute_value, string_bytes
from .envelope import MISSING, Envelope, lookup
from .errors import InvalidIdentifierError, ItemTooLargeError, KeyTooLongError
from .hashing import canonical_json, payload_hash
from .settings import Settings

#: The attributes that decide whether a stored item is the same event (see the docstring).
IDENTITY_ATTRIBUTES = ("event_name", "source", "payload_hash")


@dataclass(frozen=True)
class ClaimCheck:
    """Where an oversize detail lives in S3."""

    bucket: str
    key: str
    sha256: str
    size_bytes: int

    def attribute_value(self) -> dict[str, Any]:
        return {
            "M": {
                "bucket": {"S": self.bucket},
                "key": {"S": self.key},
                "sha256": {"S": self.sha256},
                "size_bytes": {"N": str(self.size_bytes)},
            }
        }


@dataclass(frozen=True)
class EventRecord:
    """One event mapped to the contract, ready to be written."""

    unique_id: str
    payload_hash: str
    event_name: str
    source: str
    domain: str
    saga_id: str | None
    envelope: Envelope
    item: dict[str, Any]  # DynamoDB AttributeValue map
    size_bytes: int  # stored size of ``item``
    payload_bytes: int  # stored size of the ``payload`` attribute (name included); 0 if none

    def fits_inline(self, settings: Settings) -> bool:
        return self.size_bytes <= settings.max_inline_item_bytes

    def with_claim_check(self, claim: ClaimCheck) -> EventRecord:
        """The record with its detail in S3; ItemTooLargeError if it is still over 400 KB."""
        item = {k: v for k, v in self.item.items() if k != "payload"}
        item["payload_claim_check"] = claim.attribute_value()
        size = (
            self.size_bytes
            - self.payload_bytes
            + attribute_size("payload_claim_check", item["payload_claim_check"])
        )
        if size > spec.DYNAMODB_MAX_ITEM_BYTES:
            largest = sorted(((attribute_size(k, v), k) for k, v in item.items()), reverse=True)[:3]
            raise ItemTooLargeError(
                f"the item is {size} bytes with its detail in S3, over DynamoDB's "
                f"{spec.DYNAMODB_MAX_ITEM_BYTES}-byte item limit; largest attributes: "
                + ", ".join(f"{name} ({n} bytes)" for n, name in largest)
            )
        return replace(self, item=item, size_bytes=size, payload_bytes=0)


def identity_differences(item: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """The identity attributes on which ``item`` and the ``stored`` item (same unique_id)
    differ: empty means the stored item is this event (a duplicate)."""
    return [name for name in IDENTITY_ATTRIBUTES if item.get(name) != stored.get(name)]


def _optional_identifier(event: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
    """A string or integer identifier at ``path``; None when absent, null or empty."""
    value = lookup(event, path)
    if value is MISSING or value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidIdentifierError(
            f"{'.'.join(path)} must be a string or an integer, got {type(value).__name__}"
        )
    return str(value)


def _bounded(name: str, value: str, settings: Settings) -> int:
    """UTF-8 size of a key-capable attribute, refused over its key limit."""
    size = len(value) if value.isascii() else string_bytes(value, name)
    limit = settings.key_limits.get(name)
    if limit is not None and size > limit:
        raise KeyTooLongError(
            f"{name} is {size} bytes of UTF-8; an attribute that can key the table or an "
            f"index may hold at most {limit} bytes (DynamoDB's key limit)"
        )
    return size


def build_record(envelope: Envelope, settings: Settings, persisted_at: str) -> EventRecord:
    """Map a validated envelope to the stored item (the whole contract, in one place)."""
    event = envelope.raw
    producer_id = _optional_identifier(event, settings.event_id_path)
    unique_id = producer_id if producer_id is not None else envelope.aws_id
    domain = _optional_identifier(event, settings.domain_path) or envelope.source.split(".")[0]
    saga_id = _optional_identifier(event, settings.saga_id_path)
    mbocdp_id = _optional_identifier(event, settings.mbocdp_id_path)

    payload, payload_bytes, plain = detail_attribute_value(envelope.detail)
    digest = payload_hash(envelope.detail, settings.hash_excluded_paths, plain=plain)

    strings: dict[str, str] = {
        "unique_id": unique_id,
        "payload_hash": digest,
        "aws_id": envelope.aws_id,
        "event_name": envelope.detail_type,
        "timestamp": envelope.time,
        "domain": domain,
        "source": envelope.source,
        "persisted_at": persisted_at,
    }
    if saga_id is not None:
        strings["saga_id"] = saga_id
    if mbocdp_id is not None:
        strings["mbocdp_id"] = mbocdp_id

    size = payload_bytes + len("payload")
    item: dict[str, Any] = {}
    for name, value in strings.items():
        item[name] = {"S": value}
        size += len(name) + _bounded(name, value, settings)
    item["payload"] = payload

    return EventRecord(
        unique_id=unique_id,
        payload_hash=digest,
        event_name=envelope.detail_type,
        source=envelope.source,
        domain=domain,
        saga_id=saga_id,
        envelope=envelope,
        item=item,
        size_bytes=size,
        payload_bytes=payload_bytes + len("payload"),
    )


def detail_document(envelope: Envelope) -> bytes:
    """The full detail as canonical JSON: what a claim check stores in S3."""
    return canonical_json(envelope.detail)
