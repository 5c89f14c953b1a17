"""What both API functions answer with: the one error shape, JSON bodies, and their schemas.

Every response is JSON. Every error, whatever its status, is::

    {"error": {"status": 409, "code": "conflict", "message": "...", "request_id": "..."}}

plus, for some codes, fields of their own beside ``error`` (a conflict names the stored hash).
``request_id`` is API Gateway's request id (the ``x-amzn-RequestId`` header a client sees),
so a report from a client can be found in the logs. A 500 says nothing more than that.

The schemas below are written once: the writer and reader declare them to Powertools, which
generates the OpenAPI document from them (``api.openapi``), and the construct gives API Gateway
the envelope's schema to validate requests with.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from kahula_core import spec

JSON = "application/json"

#: The body of POST /events: one event in the platform's envelope.
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": list(spec.API_ENVELOPE_REQUIRED),
    "additionalProperties": False,
    "properties": {
        "source": {"type": "string", "minLength": 1},
        "detail-type": {"type": "string", "minLength": 1},
        "detail": {
            "type": "object",
            "description": "the event; the producer's id at detail.metadata.event_id (required)",
        },
        "time": {"type": "string", "description": "ISO-8601 with an offset; default: receipt"},
    },
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message", "request_id"],
            "properties": {
                "status": {"type": "integer"},
                "code": {
                    "type": "string",
                    "enum": [
                        "malformed_event",
                        "malformed_request",
                        "not_found",
                        "conflict",
                        "payload_too_large",
                        "precondition_failed",
                        "precondition_required",
                        "throttled",
                        "unavailable",
                        "internal",
                    ],
                },
                "message": {"type": "string"},
                "request_id": {"type": "string"},
            },
        },
        "stored_payload_hash": {"type": "string", "description": "409 only"},
        "incoming_payload_hash": {"type": "string", "description": "409 only"},
        "differences": {"type": "array", "items": {"type": "string"}, "description": "409 only"},
        "expected_version": {"type": "integer", "description": "412 only: the If-Match version"},
        "actual_version": {"type": "integer", "description": "412 only: the aggregate's version"},
    },
}

ACCEPTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "payload_hash", "outcome", "location"],
    "properties": {
        "id": {"type": "string"},
        "payload_hash": {"type": "string"},
        "outcome": {"type": "string", "enum": ["persisted", "duplicate"]},
        "location": {"type": "string"},
        "message": {"type": "string"},
        "follow_ups": {"type": "array", "items": {"type": "string"}},
    },
}

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["unique_id", "event_name", "source", "timestamp", "payload_hash", "detail"],
    "properties": {
        "unique_id": {"type": "string"},
        "event_name": {"type": "string"},
        "source": {"type": "string"},
        "timestamp": {"type": "string"},
        "domain": {"type": "string"},
        "saga_id": {"type": "string"},
        "mbocdp_id": {"type": "string"},
        "payload_hash": {"type": "string"},
        "aws_id": {"type": "string"},
        "persisted_at": {"type": "string"},
        "detail": {"type": "object"},
    },
}


#: One event to append (``kahula_core.aggregates.NewEvent``): its id is required over HTTP.
NEW_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event_type", "event_id"],
    "additionalProperties": False,
    "properties": {
        "event_type": {"type": "string", "minLength": 1, "maxLength": 128},
        "event_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 256,
            "description": "stable per event, so that a retried append is recognised as done",
        },
        "data": {"type": "object"},
        "metadata": {"type": "object", "description": "user, correlation id, causation id ..."},
        "schema_version": {"type": "integer", "minimum": 1, "default": 1},
    },
}

#: The body of POST /aggregates/{aggregate_id}/events.
APPEND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["aggregate_type", "events"],
    "additionalProperties": False,
    "properties": {
        "aggregate_type": {"type": "string", "minLength": 1, "maxLength": 128},
        "events": {"type": "array", "minItems": 1, "items": NEW_EVENT_SCHEMA},
    },
}

APPENDED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["aggregate_id", "version", "sequence_numbers", "event_ids", "timestamp"],
    "properties": {
        "aggregate_id": {"type": "string"},
        "version": {"type": "integer", "description": "the aggregate's version after the append"},
        "sequence_numbers": {"type": "array", "items": {"type": "integer"}},
        "event_ids": {"type": "array", "items": {"type": "string"}},
        "timestamp": {"type": "integer", "description": "epoch ms of the append"},
        "already_appended": {
            "type": "boolean",
            "description": "true: a redelivery, found already stored; nothing written",
        },
        "location": {"type": "string"},
    },
}

RECORDED_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sequence_number": {"type": "integer"},
        "event_id": {"type": "string"},
        "event_type": {"type": "string"},
        "aggregate_type": {"type": "string"},
        "data": {"type": "object"},
        "metadata": {"type": "object"},
        "timestamp": {"type": "integer"},
        "schema_version": {"type": "integer"},
    },
}

STREAM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["aggregate_id", "version", "events", "next"],
    "properties": {
        "aggregate_id": {"type": "string"},
        "version": {"type": "integer", "description": "the aggregate's current version"},
        "events": {"type": "array", "items": RECORDED_EVENT_SCHEMA},
        "next": {
            "type": ["string", "null"],
            "description": "the next page's path (from_version = the last sequence number "
            "here), or null when this page ends the stream",
        },
    },
}


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": _content(ERROR_SCHEMA)}


RETRY_AFTER_HEADER = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
}

#: What every route may answer when the store or a dependency fails (429, 500, 503).
FAILURE_RESPONSES: dict[int, dict[str, Any]] = {
    429: {**error_response("DynamoDB throttled; retry"), "headers": RETRY_AFTER_HEADER},
    500: error_response("internal error; the body holds the request id only"),
    503: {**error_response("a dependency failed; retry"), "headers": RETRY_AFTER_HEADER},
}


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match uses it: ``*``, or any listed entity tag
    equal to ``etag`` once ``W/`` is dropped. An absent or empty header matches nothing."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def not_modified(headers: dict[str, str]) -> Response:
    """304: no body, the validator and caching headers a 200 would carry."""
    return Response(status_code=304, headers=headers, body="")


def body(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_response(status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=JSON, body=body(value), headers=headers)


def error(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """The one error shape (see the module docstring)."""
    value = {
        "error": {"status": status, "code": code, "message": message, "request_id": request_id},
        **extra,
    }
    return json_response(status, value, headers)


def retry_later(status: int, code: str, message: str, request_id: str) -> Response:
    return error(
        status,
        code,
        message,
        request_id,
        headers={"Retry-After": str(spec.API_RETRY_AFTER_SECONDS)},
    )


def internal(request_id: str) -> Response:
    return error(
        500,
        "internal",
        "internal error; quote the request id when reporting it",
        request_id,
    )
