"""The data path, top to bottom: event -> envelope -> record -> store -> follow-ups.

``persist_event`` is plain logic: it receives its collaborators and returns what happened.
The handler turns the result into metrics and logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .contract import (
    ContractSettings,
    build_record,
    detail_document,
    format_utc,
    parse_envelope,
)
from .follow_ups import EmitReport, FollowUp, FollowUpEmitter, follow_up_for
from .store import ConflictQueue, EventStore, PayloadStore, WriteOutcome


def utc_now() -> str:
    return format_utc(datetime.now(UTC))


@dataclass
class Pipeline:
    """Everything persist_event needs; built once per container by the handler."""

    settings: ContractSettings
    store: EventStore
    payloads: PayloadStore
    conflicts: ConflictQueue
    emitter: FollowUpEmitter
    clock: Callable[[], str] = utc_now


@dataclass
class Outcome:
    unique_id: str
    write: WriteOutcome
    payload_hash: str
    stored_payload_hash: str | None = None
    oversize: bool = False
    follow_ups: list[FollowUp] = field(default_factory=list)
    emit_report: EmitReport = field(default_factory=EmitReport)


def persist_event(event: Any, pipeline: Pipeline) -> Outcome:
    """Persist one EventBridge event exactly once; emit its follow-up, if any.

    Raises MalformedEventError for an event that can never be stored (the function's
    on-failure queue keeps it with the message), and lets transient AWS errors propagate so
    Lambda retries the invocation; every step is idempotent, so a retry is safe.
    """
    envelope = parse_envelope(event)
    record = build_record(envelope, pipeline.settings, pipeline.clock())

    oversize = not record.fits_inline(pipeline.settings)
    if oversize:
        claim = pipeline.payloads.put("detail", record.unique_id, detail_document(envelope))
        record = record.with_claim_check(claim)

    result = pipeline.store.put_new(record.item)
    outcome = Outcome(
        unique_id=record.unique_id,
        write=result.outcome,
        payload_hash=record.payload_hash,
        stored_payload_hash=result.stored_payload_hash,
        oversize=oversize,
    )
    if result.outcome is WriteOutcome.CONFLICT:
        pipeline.conflicts.send(
            event=envelope.raw,
            unique_id=record.unique_id,
            stored_hash=result.stored_payload_hash,
            incoming_hash=record.payload_hash,
        )
        return outcome

    # Emit on a duplicate too: the attempt that stored the item may have crashed before this.
    follow_up = follow_up_for(
        record, follow_up_source=pipeline.emitter.source, settings=pipeline.settings
    )
    if follow_up is not None:
        outcome.follow_ups.append(follow_up)
        outcome.emit_report = pipeline.emitter.emit([follow_up])
    return outcome
