"""The data contract: how one EventBridge event becomes one DynamoDB item.

This module owns every field of a stored item (the README's "Data contract" section documents
the same, field by field):

  unique_id       producer event id at ``event_id_path`` if present, else the EventBridge id
  aws_id          the EventBridge ``id``
  event_name      the ``detail-type``
  source          the ``source``
  timestamp       the event ``time``, normalised to ISO-8601 UTC (``...Z``)
  domain          value at ``domain_path``, else the first dot-separated segment of ``source``
  saga_id         value at ``saga_id_path``; omitted when absent
  mbocdp_id       value at ``mbocdp_id_path``; omitted when absent
  payload         the detail as a native DynamoDB map (numbers as exact decimals)
  payload_claim_check  instead of ``payload`` when the item would exceed the inline limit:
                  {bucket, key, sha256, size_bytes} of the detail stored in S3
  payload_hash    SHA-256 of the canonical JSON of the detail less ``hash_excluded_paths``
  persisted_at    when the persister stored it, ISO-8601 UTC

Pure functions only: no AWS, no clock, no environment reads except in ``ContractSettings.from_env``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .errors import (
    ConfigurationError,
    EnvelopeError,
    InvalidIdentifierError,
    InvalidTimestampError,
    UnstorableValueError,
)

# DynamoDB limits (see FACTS.md): nesting depth, number precision and range, key size.
MAX_NESTING_DEPTH = 32
MAX_NUMBER_DIGITS = 38
MAX_NUMBER_EXPONENT = 125
MIN_NUMBER_EXPONENT = -130
MAX_PARTITION_KEY_BYTES = 2048

DEFAULT_EVENT_ID_PATH = "detail.metadata.event_id"
DEFAULT_DOMAIN_PATH = "detail.metadata.domain"
DEFAULT_SAGA_ID_PATH = "detail.metadata.saga_id"
DEFAULT_MBOCDP_ID_PATH = "detail.metadata.mbocdp_id"
DEFAULT_HASH_EXCLUDED_PATHS = (
    "detail.metadata.saga_id",
    "detail.metadata.timestamp",
    "detail.metadata.occurred_at",
)
DEFAULT_MAX_INLINE_ITEM_BYTES = 350_000

_MISSING: Any = object()


def _split_path(path: str, *, var: str) -> tuple[str, ...]:
    parts = tuple(path.split("."))
    if not path or any(p == "" for p in parts):
        raise ConfigurationError(f"{var}={path!r} is not a dotted path like detail.metadata.x")
    return parts


@dataclass(frozen=True, kw_only=True)
class ContractSettings:
    """Where each contract field lives in an event, as parsed dotted paths."""

    event_id_path: tuple[str, ...] = tuple(DEFAULT_EVENT_ID_PATH.split("."))
    domain_path: tuple[str, ...] = tuple(DEFAULT_DOMAIN_PATH.split("."))
    saga_id_path: tuple[str, ...] = tuple(DEFAULT_SAGA_ID_PATH.split("."))
    mbocdp_id_path: tuple[str, ...] = tuple(DEFAULT_MBOCDP_ID_PATH.split("."))
    # Relative to the detail (the leading "detail." is stripped).
    hash_excluded_paths: tuple[tuple[str, ...], ...] = tuple(
        tuple(p.split("."))[1:] for p in DEFAULT_HASH_EXCLUDED_PATHS
    )
    max_inline_item_bytes: int = DEFAULT_MAX_INLINE_ITEM_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ContractSettings:
        excluded = environ.get("HASH_EXCLUDED_PATHS", ",".join(DEFAULT_HASH_EXCLUDED_PATHS))
        excluded_parts = []
        for raw in filter(None, (p.strip() for p in excluded.split(","))):
            parts = _split_path(raw, var="HASH_EXCLUDED_PATHS")
            if parts[0] != "detail" or len(parts) < 2:
                raise ConfigurationError(
                    f"HASH_EXCLUDED_PATHS entry {raw!r} must start with 'detail.'"
                )
            excluded_parts.append(parts[1:])
        try:
            max_inline = int(
                environ.get("MAX_INLINE_ITEM_BYTES", str(DEFAULT_MAX_INLINE_ITEM_BYTES))
            )
        except ValueError as exc:
            raise ConfigurationError(f"MAX_INLINE_ITEM_BYTES is not an integer: {exc}") from exc
        return cls(
            event_id_path=_split_path(
                environ.get("EVENT_ID_PATH", DEFAULT_EVENT_ID_PATH), var="EVENT_ID_PATH"
            ),
            domain_path=_split_path(
                environ.get("DOMAIN_PATH", DEFAULT_DOMAIN_PATH), var="DOMAIN_PATH"
            ),
            saga_id_path=_split_path(
                environ.get("SAGA_ID_PATH", DEFAULT_SAGA_ID_PATH), var="SAGA_ID_PATH"
            ),
            mbocdp_id_path=_split_path(
                environ.get("MBOCDP_ID_PATH", DEFAULT_MBOCDP_ID_PATH),
                var="MBOCDP_ID_PATH",
            ),
            hash_excluded_paths=tuple(excluded_parts),
            max_inline_item_bytes=max_inline,
        )


# --------------------------------------------------------------------------- envelope


@dataclass(frozen=True)
class Envelope:
    """The validated EventBridge envelope of one event."""

    aws_id: str
    detail_type: str
    source: str
    time: str  # normalised ISO-8601 UTC
    detail: dict[str, Any]
    raw: dict[str, Any]


def _required_string(event: Mapping[str, Any], key: str) -> str:
    if key not in event:
        raise EnvelopeError(f"event has no {key!r} field")
    value = event[key]
    if not isinstance(value, str):
        raise EnvelopeError(f"event field {key!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise EnvelopeError(f"event field {key!r} is empty")
    return value


def normalise_time(value: str) -> str:
    """ISO-8601 with an offset -> ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` in UTC."""
    try:
        parsed = datetime.fromisoformat(value)
        if len(value) == 20 and value[10] == "T" and value[-1] == "Z":  # canonical already
            return value
    except ValueError:
        raise InvalidTimestampError(
            f"event field 'time' is not an ISO-8601 timestamp: {value[:64]!r}"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidTimestampError(
            f"event field 'time' has no UTC offset, so its instant is ambiguous: {value[:64]!r}"
        )
    return format_utc(parsed)


def format_utc(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_envelope(event: Any) -> Envelope:
    """Validate the EventBridge envelope; raise a specific MalformedEventError if it is bad."""
    if not isinstance(event, dict):
        raise EnvelopeError(f"event must be a JSON object, got {type(event).__name__}")
    aws_id = _required_string(event, "id")
    detail_type = _required_string(event, "detail-type")
    source = _required_string(event, "source")
    time_text = _required_string(event, "time")
    if "detail" not in event:
        raise EnvelopeError("event has no 'detail' field")
    detail = event["detail"]
    if not isinstance(detail, dict):
        raise EnvelopeError(f"event field 'detail' must be an object, got {type(detail).__name__}")
    return Envelope(
        aws_id=aws_id,
        detail_type=detail_type,
        source=source,
        time=normalise_time(time_text),
        detail=detail,
        raw=event,
    )


# --------------------------------------------------------------------------- field lookup


def lookup(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path, or _MISSING if any step is absent or not an object."""
    node: Any = event
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _optional_identifier(event: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
    """A string or integer identifier at ``path``; None when absent, null or empty."""
    value = lookup(event, path)
    if value is _MISSING or value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidIdentifierError(
            f"{'.'.join(path)} must be a string or an integer, got {type(value).__name__}"
        )
    return str(value)


# --------------------------------------------------------------------------- payload


def _location(where: Any) -> str:
    """Render a lazily built location: ("detail",) / (parent, key) / (parent, [index])."""
    parts: list[str] = []
    while isinstance(where, tuple) and len(where) == 2:
        where, step = where
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return str(where[0] if isinstance(where, tuple) else where) + "".join(reversed(parts))


def _checked_number(value: Decimal, where: Any) -> str:
    """A number as DynamoDB stores it, after its precision and range checks."""
    if value != 0:
        # Significant digits without Decimal.normalize(), which rounds to the context's 28.
        significant = "".join(map(str, value.as_tuple().digits)).strip("0")
        if len(significant) > MAX_NUMBER_DIGITS:
            raise UnstorableValueError(
                f"{_location(where)}: number has {len(significant)} significant digits; "
                f"DynamoDB stores at most {MAX_NUMBER_DIGITS}"
            )
        adjusted = value.adjusted()
        if not MIN_NUMBER_EXPONENT <= adjusted <= MAX_NUMBER_EXPONENT:
            raise UnstorableValueError(
                f"{_location(where)}: number magnitude 1E{adjusted} is outside DynamoDB's range "
                f"(1E{MIN_NUMBER_EXPONENT} to 1E{MAX_NUMBER_EXPONENT})"
            )
    return str(value)


def _string_bytes(value: str, where: Any) -> int:
    if value.isascii():
        return len(value)
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnstorableValueError(
            f"{_location(where)}: text holds a lone surrogate, which is not valid Unicode"
        ) from None


def _leaf(value: Any, where: Any) -> tuple[dict, int] | None:
    """A string or number as an AttributeValue with its size; None for anything else."""
    kind = type(value)
    if kind is str:
        return {"S": value}, (len(value) if value.isascii() else _string_bytes(value, where))
    if kind is int:
        text = str(value)
        # Up to 38 digits an int is always within DynamoDB's precision and range.
        if len(text) > MAX_NUMBER_DIGITS + (text[0] == "-"):
            text = _checked_number(Decimal(value), where)
        return {"N": text}, len(text) // 2 + 2
    if kind is float:
        if not math.isfinite(value):
            raise UnstorableValueError(f"{_location(where)}: {value!r} is not a valid JSON number")
        text = repr(value)
        # A repr without an exponent has at most 17 digits and lies within 1E-5..1E16.
        if "e" in text:
            text = _checked_number(Decimal(text), where)
        return {"N": text}, len(text) // 2 + 2
    return None


def to_attribute_value(value: Any, where: Any = "detail", depth: int = 1) -> tuple[dict, int]:
    """One JSON value -> (DynamoDB AttributeValue, its estimated stored size in bytes).

    Floats become exact decimals of their shortest round-tripping repr, so a number the Lambda
    runtime parsed as a float is stored as the producer wrote it. ``where`` is the value's
    location, built lazily as nested tuples and rendered only for an error message. This is
    the handler's hottest loop: strings and numbers are converted inline, only containers
    recurse.
    """
    kind = type(value)
    if kind is dict or kind is list:
        if depth > MAX_NESTING_DEPTH:
            raise UnstorableValueError(
                f"{_location(where)}: nested deeper than DynamoDB's {MAX_NESTING_DEPTH} levels"
            )
        size = 3
        if kind is dict:
            out: dict[str, Any] = {}
            for key, item in value.items():
                if type(key) is not str or key == "":
                    raise UnstorableValueError(
                        f"{_location(where)}: map keys must be non-empty strings"
                    )
                here = (where, key)
                converted = _leaf(item, here) or to_attribute_value(item, here, depth + 1)
                out[key] = converted[0]
                key_bytes = len(key) if key.isascii() else _string_bytes(key, where)
                size += key_bytes + converted[1] + 1
            return {"M": out}, size
        items = []
        for index, item in enumerate(value):
            at = (where, index)
            converted = _leaf(item, at) or to_attribute_value(item, at, depth + 1)
            items.append(converted[0])
            size += converted[1] + 1
        return {"L": items}, size
    leaf = _leaf(value, where)
    if leaf is not None:
        return leaf
    if kind is bool:
        return {"BOOL": value}, 1
    if value is None:
        return {"NULL": True}, 1
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UnstorableValueError(f"{_location(where)}: {value!s} is not a valid JSON number")
        text = _checked_number(value, where)
        return {"N": text}, len(text) // 2 + 2
    for base in (str, int, float, dict, list):  # a subclass (an IntEnum, ...): as its base
        if isinstance(value, base):
            return to_attribute_value(base(value), where, depth)  # type: ignore[arg-type]
    raise UnstorableValueError(f"{_location(where)}: {type(value).__name__} is not a JSON value")


def from_attribute_value(av: Mapping[str, Any]) -> Any:
    """The inverse of to_attribute_value (numbers come back as Decimal)."""
    ((kind, value),) = av.items()
    if kind == "S":
        return value
    if kind == "N":
        return Decimal(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attribute_value(v) for k, v in value.items()}
    if kind == "L":
        return [from_attribute_value(v) for v in value]
    raise ValueError(f"unsupported attribute type {kind}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes every hash in the contract is taken over."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    ).encode("utf-8")


def _without(node: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``node`` without the value at ``path``; copies only the dicts on the path."""
    head = path[0]
    if head not in node:
        return node
    if len(path) == 1:
        return {k: v for k, v in node.items() if k != head}
    child = node[head]
    if not isinstance(child, dict):
        return node
    pruned = _without(child, path[1:])
    if pruned is child:
        return node
    copy = dict(node)
    copy[head] = pruned
    return copy


def payload_hash(detail: dict[str, Any], settings: ContractSettings) -> str:
    hashed = detail
    for path in settings.hash_excluded_paths:
        hashed = _without(hashed, path)
    return hashlib.sha256(canonical_json(hashed)).hexdigest()


# --------------------------------------------------------------------------- the record


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
    size_bytes: int  # estimated stored size of ``item``
    payload_bytes: int  # estimated stored size of the payload attribute alone

    def fits_inline(self, settings: ContractSettings) -> bool:
        return self.size_bytes <= settings.max_inline_item_bytes

    def with_claim_check(self, claim: ClaimCheck) -> EventRecord:
        item = {k: v for k, v in self.item.items() if k != "payload"}
        item["payload_claim_check"] = claim.attribute_value()
        size = self.size_bytes - self.payload_bytes - len("payload") + 200
        return EventRecord(
            unique_id=self.unique_id,
            payload_hash=self.payload_hash,
            event_name=self.event_name,
            source=self.source,
            domain=self.domain,
            saga_id=self.saga_id,
            envelope=self.envelope,
            item=item,
            size_bytes=size,
            payload_bytes=0,
        )


def build_record(envelope: Envelope, settings: ContractSettings, persisted_at: str) -> EventRecord:
    """Map a validated envelope to the stored item (the whole contract, in one place)."""
    event = envelope.raw
    producer_id = _optional_identifier(event, settings.event_id_path)
    unique_id = producer_id if producer_id is not None else envelope.aws_id
    if _string_bytes(unique_id, "unique_id") > MAX_PARTITION_KEY_BYTES:
        raise InvalidIdentifierError(
            f"unique_id is longer than DynamoDB's {MAX_PARTITION_KEY_BYTES}-byte key limit"
        )
    domain = _optional_identifier(event, settings.domain_path) or envelope.source.split(".")[0]
    saga_id = _optional_identifier(event, settings.saga_id_path)
    mbocdp_id = _optional_identifier(event, settings.mbocdp_id_path)

    payload, payload_bytes = to_attribute_value(envelope.detail)
    digest = payload_hash(envelope.detail, settings)

    item: dict[str, Any] = {
        "unique_id": {"S": unique_id},
        "payload_hash": {"S": digest},
        "aws_id": {"S": envelope.aws_id},
        "event_name": {"S": envelope.detail_type},
        "timestamp": {"S": envelope.time},
        "domain": {"S": domain},
        "source": {"S": envelope.source},
        "persisted_at": {"S": persisted_at},
        "payload": payload,
    }
    if saga_id is not None:
        item["saga_id"] = {"S": saga_id}
    if mbocdp_id is not None:
        item["mbocdp_id"] = {"S": mbocdp_id}

    size = payload_bytes + len("payload")
    for name, av in item.items():
        if name != "payload":
            size += len(name) + _string_bytes(av["S"], name)

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
        payload_bytes=payload_bytes,
    )


def stored_payload_hash(item: Mapping[str, Any]) -> str | None:
    """payload_hash of an item as DynamoDB returned it (None if the item has none)."""
    value = item.get("payload_hash")
    return value.get("S") if isinstance(value, dict) else None


def detail_document(envelope: Envelope) -> bytes:
    """The full detail as canonical JSON: what a claim check stores in S3."""
    return canonical_json(envelope.detail)


__all__ = [
    "ClaimCheck",
    "ContractSettings",
    "Envelope",
    "EventRecord",
    "build_record",
    "canonical_json",
    "detail_document",
    "from_attribute_value",
    "lookup",
    "normalise_time",
    "parse_envelope",
    "payload_hash",
    "stored_payload_hash",
    "to_attribute_value",
]
