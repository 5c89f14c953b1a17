"""POST and GET /aggregates/{aggregate_id}/events: every outcome of the store's client mapped to
its response, through the functions' real handlers, against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from api import aggregate_reader, aggregate_writer, aggregates
from botocore.exceptions import ClientError
from kahula_core.aggregates import NewEvent, schema
from kahula_core.aggregates.client import AggregateStore

from local.api_server import proxy_event
from tests.unit.api_fixtures import _answer
from tests.unit.conftest import lambda_context

AGG = "order-42"


def post(aggregate_id: str, body: Any, **headers: str) -> tuple[int, dict[str, str], Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    event = proxy_event(
        "POST", f"/aggregates/{aggregate_id}/events", body=raw, headers=_headers(headers)
    )
    return _answer(aggregate_writer.lambda_handler(event, lambda_context()))


def get(path: str, **headers: str) -> tuple[int, dict[str, str], Any]:
    event = proxy_event("GET", path, headers=_headers(headers))
    return _answer(aggregate_reader.lambda_handler(event, lambda_context()))


def _headers(given: dict[str, str]) -> dict[str, str]:
    return {k.replace("_", "-"): v for k, v in given.items()}


def append_body(*ids: str, aggregate_type: str = "Order", **data: Any) -> dict[str, Any]:
    return {
        "aggregate_type": aggregate_type,
        "events": [
            {"event_type": "OrderPlaced", "event_id": i, "data": data, "metadata": {"user": "u"}}
            for i in ids
        ],
    }


def _error(body: dict[str, Any], status: int, code: str) -> str:
    assert body["error"]["status"] == status and body["error"]["code"] == code
    assert body["error"]["request_id"]
    return str(body["error"]["message"])


@pytest.fixture(autouse=True)
def injected(store: AggregateStore) -> Iterator[AggregateStore]:
    aggregates.use_store(store)
    yield store
    aggregates.use_store(None)


# ------------------------------------------------------------------------------ append


def test_if_none_match_star_creates_the_aggregate_at_version_1(store):
    # GIVEN no aggregate WHEN one event is POSTed with the create precondition
    status, headers, body = post(AGG, append_body("cmd-1"), If_None_Match="*")
    # THEN 201, the new version as the ETag, and Location names the appended events
    assert status == 201
    assert headers["ETag"] == '"1"' and body["version"] == 1
    assert headers["Location"] == f"/aggregates/{AGG}/events?from_version=0"
    assert body["sequence_numbers"] == [1] and body["already_appended"] is False
    assert [e.event_id for e in store.read(AGG)] == ["cmd-1"]


def test_if_match_appends_after_the_version_it_names(store):
    # GIVEN an aggregate at version 1, whose stream's ETag the client read
    post(AGG, append_body("cmd-1"), If_None_Match="*")
    _, read_headers, _ = get(f"/aggregates/{AGG}/events")
    # WHEN two events are appended with that ETag as If-Match
    status, headers, body = post(AGG, append_body("cmd-2", "cmd-3"), If_Match=read_headers["ETag"])
    # THEN they are versions 2 and 3
    assert status == 201 and headers["ETag"] == '"3"'
    assert body["sequence_numbers"] == [2, 3]
    assert store.version(AGG) == 3


def test_a_stale_if_match_is_412_naming_expected_and_actual_and_writes_nothing(store):
    # GIVEN an aggregate at version 2
    post(AGG, append_body("cmd-1", "cmd-2"), If_None_Match="*")
    # WHEN a writer that read version 1 appends
    status, headers, body = post(AGG, append_body("cmd-x"), If_Match='"1"')
    # THEN 412: both versions named, the current one as the ETag, nothing written
    assert status == 412
    assert "nothing was written" in _error(body, 412, "precondition_failed")
    assert body["expected_version"] == 1 and body["actual_version"] == 2
    assert headers["ETag"] == '"2"'
    assert [e.event_id for e in store.read(AGG)] == ["cmd-1", "cmd-2"]


def test_an_if_match_ahead_of_the_stream_is_412(store):
    post(AGG, append_body("cmd-1"), If_None_Match="*")
    status, _, body = post(AGG, append_body("cmd-2"), If_Match='"5"')
    assert status == 412 and (body["expected_version"], body["actual_version"]) == (5, 1)
    assert store.version(AGG) == 1


def test_creating_an_aggregate_that_exists_is_412(store):
    post(AGG, append_body("cmd-1"), If_None_Match="*")
    status, _, body = post(AGG, append_body("cmd-2"), If_None_Match="*")
    assert status == 412 and (body["expected_version"], body["actual_version"]) == (0, 1)


def test_without_a_precondition_the_append_is_428_and_writes_nothing(store):
    # GIVEN neither If-Match nor If-None-Match WHEN events are POSTed
    status, _, body = post(AGG, append_body("cmd-1"))
    # THEN 428 saying which header to send; nothing written
    assert status == 428
    message = _error(body, 428, "precondition_required")
    assert "If-Match" in message and "If-None-Match: *" in message
    assert store.version(AGG) == 0


def test_a_redelivered_append_gets_the_same_success_not_a_conflict(store):
    # GIVEN an append that succeeded but whose answer the client never got
    _, first_headers, first = post(AGG, append_body("cmd-1", "cmd-2"), If_None_Match="*")
    # WHEN the client sends the very same request again
    status, headers, again = post(AGG, append_body("cmd-1", "cmd-2"), If_None_Match="*")
    # THEN the same 201, version and ETag, marked as a redelivery; nothing written twice
    assert status == 201 and headers["ETag"] == first_headers["ETag"]
    assert again["already_appended"] is True
    assert {k: v for k, v in again.items() if k != "already_appended"} == {
        k: v for k, v in first.items() if k != "already_appended"
    }
    assert len(store.read(AGG)) == 2


@pytest.mark.parametrize(
    ("header", "value", "fragment"),
    [
        ("If-Match", "*", "one version"),
        ("If-Match", '"1", "2"', "one version"),
        ("If-Match", 'W/"1"', "weak tag"),
        ("If-Match", '"one"', "whole number"),
        ("If-Match", "-1", "whole number"),
        ("If-Match", '"1000000000000"', "whole number"),
        ("If-None-Match", '"1"', "must be *"),
    ],
)
def test_an_unusable_precondition_is_400_saying_why(store, header, value, fragment):
    status, _, body = post(AGG, append_body("cmd-1"), **{header: value})
    assert status == 400
    assert fragment in _error(body, 400, "malformed_request")
    assert store.version(AGG) == 0


def test_if_match_and_if_none_match_together_are_400(store):
    status, _, body = post(AGG, append_body("cmd-1"), If_Match='"0"', If_None_Match="*")
    assert status == 400 and "not both" in _error(body, 400, "malformed_request")


def test_if_match_zero_is_the_create_form_too(store):
    status, headers, _ = post(AGG, append_body("cmd-1"), If_Match='"0"')
    assert status == 201 and headers["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"{nope", "not JSON"),
        (b"[]", "JSON object"),
        ({"aggregate_type": "Order", "events": [], "extra": 1}, "unknown field(s) 'extra'"),
        ({"events": [{"event_type": "A", "event_id": "1"}]}, "aggregate_type is required"),
        ({"aggregate_type": "Order", "events": []}, "non-empty list"),
        ({"aggregate_type": "Order", "events": ["x"]}, "events[0] must be an object"),
        ({"aggregate_type": "Order", "events": [{"event_type": "A"}]}, "events[0].event_id"),
        ({"aggregate_type": "Order", "events": [{"event_id": "1"}]}, "events[0].event_type"),
        (
            {"aggregate_type": "Order", "events": [{"event_type": "A", "event_id": "1", "x": 1}]},
            "unknown field(s) 'x'",
        ),
        (
            {"aggregate_type": "Order", "events": [{"event_type": "A", "event_id": "1",
                                                    "data": 1}]},
            "events[0].data must be an object",
        ),
        (
            {
                "aggregate_type": "Order",
                "events": [{"event_type": "A", "event_id": "1", "schema_version": "2"}],
            },
            "schema_version must be an integer",
        ),
        (b'{"aggregate_type": "Order", "events": [{"event_type": "A", "event_id": "1", '
         b'"data": {"x": NaN}}]}', "NaN"),
        # refused by the store's client, with its own reason
        ({"aggregate_type": 'Ord"er', "events": [{"event_type": "A", "event_id": "1"}]}, "quotes"),
        (
            {"aggregate_type": "Order", "events": [{"event_type": "A", "event_id": "1"}] * 2},
            "unique",
        ),
    ],
)  # fmt: skip
def test_a_bad_body_is_400_with_the_exact_reason(store, body, fragment):
    status, _, answer = post(AGG, body, If_None_Match="*")
    assert status == 400
    assert fragment in _error(answer, 400, "malformed_event")
    assert store.version(AGG) == 0


def test_more_events_than_one_transaction_holds_is_413(store):
    ids = [f"cmd-{i}" for i in range(schema.MAX_EVENTS_PER_APPEND + 1)]
    status, _, body = post(AGG, append_body(*ids), If_None_Match="*")
    assert status == 413
    assert "99 events" in _error(body, 413, "payload_too_large")
    assert store.version(AGG) == 0


def test_an_event_over_dynamodbs_item_limit_is_413(store):
    status, _, body = post(AGG, append_body("cmd-1", blob="x" * 410_000), If_None_Match="*")
    assert status == 413
    assert "items hold at most 409600" in _error(body, 413, "payload_too_large")
    assert store.version(AGG) == 0


def test_numbers_are_stored_exactly_and_read_back_as_json_numbers(store):
    post(AGG, append_body("cmd-1", price=12.5, qty=2, tiny=0.1), If_None_Match="*")
    (stored,) = store.read(AGG)
    assert str(stored.data["price"]) == "12.5" and str(stored.data["tiny"]) == "0.1"
    _, _, body = get(f"/aggregates/{AGG}/events")
    assert body["events"][0]["data"] == {"price": 12.5, "qty": 2, "tiny": 0.1}


class _Failing:
    """A DynamoDB client whose every call fails with one error code."""

    def __init__(self, code: str, status: int) -> None:
        self._error = ClientError(
            {
                "Error": {"Code": code, "Message": "injected"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            "TransactWriteItems",
        )

    def transact_write_items(self, **_: Any) -> None:
        raise self._error

    def query(self, **_: Any) -> None:
        raise self._error


@pytest.mark.parametrize(
    ("code", "http", "status", "answer"),
    [
        ("ProvisionedThroughputExceededException", 400, 429, "throttled"),
        ("ThrottlingException", 400, 429, "throttled"),
        ("InternalServerError", 500, 503, "unavailable"),
        ("ResourceNotFoundException", 400, 500, "internal"),
    ],
)  # fmt: skip
def test_store_failures_answer_with_their_status_and_retry_after(code, http, status, answer):
    # GIVEN a store whose DynamoDB fails with `code`
    aggregates.use_store(AggregateStore(table_name="t", dynamodb=_Failing(code, http)))
    # WHEN an append and a read are made
    for got, headers, body in (
        post(AGG, append_body("cmd-1"), If_None_Match="*"),
        get(f"/aggregates/{AGG}/events"),
    ):
        # THEN each answers `status`; the retryable ones say when, none leaks DynamoDB's words
        assert got == status
        _error(body, status, answer)
        assert ("Retry-After" in headers) == (status in {429, 503})
        assert "injected" not in json.dumps(body) and '"t"' not in json.dumps(body)


def test_a_transaction_cancelled_by_another_is_503_retry_the_same(monkeypatch, store):
    error = ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": "TransactionConflict"}],
        },
        "TransactWriteItems",
    )

    def cancelled(**_: Any) -> None:
        raise error

    monkeypatch.setattr(store.dynamodb, "transact_write_items", cancelled)
    status, headers, body = post(AGG, append_body("cmd-1"), If_None_Match="*")
    assert status == 503 and headers["Retry-After"] == "1"
    assert "retry the same request" in _error(body, 503, "unavailable")


# ------------------------------------------------------------------------------ read


def _seed(store: AggregateStore, count: int) -> None:
    events = [NewEvent("OrderLine", {"n": i}, event_id=f"e-{i}") for i in range(1, count + 1)]
    for start in range(0, count, 50):
        store.append(AGG, "Order", events[start : start + 50], start)


def test_an_aggregate_without_events_is_404():
    status, _, body = get("/aggregates/nobody/events")
    assert status == 404 and "has no events" in _error(body, 404, "not_found")


def test_the_stream_is_read_in_order_with_the_current_version_as_etag(store):
    _seed(store, 3)
    status, headers, body = get(f"/aggregates/{AGG}/events")
    assert status == 200 and headers["ETag"] == '"3"' and body["version"] == 3
    assert [e["sequence_number"] for e in body["events"]] == [1, 2, 3]
    assert body["events"][0] == {
        "sequence_number": 1,
        "event_id": "e-1",
        "event_type": "OrderLine",
        "aggregate_type": "Order",
        "data": {"n": 1},
        "metadata": {},
        "timestamp": body["events"][0]["timestamp"],
        "schema_version": 1,
    }
    assert body["next"] is None and "Link" not in headers


@pytest.mark.parametrize(
    "if_none_match",
    ['"3"', 'W/"3"', '"1", "3"', "*"],
    ids=["the tag", "its weak form", "a list holding it", "any"],
)
def test_if_none_match_with_the_current_version_is_304_without_a_body(store, if_none_match):
    # GIVEN an aggregate at version 3 and a client holding that version's page
    _seed(store, 3)
    # WHEN it asks again with If-None-Match
    status, headers, body = get(f"/aggregates/{AGG}/events", If_None_Match=if_none_match)
    # THEN 304, no body, the same validator and caching headers
    assert status == 304
    assert body in (None, "", b"")
    assert headers["ETag"] == '"3"'
    assert headers["Cache-Control"] == aggregate_reader.CACHE_CONTROL


def test_if_none_match_with_an_older_version_gets_the_page_again(store):
    # GIVEN a client holding version 3's page, then one more append
    _seed(store, 3)
    store.append(AGG, "Order", [NewEvent("OrderLine", {"n": 4}, event_id="e-4")], 3)
    # WHEN it asks with its old tag THEN 200 with every event and the new tag
    status, headers, body = get(f"/aggregates/{AGG}/events", If_None_Match='"3"')
    assert status == 200 and headers["ETag"] == '"4"'
    assert [e["sequence_number"] for e in body["events"]] == [1, 2, 3, 4]


def test_a_malformed_if_none_match_is_ignored(store):
    _seed(store, 2)
    status, _, body = get(f"/aggregates/{AGG}/events", If_None_Match="not a tag")
    assert status == 200 and len(body["events"]) == 2


def test_an_aggregate_without_events_is_404_even_with_if_none_match_star():
    status, _, body = get("/aggregates/nobody/events", If_None_Match="*")
    assert status == 404 and "has no events" in _error(body, 404, "not_found")


def test_from_version_returns_only_the_later_events(store):
    _seed(store, 5)
    _, headers, body = get(f"/aggregates/{AGG}/events?from_version=3")
    assert [e["sequence_number"] for e in body["events"]] == [4, 5]
    assert headers["ETag"] == '"5"'


def test_from_version_at_the_end_is_an_empty_page_with_the_version(store):
    _seed(store, 2)
    status, headers, body = get(f"/aggregates/{AGG}/events?from_version=2")
    assert status == 200 and body["events"] == [] and headers["ETag"] == '"2"'


def test_pages_follow_next_through_the_whole_stream(store):
    # GIVEN 120 events WHEN read 50 at a time, following `next`
    _seed(store, 120)
    path: str | None = f"/aggregates/{AGG}/events?limit=50"
    seen: list[int] = []
    pages = 0
    while path:
        status, headers, body = get(path)
        assert status == 200 and headers["ETag"] == '"120"'
        seen += [e["sequence_number"] for e in body["events"]]
        if body["next"]:
            assert headers["Link"] == f'<{body["next"]}>; rel="next"'
        path = body["next"]
        pages += 1
    # THEN every event once, in order, in 3 pages
    assert seen == list(range(1, 121)) and pages == 3


def test_a_page_stops_before_the_response_limit(store):
    # GIVEN events of about 1 KB and a page budget of about 3 of them
    _seed(store, 10)
    response = aggregate_reader.read_stream(
        AGG, {"limit": "10"}, store=store, request_id="r", budget_bytes=400
    )
    body = json.loads(response.body)
    # THEN the page ends early and `next` continues after its last event
    assert 0 < len(body["events"]) < 10
    assert body["next"].endswith(f"from_version={body['events'][-1]['sequence_number']}&limit=10")


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit must be a whole number 1..1000"),
        ("limit=1001", "limit must be a whole number 1..1000"),
        ("limit=ten", "limit must be"),
        ("from_version=-1", "from_version must be"),
        ("cursor=abc", "unknown query parameter(s) 'cursor'"),
    ],
)
def test_a_bad_query_is_400_saying_why(store, query, fragment):
    _seed(store, 1)
    status, _, body = get(f"/aggregates/{AGG}/events?{query}")
    assert status == 400 and fragment in _error(body, 400, "malformed_request")


def test_an_unknown_route_is_404_in_the_one_shape():
    event = proxy_event("GET", "/aggregates/x/other")
    status, _, body = _answer(aggregate_reader.lambda_handler(event, lambda_context()))
    assert status == 404 and _error(body, 404, "not_found") == "no such route"
