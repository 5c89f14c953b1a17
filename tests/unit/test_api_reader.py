"""GET /events/{id}: strongly consistent, the claim check restored, cacheable by ETag."""

from __future__ import annotations

import hashlib

from api import reader

from .api_fixtures import api_fixture, envelope  # noqa: F401 - the `api` fixture


def test_a_stored_event_is_read_back_with_its_etag_and_immutable_caching(api):
    # GIVEN a stored event WHEN it is read by the Location the writer gave
    _, headers, posted = api.post(envelope("order-1", total=129.95, count=3))
    status, got_headers, body = api.get(headers["Location"])
    # THEN 200, the detail as posted, ETag = payload hash, cacheable for good
    assert status == 200
    assert body["detail"] == envelope("order-1", total=129.95, count=3)["detail"]
    assert body["unique_id"] == "order-1" and body["event_name"] == "OrderUpdatedEvent"
    assert got_headers["ETag"] == f'"{posted["payload_hash"]}"'
    assert got_headers["Cache-Control"] == "private, max-age=31536000, immutable"


def test_if_none_match_with_the_etag_is_304_without_a_body(api):
    _, headers, posted = api.post(envelope("order-1"))
    status, got_headers, body = api.get(
        headers["Location"], **{"If-None-Match": f'W/"x", "{posted["payload_hash"]}"'}
    )
    assert status == 304 and body is None
    assert got_headers["ETag"] == f'"{posted["payload_hash"]}"'


def test_another_etag_gets_the_event(api):
    _, headers, _ = api.post(envelope("order-1"))
    status, _, _ = api.get(headers["Location"], **{"If-None-Match": '"other"'})
    assert status == 200


def test_an_absent_id_is_404_in_the_error_shape(api):
    status, _, body = api.get("/events/nothing-here")
    assert status == 404
    assert body["error"]["code"] == "not_found" and "'nothing-here'" in body["error"]["message"]


def test_a_claim_checked_detail_is_restored_from_s3(api):
    _, headers, _ = api.post(envelope("big", blob="x" * 400_000))
    status, _, body = api.get(headers["Location"])
    assert status == 200
    assert body["detail"]["blob"] == "x" * 400_000


def test_a_percent_encoded_id_is_read_back(api):
    _, headers, _ = api.post(envelope("order 1"))
    status, _, body = api.get(headers["Location"])
    assert status == 200 and body["unique_id"] == "order 1"


def test_numbers_come_back_as_posted(api):
    detail = {"price": 0.1, "big": 12345678901234567890123, "tiny": 1e-120, "neg": -3}
    _, headers, _ = api.post(envelope("n", **detail))
    _, _, body = api.get(headers["Location"])
    assert {k: body["detail"][k] for k in detail} == detail


def test_a_response_over_lambdas_limit_redirects_to_a_presigned_url(api):
    # GIVEN a claim-checked event WHEN its detail would not fit a Lambda response
    api.post(envelope("big", blob="x" * 400_000))
    response = reader.read(
        "big",
        reader=reader.event_reader(),
        if_none_match=None,
        request_id="r",
        max_response_bytes=100_000,
    )
    # THEN 303 to a presigned GET of the detail, the other fields in the body
    assert response.status_code == 303
    location = response.headers["Location"]
    key = api.resources.item("big")["payload_claim_check"]["M"]["key"]["S"]
    assert f"/{key}?" in location and "Signature=" in location
    assert '"detail_url"' in response.body and '"unique_id":"big"' in response.body


def test_a_damaged_claim_check_is_500_not_wrong_data(api):
    api.post(envelope("big", blob="x" * 400_000))
    claim = api.resources.item("big")["payload_claim_check"]["M"]
    api.resources.s3.put_object(Bucket=claim["bucket"]["S"], Key=claim["key"]["S"], Body=b"{}")
    assert hashlib.sha256(b"{}").hexdigest() != claim["sha256"]["S"]
    status, _, body = api.get("/events/big")
    assert status == 500 and body["error"]["code"] == "detail_unavailable"


def test_a_deleted_claim_check_is_a_named_500_not_an_internal_error(api):
    # GIVEN a claim-checked event whose S3 object was deleted behind the store's back
    api.post(envelope("big", blob="x" * 400_000))
    claim = api.resources.item("big")["payload_claim_check"]["M"]
    api.resources.s3.delete_object(Bucket=claim["bucket"]["S"], Key=claim["key"]["S"])
    # WHEN it is read
    status, headers, body = api.get("/events/big")
    # THEN a 500 that says the detail is unavailable (no retry: it will not come back by itself)
    assert status == 500 and body["error"]["code"] == "detail_unavailable"
    assert "Retry-After" not in headers


def test_the_reader_uses_a_strongly_consistent_get_item(api):
    calls = []
    api.resources.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.*",
        lambda params, model, **_: calls.append((model.name, params)),
    )
    api.post(envelope("order-1"))
    api.get("/events/order-1")
    reads = [(name, params) for name, params in calls if name in {"GetItem", "Query", "Scan"}]
    assert reads == [("GetItem", {**reads[0][1], "ConsistentRead": True})]
