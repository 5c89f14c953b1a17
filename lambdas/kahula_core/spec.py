"""What the runtime and the infrastructure must agree on, written once.

Both sides import this module: the constructs (``cdk_app``) to configure the functions they
deploy, the functions (``lambdas/``) to read that configuration. It depends on nothing but the
standard library: no CDK, no boto3, no I/O at import.

It holds:
  * the environment variable names a function reads, and how their values are encoded;
  * the data contract's paths (where a field lives in an event) and their defaults;
  * the follow-up rules (event-name suffix -> follow-up detail type) and their defaults;
  * metric names and the default namespace;
  * the service limits the code checks against (with their sources).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

# --------------------------------------------------------------------------- limits
# Each with its source; the README's "Limits" section lists the same.

#: DynamoDB item size, attribute names included (DynamoDB service quotas).
DYNAMODB_MAX_ITEM_BYTES = 400 * 1024
#: DynamoDB partition key value, in bytes of UTF-8 (DynamoDB service quotas).
DYNAMODB_MAX_PARTITION_KEY_BYTES = 2048
#: DynamoDB sort key value, in bytes of UTF-8 (DynamoDB service quotas).
DYNAMODB_MAX_SORT_KEY_BYTES = 1024
#: The byte limit of each key role (DynamoDB service quotas), by its KeySchema name.
DYNAMODB_KEY_ROLE_MAX_BYTES: Mapping[str, int] = {
    "HASH": DYNAMODB_MAX_PARTITION_KEY_BYTES,
    "RANGE": DYNAMODB_MAX_SORT_KEY_BYTES,
}
#: DynamoDB nesting depth of maps and lists (DynamoDB service quotas).
DYNAMODB_MAX_NESTING_DEPTH = 32
#: DynamoDB number precision and magnitude (DynamoDB data types).
DYNAMODB_MAX_NUMBER_DIGITS = 38
DYNAMODB_MAX_NUMBER_EXPONENT = 125
DYNAMODB_MIN_NUMBER_EXPONENT = -130
#: Items per TransactWriteItems call (DynamoDB service quotas).
DYNAMODB_MAX_TRANSACT_ITEMS = 100
#: Entries per PutEvents call (EventBridge API reference).
EVENTBRIDGE_MAX_ENTRIES_PER_PUT = 10
#: EventBridge event size since 2026-01-29 (AWS Compute Blog, "payloads up to 1 MB").
EVENTBRIDGE_MAX_EVENT_BYTES = 1024 * 1024
#: SQS message size (SQS quotas; raised with EventBridge's in January 2026).
SQS_MAX_MESSAGE_BYTES = 1024 * 1024
#: Lambda synchronous response payload (Lambda quotas).
LAMBDA_MAX_RESPONSE_BYTES = 6 * 1024 * 1024

# --------------------------------------------------------------------------- names

#: The Powertools service name the persister logs and emits metrics under.
PERSISTER_SERVICE_NAME = "event-persister"
#: Key prefix, in the payload bucket, of claim-checked (oversize) details.
PAYLOADS_PREFIX = "oversize-payloads"


def follow_up_source(prefix: str) -> str:
    """The ``source`` of every follow-up the platform emits; no producer may use it."""
    return f"{prefix}.event-persister"


#: The ``detail-type`` of a replayed event: its detail is the original event, as archived.
REPLAY_DETAIL_TYPE = "Replayed"


#: A reserved entry ending with this reserves every source that starts with the rest
#: (``tenant.*``: the FIFO door's ``tenant.<id>``), as the bus policy's ``StringLike`` does.
RESERVED_PREFIX_MARK = "*"


def encode_reserved_sources(sources: Iterable[str]) -> str:
    """``Env.RESERVED_SOURCES``: the sources, sorted, comma-separated; ``prefix*`` reserves
    every source starting with ``prefix``."""
    listed = sorted(set(sources))
    for source in listed:
        name = source.removesuffix(RESERVED_PREFIX_MARK)
        if not name or any(c in name for c in ",*?") or source != source.strip():
            raise SpecError(
                "a reserved source must be non-empty, without commas, wildcards or surrounding "
                f"spaces (a trailing * reserves a prefix): {source!r}"
            )
    return ",".join(listed)


def decode_reserved_sources(text: str | None) -> frozenset[str]:
    return frozenset(s.strip() for s in (text or "").split(",") if s.strip())


def source_is_reserved(source: str, reserved: Iterable[str]) -> bool:
    """Whether ``source`` is one of ``reserved`` or starts with one of its ``prefix*``."""
    for entry in reserved:
        if entry.endswith(RESERVED_PREFIX_MARK):
            if source.startswith(entry[:-1]):
                return True
        elif source == entry:
            return True
    return False


def replay_source(prefix: str) -> str:
    """The ``source`` replayed events are wrapped under. The bus lets only the replay role put
    it, so a persister told this source (``Env.REPLAY_SOURCE``) may trust what it carries and
    persist the original event inside, with its own id, time, source and detail."""
    return f"{prefix}.replay"


def metrics_namespace(prefix: str) -> str:
    """The CloudWatch namespace of the platform's own metrics."""
    return f"{prefix.capitalize()}/EventPersistence"


