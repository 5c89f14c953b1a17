"""Lambda entry for ``POST /events``: store one event over HTTPS and say at once what happened.

The body is one event in the platform's envelope (``source``, ``detail-type``, ``detail``,
optionally ``time``). It becomes the EventBridge-shaped event the bus would deliver and goes
through the same ``kahula_core.persist.persist_event`` as every bus event (same contract, same
conditional write, claim check, conflicts queue and follow-ups); then, when it was stored, the
same JSON line the bus's archive rule would write goes to the archive's Firehose stream.

The producer's id (the contract's event-id path, ``detail.metadata.event_id`` by default) is
required: an HTTP client that retries after a timeout must reach the same item, and the
``Location`` it is given must name it forever. The EventBridge-style ``id`` is derived from it
(uuid5), so a retried request builds the very same event.

Outcome -> response (one error shape: ``api.responses``):
  persisted -> 201 + Location      duplicate (same event again) -> 200, ``outcome: duplicate``
  conflict  -> 409 + stored hash   malformed -> 400 with the reason
  over 1 MB, or over 400 KB even claim-checked -> 413
  throttled -> 429 + Retry-After
  unavailable (5xx, timeouts, follow-ups unsent) -> 503 + Retry-After
  anything else -> 500 with the request id only
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.metrics import MetricUnit
from kahula_core import spec
from kahula_core.clients import ClientFactory, boto3_clients
from kahula_core.envelope import MISSING, format_utc, lookup
from kahula_core.errors import FollowUpEmissionError, ItemTooLargeError, MalformedEventError
from kahula_core.json_text import UnparsableJsonError, parse_json
from kahula_core.persist import Outcome, Pipeline, build_pipeline, persist_event
from kahula_core.reserved import refuse_platform_sources
from kahula_core.store import WriteOutcome

from api import responses as r
from api.resolver import request_id, resolver

logger = Logger()
metrics = Metrics()
router = APIGatewayRouter()

#: uuid5 namespace of the EventBridge-style id derived from the producer's id.
HTTP_EVENT_NAMESPACE = uuid.UUID("6f1d4c2a-4b7e-5c1e-9a53-0c8e8b1f2d77")
ENVELOPE_FIELDS = frozenset(spec.API_ENVELOPE_REQUIRED + spec.API_ENVELOPE_OPTIONAL)
_METRIC = {
    WriteOutcome.PERSISTED: spec.Metric.PERSISTED,
    WriteOutcome.DUPLICATE: spec.Metric.DUPLICATE,
    WriteOutcome.CONFLICT: spec.Metric.CONFLICT,
}


class Archive:
    """The archive's Firehose stream: one newline-delimited JSON event per record, as the bus's
    archive rule writes them. Unset (no stream name): nothing is archived."""

    def __init__(self, *, firehose: Callable[[], Any], stream_name: str | None) -> None:
        self._client = firehose
        self.stream_name = stream_name

    @staticmethod
    def line(event: Mapping[str, Any]) -> bytes:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def too_large(self, event: Mapping[str, Any]) -> int | None:
        """The line's size when Firehose would refuse it (over its record limit), else None."""
        size = len(self.line(event)) if self.stream_name else 0
        return size if size > spec.FIREHOSE_MAX_RECORD_BYTES else None

    def put(self, event: Mapping[str, Any]) -> None:
        if self.stream_name:
            data = self.line(event)
            self._client().put_record(DeliveryStreamName=self.stream_name, Record={"Data": data})


def location(unique_id: str) -> str:
    return f"/events/{quote(unique_id, safe='')}"


class Malformed(Exception):
    """The request body is not an envelope; the message is the reason the client sees."""


