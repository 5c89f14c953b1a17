"""The aggregate event store client: append with an expected version, read a stream, query
the indexes. Usable from any service; imports no CDK.

Every DynamoDB error is mapped to an :mod:`.errors` type: no botocore exception escapes.
The DynamoDB client is injected (a client or a zero-argument factory) and, when not given,
created on first use, never at import.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..attributes import checked_number
from ..errors import UnstorableValueError
from . import schema
from .errors import (
    AggregateStoreError,
    AppendTooLargeError,
    ConcurrencyError,
    InvalidEventError,
    InvalidPositionError,
    PositionTakenError,
    StoreConfigurationError,
    StoreThrottledError,
    StoreUnavailableError,
    TooManyEventsError,
    TransactionInterferenceError,
)
from .model import AppendResult, NewEvent, NewRecord, Page, RecordedEvent

ClientFactory = Callable[[], Any]
Clock = Callable[[], int]

#: An item the client writes may not exceed DynamoDB's 400 KB item limit (service quotas);
#: the estimate below counts attribute names and values as their JSON text, an upper bound.
MAX_ITEM_BYTES = 400 * 1024
#: The aggregate size of the items in one transaction (TransactWriteItems API reference).
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
MAX_AGGREGATE_ID_BYTES = 512
MAX_NAME_CHARS = 128  # event_type becomes the bus event's detail-type: at most 128 characters
MAX_EVENT_ID_CHARS = 256
#: Date buckets one ``stream`` call reads at most (each is one query per shard), so a call
#: over a long quiet stretch stays bounded; it returns a position to continue from.
MAX_DAYS_PER_STREAM_CALL = 31

_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    # cancellation reason codes of a transaction (TransactWriteItems API reference)
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
}
_CONFIGURATION = {
    "ResourceNotFoundException",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "ValidationException",
    "SerializationException",
}
# Ids and names are inserted into the outbox's JSON input template as they are: no quote,
# backslash or control character, so the published detail is always valid JSON.
_UNSAFE = re.compile(r'["\\\x00-\x1f]')
_PUT_CONDITION = f"attribute_not_exists({schema.SEQUENCE_NUMBER})"
_CHECK_CONDITION = f"attribute_exists({schema.SEQUENCE_NUMBER})"


def _epoch_ms() -> int:
    return time.time_ns() // 1_000_000


class _Cancelled(Exception):
    def __init__(self, codes: list[str]) -> None:
        super().__init__(codes)
        self.codes = codes


class AggregateStore:
    """Client of one aggregate event store table.

    ``date_bucket_shards`` must equal the construct's setting (the lead passes both from
    one config value): it spreads the ``by-time`` index over that many partitions per day.
    ``clock`` returns epoch milliseconds (injected in tests). With ``metrics_namespace``
    the client prints one CloudWatch embedded-metric line per conflict, which Lambda turns
    into the ``AppendConflicts`` metric the construct's alarm reads.
    """

    def __init__(
        self,
        *,
        table_name: str,
        dynamodb: Any | ClientFactory | None = None,
        clock: Clock | None = None,
        date_bucket_shards: int = 1,
        metrics_namespace: str | None = None,
        emit: Callable[[str], None] = print,
    ) -> None:
        if not table_name:
            raise ValueError("table_name is required")
        if not 1 <= date_bucket_shards <= schema.MAX_DATE_BUCKET_SHARDS:
            raise ValueError(
                f"date_bucket_shards must be 1..{schema.MAX_DATE_BUCKET_SHARDS}, "
                f"got {date_bucket_shards!r}"
            )
        self.table_name = table_name
        self.date_bucket_shards = date_bucket_shards
        self._clock = clock or _epoch_ms
        self._metrics_namespace = metrics_namespace
        self._emit = emit
        self._client: Any = None
        if dynamodb is not None and hasattr(dynamodb, "transact_write_items"):
            self._client = dynamodb
            self._factory: ClientFactory | None = None
        else:
            self._factory = dynamodb

    # ------------------------------------------------------------------ client
    @property
    def dynamodb(self) -> Any:
        if self._client is None:
            if self._factory is None:
                import boto3  # noqa: PLC0415 - only when no client was injected

                self._client = boto3.client("dynamodb")
            else:
                self._client = self._factory()
        return self._client

    # ------------------------------------------------------------------ append
    def append(
        self,
        aggregate_id: str,
        aggregate_type: str,
        events: Sequence[NewEvent],
        expected_version: int,
    ) -> AppendResult:
        """Append ``events`` as versions ``expected_version + 1`` ... atomically.

        Raises :class:`ConcurrencyError` if the aggregate is not at ``expected_version``
        (nothing is written), unless the very same event ids already sit at those positions,
        in which case this is a redelivery and the original result is returned.
        """
        _check_id(aggregate_id)
        _check_name("aggregate_type", aggregate_type)
        if isinstance(expected_version, bool) or not isinstance(expected_version, int):
            raise InvalidEventError(
                f"expected_version must be an integer, got {expected_version!r}"
            )
        if expected_version < 0:
            raise InvalidEventError(f"expected_version must be 0 or more, got {expected_version}")
        events = list(events)
        if not events:
            raise InvalidEventError("append needs at least one event")
        if len(events) > schema.MAX_EVENTS_PER_APPEND:
            raise TooManyEventsError(len(events), schema.MAX_EVENTS_PER_APPEND)
        ids = [e.event_id for e in events]
        if len(set(ids)) != len(ids):
            raise InvalidEventError("event ids must be unique within one append")
        if expected_version + len(events) > schema.MAX_SEQUENCE_NUMBER:
            raise InvalidEventError(f"sequence numbers above {schema.MAX_SEQUENCE_NUMBER}")

        now = self._clock()
        records = [
            NewRecord(aggregate_id, aggregate_type, expected_version + i, event)
            for i, event in enumerate(events, start=1)
        ]
        actions = self._puts(records, now)
        if expected_version > 0:
            actions.append(
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": _key(aggregate_id, expected_version),
                        "ConditionExpression": _CHECK_CONDITION,
                    }
                }
            )
        result = AppendResult(
            aggregate_id=aggregate_id,
            version=expected_version + len(events),
            sequence_numbers=tuple(r.sequence_number for r in records),
            event_ids=tuple(ids),
            timestamp=now,
        )
        try:
            self._transact(actions)
        except _Cancelled as cancelled:
            if "ConditionalCheckFailed" not in cancelled.codes:
                raise TransactionInterferenceError(
                    f"append to {aggregate_id!r} cancelled by DynamoDB "
                    f"({', '.join(cancelled.codes)}); nothing was written, retry the same append"
                ) from None
            stored = self.read(aggregate_id, expected_version, limit=len(events))
            if [e.event_id for e in stored] == ids:
                return AppendResult(
                    aggregate_id=aggregate_id,
                    version=result.version,
                    sequence_numbers=result.sequence_numbers,
                    event_ids=result.event_ids,
                    timestamp=stored[0].timestamp,
                    already_appended=True,
                )
            actual = self.version(aggregate_id)
            self._count_conflict(aggregate_type)
            raise ConcurrencyError(aggregate_id, expected_version, actual) from None
        return result

    def record(self, records: Sequence[NewRecord]) -> int:
        """Write records at explicit positions in one transaction; each position must be free.

        Raises :class:`PositionTakenError` naming the taken positions (nothing is written).
        No version check beyond that: :meth:`append` is the safe front door; this is for
        adapters (eventsourcing) that manage versions themselves. Returns the timestamp.
        """
        records = list(records)
        if not records:
            return self._clock()
        if len(records) > schema.MAX_TRANSACT_ITEMS:
            raise TooManyEventsError(len(records), schema.MAX_TRANSACT_ITEMS)
        positions = [(r.aggregate_id, r.sequence_number) for r in records]
        repeated = sorted({p for p in positions if positions.count(p) > 1})
        if repeated:
            raise PositionTakenError(repeated)
        for r in records:
            _check_id(r.aggregate_id)
            _check_name("aggregate_type", r.aggregate_type)
            if (
                isinstance(r.sequence_number, bool)
                or not isinstance(r.sequence_number, int)
                or not 0 <= r.sequence_number <= schema.MAX_SEQUENCE_NUMBER
            ):
                raise InvalidEventError(f"sequence number {r.sequence_number!r} out of range")
        now = self._clock()
        try:
            self._transact(self._puts(records, now))
        except _Cancelled as cancelled:
            taken = [
                p
                for p, code in zip(positions, cancelled.codes, strict=False)
                if code == "ConditionalCheckFailed"
            ]
            if taken or "ConditionalCheckFailed" in cancelled.codes:
                raise PositionTakenError(taken) from None
            raise TransactionInterferenceError(
                f"write cancelled by DynamoDB ({', '.join(cancelled.codes)}); nothing was "
                "written, retry it"
            ) from None
        return now

    # ------------------------------------------------------------------ reads
    def read(
        self, aggregate_id: str, from_version: int = 0, *, limit: int | None = None
    ) -> list[RecordedEvent]:
        """The aggregate's events with sequence numbers above ``from_version``, in order,
        read strongly consistently (every page)."""
        if (
            isinstance(from_version, bool)
            or not isinstance(from_version, int)
            or not 0 <= from_version <= schema.MAX_SEQUENCE_NUMBER
        ):
            raise InvalidEventError(
                f"from_version must be an integer 0..{schema.MAX_SEQUENCE_NUMBER}, "
                f"got {from_version!r}"
            )
        if limit is not None:
            _check_limit(limit)
        return list(self.iter_events(aggregate_id, gt=from_version, limit=limit))

    def iter_events(
        self,
        aggregate_id: str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> Iterator[RecordedEvent]:
        """Events of one aggregate between versions ``gt`` (exclusive) and ``lte``."""
        _check_id(aggregate_id)
        names = {"#a": schema.AGGREGATE_ID}
        values: dict[str, Any] = {":a": {"S": aggregate_id}}
        condition = "#a = :a"
        if gt is not None or lte is not None:
            names["#s"] = schema.SEQUENCE_NUMBER
            low = -1 if gt is None else gt
            if lte is None:
                condition += " AND #s > :low"
                values[":low"] = {"N": str(low)}
            else:
                condition += " AND #s BETWEEN :low AND :high"
                values[":low"] = {"N": str(low + 1)}
                values[":high"] = {"N": str(lte)}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
            "ScanIndexForward": not descending,
        }
        yielded = 0
        while True:
            if limit is not None:
                request["Limit"] = limit - yielded
            response = self._call("query", request)
            for item in response.get("Items", []):
                yield _event(item)
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            start = response.get("LastEvaluatedKey")
            if not start:
                return
            request["ExclusiveStartKey"] = start

    def version(self, aggregate_id: str) -> int:
        """The aggregate's current version (0 when it has no events); strongly consistent."""
        last = list(self.iter_events(aggregate_id, descending=True, limit=1))
        return last[0].sequence_number if last else 0

    def events_by_type(
        self, event_type: str, since: int = 0, limit: int = 100, *, position: str | None = None
    ) -> Page:
        """Events of one type with ``timestamp >= since`` (epoch ms), oldest first."""
        _check_name("event_type", event_type)
        return self._index_page(
            schema.BY_EVENT_TYPE, schema.EVENT_TYPE, event_type, since, limit, position=position
        )

    def events_by_aggregate_type(
        self, aggregate_type: str, since: int = 0, limit: int = 100, *, position: str | None = None
    ) -> Page:
        """Events of every aggregate of one type with ``timestamp >= since``, oldest first."""
        _check_name("aggregate_type", aggregate_type)
        return self._index_page(
            schema.BY_AGGREGATE_TYPE,
            schema.AGGREGATE_TYPE,
            aggregate_type,
            since,
            limit,
            position=position,
        )

    def stream(
        self,
        since: int = 0,
        limit: int = 100,
        *,
        until: int | None = None,
        position: str | None = None,
    ) -> Page:
        """Every event with ``since <= timestamp`` (and ``<= until``, default now), in
        ``time_key`` order (time, then aggregate id, then sequence number), across date
        buckets and their shards. Resume with the returned ``position``; a call reads at
        most 31 date buckets, so a page can be short (even empty) with a position to go on.

        Times are the writers' clocks at append: an append that commits late can land
        behind a position already read. For a gap-free feed, consume the outbox instead.
        """
        _check_limit(limit)
        after: str | None = None
        if position is not None:
            after = _decode_position(position, "stream")["k"]
            since = max(since, schema.timestamp_of_time_key(after))
        until = self._clock() if until is None else until
        if since > until:
            return Page([], None)
        events: list[RecordedEvent] = []
        day = datetime.fromtimestamp(since / 1000, tz=UTC).date()
        last_day = datetime.fromtimestamp(until / 1000, tz=UTC).date()
        low = after if after is not None else f"{since:013d}#"
        high = f"{until + 1:013d}#"
        for _ in range(MAX_DAYS_PER_STREAM_CALL):
            date = day.isoformat()
            for item in self._merged_day(date, low, high, after is not None, limit - len(events)):
                events.append(_event(item))
            if len(events) >= limit:
                last = events[-1]
                key = schema.time_key(last.timestamp, last.aggregate_id, last.sequence_number)
                return Page(events, _encode_position("stream", {"k": key}))
            if day >= last_day:
                return Page(events, None)
            day += timedelta(days=1)
        # A long empty stretch: stop after a bounded number of days; resume at the next one.
        next_day = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        return Page(events, _encode_position("stream", {"k": f"{next_day - 1:013d}#~"}))

    # ------------------------------------------------------------------ internals
    def _merged_day(
        self, date: str, low: str, high: str, exclusive: bool, limit: int
    ) -> Iterator[dict[str, Any]]:
        shards = self.date_bucket_shards
        iterators = [
            self._time_bucket(schema.time_bucket(date, s, shards), low, high, exclusive, limit)
            for s in range(shards)
        ]
        keyed = (((item[schema.TIME_KEY]["S"], item) for item in it) for it in iterators)
        for count, (_, item) in enumerate(heapq.merge(*keyed, key=lambda pair: pair[0]), 1):
            yield item
            if count >= limit:
                return

    def _time_bucket(
        self, bucket: str, low: str, high: str, exclusive: bool, limit: int
    ) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": schema.BY_TIME,
            "KeyConditionExpression": "#b = :b AND #k BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#b": schema.TIME_BUCKET, "#k": schema.TIME_KEY},
            "ExpressionAttributeValues": {
                ":b": {"S": bucket},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            "Limit": min(limit + 1, 1000),
        }
        while True:
            response = self._call("query", request)
            for item in response.get("Items", []):
                if exclusive and item[schema.TIME_KEY]["S"] <= low:
                    continue
                yield item
            start = response.get("LastEvaluatedKey")
            if not start:
                return
            request["ExclusiveStartKey"] = start

    def _index_page(
        self, index: str, key: str, value: str, since: int, limit: int, *, position: str | None
    ) -> Page:
        _check_limit(limit)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p AND #t >= :since",
            "ExpressionAttributeNames": {"#p": key, "#t": schema.TIMESTAMP},
            "ExpressionAttributeValues": {":p": {"S": value}, ":since": {"N": str(int(since))}},
        }
        if position is not None:
            start = _decode_position(position, index)["k"]
            if start.get(key) != {"S": value}:
                raise InvalidPositionError(f"position was made for another {key} than {value!r}")
            request["ExclusiveStartKey"] = start
        events: list[RecordedEvent] = []
        while len(events) < limit:
            request["Limit"] = limit - len(events)
            response = self._call("query", request)
            events.extend(_event(item) for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return Page(events, None)
            request["ExclusiveStartKey"] = start
        return Page(events, _encode_position(index, {"k": request["ExclusiveStartKey"]}))

    def _puts(self, records: Sequence[NewRecord], now: int) -> list[dict[str, Any]]:
        actions = []
        total = 0
        for record in records:
            item = self._item(record, now)
            size = _estimated_size(item)
            if size > MAX_ITEM_BYTES:
                raise AppendTooLargeError(
                    f"event {record.event.event_id!r} ({record.event.event_type}) is about "
                    f"{size} bytes stored; DynamoDB items hold at most {MAX_ITEM_BYTES}. Store "
                    "large payloads elsewhere (e.g. S3) and keep a reference in the event"
                )
            total += size
            actions.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": item,
                        "ConditionExpression": _PUT_CONDITION,
                    }
                }
            )
        if total > MAX_TRANSACTION_BYTES:
            raise AppendTooLargeError(
                f"the events of this append are about {total} bytes; one DynamoDB transaction "
                f"holds at most {MAX_TRANSACTION_BYTES}. Append fewer or smaller events"
            )
        return actions

    def _item(self, record: NewRecord, now: int) -> dict[str, Any]:
        event = record.event
        if not isinstance(event, NewEvent):
            raise InvalidEventError(
                f"events must be NewEvent instances, got {type(event).__name__}"
            )
        _check_name("event_type", event.event_type)
        if (
            not isinstance(event.event_id, str)
            or not 0 < len(event.event_id) <= MAX_EVENT_ID_CHARS
            or _UNSAFE.search(event.event_id)
        ):
            raise InvalidEventError(
                f"event_id must be a string of 1-{MAX_EVENT_ID_CHARS} characters without "
                "quotes, backslashes or control characters, "
                f"got {event.event_id!r}"
            )
        if (
            isinstance(event.schema_version, bool)
            or not isinstance(event.schema_version, int)
            or event.schema_version < 1
        ):
            raise InvalidEventError(
                f"schema_version must be an integer >= 1, got {event.schema_version!r}"
            )
        shard = schema.shard_of(record.aggregate_id, self.date_bucket_shards)
        return {
            schema.AGGREGATE_ID: {"S": record.aggregate_id},
            schema.SEQUENCE_NUMBER: {"N": str(record.sequence_number)},
            schema.AGGREGATE_TYPE: {"S": record.aggregate_type},
            schema.EVENT_TYPE: {"S": event.event_type},
            schema.EVENT_DATA: _map("data", event.data),
            schema.METADATA: _map("metadata", event.metadata),
            schema.TIMESTAMP: {"N": str(now)},
            schema.SCHEMA_VERSION: {"N": str(event.schema_version)},
            schema.EVENT_ID: {"S": event.event_id},
            schema.TIME_BUCKET: {
                "S": schema.time_bucket(schema.date_of(now), shard, self.date_bucket_shards)
            },
            schema.TIME_KEY: {
                "S": schema.time_key(now, record.aggregate_id, record.sequence_number)
            },
        }

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        try:
            self.dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if _code(exc) == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []  # type: ignore[typeddict-item]
                codes = [str(r.get("Code", "None")) for r in reasons]
                if any(c in _THROTTLING for c in codes):
                    raise StoreThrottledError(
                        "DynamoDB throttled the append's transaction; nothing was written, "
                        "back off and retry the same append"
                    ) from None
                if any(c == "ValidationError" for c in codes):
                    raise InvalidEventError(
                        f"DynamoDB rejected an item of the append: {_message(exc)}"
                    ) from None
                raise _Cancelled(codes or ["Unknown"]) from None
            raise _mapped(exc, "TransactWriteItems") from None
        except BotoCoreError as exc:
            raise StoreUnavailableError(
                f"TransactWriteItems did not complete ({type(exc).__name__}: {exc}); retry the "
                "same append: if it was committed the retry is recognised as already done"
            ) from None

    def _call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return getattr(self.dynamodb, operation)(**request)  # type: ignore[no-any-return]
        except ClientError as exc:
            raise _mapped(exc, operation) from None
        except BotoCoreError as exc:
            raise StoreUnavailableError(
                f"{operation} on {self.table_name} did not complete "
                f"({type(exc).__name__}: {exc}); retry"
            ) from None

    def _count_conflict(self, aggregate_type: str) -> None:
        if not self._metrics_namespace:
            return
        self._emit(
            json.dumps(
                {
                    "_aws": {
                        "Timestamp": self._clock(),
                        "CloudWatchMetrics": [
                            {
                                "Namespace": self._metrics_namespace,
                                "Dimensions": [["TableName"]],
                                "Metrics": [{"Name": APPEND_CONFLICTS_METRIC, "Unit": "Count"}],
                            }
                        ],
                    },
                    "TableName": self.table_name,
                    "aggregate_type": aggregate_type,
                    APPEND_CONFLICTS_METRIC: 1,
                },
                separators=(",", ":"),
            )
        )


