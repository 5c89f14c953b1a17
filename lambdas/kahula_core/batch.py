"""The machinery every batch front door shares (Kinesis today, SQS FIFO next).

One accepted record becomes one platform event dict, stored through ``persist_event``; what
happens to it is one of three things, and each is decided here, once:

* stored (persisted, duplicate or conflict: the core decided): ``RecordResult``; its event
  joins the batch's archive lines;
* malformed (``MalformedEventError``: retrying cannot help; also an event whose archive line
  is over Firehose's 1,000 KiB record limit, checked before the write): the record is
  QUARANTINED to an SQS queue with its reason and coordinates and reported as a success, so it
  never blocks its shard or message group;
* transient (anything else: throttling, a 5xx, follow-ups not accepted): the record is
  reported as a batch item failure, and so is every later record of its ordering scope (the
  shard's batch, a FIFO message group) without being touched: the source redelivers from the
  first failure, so nothing is written out of order and nothing that succeeded is re-written.

After the records, ``finish`` puts the stored events on the archive's Firehose stream in one
PutRecordBatch per 500 records (the bus's line format: the EventBridge event as JSON, Firehose
adds the newline). Entries Firehose refuses are retried; those still refused turn their
records into batch item failures (the redelivery is a duplicate for the table, and archives
again).

Plain logic: clients come in through the pipeline's factory; the entry (a Lambda handler) wires
it to Powertools' BatchProcessor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import spec
from .clients import ClientFactory
from .errors import ConfigurationError, MalformedEventError, PersisterError
from .persist import Outcome, Pipeline, persist_event

#: Firehose retries of refused entries (the SDK already retried the call itself).
ARCHIVE_ATTEMPTS = 3


class ArchiveError(PersisterError):
    """Firehose still refused some archive records after every retry; they are redelivered."""


class ArchiveLineTooLargeError(MalformedEventError):
    """The event's archive line is over Firehose's record limit: it could never be archived."""


class SkippedAfterFailure(PersisterError):
    """An earlier record of the same ordering scope failed; this one waits for the retry."""


@dataclass(frozen=True)
class RecordResult:
    """What happened to one record: stored (with the core's outcome) or quarantined."""

    record_id: str  # the source's id for the record (a sequence number, a message id)
    outcome: Outcome | None = None
    quarantined: str | None = None  # the reason, when quarantined


class Quarantine:
    """The queue that keeps malformed records, each with its reason and coordinates."""

    def __init__(self, *, sqs: Callable[[], Any], queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def send(
        self, *, reason: str, error_type: str, coordinates: Mapping[str, Any], data: str
    ) -> None:
        body: dict[str, Any] = {
            "reason": reason,
            "errorType": error_type,
            "coordinates": dict(coordinates),
            "data": data,
        }
        text = json.dumps(body)
        if len(text.encode("utf-8")) > spec.SQS_MAX_MESSAGE_BYTES:
            # The record itself stays readable in its stream for the retention period.
            body["data"] = None
            body["dataOmitted"] = "record over the SQS message limit; read it by its coordinates"
            text = json.dumps(body)
        self._sqs().send_message(QueueUrl=self.queue_url, MessageBody=text)


class Archive:
    """PutRecordBatch onto the archive's Firehose stream; returns the keys still refused."""

    def __init__(
        self,
        *,
        firehose: Callable[[], Any],
        stream_name: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._firehose = firehose
        self.stream_name = stream_name
        self._sleep = sleep

    def put(self, lines: list[tuple[str, bytes]]) -> list[str]:
        """Archive (key, line) pairs (``archive_line``); the keys Firehose never accepted."""
        refused: list[str] = []
        for chunk in _chunks(lines):
            pending = chunk
            for attempt in range(ARCHIVE_ATTEMPTS):
                if attempt:
                    self._sleep(0.05 * 2**attempt)
                response = self._firehose().put_record_batch(
                    DeliveryStreamName=self.stream_name,
                    Records=[{"Data": data} for _, data in pending],
                )
                if not response.get("FailedPutCount"):
                    pending = []
                    break
                pending = [
                    entry
                    for entry, result in zip(pending, response["RequestResponses"], strict=True)
                    if result.get("ErrorCode")
                ]
            refused += [key for key, _ in pending]
        return refused


def archive_line(event: Mapping[str, Any]) -> bytes:
    """The event as its archive record; ArchiveLineTooLargeError over Firehose's record limit."""
    data = json.dumps(event, separators=(",", ":")).encode("utf-8")
    if len(data) > spec.FIREHOSE_MAX_RECORD_BYTES:
        raise ArchiveLineTooLargeError(
            f"the event is {len(data)} bytes as an archive line, over Firehose's record limit "
            f"of {spec.FIREHOSE_MAX_RECORD_BYTES} bytes: it could never be archived, so it is "
            "not stored"
        )
    return data


def _chunks(lines: list[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    """Encoded records in PutRecordBatch-sized chunks (500 records, 4 MiB)."""
    chunks: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for key, data in lines:
        if chunks[-1] and (
            len(chunks[-1]) == spec.FIREHOSE_MAX_BATCH_RECORDS
            or size + len(data) > spec.FIREHOSE_MAX_BATCH_BYTES
        ):
            chunks.append([])
            size = 0
        chunks[-1].append((key, data))
        size += len(data)
    return [c for c in chunks if c]


@dataclass
class BatchConsumer:
    """Consumes one batch: ``handle`` per record (in order), then ``finish`` once.

    ``to_event(record)`` turns a source record into the platform event dict (raising a
    MalformedEventError for a bad one); ``describe(record)`` gives its id, its coordinates for
    the quarantine, its raw data and its ordering scope (one key for a whole Kinesis batch,
    the message group for SQS FIFO).
    """

    pipeline: Pipeline
    quarantine: Quarantine
    archive: Archive | None
    to_event: Callable[[Mapping[str, Any]], dict[str, Any]]
    describe: Callable[[Mapping[str, Any]], RecordView]
    results: list[RecordResult] = field(default_factory=list)
    _lines: list[tuple[str, bytes]] = field(default_factory=list)
    _failed_scopes: set[str] = field(default_factory=set)

    def handle(self, record: Mapping[str, Any]) -> RecordResult:
        view = self.describe(record)
        if view.scope in self._failed_scopes:
            raise SkippedAfterFailure(
                f"record {view.record_id} waits: an earlier record of {view.scope} failed"
            )
        try:
            result = self._store_or_quarantine(record, view)
        except Exception:
            # Whatever failed (the store, or the quarantine itself), the rest of the scope waits.
            self._failed_scopes.add(view.scope)
            raise
        self.results.append(result)
        return result

    def _store_or_quarantine(self, record: Mapping[str, Any], view: RecordView) -> RecordResult:
        try:
            event = self.to_event(record)
            # Checked before the write: an event the archive cannot take is refused whole.
            line = archive_line(event) if self.archive is not None else b""
            outcome = persist_event(event, self.pipeline)
        except MalformedEventError as exc:
            self.quarantine.send(
                reason=str(exc),
                error_type=type(exc).__name__,
                coordinates=view.coordinates,
                data=view.data,
            )
            return RecordResult(view.record_id, quarantined=str(exc))
        self._lines.append((view.record_id, line))
        return RecordResult(view.record_id, outcome=outcome)

    def finish(self) -> list[str]:
        """Archive the stored events; the record ids to report as failures (archive refused)."""
        lines, self._lines = self._lines, []
        if self.archive is None or not lines:
            return []
        return self.archive.put(lines)


@dataclass(frozen=True)
class RecordView:
    """The source-specific facts about one record the consumer needs."""

    record_id: str
    scope: str
    coordinates: Mapping[str, Any]
    data: str


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def build_quarantine(environ: Mapping[str, str], client_factory: ClientFactory) -> Quarantine:
    return Quarantine(
        sqs=client_factory("sqs"),
        queue_url=_required(environ, spec.BatchEnv.QUARANTINE_QUEUE_URL),
    )


def build_archive(environ: Mapping[str, str], client_factory: ClientFactory) -> Archive | None:
    """The archive writer, or None when the function has no archive stream configured."""
    name = environ.get(spec.BatchEnv.ARCHIVE_STREAM_NAME, "").strip()
    return Archive(firehose=client_factory("firehose"), stream_name=name) if name else None
