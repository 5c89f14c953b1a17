"""The data path, top to bottom: event -> envelope -> record -> store -> follow-ups.

``persist_event(event, pipeline)`` is the seam every front door calls (the bus's Lambda today;
a stream, a queue or an HTTP entry tomorrow) with an EventBridge-shaped dict. It is plain
logic: it receives its collaborators in ``pipeline`` and returns what happened; the entry
turns that into metrics, logs and its own response. ``build_pipeline`` wires the collaborators
from a function's environment (names from spec.Env) and a client factory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import spec
from .clients import ClientFactory, boto3_clients
from .envelope import format_utc, parse_event
from .errors import ConfigurationError
from .follow_ups import EmitReport, FollowUp, FollowUpEmitter, follow_up_for
from .record import build_record, detail_document
from .settings import Settings
from .store import ConflictQueue, EventStore, PayloadStore, WriteOutcome


def utc_now() -> str:
    return format_utc(datetime.now(UTC))


@dataclass
class Pipeline:
    """Everything persist_event needs; built once per container."""

    settings: Settings
    store: EventStore
    payloads: PayloadStore
    conflicts: ConflictQueue
    emitter: FollowUpEmitter
    clock: Callable[[], str] = utc_now


@dataclass
class Outcome:
    """What happened to one event."""

    unique_id: str
    write: WriteOutcome
    payload_hash: str
    stored_payload_hash: str | None = None
    differences: list[str] = field(default_factory=list)  # identity fields, on a conflict
    oversize: bool = False
    replayed: bool = False  # the original of a replayed event (kahula replay)
    follow_ups: list[FollowUp] = field(default_factory=list)
    emit_report: EmitReport = field(default_factory=EmitReport)


def persist_event(event: Any, pipeline: Pipeline) -> Outcome:
    """Persist one EventBridge-shaped event exactly once; emit its follow-up, if any.

    A replayed event (envelope.py) is persisted as the original it wraps: same unique_id and
    payload_hash, so replaying what is already stored is a duplicate.

    Raises a MalformedEventError for an event that can never be stored (retrying cannot help),
    and lets transient AWS errors propagate so the caller retries; every step is idempotent,
    so a retry is safe.
    """
    settings = pipeline.settings
    # A replayed event (a wrapper under the reserved replay source) is its original event.
    envelope = parse_event(event, settings.replay_source)
    record = build_record(envelope, settings, pipeline.clock())

    oversize = not record.fits_inline(settings)
    if oversize:
        document = detail_document(envelope)
        claim = pipeline.payloads.claim_for("detail", record.unique_id, document)
        record = record.with_claim_check(claim)  # refuses an item still over 400 KB
        pipeline.payloads.put(claim, document)

    result = pipeline.store.put_new(record.item)
    outcome = Outcome(
        unique_id=record.unique_id,
        write=result.outcome,
        payload_hash=record.payload_hash,
        stored_payload_hash=result.stored_payload_hash,
        differences=list(result.differences),
        oversize=oversize,
        replayed=envelope.replayed,
    )
    if result.outcome is WriteOutcome.CONFLICT:
        pipeline.conflicts.send(
            event=envelope.raw, unique_id=record.unique_id, incoming=record.item, result=result
        )
        return outcome

    # Emit on a duplicate too: the attempt that stored the item may have crashed before this.
    follow_up = follow_up_for(record, follow_up_source=pipeline.emitter.source, settings=settings)
    if follow_up is not None:
        outcome.follow_ups.append(follow_up)
        outcome.emit_report = pipeline.emitter.emit([follow_up])
    return outcome


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def build_pipeline(
    environ: Mapping[str, str], client_factory: ClientFactory = boto3_clients
) -> Pipeline:
    """Wire the logic to its AWS clients from a function's environment.

    Reads spec.Env: TABLE_NAME, EVENT_BUS_NAME, CONFLICTS_QUEUE_URL, PAYLOAD_BUCKET,
    PAYLOAD_PREFIX (default ``oversize-payloads``), FOLLOW_UP_SOURCE, the contract paths,
    FOLLOW_UP_RULES, INDEXED_ATTRIBUTES and REPLAY_SOURCE (unset: no event is unwrapped).
    Clients are created on first use.
    """
    settings = Settings.from_environment(environ)
    payloads = PayloadStore(
        s3=client_factory("s3"),
        bucket=_required(environ, spec.Env.PAYLOAD_BUCKET),
        prefix=environ.get(spec.Env.PAYLOAD_PREFIX, "").strip() or spec.PAYLOADS_PREFIX,
    )
    return Pipeline(
        settings=settings,
        store=EventStore(
            dynamodb=client_factory("dynamodb"),
            table_name=_required(environ, spec.Env.TABLE_NAME),
        ),
        payloads=payloads,
        conflicts=ConflictQueue(
            sqs=client_factory("sqs"),
            queue_url=_required(environ, spec.Env.CONFLICTS_QUEUE_URL),
            payloads=payloads,
        ),
        emitter=FollowUpEmitter(
            events_client=client_factory("events"),
            bus_name=_required(environ, spec.Env.EVENT_BUS_NAME),
            source=_required(environ, spec.Env.FOLLOW_UP_SOURCE),
        ),
    )
