"""PutEvents for the CLI: batches of ten (and under the request size limit), per-entry results,
retries of the failed entries only, and only for the errors a retry can cure.

``kahula put`` and ``kahula redrive`` publish through it (``replay`` can too): each entry comes
with a ``ref`` (where it came from: ``events.jsonl:3``, a message id) and gets one
``PutResult`` (its EventBridge id, or its error code and message), in input order.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kahula_core import spec

from .output import TargetUnreachableError

#: Per-entry PutEvents error codes a later attempt can succeed on (the rest are the entry's:
#: malformed detail, not authorized for the source...). EventBridge API reference, PutEvents
#: ("PutEventsResultEntry": ErrorCode).
RETRYABLE_CODES = frozenset(
    {"InternalFailure", "InternalException", "ThrottlingException", "ServiceUnavailable"}
)
#: A call refused for these is refused for every entry: stop, say so (exit 3).
DENIED_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "ExpiredTokenException",
        "InvalidSignatureException",
    }
)
#: EventBridge: at most 10 entries per call, and 1 MiB per event and per call (spec, with its
#: source). Each entry's size is counted as AWS documents it ("Calculating PutEvents event
#: entry size"): 14 bytes for Time if present, plus the UTF-8 bytes of Source, DetailType,
#: Detail and each Resources entry.
MAX_ENTRIES = spec.EVENTBRIDGE_MAX_ENTRIES_PER_PUT
MAX_REQUEST_BYTES = spec.EVENTBRIDGE_MAX_EVENT_BYTES


def entry_size(entry: dict[str, Any]) -> int:
    size = 14 if entry.get("Time") else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key, "")).encode("utf-8"))
    return size + sum(len(str(r).encode("utf-8")) for r in entry.get("Resources", []))


@dataclass(frozen=True)
class PutResult:
    ref: str
    event_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.event_id is not None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ref": self.ref, "ok": self.ok}
        if self.ok:
            out["event_id"] = self.event_id
        else:
            out |= {"error_code": self.error_code, "error_message": self.error_message}
        return out | {"attempts": self.attempts}


class Publisher:
    """PutEvents onto one bus, with per-entry results."""

    def __init__(
        self,
        events: Any,
        bus_name: str,
        *,
        bus_arn: str | None = None,
        attempts: int = 5,
        base_delay_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._events = events
        self.bus_name = bus_name
        self.bus_arn = bus_arn
        self._attempts = attempts
        self._base_delay = base_delay_seconds
        self._sleep = sleep
        self._jitter = jitter

    def publish(self, entries: Iterable[tuple[str, dict[str, Any]]]) -> Iterator[PutResult]:
        """One result per (ref, entry), batch by batch, in input order."""
        batch: list[tuple[str, dict[str, Any]]] = []
        size = 0
        for ref, given in entries:
            named = given.get("EventBusName")
            if named and named not in (self.bus_name, self.bus_arn):
                yield PutResult(
                    ref,
                    error_code="OtherBus",
                    error_message=f"names bus {named}; this target's bus is {self.bus_name} "
                    "(drop EventBusName, or choose the target with --env)",
                    attempts=0,
                )
                continue
            entry = {**given, "EventBusName": self.bus_name}
            this = entry_size(entry)
            if this > MAX_REQUEST_BYTES:
                yield PutResult(
                    ref,
                    error_code="EntryTooLarge",
                    error_message=f"{this} bytes: EventBridge takes at most "
                    f"{MAX_REQUEST_BYTES} bytes per event (not sent)",
                    attempts=0,
                )
                continue
            if len(batch) == MAX_ENTRIES or size + this > MAX_REQUEST_BYTES:
                yield from self._put(batch)
                batch, size = [], 0
            batch.append((ref, entry))
            size += this
        if batch:
            yield from self._put(batch)

    def _put(self, batch: list[tuple[str, dict[str, Any]]]) -> list[PutResult]:
        results: dict[int, PutResult] = {}
        pending = list(range(len(batch)))
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self._sleep(self._base_delay * 2 ** (attempt - 2) * (0.5 + self._jitter()))
            answers = self._call([batch[i][1] for i in pending])
            retry = []
            for index, answer in zip(pending, answers, strict=True):
                ref = batch[index][0]
                if answer.get("EventId"):
                    results[index] = PutResult(ref, event_id=answer["EventId"], attempts=attempt)
                    continue
                code = str(answer.get("ErrorCode") or "NoResult")
                results[index] = PutResult(
                    ref,
                    error_code=code,
                    error_message=str(answer.get("ErrorMessage") or ""),
                    attempts=attempt,
                )
                if code in RETRYABLE_CODES:
                    retry.append(index)
            if not retry:
                break
            pending = retry
        return [results[i] for i in range(len(batch))]

    def _call(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One PutEvents call. A call refused as a whole is retried entry by entry, so one
        bad entry fails alone; refused for credentials or permissions, the command stops."""
        try:
            response = self._events.put_events(Entries=entries)
        except Exception as exc:
            error = getattr(exc, "response", {}).get("Error", {})
            code = str(error.get("Code") or type(exc).__name__)
            if code in DENIED_CODES:
                raise TargetUnreachableError(
                    f"PutEvents on bus {self.bus_name} refused: {code}: {error.get('Message')}"
                ) from None
            if len(entries) > 1:  # one entry may be to blame: find it, the others go through
                return [answer for entry in entries for answer in self._call([entry])]
            return [{"ErrorCode": code, "ErrorMessage": str(error.get("Message") or exc)}]
        answers = list(response.get("Entries", []))
        return answers + [{"ErrorCode": "NoResult"}] * (len(entries) - len(answers))
