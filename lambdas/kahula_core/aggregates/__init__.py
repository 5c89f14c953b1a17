"""The aggregate event store: one ordered stream of events per aggregate, appended with an
expected version, queried by event type, aggregate type and time.

Import cost: this package imports only the standard library; the client (botocore) loads
when :class:`AggregateStore` is first named, and the eventsourcing adapter only from
``kahula_core.aggregates.eventsourcing_recorder``. The construct imports :mod:`.schema`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import schema
from .errors import (
    AggregateStoreError,
    AppendTooLargeError,
    ConcurrencyError,
    InvalidEventError,
    InvalidPositionError,
    PositionTakenError,
    RetryableStoreError,
    StoreConfigurationError,
    StoreThrottledError,
    StoreUnavailableError,
    TooManyEventsError,
    TransactionInterferenceError,
)
from .model import AppendResult, NewEvent, NewRecord, Page, RecordedEvent

if TYPE_CHECKING:
    from .client import AggregateStore

__all__ = [
    "AggregateStore",
    "AggregateStoreError",
    "AppendResult",
    "AppendTooLargeError",
    "ConcurrencyError",
    "InvalidEventError",
    "InvalidPositionError",
    "NewEvent",
    "NewRecord",
    "Page",
    "PositionTakenError",
    "RecordedEvent",
    "RetryableStoreError",
    "StoreConfigurationError",
    "StoreThrottledError",
    "StoreUnavailableError",
    "TooManyEventsError",
    "TransactionInterferenceError",
    "schema",
]


def __getattr__(name: str) -> Any:
    if name == "AggregateStore":
        from .client import AggregateStore  # noqa: PLC0415 - lazy: botocore on first use

        return AggregateStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
