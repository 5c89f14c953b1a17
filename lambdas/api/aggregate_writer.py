"""Lambda entry for ``POST /aggregates/{aggregate_id}/events``: append to an aggregate's stream
with optimistic concurrency, over HTTPS.

The version the client last saw travels in ``If-Match`` (the ETag of the stream's GET,
``"3"``); the events are appended as versions 4, 5 ... by the aggregate store client's one
``append`` (one DynamoDB transaction). ``If-None-Match: *`` is the create form: the aggregate
must have no events yet (the same as ``If-Match: "0"``). Without either the request is refused
(428): an unconditional append would be a lost update waiting to happen.

Outcome -> response (one error shape: ``api.responses``):
  appended -> 201 + ETag (the new version) + Location (the appended events)
  the same event ids already at those versions (a redelivery) -> the same 201, nothing written
  the aggregate is at another version -> 412, naming expected and actual version
  no If-Match and no If-None-Match -> 428      bad header, body or event -> 400 with the reason
  more than 99 events, an event over 400 KB or all over 4 MB -> 413
  throttled -> 429 + Retry-After    unavailable or cancelled by another transaction -> 503
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, NoReturn
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from kahula_core.aggregates import NewEvent, schema
from kahula_core.aggregates.client import AggregateStore

from api import responses as r
from api.aggregates import add_store_errors, aggregate_store, etag, events_path, jsonable
from api.resolver import header, request_id, resolver

logger = Logger()
router = APIGatewayRouter()

_BODY_FIELDS = frozenset(r.APPEND_SCHEMA["properties"])
_EVENT_FIELDS = frozenset(r.NEW_EVENT_SCHEMA["properties"])
_CREATE_ONLY = "*"


class BadRequest(Exception):
    """The request cannot be an append; ``code`` and the message are what the client sees."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _refuse(code: str, message: str) -> NoReturn:
    raise BadRequest(code, message)


def expected_version(if_match: str | None, if_none_match: str | None) -> int | None:
    """The version the append expects, from the preconditions; None: there is none."""
    if if_match is not None and if_none_match is not None:
        _refuse(
            "malformed_request",
            "send If-Match (append after that version) or If-None-Match: * (create), not both",
        )
    if if_none_match is not None:
        if if_none_match.strip() != _CREATE_ONLY:
            _refuse(
                "malformed_request",
                f"If-None-Match must be * (create the aggregate), got {if_none_match!r}",
            )
        return 0
    if if_match is None:
        return None
    tag = if_match.strip()
    if tag == _CREATE_ONLY or "," in tag:
        _refuse(
            "malformed_request",
            f'If-Match must name one version, as the stream\'s ETag does ("3"), got {if_match!r}',
        )
    if tag.startswith("W/"):
        _refuse(
            "malformed_request",
            f'If-Match {if_match!r} is a weak tag: a write needs a strong one ("3")',
        )
    digits = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else tag
    if not digits.isascii() or not digits.isdigit() or int(digits) > schema.MAX_SEQUENCE_NUMBER:
        _refuse(
            "malformed_request",
            f"If-Match must be a version, a whole number 0..{schema.MAX_SEQUENCE_NUMBER} "
            f'(the stream\'s ETag, "3"), got {if_match!r}',
        )
    return int(digits)


def _no_constants(name: str) -> NoReturn:
    _refuse("malformed_event", f"the body holds {name}, which is not a JSON number")


