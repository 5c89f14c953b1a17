"""Follow-up events: which stored events yield one, what it carries, and how it is emitted.

The rules are configuration (``FOLLOW_UP_RULES``, spec.FollowUpRule; default: ``*UpdatedEvent``
-> ``ValidatableEvent``, ``*ValidatedEvent`` -> ``IndexableEvent``). The first rule whose suffix
ends the event's detail-type decides. Nothing from the follow-up source, and no event named like
a follow-up type, ever yields one (the spec refuses rule sets that could loop).

A follow-up is itself an event on the bus, so the persister stores it too. Its id,
uuid5(namespace, "<type>:<source unique_id>"), sits at the contract's event-id path, so a
follow-up emitted twice (after a crash, a lost response or a retry) is stored once.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import spec
from .errors import FollowUpEmissionError
from .record import EventRecord
from .settings import Settings

# Fixed namespace: follow_up_id = uuid5(namespace, "<detail type>:<source unique_id>").
FOLLOW_UP_NAMESPACE = uuid.UUID("5b0c7d1e-1f5e-4f38-9a43-6a8f3c2d9e10")


@dataclass(frozen=True)
class FollowUp:
    detail_type: str
    follow_up_id: str
    detail: dict[str, Any]


def follow_up_type(
    event_name: str,
    source: str,
    *,
    follow_up_source: str,
    rules: Sequence[spec.FollowUpRule] = spec.DEFAULT_FOLLOW_UP_RULES,
) -> str | None:
    """The follow-up detail type this event yields, or None."""
    if source == follow_up_source or any(event_name == r.detail_type for r in rules):
        return None
    for rule in rules:
        if event_name.endswith(rule.suffix):
            return rule.detail_type
    return None


def follow_up_id(detail_type: str, source_unique_id: str) -> str:
    """Deterministic: the same source event always yields the same follow-up id."""
    return str(uuid.uuid5(FOLLOW_UP_NAMESPACE, f"{detail_type}:{source_unique_id}"))


def _place(detail: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    """Set ``value`` at an event path (``detail.a.b``) inside ``detail``, creating objects."""
    if len(path) < 2 or path[0] != "detail":
        return
    node = detail
    for part in path[1:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def follow_up_for(
    record: EventRecord, *, follow_up_source: str, settings: Settings
) -> FollowUp | None:
    """The follow-up a stored record yields, or None."""
    detail_type = follow_up_type(
        record.event_name,
        record.source,
        follow_up_source=follow_up_source,
        rules=settings.follow_up_rules,
    )
    if detail_type is None:
        return None
    fid = follow_up_id(detail_type, record.unique_id)
    detail: dict[str, Any] = {
        "follow_up_id": fid,
        "domain": record.domain,
        "source_unique_id": record.unique_id,
        "source_event_name": record.event_name,
    }
    # The follow-up obeys the same contract, so the persister stores it idempotently. The saga
    # id sits only at the contract's saga path, which payload_hash leaves out: a redelivery
    # under another saga re-emits a follow-up that is a duplicate, not a conflict.
    _place(detail, settings.event_id_path, fid)
    _place(detail, settings.domain_path, record.domain)
    if record.saga_id is not None:
        _place(detail, settings.saga_id_path, record.saga_id)
    return FollowUp(detail_type=detail_type, follow_up_id=fid, detail=detail)


@dataclass
class EmitReport:
    emitted: int = 0
    failed_entries: int = 0  # entries PutEvents rejected at least once (retried)


class FollowUpEmitter:
    """PutEvents with retries of only the failed entries, with jittered exponential backoff."""

    def __init__(
        self,
        *,
        events_client: Callable[[], Any],
        bus_name: str,
        source: str,
        attempts: int = 4,
        base_delay_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._client = events_client
        self._bus_name = bus_name
        self.source = source
        self._attempts = attempts
        self._base_delay = base_delay_seconds
        self._sleep = sleep
        self._jitter = jitter

    def delay(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1, 2, ...): base * 2**(retry-1), jittered
        by a factor from 0.5 to 1.5."""
        return self._base_delay * (2 ** (retry - 1)) * (0.5 + self._jitter())

    def emit(self, follow_ups: Sequence[FollowUp]) -> EmitReport:
        report = EmitReport()
        entries = [
            {
                "Source": self.source,
                "DetailType": f.detail_type,
                "Detail": json.dumps(f.detail, separators=(",", ":"), sort_keys=True),
                "EventBusName": self._bus_name,
            }
            for f in follow_ups
        ]
        per_call = spec.EVENTBRIDGE_MAX_ENTRIES_PER_PUT
        for start in range(0, len(entries), per_call):
            self._emit_batch(entries[start : start + per_call], report)
        return report

    def _emit_batch(self, pending: list[dict[str, Any]], report: EmitReport) -> None:
        codes: list[str] = []
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self.delay(attempt))
            response = self._client().put_events(Entries=pending)
            results = response.get("Entries", [])
            failed = [
                (entry, result)
                for entry, result in zip(pending, results, strict=False)
                if result.get("ErrorCode")
            ]
            if len(results) < len(pending):  # defensive: treat unanswered entries as failed
                failed += [(entry, {"ErrorCode": "NoResult"}) for entry in pending[len(results) :]]
            report.emitted += len(pending) - len(failed)
            if not failed:
                return
            report.failed_entries += len(failed)
            codes = sorted({str(result.get("ErrorCode")) for _, result in failed})
            pending = [entry for entry, _ in failed]
        raise FollowUpEmissionError(
            f"{len(pending)} follow-up event(s) still rejected by PutEvents after "
            f"{self._attempts} attempts (error codes: {', '.join(codes)}); the invocation "
            "fails so Lambda retries it, and the idempotent write makes that safe",
            emitted=report.emitted,
            failed_entries=report.failed_entries,
        )
