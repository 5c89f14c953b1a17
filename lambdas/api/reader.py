"""Lambda entry for ``GET /events/{id}``: the stored event, read after every acknowledged write.

One strongly consistent ``GetItem`` (no query, no scan: an event is read by its id only). A
claim-checked detail is restored from S3. Stored events never change, so the response carries
``ETag`` = the payload hash and immutable cache headers, and ``If-None-Match`` with that tag
answers ``304`` without a body. When the response would pass Lambda's 6 MB response limit the
reader answers ``303 See Other`` with a presigned URL (300 s) of the detail in S3 and the
event's other fields in the body; with the platform's 1 MB events this cannot happen today,
but a larger limit tomorrow must not turn reads into errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from kahula_core import spec
from kahula_core.clients import ClientFactory, boto3_clients
from kahula_core.reader import EventReader, StoredEvent

from api import responses as r
from api.resolver import header, request_id, resolver

logger = Logger()
router = APIGatewayRouter()

#: Stored events are immutable; ``private``: the API is authorized per caller.
CACHE_CONTROL = "private, max-age=31536000, immutable"
#: Room kept under Lambda's response limit for the proxy response's own fields and headers.
_RESPONSE_HEADROOM_BYTES = 64 * 1024


def etag_of(stored: StoredEvent) -> str:
    return f'"{stored.payload_hash}"'


def read(
    unique_id: str,
    *,
    reader: EventReader,
    if_none_match: str | None,
    request_id: str,
    max_response_bytes: int = spec.LAMBDA_MAX_RESPONSE_BYTES - _RESPONSE_HEADROOM_BYTES,
) -> Response:
    stored = reader.get(unique_id, restore=False)
    if stored is None:
        return r.error(404, "not_found", f"no event is stored with id {unique_id!r}", request_id)
    etag = etag_of(stored)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if r.matches(if_none_match, etag):
        return r.not_modified(headers)
    detail = stored.detail
    claim = stored.claim_check
    if detail is None and claim is not None:
        if int(claim["size_bytes"]) > max_response_bytes:
            url = reader.presigned_url(claim)
            value = {**stored.fields, "detail_url": url}
            return r.json_response(303, value, {**headers, "Location": url})
        detail = reader.restore(claim)
    return r.json_response(200, {**stored.fields, "detail": detail}, headers)


_reader: EventReader | None = None


def event_reader(
    environ: Mapping[str, str] | None = None, client_factory: ClientFactory = boto3_clients
) -> EventReader:
    global _reader  # noqa: PLW0603 - one per container, by design
    if _reader is None:
        environ = os.environ if environ is None else environ
        _reader = EventReader(
            dynamodb=client_factory("dynamodb"),
            s3=client_factory("s3"),
            table_name=environ[spec.Env.TABLE_NAME],
        )
    return _reader


def use_reader(replacement: EventReader | None) -> None:
    global _reader  # noqa: PLW0603
    _reader = replacement


def _request_id() -> str:
    return request_id(router)


@router.get(
    "/events/<event_id>",
    summary="Read one stored event by its id",
    description="Strongly consistent; immutable, so cacheable by ETag.",
    operation_id="getEvent",
    tags=["events"],
    responses={
        200: {
            "description": "the stored event, detail restored",
            "headers": {
                "ETag": {"description": "the payload hash", "schema": {"type": "string"}},
                "Cache-Control": {"description": CACHE_CONTROL, "schema": {"type": "string"}},
            },
            "content": {r.JSON: {"schema": r.EVENT_SCHEMA}},
        },
        303: {"description": "too large for a Lambda response: Location is a presigned URL"},
        304: {"description": "If-None-Match matched the ETag"},
        404: r.error_response("no event has this id"),
        **r.FAILURE_RESPONSES,
    },
)
def get_event(event_id: str) -> Any:  # Any: the Response carries its own status and schema
    return read(
        unquote(event_id),
        reader=event_reader(),
        if_none_match=header(router, "If-None-Match"),
        request_id=_request_id(),
    )


app = resolver(router, logger=logger, doing="reads")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