def parse_append(body: str | bytes | None) -> tuple[str, list[NewEvent]]:
    """(aggregate_type, events) from the body; BadRequest names what is wrong and where."""
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    if not raw.strip():
        _refuse("malformed_event", "the body is empty: send aggregate_type and events")
    try:
        # Decimal: numbers are stored exactly as sent (DynamoDB numbers have 38 digits).
        value = json.loads(raw, parse_float=Decimal, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        _refuse("malformed_event", f"the body is not JSON: {exc}")
    if not isinstance(value, dict):
        _refuse("malformed_event", f"the body must be a JSON object, got {type(value).__name__}")
    unknown = sorted(set(value) - _BODY_FIELDS)
    if unknown:
        _refuse(
            "malformed_event",
            f"unknown field(s) {', '.join(map(repr, unknown))}: the body has 'aggregate_type' "
            "and 'events'",
        )
    aggregate_type = value.get("aggregate_type")
    if not isinstance(aggregate_type, str):
        _refuse("malformed_event", 'aggregate_type is required: a string, e.g. "Order"')
    events = value.get("events")
    if not isinstance(events, list) or not events:
        _refuse("malformed_event", "events is required: a non-empty list of events")
    return aggregate_type, [_new_event(i, e) for i, e in enumerate(events)]


def _new_event(index: int, value: Any) -> NewEvent:
    where = f"events[{index}]"
    if not isinstance(value, dict):
        _refuse("malformed_event", f"{where} must be an object, got {type(value).__name__}")
    unknown = sorted(set(value) - _EVENT_FIELDS)
    if unknown:
        _refuse(
            "malformed_event",
            f"{where} has unknown field(s) {', '.join(map(repr, unknown))}: an event has "
            "'event_type', 'event_id', and optionally 'data', 'metadata', 'schema_version'",
        )
    for required in ("event_type", "event_id"):
        if not isinstance(value.get(required), str):
            why = (
                ": over HTTP the id is required, so that a retried append is recognised as done"
                if required == "event_id"
                else ""
            )
            _refuse("malformed_event", f"{where}.{required} is required, a string{why}")
    for mapping in ("data", "metadata"):
        if not isinstance(value.get(mapping, {}), dict):
            _refuse("malformed_event", f"{where}.{mapping} must be an object")
    version = value.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        _refuse("malformed_event", f"{where}.schema_version must be an integer, got {version!r}")
    return NewEvent(
        event_type=value["event_type"],
        data=value.get("data", {}),
        metadata=value.get("metadata", {}),
        event_id=value["event_id"],
        schema_version=version,
    )


def append(
    aggregate_id: str,
    body: str | bytes | None,
    *,
    store: AggregateStore,
    if_match: str | None,
    if_none_match: str | None,
    request_id: str,
) -> Response:
    """Check, append, answer. The store's errors propagate (see ``add_store_errors``)."""
    try:
        expected = expected_version(if_match, if_none_match)
        if expected is None:
            return r.error(
                428,
                "precondition_required",
                "send If-Match with the version you last read (the ETag of GET "
                f"{events_path(aggregate_id)}), or If-None-Match: * to create the aggregate",
                request_id,
            )
        aggregate_type, events = parse_append(body)
    except BadRequest as exc:
        return r.error(400, exc.code, str(exc), request_id)
    result = store.append(aggregate_id, aggregate_type, events, expected)
    where = events_path(aggregate_id, from_version=expected)
    value = {
        "aggregate_id": result.aggregate_id,
        "version": result.version,
        "sequence_numbers": list(result.sequence_numbers),
        "event_ids": list(result.event_ids),
        "timestamp": result.timestamp,
        "already_appended": result.already_appended,
        "location": where,
    }
    if result.already_appended:
        logger.info("redelivered append", extra={"aggregate_id": aggregate_id})
    return r.json_response(201, jsonable(value), {"ETag": etag(result.version), "Location": where})


@router.post(
    "/aggregates/<aggregate_id>/events",
    summary="Append events to an aggregate's stream",
    description="Optimistic concurrency: If-Match names the version you last read (the "
    "stream's ETag), If-None-Match: * creates the aggregate; see the README.",
    operation_id="appendAggregateEvents",
    tags=["aggregates"],
    status_code=201,
    responses={
        201: {
            "description": "appended (or a redelivery of the same event ids: the same answer)",
            "headers": {
                "ETag": {"description": "the new version", "schema": {"type": "string"}},
                "Location": {"description": "the appended events", "schema": {"type": "string"}},
            },
            "content": {r.JSON: {"schema": r.APPENDED_SCHEMA}},
        },
        400: r.error_response("a bad precondition header, body or event; the message says which"),
        412: r.error_response("the aggregate is at another version; both are named"),
        413: r.error_response("over 99 events, an event over 400 KB, or over 4 MB in all"),
        428: r.error_response("neither If-Match nor If-None-Match: * was sent"),
        **r.FAILURE_RESPONSES,
    },
)
def post_events(aggregate_id: str) -> Any:  # Any: the Response carries its status and schema
    return append(
        unquote(aggregate_id),
        router.current_event.decoded_body,
        store=aggregate_store(),
        if_match=header(router, "If-Match"),
        if_none_match=header(router, "If-None-Match"),
        request_id=request_id(router),
    )


app = resolver(router, logger=logger, doing="appends")
add_store_errors(app, router, logger)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
