"""The aggregate event store's table layout, written once for the client and the construct.

Standard library only: the construct (``cdk_app``) imports it at synth time, the client at run
time. Changing a name here changes both, which is the point.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

# --------------------------------------------------------------------------- table keys
AGGREGATE_ID = "aggregate_id"  # partition key (S)
SEQUENCE_NUMBER = "sequence_number"  # sort key (N): 1, 2, 3 ... per aggregate

# --------------------------------------------------------------------------- attributes
AGGREGATE_TYPE = "aggregate_type"  # S
EVENT_TYPE = "event_type"  # S
EVENT_DATA = "event_data"  # M
METADATA = "metadata"  # M: user, correlation_id, causation_id ...
TIMESTAMP = "timestamp"  # N: epoch milliseconds, the writer's clock at append
SCHEMA_VERSION = "schema_version"  # N
EVENT_ID = "event_id"  # S: the producer's id, unique per event
TIME_BUCKET = "time_bucket"  # S: UTC date, "2026-11-22" or "2026-11-22#3" when sharded
TIME_KEY = "time_key"  # S: "<timestamp:013d>#<aggregate_id>#<sequence:012d>", unique, ordered

# --------------------------------------------------------------------------- indexes
BY_EVENT_TYPE = "by-event-type"  # event_type + timestamp
BY_AGGREGATE_TYPE = "by-aggregate-type"  # aggregate_type + timestamp
BY_TIME = "by-time"  # time_bucket + time_key

#: (index name, partition key, partition key type, sort key, sort key type)
INDEXES: tuple[tuple[str, str, str, str, str], ...] = (
    (BY_EVENT_TYPE, EVENT_TYPE, "S", TIMESTAMP, "N"),
    (BY_AGGREGATE_TYPE, AGGREGATE_TYPE, "S", TIMESTAMP, "N"),
    (BY_TIME, TIME_BUCKET, "S", TIME_KEY, "S"),
)

# --------------------------------------------------------------------------- limits
#: Items per TransactWriteItems call (DynamoDB service quotas).
MAX_TRANSACT_ITEMS = 100
#: Events per append: one transaction item is the check that ``expected_version`` exists.
MAX_EVENTS_PER_APPEND = MAX_TRANSACT_ITEMS - 1
#: Date-bucket shards allowed (each shard is one more query per day when reading the index).
MAX_DATE_BUCKET_SHARDS = 64
#: Sequence numbers fit in 12 digits inside ``time_key``.
MAX_SEQUENCE_NUMBER = 10**12 - 1

#: Default ``source`` of the events the outbox publishes, for a name prefix.
OUTBOX_SOURCE_SUFFIX = "aggregate-store"


def outbox_source(prefix: str) -> str:
    """The default ``source`` of every event the outbox puts on the bus."""
    return f"{prefix}.{OUTBOX_SOURCE_SUFFIX}"


def date_of(timestamp_ms: int) -> str:
    """The UTC date (``YYYY-MM-DD``) of an epoch-millisecond timestamp."""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def shard_of(aggregate_id: str, shards: int) -> int:
    """Stable shard of an aggregate: all its events share one shard, in order."""
    if shards <= 1:
        return 0
    digest = hashlib.sha256(aggregate_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def time_bucket(date: str, shard: int, shards: int) -> str:
    """The ``by-time`` partition key: the date, with ``#shard`` when sharded."""
    return date if shards <= 1 else f"{date}#{shard}"


def time_key(timestamp_ms: int, aggregate_id: str, sequence_number: int) -> str:
    """The ``by-time`` sort key: time first, then aggregate and position, so it is unique."""
    return f"{timestamp_ms:013d}#{aggregate_id}#{sequence_number:012d}"


def timestamp_of_time_key(key: str) -> int:
    return int(key.split("#", 1)[0])