class Metric:
    """Names of the metrics the functions emit (EMF) and the alarms and dashboard read."""

    PERSISTED = "EventsPersisted"
    DUPLICATE = "DuplicateEvents"
    CONFLICT = "ConflictingEvents"
    MALFORMED = "MalformedEvents"
    OVERSIZE = "OversizeEvents"
    FOLLOW_UPS_EMITTED = "FollowUpsEmitted"
    FOLLOW_UP_FAILURES = "FollowUpFailures"


class Env:
    """Environment variable names a function reads. The construct sets them; the code reads."""

    TABLE_NAME = "TABLE_NAME"
    EVENT_BUS_NAME = "EVENT_BUS_NAME"
    CONFLICTS_QUEUE_URL = "CONFLICTS_QUEUE_URL"
    PAYLOAD_BUCKET = "PAYLOAD_BUCKET"
    PAYLOAD_PREFIX = "PAYLOAD_PREFIX"
    FOLLOW_UP_SOURCE = "FOLLOW_UP_SOURCE"
    FOLLOW_UP_RULES = "FOLLOW_UP_RULES"
    # The reserved source of replayed (wrapped) events; unset: nothing is unwrapped.
    REPLAY_SOURCE = "REPLAY_SOURCE"
    # Sources only the platform publishes under (the bus's reserved sources: follow-ups,
    # replays, the aggregate store's outbox), comma-separated. Set on the front doors that
    # write straight into the store, which refuse an event claiming one; unset: none.
    RESERVED_SOURCES = "RESERVED_SOURCES"
    EVENT_ID_PATH = "EVENT_ID_PATH"
    DOMAIN_PATH = "DOMAIN_PATH"
    SAGA_ID_PATH = "SAGA_ID_PATH"
    MBOCDP_ID_PATH = "MBOCDP_ID_PATH"
    HASH_EXCLUDED_PATHS = "HASH_EXCLUDED_PATHS"
    MAX_INLINE_ITEM_BYTES = "MAX_INLINE_ITEM_BYTES"
    # Keys of the table's secondary indexes, so the runtime checks them against key limits.
    INDEXED_ATTRIBUTES = "INDEXED_ATTRIBUTES"
    POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
    POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
    POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
    POWERTOOLS_TRACE_DISABLED = "POWERTOOLS_TRACE_DISABLED"


class BatchEnv:
    """Variables of the batch front doors (stream, queue): quarantine, archive, bare events."""

    #: SQS queue that keeps each malformed record, with its reason and coordinates.
    QUARANTINE_QUEUE_URL = "QUARANTINE_QUEUE_URL"
    #: Firehose stream of the S3 archive; accepted records go there in the bus's line format.
    ARCHIVE_STREAM_NAME = "ARCHIVE_STREAM_NAME"
    #: In a bare event (no envelope): the field holding its id, and the one holding its message.
    BARE_ID_FIELD = "BARE_ID_FIELD"
    BARE_MESSAGE_FIELD = "BARE_MESSAGE_FIELD"
    #: The field naming a bare event's type (its detail-type), and the type when it is absent.
    BARE_TYPE_FIELD = "BARE_TYPE_FIELD"
    BARE_DEFAULT_TYPE = "BARE_DEFAULT_TYPE"
    #: The ``source`` a bare event is stored under.
    BARE_SOURCE = "BARE_SOURCE"


