"""The aggregate store client on moto: appends, conflicts, redelivery, reads, errors."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from kahula_core.aggregates import (
    ConcurrencyError,
    InvalidEventError,
    NewEvent,
    RetryableStoreError,
    StoreConfigurationError,
    StoreThrottledError,
    StoreUnavailableError,
    TooManyEventsError,
    TransactionInterferenceError,
    schema,
)
from kahula_core.aggregates.client import AggregateStore

from .conftest import TABLE, Clock


def events(*types: str, prefix: str = "e") -> list[NewEvent]:
    return [NewEvent(t, {"i": i}, event_id=f"{prefix}-{i}") for i, t in enumerate(types)]


def test_append_writes_events_as_the_next_versions_with_every_attribute(store, dynamodb, clock):
    # GIVEN an event with data, metadata and a schema version
    event = NewEvent(
        "OrderPlaced",
        {"total": 12.5, "lines": [{"sku": "a", "qty": 2}], "blob": b"\x00\x01"},
        {"user": "u-1", "correlation_id": "c-1", "causation_id": "k-1"},
        event_id="ev-1",
        schema_version=2,
    )
    # WHEN it is appended to a new aggregate
    result = store.append("order-1", "Order", [event], expected_version=0)
    # THEN it is version 1, and the item carries every attribute the schema names
    assert result.version == 1
    assert result.sequence_numbers == (1,)
    item = dynamodb.get_item(
        TableName=TABLE,
        Key={"aggregate_id": {"S": "order-1"}, "sequence_number": {"N": "1"}},
        ConsistentRead=True,
    )["Item"]
    assert item["aggregate_type"] == {"S": "Order"}
    assert item["event_type"] == {"S": "OrderPlaced"}
    assert item["event_id"] == {"S": "ev-1"}
    assert item["schema_version"] == {"N": "2"}
    assert item["timestamp"] == {"N": str(clock.now)}
    assert item["metadata"]["M"]["correlation_id"] == {"S": "c-1"}
    assert item["event_data"]["M"]["total"] == {"N": "12.5"}
    assert item["time_bucket"] == {"S": schema.date_of(clock.now)}
    assert item["time_key"]["S"] == schema.time_key(clock.now, "order-1", 1)
    [read] = store.read("order-1")
    assert read.data == {
        "total": Decimal("12.5"),
        "lines": [{"sku": "a", "qty": 2}],
        "blob": b"\x00\x01",
    }
    assert read.metadata["user"] == "u-1"


def test_append_of_several_events_numbers_them_in_order(store):
    # GIVEN an aggregate at version 1
    store.append("a", "Order", events("Created"), 0)
    # WHEN three events are appended at version 1
    result = store.append("a", "Order", events("A", "B", "C", prefix="x"), 1)
    # THEN they become versions 2, 3, 4 in the order given
    assert result.sequence_numbers == (2, 3, 4)
    assert [e.event_type for e in store.read("a")] == ["Created", "A", "B", "C"]


def test_read_from_a_version_returns_only_the_later_events(store):
    # GIVEN five events
    store.append("a", "Order", events(*"VWXYZ"), 0)
    # WHEN read from version 3
    later = store.read("a", from_version=3)
    # THEN versions 4 and 5 come back, in order
    assert [(e.sequence_number, e.event_type) for e in later] == [(4, "Y"), (5, "Z")]


def test_read_pages_internally_through_a_long_stream(store):
    # GIVEN 250 events in three appends of up to 99
    version = 0
    for chunk in (99, 99, 52):
        version = store.append(
            "a", "T", events(*["E"] * chunk, prefix=f"p{version}"), version
        ).version
    # WHEN the whole stream is read
    stream = store.read("a")
    # THEN every version is there once, in order
    assert [e.sequence_number for e in stream] == list(range(1, 251))
    assert store.version("a") == 250


def test_stale_expected_version_raises_concurrency_error_naming_both_versions(store):
    # GIVEN an aggregate at version 2
    store.append("a", "Order", events("A", "B"), 0)
    # WHEN a writer that saw version 1 appends
    with pytest.raises(ConcurrencyError) as raised:
        store.append("a", "Order", events("C", prefix="late"), 1)
    # THEN the error says expected 1, actual 2, and nothing was written
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert "version 2, not the expected 1" in str(raised.value)
    assert store.version("a") == 2


def test_expected_version_ahead_of_the_stream_is_a_conflict_and_leaves_no_gap(store):
    # GIVEN an aggregate at version 1
    store.append("a", "Order", events("A"), 0)
    # WHEN a writer claims it is at version 3
    with pytest.raises(ConcurrencyError) as raised:
        store.append("a", "Order", events("X", prefix="ahead"), 3)
    # THEN it is refused: versions 4+ would leave 2 and 3 missing
    assert (raised.value.expected, raised.value.actual) == (3, 1)
    assert [e.sequence_number for e in store.read("a")] == [1]


def test_redelivered_append_is_recognised_as_done_and_returns_the_same_result(store, clock):
    # GIVEN an append that succeeded
    first = store.append("a", "Order", events("A", "B"), 0)
    clock.advance(5_000)
    # WHEN the very same append is delivered again (same ids, same expected version)
    again = store.append("a", "Order", events("A", "B"), 0)
    # THEN it reports the same result, is marked as a redelivery, and writes nothing
    assert again == first
    assert again.already_appended and not first.already_appended
    assert again.timestamp == first.timestamp
    assert store.version("a") == 2


def test_redelivery_is_recognised_even_after_later_appends(store):
    # GIVEN an append followed by another writer's append
    first = store.append("a", "Order", events("A"), 0)
    store.append("a", "Order", events("B", prefix="other"), 1)
    # WHEN the first append is redelivered
    again = store.append("a", "Order", events("A"), 0)
    # THEN it is still recognised as done
    assert again == first and again.already_appended


def test_same_position_with_different_event_ids_is_a_conflict(store):
    # GIVEN events e-0, e-1 at versions 1, 2
    store.append("a", "Order", events("A", "B"), 0)
    # WHEN an append at version 0 carries e-0 and a new id
    mixed = [NewEvent("A", event_id="e-0"), NewEvent("B", event_id="new")]
    # THEN it is a conflict, not a redelivery
    with pytest.raises(ConcurrencyError):
        store.append("a", "Order", mixed, 0)


def test_more_events_than_one_transaction_holds_are_refused_whole(store):
    # GIVEN 100 events (one transaction holds 99 plus the version check)
    too_many = events(*["E"] * 100)
    # WHEN appended
    with pytest.raises(TooManyEventsError) as raised:
        store.append("a", "Order", too_many, 0)
    # THEN the error names the limit and nothing was written
    assert raised.value.limit == 99
    assert "at most 99 events" in str(raised.value)
    assert store.read("a") == []


def test_the_largest_append_fits_in_one_transaction(store):
    # GIVEN an aggregate at version 1, WHEN 99 events are appended (99 puts + 1 check)
    store.append("a", "Order", events("A"), 0)
    result = store.append("a", "Order", events(*["E"] * 99, prefix="big"), 1)
    # THEN all are written
    assert result.version == 100


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"aggregate_id": ""}, "aggregate_id must be a non-empty string"),
        ({"aggregate_id": "x" * 513}, "longer than 512 bytes"),
        ({"aggregate_id": 'a"b'}, "quote, backslash or control character"),
        ({"events": [NewEvent("T", event_id="id\\x")]}, "without quotes, backslashes"),
        ({"aggregate_type": " "}, "aggregate_type must be a non-blank string"),
        ({"expected_version": -1}, "0 or more"),
        ({"expected_version": True}, "must be an integer"),
        ({"events": []}, "at least one event"),
        ({"events": [NewEvent("T" * 129)]}, "at most 128 characters"),
        ({"events": [NewEvent("T", {"x": float("nan")})]}, "data.x: nan is not a number"),
        ({"events": [NewEvent("T", {"x": object()})]}, "data.x: object cannot be stored"),
        ({"events": [NewEvent("T", data=[1])]}, "must be a mapping"),  # type: ignore[arg-type]
        ({"events": [NewEvent("T", event_id="")]}, "event_id must be a string"),
        ({"events": [NewEvent("T", schema_version=0)]}, "schema_version must be an integer >= 1"),
        ({"events": [NewEvent("T", event_id="d"), NewEvent("U", event_id="d")]}, "unique"),
        ({"events": [NewEvent("T", {"x": "y" * 420_000})]}, "DynamoDB items hold at most"),
    ],
)
def test_bad_input_is_refused_with_its_reason_and_nothing_is_written(store, kwargs, reason):
    # GIVEN an append with one bad argument
    call: dict[str, Any] = {
        "aggregate_id": "a",
        "aggregate_type": "Order",
        "events": [NewEvent("T")],
        "expected_version": 0,
    } | kwargs
    # WHEN appended, THEN InvalidEventError says why
    with pytest.raises(InvalidEventError, match=reason):
        store.append(**call)
    assert store.read("a") == []


class FailingClient:
    """A DynamoDB client whose every call raises the given error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def transact_write_items(self, **_: Any) -> Any:
        raise self.error

    def query(self, **_: Any) -> Any:
        raise self.error