def event_from_request(
    body: str | bytes | None,
    *,
    event_id_path: tuple[str, ...],
    now: datetime,
    account: str = "",
    region: str = "",
) -> dict[str, Any]:
    """The EventBridge-shaped event for one POSTed envelope; Malformed names what is wrong."""
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    if not raw.strip():
        raise Malformed("the body is empty: send one event as a JSON object")
    try:
        envelope = parse_json(raw)
    except UnparsableJsonError as exc:
        raise Malformed(f"the body is not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise Malformed(f"the body must be a JSON object, got {type(envelope).__name__}")
    unknown = sorted(set(envelope) - ENVELOPE_FIELDS)
    if unknown:
        raise Malformed(
            f"unknown envelope field(s) {', '.join(map(repr, unknown))}: an event has "
            "'source', 'detail-type', 'detail' and optionally 'time'"
        )
    producer_id = lookup(envelope, event_id_path)
    if producer_id is MISSING or producer_id is None or producer_id == "":
        raise Malformed(
            f"the event has no id at {'.'.join(event_id_path)}: over HTTP the producer's id "
            "is required, so that a retried request reaches the same event"
        )
    event: dict[str, Any] = {
        "version": "0",
        "id": str(uuid.uuid5(HTTP_EVENT_NAMESPACE, str(producer_id))),
        "account": account,
        "time": format_utc(now),
        "region": region,
        "resources": [],
    }
    # Only what the client sent: a missing field is reported as missing by the core.
    event.update({k: envelope[k] for k in ENVELOPE_FIELDS if k in envelope})
    return event


def respond(outcome: Outcome) -> Response:
    """201, 200 (a replay) or 409, from what the store did."""
    where = location(outcome.unique_id)
    if outcome.write is WriteOutcome.CONFLICT:
        return r.error(
            409,
            "conflict",
            f"id {outcome.unique_id!r} already holds another event (different "
            f"{', '.join(outcome.differences)}); nothing was overwritten",
            _request_id(),
            stored_payload_hash=outcome.stored_payload_hash,
            incoming_payload_hash=outcome.payload_hash,
            differences=outcome.differences,
        )
    accepted = {
        "id": outcome.unique_id,
        "payload_hash": outcome.payload_hash,
        "outcome": outcome.write.value,
        "location": where,
        "follow_ups": [f.follow_up_id for f in outcome.follow_ups],
    }
    if outcome.write is WriteOutcome.DUPLICATE:
        accepted["message"] = "already stored: this is an idempotent replay, nothing was written"
        return r.json_response(200, accepted, {"Location": where})
    return r.json_response(201, accepted, {"Location": where})


def ingest(
    body: str | bytes | None, *, pipeline: Pipeline, archive: Archive, now: datetime
) -> Response:
    """Parse, persist, archive, answer. Transient AWS errors propagate (see ``on_aws_error``)."""
    size = len(body.encode("utf-8") if isinstance(body, str) else (body or b""))
    if size > spec.EVENTBRIDGE_MAX_EVENT_BYTES:
        return r.error(
            413,
            "payload_too_large",
            f"the body is {size} bytes, over the platform's event limit of "
            f"{spec.EVENTBRIDGE_MAX_EVENT_BYTES} bytes",
            _request_id(),
        )
    context = router.current_event.request_context
    try:
        event = event_from_request(
            body,
            event_id_path=pipeline.settings.event_id_path,
            now=now,
            account=context.account_id or "",
            region=os.environ.get("AWS_REGION", ""),
        )
        # A POST never crosses the bus's Deny on the platform's sources: check them here.
        refuse_platform_sources(event, pipeline)
        line_size = archive.too_large(event)
        if line_size is not None:
            # Checked before the write: stored, it could never be archived.
            return r.error(
                413,
                "payload_too_large",
                f"the event is {line_size} bytes as an archive line, over Firehose's record "
                f"limit of {spec.FIREHOSE_MAX_RECORD_BYTES} bytes",
                _request_id(),
            )
        outcome = persist_event(event, pipeline)
    except Malformed as exc:
        _count(spec.Metric.MALFORMED)
        return r.error(400, "malformed_event", str(exc), _request_id())
    except ItemTooLargeError as exc:
        _count(spec.Metric.MALFORMED)
        return r.error(413, "payload_too_large", str(exc), _request_id())
    except MalformedEventError as exc:
        _count(spec.Metric.MALFORMED)
        return r.error(400, "malformed_event", str(exc), _request_id())
    _count(_METRIC[outcome.write])
    if outcome.oversize:
        _count(spec.Metric.OVERSIZE)
    if outcome.emit_report.emitted:
        _count(spec.Metric.FOLLOW_UPS_EMITTED, outcome.emit_report.emitted)
    if outcome.write is not WriteOutcome.CONFLICT:
        # Archived on a replay too: the first attempt may have failed right here.
        archive.put(event)
    return respond(outcome)


# --------------------------------------------------------------------------- wiring

_state: tuple[Pipeline, Archive] | None = None


def wiring(
    environ: Mapping[str, str] | None = None, client_factory: ClientFactory = boto3_clients
) -> tuple[Pipeline, Archive]:
    """The container's pipeline and archive, built on first use (clients lazily)."""
    global _state  # noqa: PLW0603 - one per container, by design
    if _state is None:
        environ = os.environ if environ is None else environ
        _state = (
            build_pipeline(environ, client_factory),
            Archive(
                firehose=client_factory("firehose"),
                stream_name=environ.get(spec.ARCHIVE_STREAM_ENV) or None,
            ),
        )
    return _state


def use_wiring(replacement: tuple[Pipeline, Archive] | None) -> None:
    """Inject the pipeline and archive (tests, the local server); None rebuilds on next use."""
    global _state  # noqa: PLW0603
    _state = replacement


def _request_id() -> str:
    return request_id(router)


def _count(name: str, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@router.post(
    "/events",
    summary="Store one event",
    description="Stores the event exactly once and says what happened; see the README.",
    operation_id="postEvent",
    tags=["events"],
    status_code=201,
    responses={
        201: {
            "description": "stored; Location names it",
            "headers": {"Location": {"description": "/events/{id}", "schema": {"type": "string"}}},
            "content": {r.JSON: {"schema": r.ACCEPTED_SCHEMA}},
        },
        200: {
            "description": "already stored (an idempotent replay); nothing written",
            "content": {r.JSON: {"schema": r.ACCEPTED_SCHEMA}},
        },
        400: r.error_response("malformed: the message says what and where"),
        409: r.error_response("the id holds another event; the body names the stored hash"),
        413: r.error_response("over 1 MB, or over 400 KB even with the detail in S3"),
        **r.FAILURE_RESPONSES,
    },
)
def post_event() -> Any:  # Any: the Response carries its own status and schema
    pipeline, archive = wiring()
    return ingest(
        router.current_event.decoded_body, pipeline=pipeline, archive=archive, now=datetime.now(UTC)
    )


app = resolver(router, logger=logger, doing="writes")


@app.exception_handler(FollowUpEmissionError)
def on_follow_up_failure(exc: FollowUpEmissionError) -> Response:
    # Stored, but its follow-up is not on the bus yet: a retry (200) emits it again.
    _count(spec.Metric.FOLLOW_UP_FAILURES, exc.failed_entries or 1)
    logger.warning("follow-up emission failed", extra={"reason": str(exc)})
    return r.retry_later(503, "unavailable", "stored, follow-up not emitted; retry", _request_id())


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
