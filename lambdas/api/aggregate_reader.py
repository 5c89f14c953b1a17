"""Lambda entry for ``GET /aggregates/{aggregate_id}/events``: an aggregate's stream, in order.

``from_version`` (default 0) returns the events after that version, strongly consistent, at
most ``limit`` of them (default 100, at most 1,000) and never more than fit in a Lambda
response. The cursor is the stream's own position: ``next`` is this path with ``from_version``
= the last sequence number returned, so a client can also resume from any version it holds.
``ETag`` is the aggregate's current version, the ``If-Match`` of the next append. An aggregate
with no events is ``404``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from kahula_core import spec
from kahula_core.aggregates import RecordedEvent, schema
from kahula_core.aggregates.client import AggregateStore

from api import responses as r
from api.aggregates import add_store_errors, aggregate_store, etag, events_path, jsonable
from api.resolver import header, request_id, resolver

logger = Logger()
router = APIGatewayRouter()

#: The stream grows: a cache must ask again each time (ETag makes asking cheap to compare).
CACHE_CONTROL = "private, no-cache"
#: What the events of one page may take, under Lambda's response limit with room to spare.
_PAGE_BUDGET_BYTES = spec.LAMBDA_MAX_RESPONSE_BYTES - 512 * 1024
_PARAMETERS = ("from_version", "limit")


class BadQuery(Exception):
    """A query parameter is not usable; the message is what the client sees."""


def _whole(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise BadQuery(f"{name} must be a whole number {low}..{high}, got {raw!r}")
    return int(raw)


def page_parameters(query: Mapping[str, str] | None) -> tuple[int, int]:
    """(from_version, limit) from the query string; BadQuery names what is wrong."""
    query = query or {}
    unknown = sorted(set(query) - set(_PARAMETERS))
    if unknown:
        raise BadQuery(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}: this route takes "
            "from_version and limit"
        )
    return (
        _whole("from_version", query.get("from_version"), 0, 0, schema.MAX_SEQUENCE_NUMBER),
        _whole(
            "limit",
            query.get("limit"),
            spec.API_AGGREGATE_PAGE_DEFAULT,
            1,
            spec.API_AGGREGATE_PAGE_MAX,
        ),
    )


def event_json(event: RecordedEvent) -> dict[str, Any]:
    value: dict[str, Any] = jsonable(
        {
            "sequence_number": event.sequence_number,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "aggregate_type": event.aggregate_type,
            "data": event.data,
            "metadata": event.metadata,
            "timestamp": event.timestamp,
            "schema_version": event.schema_version,
        }
    )
    return value


def read_stream(
    aggregate_id: str,
    query: Mapping[str, str] | None,
    *,
    store: AggregateStore,
    request_id: str,
    if_none_match: str | None = None,
    budget_bytes: int = _PAGE_BUDGET_BYTES,
) -> Response:
    """One page of the stream. The store's errors propagate (see ``add_store_errors``).

    ``If-None-Match`` with the current version's tag answers 304 from the version alone (one
    query, no page read). The tag is the aggregate's version, not the page's: events are
    append-only, so the page of one URL (from_version, limit) is unchanged exactly while the
    version is; two pages of one aggregate share the tag, which only ever compares against
    the same URL's cached copy.
    """
    try:
        from_version, limit = page_parameters(query)
    except BadQuery as exc:
        return r.error(400, "malformed_request", str(exc), request_id)
    if if_none_match:
        current = store.version(aggregate_id)
        if current == 0:
            return r.error(
                404, "not_found", f"aggregate {aggregate_id!r} has no events", request_id
            )
        cached = {"ETag": etag(current), "Cache-Control": CACHE_CONTROL}
        if r.matches(if_none_match, cached["ETag"]):
            return r.not_modified(cached)
    events: list[dict[str, Any]] = []
    used = 0
    more = False
    for recorded in store.iter_events(aggregate_id, gt=from_version, limit=limit + 1):
        item = event_json(recorded)
        size = len(r.body(item).encode("utf-8")) + 1
        if len(events) == limit or (events and used + size > budget_bytes):
            more = True
            break
        events.append(item)
        used += size
    # The last event read is the current version, unless the page stopped early or was empty.
    version = events[-1]["sequence_number"] if events and not more else store.version(aggregate_id)
    if version == 0:
        return r.error(404, "not_found", f"aggregate {aggregate_id!r} has no events", request_id)
    headers = {"ETag": etag(version), "Cache-Control": CACHE_CONTROL}
    following = (
        events_path(aggregate_id, from_version=events[-1]["sequence_number"], limit=limit)
        if more
        else None
    )
    if following:
        headers["Link"] = f'<{following}>; rel="next"'
    value = {"aggregate_id": aggregate_id, "version": version, "events": events, "next": following}
    return r.json_response(200, value, headers)


@router.get(
    "/aggregates/<aggregate_id>/events",
    summary="Read an aggregate's events in order",
    description="Strongly consistent; paginated by from_version (the cursor) and limit; "
    "ETag is the current version, the If-Match of the next append.",
    operation_id="getAggregateEvents",
    tags=["aggregates"],
    responses={
        200: {
            "description": "the events after from_version, in order; next names the next page",
            "headers": {
                "ETag": {"description": "the current version", "schema": {"type": "string"}},
                "Link": {"description": 'rel="next": more', "schema": {"type": "string"}},
            },
            "content": {r.JSON: {"schema": r.STREAM_SCHEMA}},
        },
        304: {
            "description": "If-None-Match names the current version: the cached page holds",
            "headers": {
                "ETag": {"description": "the current version", "schema": {"type": "string"}}
            },
        },
        400: r.error_response("a bad from_version or limit, or another parameter"),
        404: r.error_response("the aggregate has no events"),
        **r.FAILURE_RESPONSES,
    },
)
def get_events(aggregate_id: str) -> Any:  # Any: the Response carries its status and schema
    return read_stream(
        unquote(aggregate_id),
        router.current_event.query_string_parameters,
        store=aggregate_store(),
        request_id=request_id(router),
        if_none_match=header(router, "If-None-Match"),
    )


app = resolver(router, logger=logger, doing="reads")
add_store_errors(app, router, logger)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
