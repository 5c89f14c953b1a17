"""One exception per way an append or a read can fail, each saying what to do about it.

Every error the client raises is an :class:`AggregateStoreError`; no botocore exception
escapes. :class:`RetryableStoreError` marks the ones where the same call may succeed later
(retry the *same* append: a redelivered append is recognised as already done).
"""

from __future__ import annotations


class AggregateStoreError(Exception):
    """Base of every error the aggregate store client raises."""


class InvalidEventError(AggregateStoreError, ValueError):
    """The events or arguments cannot be stored as given; the message says why. Don't retry."""


class TooManyEventsError(InvalidEventError):
    """More events than one atomic append can hold. Split them into commands that each
    produce fewer events, or append them as separate versions yourself: the store never
    splits one append into several non-atomic writes."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(
            f"append of {count} events refused: one append is one DynamoDB transaction and "
            f"holds at most {limit} events (100 items per TransactWriteItems, one of them the "
            "expected-version check); nothing was written"
        )
        self.count = count
        self.limit = limit


class AppendTooLargeError(InvalidEventError):
    """An event over DynamoDB's 400 KB item limit, or an append over its 4 MB transaction
    limit: refused whole, nothing written. Keep large payloads elsewhere (S3) and a reference
    in the event, or split the command."""


class ConcurrencyError(AggregateStoreError):
    """Another writer appended first: the aggregate is not at the version you expected.

    Reload the aggregate (``read``), re-run the command against the new state, and append
    with ``expected_version=actual``. Nothing from this append was written.
    """

    def __init__(self, aggregate_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"aggregate {aggregate_id!r} is at version {actual}, not the expected {expected}: "
            "another writer appended first (or the expected version is ahead of the stream); "
            "nothing was written. Reload the aggregate and retry the command."
        )
        self.aggregate_id = aggregate_id
        self.expected = expected
        self.actual = actual


class PositionTakenError(AggregateStoreError):
    """A low-level write found one of its positions (aggregate id, sequence number) taken.
    Raised by :meth:`AggregateStore.record`, which the eventsourcing adapter uses."""

    def __init__(self, positions: list[tuple[str, int]]) -> None:
        shown = ", ".join(f"{a!r}@{s}" for a, s in positions) or "unknown"
        super().__init__(
            f"position(s) already taken: {shown}; nothing was written (the write is atomic)"
        )
        self.positions = positions


class InvalidPositionError(AggregateStoreError, ValueError):
    """A resume token was not made by this query (or was altered). Start without one."""


class RetryableStoreError(AggregateStoreError):
    """The store could not take the request now; the same call may succeed later."""


class StoreThrottledError(RetryableStoreError):
    """DynamoDB throttled the request after the SDK's own retries (a hot partition or an
    index partition at its limit, or the account's throughput). Back off and retry."""


class TransactionInterferenceError(RetryableStoreError):
    """Another transaction was touching the same items at the same moment, so DynamoDB
    cancelled this one (TransactionConflict). Retry the same append; if the other writer
    appended first the retry reports a ConcurrencyError."""


class StoreUnavailableError(RetryableStoreError):
    """DynamoDB failed with a server-side or network error. Retry the same append: if it was
    in fact committed, the retry is recognised as already done."""


class StoreConfigurationError(AggregateStoreError):
    """The table is missing, not reachable with these permissions, or the request was
    rejected as malformed: a deployment or code problem, not a data one. Don't retry."""