#: The EMF metric the client emits per ConcurrencyError (dimension TableName).
APPEND_CONFLICTS_METRIC = "AppendConflicts"


# ---------------------------------------------------------------------- helpers


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def _mapped(exc: ClientError, operation: str) -> AggregateStoreError:
    code = _code(exc)
    if code in _THROTTLING:
        return StoreThrottledError(
            f"DynamoDB throttled {operation} ({code}) after the SDK's retries; back off and retry"
        )
    if code in _CONFIGURATION:
        return StoreConfigurationError(
            f"DynamoDB refused {operation} ({code}: {_message(exc)}): check the table name, "
            "the function's permissions and the request"
        )
    return StoreUnavailableError(
        f"DynamoDB failed {operation} ({code}: {_message(exc)}); retry the same call"
    )


def _key(aggregate_id: str, sequence_number: int) -> dict[str, Any]:
    return {
        schema.AGGREGATE_ID: {"S": aggregate_id},
        schema.SEQUENCE_NUMBER: {"N": str(sequence_number)},
    }


def _check_id(aggregate_id: object) -> None:
    if not isinstance(aggregate_id, str) or not aggregate_id:
        raise InvalidEventError(f"aggregate_id must be a non-empty string, got {aggregate_id!r}")
    if _UNSAFE.search(aggregate_id):
        raise InvalidEventError(
            f"aggregate_id {aggregate_id!r} contains a quote, backslash or control character"
        )
    if len(aggregate_id.encode("utf-8")) > MAX_AGGREGATE_ID_BYTES:
        raise InvalidEventError(
            f"aggregate_id is longer than {MAX_AGGREGATE_ID_BYTES} bytes (it is part of the "
            "time index's sort key, which DynamoDB limits to 1024 bytes)"
        )