#: Bare-event defaults (BatchEnv.BARE_*), shared by the construct and the runtime.
BARE_ID_FIELD = "eventId"
BARE_MESSAGE_FIELD = "message"
BARE_TYPE_FIELD = "eventType"
BARE_DEFAULT_TYPE = "StreamRecord"
#: Metric of the batch front doors: records reported back for redelivery.
BATCH_ITEM_FAILURES_METRIC = "BatchItemFailures"
#: PutRecordBatch limits (Firehose): records and bytes per call.
FIREHOSE_MAX_BATCH_RECORDS = 500
FIREHOSE_MAX_BATCH_BYTES = 4 * 1024 * 1024
#: One Firehose record, before base64 (Firehose quotas: 1,000 KiB); a longer line is refused.
FIREHOSE_MAX_RECORD_BYTES = 1000 * 1024


def bare_event_source(prefix: str) -> str:
    """The default ``source`` of a bare event read from a stream."""
    return f"{prefix}.stream"


class SpecError(ValueError):
    """A value handed between infrastructure and runtime is not in the agreed form."""


# --------------------------------------------------------------------------- contract paths

_PATH = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, kw_only=True)
class ContractPaths:
    """Where each contract field lives in an event (dotted paths from the event root).

    The construct hands these to the function as environment variables; the runtime parses
    them back with :meth:`from_environment`. The defaults are the platform's contract.
    """

    event_id_path: str = _doc(
        "detail.metadata.event_id", "producer event id; unique_id when present"
    )
    domain_path: str = _doc(
        "detail.metadata.domain", "domain; else the first dot-segment of source"
    )
    saga_id_path: str = _doc("detail.metadata.saga_id", "saga id (omitted when absent)")
    mbocdp_id_path: str = _doc("detail.metadata.mbocdp_id", "mbocdp id (omitted when absent)")
    hash_excluded_paths: tuple[str, ...] = _doc(
        ("detail.metadata.saga_id", "detail.metadata.timestamp", "detail.metadata.occurred_at"),
        "detail fields left out of payload_hash",
    )
    max_inline_item_bytes: int = _doc(
        350_000, "estimated item size above which the detail goes to S3 (limit: 400 KB)"
    )

    def __post_init__(self) -> None:
        for name in ("event_id_path", "domain_path", "saga_id_path", "mbocdp_id_path"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _PATH.fullmatch(value):
                raise SpecError(f"{name}={value!r} is not a dotted path like detail.metadata.x")
        for path in self.hash_excluded_paths:
            if not _PATH.fullmatch(path) or not path.startswith("detail.") or path == "detail.":
                raise SpecError(
                    f"hash_excluded_paths entry {path!r} must be a dotted path under 'detail.'"
                )
        if (
            isinstance(self.max_inline_item_bytes, bool)
            or not isinstance(self.max_inline_item_bytes, int)
            or not 1_000 <= self.max_inline_item_bytes < DYNAMODB_MAX_ITEM_BYTES
        ):
            raise SpecError(
                "max_inline_item_bytes must be an integer from 1000 up to DynamoDB's "
                f"{DYNAMODB_MAX_ITEM_BYTES}-byte item limit, got {self.max_inline_item_bytes!r}"
            )

    def to_environment(self) -> dict[str, str]:
        return {
            Env.EVENT_ID_PATH: self.event_id_path,
            Env.DOMAIN_PATH: self.domain_path,
            Env.SAGA_ID_PATH: self.saga_id_path,
            Env.MBOCDP_ID_PATH: self.mbocdp_id_path,
            Env.HASH_EXCLUDED_PATHS: ",".join(self.hash_excluded_paths),
            Env.MAX_INLINE_ITEM_BYTES: str(self.max_inline_item_bytes),
        }

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> ContractPaths:
        """Parse what :meth:`to_environment` wrote; an absent variable keeps its default."""
        values: dict[str, object] = {}
        for name, var in (
            ("event_id_path", Env.EVENT_ID_PATH),
            ("domain_path", Env.DOMAIN_PATH),
            ("saga_id_path", Env.SAGA_ID_PATH),
            ("mbocdp_id_path", Env.MBOCDP_ID_PATH),
        ):
            if var in environ:
                values[name] = environ[var].strip()
        if Env.HASH_EXCLUDED_PATHS in environ:
            raw = environ[Env.HASH_EXCLUDED_PATHS]
            values["hash_excluded_paths"] = tuple(p.strip() for p in raw.split(",") if p.strip())
        if Env.MAX_INLINE_ITEM_BYTES in environ:
            raw = environ[Env.MAX_INLINE_ITEM_BYTES]
            try:
                values["max_inline_item_bytes"] = int(raw)
            except ValueError:
                raise SpecError(f"{Env.MAX_INLINE_ITEM_BYTES}={raw!r} is not an integer") from None
        return cls(**values)  # type: ignore[arg-type]


def contract_field_docs() -> list[tuple[str, str, object]]:
    """(name, doc, default) of every contract path, for the generated README reference."""
    return [(f.name, f.metadata["doc"], f.default) for f in fields(ContractPaths)]


# --------------------------------------------------------------------------- follow-up rules

_DETAIL_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,127}")