def client_error(code: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, **extra}, "TransactWriteItems")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("ProvisionedThroughputExceededException"), StoreThrottledError),
        (client_error("ThrottlingException"), StoreThrottledError),
        (
            client_error(
                "TransactionCanceledException",
                CancellationReasons=[{"Code": "ThrottlingError"}, {"Code": "None"}],
            ),
            StoreThrottledError,
        ),
        (
            client_error(
                "TransactionCanceledException",
                CancellationReasons=[{"Code": "TransactionConflict"}],
            ),
            TransactionInterferenceError,
        ),
        (client_error("ResourceNotFoundException"), StoreConfigurationError),
        (client_error("AccessDeniedException"), StoreConfigurationError),
        (client_error("InternalServerError"), StoreUnavailableError),
        (EndpointConnectionError(endpoint_url="https://dynamodb"), StoreUnavailableError),
    ],
)
def test_dynamodb_failures_become_store_errors_never_botocore_ones(error, expected):
    # GIVEN a client that fails in one way
    store = AggregateStore(table_name=TABLE, dynamodb=FailingClient(error), clock=Clock())
    # WHEN appending and reading, THEN the failure is the store's own error type
    with pytest.raises(expected):
        store.append("a", "Order", [NewEvent("T")], 0)
    if not isinstance(error, ClientError) or "Cancellation" not in str(error.response):
        with pytest.raises(expected):
            store.read("a")


