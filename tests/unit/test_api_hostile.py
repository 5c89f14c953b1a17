"""The HTTP API under hostile requests: a clear 4xx with the reason, never a 500 for the
client's own input, and no event stored as the platform."""

from __future__ import annotations

import pytest
from api import reader
from botocore.exceptions import ClientError
from kahula_core import spec
from kahula_core.follow_ups import follow_up_id
from kahula_core.reader import EventReader

from tests.moto_resources import FOLLOW_UP_SOURCE, OUTBOX_SOURCE, TENANT_SOURCE

from .api_fixtures import api_fixture, envelope  # noqa: F401 - the `api` fixture


def test_a_post_claiming_the_platforms_follow_up_source_is_refused(api) -> None:
    # GIVEN an event under the persister's follow-up source, taking the id the follow-up of a
    # real event will have
    fid = follow_up_id("ValidatableEvent", "order-1")
    forged = {**envelope(fid), "source": FOLLOW_UP_SOURCE, "detail-type": "ValidatableEvent"}
    # WHEN it is POSTed
    status, _, body = api.post(forged)
    # THEN 400 naming the reserved source, and nothing is stored
    assert status == 400
    assert body["error"]["code"] == "malformed_event"
    assert "is reserved for the platform" in body["error"]["message"]
    assert api.resources.item(fid) is None


@pytest.mark.parametrize(
    "source",
    [OUTBOX_SOURCE, spec.replay_source("kahula"), TENANT_SOURCE, " tenant.other"],
    ids=["the aggregate store's outbox", "replays", "the FIFO door's tenants", "padded"],
)
def test_a_post_claiming_any_source_reserved_on_the_bus_is_refused(api, source) -> None:
    # GIVEN an event under a source only the platform publishes under on the bus (the
    # outbox's ids are the aggregate's events' own: a forged one would take a real one's id)
    forged = {**envelope("agg-1-v1"), "source": source, "detail-type": "CartOpened"}
    # WHEN it is POSTed
    status, _, body = api.post(forged)
    # THEN 400 naming the reserved source, and nothing is stored
    assert status == 400
    assert f"event source {source!r} is reserved for the platform" in body["error"]["message"]
    assert api.resources.item("agg-1-v1") is None


def test_a_body_nested_too_deeply_to_parse_is_a_400_not_a_500(api) -> None:
    # GIVEN a body of 100,000 nested arrays (json.loads raises RecursionError)
    body = b'{"source": "a.b", "detail-type": "T", "detail": ' + b"[" * 100_000 + b"]" * 100_000
    # WHEN it is POSTed
    status, _, answer = api.post(body + b"}")
    # THEN 400 with the reason
    assert status == 400
    assert answer["error"]["message"] == "the body is not JSON: nested too deeply to parse"


class KeyCheckingDynamoDB:
    """moto's client, refusing a key over 2,048 bytes the way DynamoDB does (moto does not)."""

    def __init__(self, client) -> None:
        self._client = client

    def get_item(self, **request):
        key = request["Key"]["unique_id"]["S"]
        if not key or len(key.encode("utf-8")) > spec.DYNAMODB_MAX_PARTITION_KEY_BYTES:
            error = {"Code": "ValidationException", "Message": "Size of hashkey has exceeded"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, "G")
        return self._client.get_item(**request)


def test_a_get_of_an_id_longer_than_any_key_is_a_404_not_a_500(api) -> None:
    # GIVEN DynamoDB, which refuses a GetItem whose key is over 2,048 bytes
    checking = KeyCheckingDynamoDB(api.resources.dynamodb)
    reader.use_reader(
        EventReader(
            dynamodb=lambda: checking, s3=lambda: api.resources.s3, table_name=api.resources.table
        )
    )
    # WHEN a client GETs an id of 3,000 bytes (no event can have it: the writer refuses it)
    status, _, body = api.get("/events/" + "x" * 3000)
    # THEN 404, the same answer as for any id that holds no event
    assert status == 404
    assert body["error"]["code"] == "not_found"


def test_an_event_too_large_for_the_archive_is_a_413_before_it_is_stored(api) -> None:
    # GIVEN a body under the API's 1 MiB whose archive line passes Firehose's 1,000 KiB record
    # limit (Firehose would refuse the PutRecord after the item was stored)
    body = envelope("big-1", blob="x" * 1_030_000)
    # WHEN it is POSTed
    status, _, answer = api.post(body)
    # THEN 413 naming the archive's limit, and nothing is stored or archived
    assert status == 413
    assert "Firehose's record limit" in answer["error"]["message"]
    assert api.resources.item("big-1") is None
    assert api.archive.records == []