def _check_name(what: str, value: object) -> None:
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_NAME_CHARS
        or _UNSAFE.search(value)
    ):
        raise InvalidEventError(
            f"{what} must be a non-blank string of at most {MAX_NAME_CHARS} characters "
            "without quotes, backslashes or control characters (it becomes an index key and "
            f"the bus event's detail-type), got {value!r}"
        )


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidEventError(f"limit must be a positive integer, got {limit!r}")


def _map(what: str, value: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidEventError(f"event {what} must be a mapping, got {type(value).__name__}")
    return {"M": _members(value, what, 1)}


def _members(value: Mapping[Any, Any], path: str, depth: int) -> dict[str, Any]:
    """A mapping's members as a map's: keys made strings, each once and non-empty."""
    members: dict[str, Any] = {}
    for k, v in value.items():
        key = str(k)
        if not key:
            raise InvalidEventError(f"{path}: map keys must be non-empty (DynamoDB refuses '')")
        if not key.isascii() and _has_surrogate(key):
            raise InvalidEventError(f"{path}: key holds a lone surrogate, not valid Unicode")
        if key in members:
            raise InvalidEventError(f"{path}: two keys become {key!r}; one value would be lost")
        members[key] = _attribute(v, f"{path}.{key}", depth)
    return members


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _attribute(value: Any, path: str, depth: int) -> dict[str, Any]:
    if depth > 32:
        raise InvalidEventError(f"{path}: nested deeper than DynamoDB's 32 levels")
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        if not value.isascii() and _has_surrogate(value):
            raise InvalidEventError(f"{path}: text holds a lone surrogate, not valid Unicode")
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, int | float | Decimal):
        return {"N": _number(value, path)}
    if isinstance(value, Mapping):
        return {"M": _members(value, path, depth + 1)}
    if isinstance(value, list | tuple):
        return {"L": [_attribute(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]}
    raise InvalidEventError(
        f"{path}: {type(value).__name__} cannot be stored; use str, numbers, bool, None, "
        "bytes, lists and mappings"
    )


def _number(value: int | float | Decimal, path: str) -> str:
    """The number as DynamoDB stores it, after the core's precision and range checks (38
    significant digits, 1E-130 to 1E+125): what DynamoDB would refuse never reaches it."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEventError(f"{path}: {value} is not a number DynamoDB can store")
        value = Decimal(repr(value))
    elif not isinstance(value, Decimal):
        value = Decimal(value)  # exact for any int, with no str() digit limit
    if not value.is_finite():
        raise InvalidEventError(f"{path}: {value} is not a number DynamoDB can store")
    try:
        return checked_number(value, path)
    except UnstorableValueError as exc:
        raise InvalidEventError(str(exc)) from None


def _plain(attribute: Mapping[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return Decimal(value) if any(c in value for c in ".eE") else int(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "B":
        return bytes(value)
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    if kind == "L":
        return [_plain(v) for v in value]
    if kind in ("SS", "BS"):
        return set(value)
    if kind == "NS":
        return {Decimal(v) for v in value}
    raise AggregateStoreError(f"unexpected DynamoDB attribute type {kind!r}")


def _event(item: Mapping[str, Any]) -> RecordedEvent:
    return RecordedEvent(
        aggregate_id=item[schema.AGGREGATE_ID]["S"],
        aggregate_type=item[schema.AGGREGATE_TYPE]["S"],
        sequence_number=int(item[schema.SEQUENCE_NUMBER]["N"]),
        event_type=item[schema.EVENT_TYPE]["S"],
        data=_plain(item[schema.EVENT_DATA]),
        metadata=_plain(item[schema.METADATA]),
        timestamp=int(item[schema.TIMESTAMP]["N"]),
        schema_version=int(item[schema.SCHEMA_VERSION]["N"]),
        event_id=item[schema.EVENT_ID]["S"],
    )


def _estimated_size(item: Mapping[str, Any]) -> int:
    return len(json.dumps(item, default=lambda b: base64.b64encode(b).decode()).encode("utf-8"))


def _encode_position(kind: str, body: dict[str, Any]) -> str:
    raw = json.dumps({"q": kind, **body}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii")


def _decode_position(position: str, kind: str) -> dict[str, Any]:
    try:
        body = json.loads(base64.urlsafe_b64decode(position.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, AttributeError):
        raise InvalidPositionError("position is not a token this client made") from None
    if not isinstance(body, dict) or body.get("q") != kind or "k" not in body:
        raise InvalidPositionError(f"position was not made by a {kind} query")
    return body