def test_throttled_and_interfered_appends_are_retryable():
    # GIVEN the error types a caller may retry
    # THEN throttling, transaction interference and unavailability are retryable; conflicts not
    assert issubclass(StoreThrottledError, RetryableStoreError)
    assert issubclass(TransactionInterferenceError, RetryableStoreError)
    assert issubclass(StoreUnavailableError, RetryableStoreError)
    assert not issubclass(ConcurrencyError, RetryableStoreError)


def test_conflict_emits_one_embedded_metric_line_when_configured(dynamodb, clock):
    # GIVEN a client with a metrics namespace and an aggregate at version 1
    lines: list[str] = []
    store = AggregateStore(
        table_name=TABLE,
        dynamodb=dynamodb,
        clock=clock,
        metrics_namespace="Kahula/Aggregates",
        emit=lines.append,
    )
    store.append("a", "Order", events("A"), 0)
    # WHEN a stale append conflicts
    with pytest.raises(ConcurrencyError):
        store.append("a", "Order", events("B", prefix="s"), 0)
    # THEN one EMF document counts it under AppendConflicts for the table
    [line] = lines
    document = json.loads(line)
    assert document["AppendConflicts"] == 1
    assert document["TableName"] == TABLE
    metric = document["_aws"]["CloudWatchMetrics"][0]
    assert metric["Namespace"] == "Kahula/Aggregates"
    assert metric["Metrics"] == [{"Name": "AppendConflicts", "Unit": "Count"}]


def test_client_is_created_on_first_use_not_at_construction(dynamodb):
    # GIVEN a factory
    calls: list[int] = []

    def factory() -> Any:
        calls.append(1)
        return dynamodb

    store = AggregateStore(table_name=TABLE, dynamodb=factory)
    # THEN nothing is created until the first call, and then once
    assert calls == []
    store.read("a")
    store.read("a")
    assert calls == [1]