@dataclass(frozen=True)
class FollowUpRule:
    """A stored event whose ``detail-type`` ends with ``suffix`` yields a ``detail_type``."""

    suffix: str
    detail_type: str

    def __post_init__(self) -> None:
        for name in ("suffix", "detail_type"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _DETAIL_TYPE.fullmatch(value):
                raise SpecError(
                    f"follow-up rule {name} {value!r} must be 1-128 letters and digits, "
                    "starting with a letter"
                )


#: The platform's seed rules; configuration may replace or extend them.
DEFAULT_FOLLOW_UP_RULES: tuple[FollowUpRule, ...] = (
    FollowUpRule("UpdatedEvent", "ValidatableEvent"),
    FollowUpRule("ValidatedEvent", "IndexableEvent"),
)


def check_follow_up_rules(rules: Sequence[FollowUpRule]) -> tuple[FollowUpRule, ...]:
    """The rules as a tuple, after refusing sets that are ambiguous or could loop.

    Refused: two rules with the same suffix; a follow-up type that another rule's suffix
    matches (a follow-up would then yield a follow-up).
    """
    rules = tuple(rules)
    suffixes = [r.suffix for r in rules]
    duplicates = sorted({s for s in suffixes if suffixes.count(s) > 1})
    if duplicates:
        raise SpecError(f"follow-up rules repeat the suffix {', '.join(duplicates)}")
    for produced in {r.detail_type for r in rules}:
        for rule in rules:
            if produced.endswith(rule.suffix):
                raise SpecError(
                    f"follow-up type {produced!r} ends with the suffix {rule.suffix!r} of "
                    "another rule, so a follow-up would yield a follow-up"
                )
    return rules


def encode_follow_up_rules(rules: Iterable[FollowUpRule]) -> str:
    """The rules as the compact JSON the construct puts in ``FOLLOW_UP_RULES``."""
    checked = check_follow_up_rules(list(rules))
    return json.dumps([[r.suffix, r.detail_type] for r in checked], separators=(",", ":"))


def decode_follow_up_rules(text: str | None) -> tuple[FollowUpRule, ...]:
    """Parse ``FOLLOW_UP_RULES``; absent means the default rules."""
    if text is None or not text.strip():
        return DEFAULT_FOLLOW_UP_RULES
    try:
        raw = json.loads(text)
        if not isinstance(raw, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
            for pair in raw
        ):
            raise ValueError(f"got {text[:200]!r}")
        rules = [FollowUpRule(suffix, detail_type) for suffix, detail_type in raw]
    except (ValueError, TypeError) as exc:
        raise SpecError(
            f"{Env.FOLLOW_UP_RULES} must be a JSON list of [suffix, detail type] pairs: {exc}"
        ) from None
    return check_follow_up_rules(rules)


# --------------------------------------------------------------------------- index keys

#: Attributes of a stored item that may key the table or a secondary index, with the byte
#: limit the runtime ALWAYS enforces on each, whatever indexes exist: an event whose value is
#: longer is refused at once with its reason (KeyTooLongError), because an index added later
#: would otherwise make its write fail. ``timestamp`` is fixed-width (27 bytes) anyway.
#: No other attribute may key an index: the runtime does not bound it.
KEY_ATTRIBUTES: Mapping[str, int] = {
    "unique_id": DYNAMODB_MAX_PARTITION_KEY_BYTES,
    "event_name": DYNAMODB_MAX_PARTITION_KEY_BYTES,
    "domain": DYNAMODB_MAX_PARTITION_KEY_BYTES,
    "saga_id": DYNAMODB_MAX_PARTITION_KEY_BYTES,
    "mbocdp_id": DYNAMODB_MAX_PARTITION_KEY_BYTES,
    "timestamp": DYNAMODB_MAX_SORT_KEY_BYTES,
}


def encode_indexed_attributes(keys: Iterable[tuple[str, str]]) -> str:
    """``[(attribute, "HASH" | "RANGE"), ...]`` of every index as ``INDEXED_ATTRIBUTES``.

    The construct sets it from the table's key schemas; the runtime then also bounds an
    attribute used as a sort key by the sort-key limit (1024 bytes).
    """
    pairs = sorted(set(keys))
    for attribute, role in pairs:
        _check_index_key(attribute, role)
    return ",".join(f"{attribute}:{role}" for attribute, role in pairs)


def decode_indexed_attributes(text: str | None) -> dict[str, int]:
    """Parse ``INDEXED_ATTRIBUTES`` into the byte limit of each key attribute.

    Absent or empty: the limits of :data:`KEY_ATTRIBUTES`. Each listed key can only tighten
    its attribute's limit (a sort key: 1024 bytes).
    """
    limits = dict(KEY_ATTRIBUTES)
    for entry in (text or "").split(","):
        if not entry.strip():
            continue
        attribute, _, role = entry.strip().partition(":")
        _check_index_key(attribute, role)
        limits[attribute] = min(limits[attribute], DYNAMODB_KEY_ROLE_MAX_BYTES[role])
    return limits


def _check_index_key(attribute: str, role: str) -> None:
    if attribute not in KEY_ATTRIBUTES:
        raise SpecError(
            f"{Env.INDEXED_ATTRIBUTES}: {attribute!r} cannot key an index; the runtime bounds "
            f"only {', '.join(KEY_ATTRIBUTES)}"
        )
    if role not in DYNAMODB_KEY_ROLE_MAX_BYTES:
        raise SpecError(
            f"{Env.INDEXED_ATTRIBUTES}: key role of {attribute!r} must be HASH or RANGE, "
            f"got {role!r}"
        )


# ---------------------------------------------------------------- the SQS FIFO front door


class QueueEnv:
    """Environment variables of the FIFO queue consumer (besides the persister's ``Env``)."""

    LEDGER_TABLE = "LEDGER_TABLE"
    IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
    EVENTS_TTL_DAYS = "EVENTS_TTL_DAYS"  # 0: ledger entries never expire
    IDEMPOTENCY_TTL_DAYS = "IDEMPOTENCY_TTL_DAYS"
    ROUTES = "ROUTES"  # JSON object: event type -> route name
    DEFAULT_ROUTE = "DEFAULT_ROUTE"  # route of a type neither the message nor ROUTES names
    DEAD_LETTER_QUEUE_URL = "DEAD_LETTER_QUEUE_URL"  # unreadable envelopes, with their reason
    ARCHIVE_STREAM = "ARCHIVE_STREAM"  # Firehose stream READY events are archived through
    EVENT_SOURCE_PREFIX = "EVENT_SOURCE_PREFIX"  # store `source` = {prefix}{tenant_id}


QUEUE_CONSUMER_SERVICE_NAME = "queue-consumer"
#: The ledger's secondary index (name and key attributes), shared by the construct and queries.
LEDGER_STATUS_INDEX = "gsi_status_tenant"
LEDGER_STATUSES = ("READY", "INVALID")
# --------------------------------------------------------------------------- HTTP API
# The HTTP front door (lambdas/api, cdk_app/constructs/event_api.py). Kept in one block.

#: API Gateway REST API payload limit (API Gateway quotas, "Payload size": 10 MB). The writer
#: refuses more than the platform's own event limit (EVENTBRIDGE_MAX_EVENT_BYTES) long before.
API_GATEWAY_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
#: Where the writer archives what it stores (the archive's Firehose stream); unset: no archive.
ARCHIVE_STREAM_ENV = "ARCHIVE_STREAM_NAME"
#: Powertools service name of the API's reader (the writer's is the persister's: its metrics
#: are the platform's, read by the same alarms).
API_READER_SERVICE_NAME = "event-api-reader"
#: Lifetime of the presigned URL the reader redirects to when a response would be too large.
API_PRESIGNED_URL_SECONDS = 300
#: Seconds a client is told to wait (Retry-After) when DynamoDB throttles or is unavailable.
API_RETRY_AFTER_SECONDS = 1
#: The envelope a client POSTs: required fields, then optional ones (nothing else is accepted).
API_ENVELOPE_REQUIRED = ("source", "detail-type", "detail")
API_ENVELOPE_OPTIONAL = ("time",)
# --------------------------------------------------------------------------- HTTP API: aggregates
# The aggregate store's routes (lambdas/api/aggregate_*.py), on the HTTP API when both the API and
# the aggregate store are configured. Kept in one block.

#: The aggregate store's table, its by-time shards and the client's metrics namespace.
AGGREGATE_TABLE_ENV = "AGGREGATE_TABLE_NAME"
AGGREGATE_SHARDS_ENV = "AGGREGATE_DATE_BUCKET_SHARDS"
AGGREGATE_METRICS_NAMESPACE_ENV = "AGGREGATE_METRICS_NAMESPACE"
#: Powertools service name of both aggregate functions.
API_AGGREGATES_SERVICE_NAME = "aggregate-api"
#: Events per page of ``GET /aggregates/{id}/events``: the default, and the most a client may ask.
API_AGGREGATE_PAGE_DEFAULT = 100
API_AGGREGATE_PAGE_MAX = 1000
# --------------------------------------------------------------------------- archive catalog
# One archived line is the EventBridge event exactly as the archive rule delivered it to
# Firehose (which only appends the newline): {"version", "id", "detail-type", "source",
# "account", "time", "region", "resources", "detail"}. The Glue table (ArchiveCatalog, for
# Athena) and `kahula query --local` (DuckDB) expose those lines under one table name with the
# same columns, so one SQL text runs on both. Kept in one block.


@dataclass(frozen=True)
class ArchiveColumn:
    """One column of the archive table: its SQL name, the JSON key it reads, its types."""

    name: str
    key: str
    hive_type: str
    duckdb_type: str
    doc: str


#: The table (Athena: in the catalog's database; DuckDB: a view) every archive query reads.
ARCHIVE_TABLE = "events"
#: `detail` is the event's detail as JSON text (Athena `string`, DuckDB `JSON`): every event
#: type has its own shape, so a struct would fit one type and null the others' fields. Read a
#: field with json_extract_scalar(detail, '$.order_id') in both engines.
ARCHIVE_COLUMNS = (
    ArchiveColumn("version", "version", "string", "VARCHAR", "EventBridge envelope version"),
    ArchiveColumn("id", "id", "string", "VARCHAR", "EventBridge event id"),
    ArchiveColumn("detail_type", "detail-type", "string", "VARCHAR", "the event type"),
    ArchiveColumn("source", "source", "string", "VARCHAR", "the producer"),
    ArchiveColumn("account", "account", "string", "VARCHAR", "account of the bus"),
    ArchiveColumn("time", "time", "string", "VARCHAR", "event time, ISO 8601 UTC"),
    ArchiveColumn("region", "region", "string", "VARCHAR", "region of the bus"),
    ArchiveColumn("resources", "resources", "array<string>", "VARCHAR[]", "resource ARNs"),
    ArchiveColumn("detail", "detail", "string", "JSON", "the detail, as JSON text"),
)
#: Where the archive's events live in its bucket (errors go under ``errors/``).
ARCHIVE_EVENTS_PREFIX = "events/"
#: Hive partitions of the archive (arrival hour, UTC), zero-padded strings: year=2026/month=11/..
ARCHIVE_PARTITIONS = ("year", "month", "day", "hour")


def archive_hour_prefix(hour: datetime, prefix: str = ARCHIVE_EVENTS_PREFIX) -> str:
    """The key prefix of the archive's hour partition holding ``hour`` (UTC), as Firehose
    writes it: ``events/year=2026/month=11/day=22/hour=09/``."""
    return f"{prefix}year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/"
