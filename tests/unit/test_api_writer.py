"""POST /events: every storage outcome mapped to its response, in the one error shape."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from api import writer
from botocore.exceptions import ClientError
from kahula_core import spec
from kahula_core.errors import ItemTooLargeError

from local.api_server import proxy_event
from local.faults import FaultPlan
from tests.unit.conftest import lambda_context

from .api_fixtures import api_fixture, envelope  # noqa: F401 - the `api` fixture


def _error(body, status, code):
    assert set(body["error"]) == {"status", "code", "message", "request_id"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    return body["error"]["message"]


def test_a_new_event_is_created_with_its_location_id_and_hash(api):
    # GIVEN an event with the producer's id WHEN it is POSTed
    status, headers, body = api.post(envelope("order-1", total=129.95))
    # THEN 201, Location names it, and the body carries the stored id and hash
    assert status == 201
    assert headers["Location"] == "/events/order-1"
    assert body["id"] == "order-1" and body["outcome"] == "persisted"
    item = api.resources.item("order-1")
    assert item is not None and body["payload_hash"] == item["payload_hash"]["S"]


def test_the_same_event_again_is_an_idempotent_replay(api):
    api.post(envelope("order-1", total=1))
    status, headers, body = api.post(envelope("order-1", total=1))
    assert status == 200
    assert body["outcome"] == "duplicate" and "idempotent replay" in body["message"]
    assert headers["Location"] == "/events/order-1"
    assert len(api.resources.items()) == 1


def test_another_event_under_a_stored_id_is_a_conflict_naming_the_stored_hash(api):
    _, _, first = api.post(envelope("order-1", total=1))
    status, _, body = api.post(envelope("order-1", total=2))
    assert status == 409
    assert "nothing was overwritten" in _error(body, 409, "conflict")
    assert body["stored_payload_hash"] == first["payload_hash"]
    assert body["incoming_payload_hash"] != first["payload_hash"]
    assert api.resources.item("order-1")["payload_hash"]["S"] == first["payload_hash"]
    assert len(api.resources.conflicts()) == 1


def test_an_event_without_the_producers_id_is_refused_naming_the_path(api):
    body = envelope()
    del body["detail"]["metadata"]["event_id"]
    status, _, answer = api.post(body)
    assert status == 400
    assert "detail.metadata.event_id" in _error(answer, 400, "malformed_event")
    assert api.resources.items() == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b"", "the body is empty"),
    ],
)
def test_a_body_that_is_not_an_envelope_is_refused_with_the_reason(api, raw, reason):
    status, _, answer = api.post(raw)
    assert status == 400
    assert reason in _error(answer, 400, "malformed_event")


def test_an_unknown_envelope_field_is_refused(api):
    status, _, answer = api.post({**envelope(), "id": "mine"})
    assert status == 400
    assert "unknown envelope field(s) 'id'" in _error(answer, 400, "malformed_event")


def test_a_malformed_event_gets_the_cores_exact_reason(api):
    status, _, answer = api.post({**envelope(), "time": "yesterday"})
    assert status == 400
    assert _error(answer, 400, "malformed_event") == (
        "event field 'time' is not an ISO-8601 timestamp: 'yesterday'"
    )


def test_a_body_over_the_platforms_event_limit_is_too_large(api):
    status, _, answer = api.post(envelope(blob="x" * spec.EVENTBRIDGE_MAX_EVENT_BYTES))
    assert status == 413
    assert "over the platform's event limit" in _error(answer, 413, "payload_too_large")
    assert api.resources.items() == []


def test_an_item_too_large_even_with_its_claim_check_is_too_large(api, monkeypatch):
    def refuse(event, pipeline):
        raise ItemTooLargeError("the item is 500000 bytes with its detail in S3")

    monkeypatch.setattr(writer, "persist_event", refuse)
    status, _, answer = api.post(envelope())
    assert status == 413
    assert "with its detail in S3" in _error(answer, 413, "payload_too_large")


def test_an_oversize_detail_is_stored_with_its_claim_check(api):
    status, _, _ = api.post(envelope("big", blob="x" * 400_000))
    assert status == 201
    assert "payload_claim_check" in api.resources.item("big")


def test_dynamodb_throttling_is_429_with_retry_after(api):
    plan = FaultPlan(throttle=1.0)
    api.resources.dynamodb.meta.events.register("before-send.dynamodb.PutItem", plan.on_put_item)
    status, headers, answer = api.post(envelope())
    assert status == 429
    assert headers["Retry-After"] == "1"
    _error(answer, 429, "throttled")
    assert plan.injected["dynamodb throttling (400)"] > 1  # the SDK retried first


def test_a_dynamodb_server_error_is_503_with_retry_after(api):
    plan = FaultPlan(server_error=1.0)
    api.resources.dynamodb.meta.events.register("before-send.dynamodb.PutItem", plan.on_put_item)
    status, headers, answer = api.post(envelope())
    assert status == 503
    assert headers["Retry-After"] == "1"
    _error(answer, 503, "unavailable")


def test_an_unexpected_error_is_500_with_the_request_id_and_no_internals(api, monkeypatch):
    def explode(event, pipeline):
        raise RuntimeError("secret table layout")

    monkeypatch.setattr(writer, "persist_event", explode)
    status, _, answer = api.post(envelope())
    assert status == 500
    message = _error(answer, 500, "internal")
    assert "secret" not in message and answer["error"]["request_id"]


def test_an_access_error_is_500_not_a_retry(api, monkeypatch):
    def denied(event, pipeline):
        raise ClientError({"Error": {"Code": "AccessDeniedException"}}, "PutItem")

    monkeypatch.setattr(writer, "persist_event", denied)
    status, headers, _ = api.post(envelope())
    assert status == 500 and "Retry-After" not in headers


def test_a_stored_event_is_archived_as_the_bus_would_and_a_conflict_is_not(api):
    api.post(envelope("order-1", total=1))
    api.post(envelope("order-1", total=2))  # conflict
    (archived,) = api.archive.records
    assert archived["detail-type"] == "OrderUpdatedEvent"
    assert archived["detail"]["total"] == 1
    assert {"id", "time", "source", "account", "region", "resources"} <= set(archived)


def test_an_updated_event_yields_its_follow_up_as_on_the_bus(api):
    _, _, body = api.post(envelope("order-1"))
    (follow_up,) = api.resources.follow_ups()
    assert follow_up["detail-type"] == "ValidatableEvent"
    assert follow_up["detail"]["source_unique_id"] == "order-1"
    assert body["follow_ups"] == [follow_up["detail"]["follow_up_id"]]


def test_a_retried_request_builds_the_same_event(api):
    # GIVEN the same envelope twice THEN the derived EventBridge id is the same
    body = b'{"source":"s","detail-type":"T","detail":{"metadata":{"event_id":"e"}}}'
    path = ("detail", "metadata", "event_id")
    first = writer.event_from_request(body, event_id_path=path, now=datetime.now(UTC))
    again = writer.event_from_request(body, event_id_path=path, now=datetime.now(UTC))
    assert first["id"] == again["id"]


def test_an_id_with_reserved_characters_gets_a_percent_encoded_location(api):
    status, headers, _ = api.post(envelope("order/1 a"))
    assert status == 201
    assert headers["Location"] == "/events/order%2F1%20a"


def test_an_unknown_route_is_404_in_the_error_shape(api):
    response = writer.lambda_handler(proxy_event("PUT", "/things"), lambda_context())
    assert response["statusCode"] == 404
    assert '"code":"not_found"' in response["body"]


def test_a_missing_envelope_field_is_named(api):
    body = envelope()
    del body["detail-type"]
    status, _, answer = api.post(body)
    assert status == 400
    assert _error(answer, 400, "malformed_event") == "event has no 'detail-type' field"
