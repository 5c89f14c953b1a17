"""The aggregate client under hostile event data: what DynamoDB cannot hold is refused before
the call with InvalidEventError naming where, never sent and reported as a retryable failure,
and nothing is silently dropped."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from kahula_core.aggregates import NewEvent
from kahula_core.aggregates.client import AggregateStore
from kahula_core.aggregates.errors import InvalidEventError


class NoCalls:
    """A DynamoDB client that fails the test if the client calls it at all."""

    def transact_write_items(self, **request: Any) -> Any:
        raise AssertionError("DynamoDB was called for data it cannot hold")


@pytest.fixture
def offline() -> AggregateStore:
    return AggregateStore(table_name="t", dynamodb=NoCalls(), clock=lambda: 1_795_000_000_000)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (Decimal("1234567890123456789012345678901234567890"), "significant digits"),
        (10**200, "outside DynamoDB's range"),
        (1e200, "outside DynamoDB's range"),
        (Decimal("1e-200"), "outside DynamoDB's range"),
        (10**5000 + 1, "significant digits"),
    ],
    ids=["40-digit Decimal", "int 1E200", "float 1E200", "Decimal 1E-200", "5,001-digit int"],
)
def test_a_number_dynamodb_cannot_hold_is_refused_before_the_call(
    offline: AggregateStore, value: Any, reason: str
) -> None:
    # GIVEN event data holding a number outside DynamoDB's precision or range
    event = NewEvent("Priced", {"amount": value})
    # WHEN it is appended
    # THEN InvalidEventError names the field and why, and DynamoDB is never called
    with pytest.raises(InvalidEventError, match=rf"data\.amount: .*{reason}"):
        offline.append("order-1", "Order", [event], expected_version=0)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({1: "a", "1": "b"}, r"data: two keys become '1'"),
        ({"inner": {2: "a", "2": "b"}}, r"data\.inner: two keys become '2'"),
        ({"": 1}, r"data: map keys must be non-empty"),
        ({"note": "\ud800"}, r"data\.note: text holds a lone surrogate"),
        ({"\udc00": 1}, r"data: key holds a lone surrogate"),
    ],
    ids=["colliding keys", "colliding nested keys", "empty key", "lone surrogate", "key surrogate"],
)
def test_data_a_map_cannot_hold_as_given_is_refused_not_silently_changed(
    offline: AggregateStore, data: dict[Any, Any], reason: str
) -> None:
    # GIVEN event data whose keys collide once made strings (one value would be dropped), an
    # empty key, or text that is not valid Unicode
    event = NewEvent("Noted", data)
    # WHEN it is appended
    # THEN InvalidEventError says where and why, and DynamoDB is never called
    with pytest.raises(InvalidEventError, match=reason):
        offline.append("order-1", "Order", [event], expected_version=0)


class NoQueries:
    def transact_write_items(self, **request: Any) -> Any:
        raise AssertionError("unexpected write")

    def query(self, **request: Any) -> Any:
        raise AssertionError("DynamoDB was queried with a version or limit it would refuse")


@pytest.mark.parametrize(
    ("from_version", "limit", "reason"),
    [
        ("1", None, "from_version must be an integer"),
        (True, None, "from_version must be an integer"),
        (-1, None, "from_version must be an integer"),
        (10**40, None, "from_version must be an integer"),
        (0, 0, "limit must be a positive integer"),
        (0, -3, "limit must be a positive integer"),
    ],
)
def test_a_read_with_a_version_or_limit_dynamodb_would_refuse_names_the_argument(
    from_version: Any, limit: Any, reason: str
) -> None:
    # GIVEN a read whose from_version or limit DynamoDB would refuse (a ValidationException the
    # client reports as "check the table name, the function's permissions")
    store = AggregateStore(table_name="t", dynamodb=NoQueries())
    # WHEN it is made
    # THEN InvalidEventError names the argument, and DynamoDB is never called
    with pytest.raises(InvalidEventError, match=reason):
        store.read("order-1", from_version, limit=limit)
