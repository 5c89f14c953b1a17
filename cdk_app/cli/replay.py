"""Replay archived events onto the bus, keeping each event's identity (``kahula replay``).

Where the events come from: the S3 archive (event_archive.py) holds every event on the bus as
gzipped JSON lines, in objects under Hive-style hour partitions of their *arrival* time at
Firehose, ``events/year=YYYY/month=MM/day=DD/hour=HH/``. A window ``[start, end)`` of event
times lists only the partitions that can hold its events: from 15 minutes before ``start``
(Firehose names an object by the arrival of its oldest record and buffers up to 900 s) to
``lateness`` after ``end`` (an event arrives after its ``time``: delivery retries, producers'
own times). Each line is then kept only if its ``time`` is in the window and its
``detail-type`` / ``source`` pass the filters.

How identity survives: PutEvents gives every event a new EventBridge id, so an archived event
published as itself would be a new item (when keyed on its EventBridge id) and putting that id
into its detail would change its payload hash (a conflict). So each archived event is published
*wrapped*: source ``spec.replay_source(prefix)`` (reserved on the bus for the replay role),
detail-type ``spec.REPLAY_DETAIL_TYPE``, detail = the archived event unchanged. The persister
unwraps it and stores the original: same unique_id, same payload_hash, a duplicate.

Publishing: PutEvents batches of at most 10 entries and ``MAX_BATCH_BYTES``; only the entries
PutEvents rejects are retried, with jittered exponential backoff; ``rate`` paces events per
second. A checkpoint file (last object key and line handled) is written after every batch, so
an interrupted replay resumes after it without publishing anything twice (a batch whose
response was lost may be published again, which the persister absorbs as duplicates).

Nothing here imports the CDK; clients are injected. Every line is accounted for in the
:class:`Summary`: published, failed (with reasons), filtered out, or skipped as malformed
(with reasons), never dropped silently.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kahula_core import spec

#: Where Firehose writes events in the archive bucket (cdk_app/constructs/event_archive.py).
EVENTS_PREFIX = spec.ARCHIVE_EVENTS_PREFIX
#: Firehose's longest buffer interval (900 s): an object may hold records that arrived this
#: long after the hour in its key.
FIREHOSE_MAX_BUFFER = timedelta(seconds=900)
# Times a window may span: an archive holds nothing before 1970, and the hour arithmetic must
# stay inside what datetime can hold.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
#: Request budget per PutEvents call. EventBridge accepts events up to 1 MB since January 2026
#: (AWS Compute Blog, 2026-01-29); batches are kept to 256 KB, its long-standing request limit,
#: and a larger event is sent alone.
MAX_BATCH_BYTES = 256 * 1024
#: The PutEvents entry-size rule (EventBridge user guide, "Calculating PutEvents event entry
#: size"): UTF-8 bytes of Source, DetailType and Detail, plus 14 bytes for Time when set.
GZIP_MAGIC = b"\x1f\x8b"


class ReplayError(Exception):
    """The replay cannot start or go on (a bad window, an unusable checkpoint)."""


# ---------------------------------------------------------------------- what to replay


def parse_time(text: str, what: str) -> datetime:
    """An ISO-8601 time as an aware UTC datetime; one without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ReplayError(
            f"{what} {text!r} is not an ISO-8601 time (e.g. 2026-11-22T07:00:00Z)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """Event times ``[start, end)`` (UTC) and the filters a line must pass."""

    start: datetime
    end: datetime
    detail_types: frozenset[str] = frozenset()  # empty: every type
    sources: frozenset[str] = frozenset()  # empty: every source
    lateness: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ReplayError("the window's times must carry a UTC offset")
        if not self.start < self.end:
            raise ReplayError(
                f"--from ({self.start.isoformat()}) must be before --to ({self.end.isoformat()})"
            )
        if self.lateness < timedelta(0):
            raise ReplayError("lateness must not be negative")
        if self.start < _EARLIEST or self.end > _LATEST:
            raise ReplayError(
                f"the window must lie within {_EARLIEST:%Y-%m-%d} .. {_LATEST:%Y-%m-%d} (UTC), "
                f"got {self.start.isoformat()} .. {self.end.isoformat()}"
            )

    def _hours(self) -> tuple[datetime, datetime]:
        """[first, last): the hour partitions that can hold events of the window."""
        first = (self.start - FIREHOSE_MAX_BUFFER).replace(minute=0, second=0, microsecond=0)
        return first, self.end + self.lateness

    def partitions(self, prefix: str = EVENTS_PREFIX) -> list[str]:
        """The hour partitions (key prefixes) that can hold events of the window."""
        hour, last = self._hours()
        out = []
        while hour < last:
            out.append(spec.archive_hour_prefix(hour, prefix))
            hour += timedelta(hours=1)
        return out

    def partition_count(self) -> int:
        first, last = self._hours()
        return -(-(last - first) // timedelta(hours=1))

    def prefixes(self, prefix: str = EVENTS_PREFIX) -> list[str]:
        """The fewest key prefixes that list exactly the window's hour partitions: a whole
        year, month or day inside the window is listed as one prefix, so a window of decades
        is a few hundred listings, not one per hour."""
        at, last = self._hours()
        out = []
        while at < last:
            year = at.replace(year=at.year + 1, month=1, day=1, hour=0)
            month = (at.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0)
            day = (at + timedelta(days=1)).replace(hour=0)
            key = f"{prefix}year={at:%Y}/"
            if at == at.replace(month=1, day=1, hour=0) and year <= last:
                out.append(key)
                at = year
            elif at == at.replace(day=1, hour=0) and month <= last:
                out.append(f"{key}month={at:%m}/")
                at = month
            elif at.hour == 0 and day <= last:
                out.append(f"{key}month={at:%m}/day={at:%d}/")
                at = day
            else:
                out.append(f"{key}month={at:%m}/day={at:%d}/hour={at:%H}/")
                at += timedelta(hours=1)
        return out

    def admits(self, event: dict[str, Any]) -> bool:
        """Whether an (already checked) archived event is in the window and the filters."""
        moment = parse_time(event["time"], "time")
        return (
            self.start <= moment < self.end
            and (not self.detail_types or event["detail-type"] in self.detail_types)
            and (not self.sources or event["source"] in self.sources)
        )

    def fingerprint(self) -> str:
        """Identifies the replay a checkpoint belongs to."""
        text = json.dumps(
            [
                self.start.isoformat(),
                self.end.isoformat(),
                sorted(self.detail_types),
                sorted(self.sources),
                self.lateness.total_seconds(),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- checkpoint


@dataclass(frozen=True)
class Position:
    """The last archive line handled: everything up to it is published, failed or skipped."""

    key: str
    line: int  # 1-based

    def covers(self, key: str, line: int) -> bool:
        return key < self.key or (key == self.key and line <= self.line)


class Checkpoint:
    """A small JSON file: the window's fingerprint and the last position handled."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint

    def load(self) -> Position | None:
        if not self.path.exists():
            return None
        try:
            saved = json.loads(self.path.read_text())
            position = Position(str(saved["key"]), int(saved["line"]))
            fingerprint = str(saved["window"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReplayError(
                f"checkpoint {self.path} is unreadable ({exc}); delete it to start over"
            ) from None
        if fingerprint != self.fingerprint:
            raise ReplayError(
                f"checkpoint {self.path} belongs to another window or filters; use the same "
                "--from/--to/--type/--source to resume, or --restart to start over"
            )
        return position

    def save(self, position: Position) -> None:
        data = {"window": self.fingerprint, **asdict(position)}
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(data))
        os.replace(partial, self.path)  # atomic: a crash leaves the old or the new one

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


# ---------------------------------------------------------------------- reading the archive


class _Chained(io.RawIOBase):
    """The bytes already read (to sniff gzip), then the rest of the S3 body, as one stream."""

    def __init__(self, head: bytes, body: Any) -> None:
        self._head = head
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        chunk = self._body.read(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)


def archive_lines(body: Any) -> Iterator[bytes]:
    """The lines of one archive object, decompressed as they stream (memory: one line)."""
    head = body.read(2)
    stream: io.BufferedIOBase = io.BufferedReader(_Chained(head, body))
    if head == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=stream)
    for line in stream:
        yield line.rstrip(b"\r\n")


def check_archived(line: bytes) -> dict[str, Any]:
    """An archive line as an event with the fields replay needs; ValueError saying why not."""
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(event, dict):
        raise ValueError(f"not a JSON object but {type(event).__name__}")
    for name in ("id", "time", "detail-type", "source"):
        if not isinstance(event.get(name), str) or not event[name]:
            raise ValueError(f"no string {name!r}")
    if not isinstance(event.get("detail"), dict):
        raise ValueError("no object 'detail'")
    try:
        parse_time(event["time"], "its time")
    except ReplayError as exc:
        raise ValueError(str(exc)) from None
    return event


# ---------------------------------------------------------------------- the summary


@dataclass
class Summary:
    """What a replay did; every line read is in exactly one count."""

    window: str = ""
    dry_run: bool = False
    resumed_from: str | None = None
    partitions: int = 0
    objects: int = 0
    lines_read: int = 0
    already_done: int = 0  # lines the checkpoint covered (published by an earlier run)
    matched: int = 0  # lines in the window and the filters
    published: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key:line, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # malformed lines, (where, why)
    filtered_out: int = 0
    retries: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("failed", "skipped")},
            "failed": [{"where": w, "reason": r} for w, r in self.failed],
            "skipped_malformed": [{"where": w, "reason": r} for w, r in self.skipped],
        }


# ---------------------------------------------------------------------- publishing


@dataclass
class _Pending:
    where: Position
    entry: dict[str, Any]
    size: int


def wrap_entry(event: dict[str, Any], *, bus_name: str, replay_source: str) -> dict[str, Any]:
    """The PutEvents entry that carries one archived event, unchanged, to the persister."""
    return {
        "Source": replay_source,
        "DetailType": spec.REPLAY_DETAIL_TYPE,
        "Detail": json.dumps(event, separators=(",", ":"), ensure_ascii=False),
        "EventBusName": bus_name,
    }


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it (module docstring)."""
    return sum(len(entry[k].encode("utf-8")) for k in ("Source", "DetailType", "Detail"))


class Replayer:
    """Reads the window's archive objects and publishes each matching event wrapped."""

    def __init__(
        self,
        *,
        s3: Any,
        events: Any,
        bucket: str,
        bus_name: str,
        replay_source: str,
        checkpoint: Path | None = None,
        rate: float | None = None,
        dry_run: bool = False,
        attempts: int = 5,
        base_delay_seconds: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ReplayError(f"--rate must be a positive number of events per second, got {rate}")
        self._s3 = s3
        self._events = events
        self.bucket = bucket
        self.bus_name = bus_name
        self.replay_source = replay_source
        self._checkpoint_path = checkpoint
        self._rate = rate
        self._dry_run = dry_run
        self._attempts = attempts
        self._base_delay = base_delay_seconds
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._started = 0.0
        self._sent = 0

    # ------------------------------------------------------------------ listing

    def objects(self, window: Window) -> list[str]:
        """Keys of the archive objects under the window's hour partitions, in time order."""
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for prefix in window.prefixes():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)

    # ------------------------------------------------------------------ the run

    def run(
        self,
        window: Window,
        *,
        restart: bool = False,
        on_object: Callable[[int], None] | None = None,
        keys: list[str] | None = None,
    ) -> Summary:
        summary = Summary(
            window=f"{window.start.isoformat()} .. {window.end.isoformat()}",
            dry_run=self._dry_run,
            partitions=window.partition_count(),
        )
        checkpoint = (
            Checkpoint(self._checkpoint_path, window.fingerprint())
            if self._checkpoint_path is not None and not self._dry_run
            else None
        )
        if checkpoint is not None and restart:
            checkpoint.clear()
        done = checkpoint.load() if checkpoint is not None else None
        if done is not None:
            summary.resumed_from = f"{done.key}:{done.line}"
        self._started, self._sent = self._clock(), 0
        batch: list[_Pending] = []
        last: Position | None = None

        def flush() -> None:
            if batch:
                self._publish(batch, summary)
                batch.clear()
            if checkpoint is not None and last is not None:
                checkpoint.save(last)

        for key in keys if keys is not None else self.objects(window):
            summary.objects += 1
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            for number, line in enumerate(archive_lines(body), start=1):
                summary.lines_read += 1
                here = Position(key, number)
                if done is not None and done.covers(key, number):
                    summary.already_done += 1
                    continue
                # ``last`` moves to a line once it is handled: at once for a line skipped or
                # filtered out, after the batch holding it is published for the others.
                if not line.strip():
                    summary.skipped.append((f"{key}:{number}", "empty line"))
                    last = here
                    continue
                try:
                    event = check_archived(line)
                except ValueError as exc:
                    summary.skipped.append((f"{key}:{number}", str(exc)))
                    last = here
                    continue
                if event["source"] == self.replay_source:
                    summary.skipped.append(
                        (f"{key}:{number}", "a replay wrapper, not an original event")
                    )
                    last = here
                    continue
                if not window.admits(event):
                    summary.filtered_out += 1
                    last = here
                    continue
                summary.matched += 1
                if self._dry_run:
                    continue
                entry = wrap_entry(event, bus_name=self.bus_name, replay_source=self.replay_source)
                size = entry_size(entry)
                if size > spec.EVENTBRIDGE_MAX_EVENT_BYTES:
                    summary.failed.append(
                        (
                            f"{key}:{number}",
                            f"wrapped, the event is {size} bytes, over EventBridge's "
                            f"{spec.EVENTBRIDGE_MAX_EVENT_BYTES}-byte event limit",
                        )
                    )
                    last = here
                    continue
                if batch and (
                    len(batch) == spec.EVENTBRIDGE_MAX_ENTRIES_PER_PUT
                    or sum(p.size for p in batch) + size > MAX_BATCH_BYTES
                ):
                    flush()
                batch.append(_Pending(here, entry, size))
                last = here
            if on_object is not None:
                on_object(1)
        flush()
        return summary

    def _pace(self, count: int) -> None:
        """Wait until sending ``count`` more events keeps within ``rate`` events per second."""
        if self._rate is None:
            return
        due = self._started + (self._sent + count - 1) / self._rate
        wait = due - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _publish(self, batch: list[_Pending], summary: Summary) -> None:
        """PutEvents; retry only the rejected entries, with jittered exponential backoff."""
        pending = list(batch)
        self._pace(len(pending))
        errors: dict[int, str] = {}
        for attempt in range(self._attempts):
            if attempt:
                summary.retries += len(pending)
                self._sleep(self._base_delay * 2 ** (attempt - 1) * (0.5 + self._jitter()))
            response = self._events.put_events(Entries=[p.entry for p in pending])
            results = response.get("Entries", [])
            failed: list[_Pending] = []
            for index, item in enumerate(pending):
                result = results[index] if index < len(results) else {"ErrorCode": "NoResult"}
                if result.get("ErrorCode"):
                    failed.append(item)
                    errors[id(item)] = (
                        f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}".rstrip(": ")
                    )
            summary.published += len(pending) - len(failed)
            pending = failed
            if not pending:
                break
        self._sent += len(batch)
        for item in pending:
            summary.failed.append(
                (
                    f"{item.where.key}:{item.where.line}",
                    f"PutEvents rejected it {self._attempts} times: {errors[id(item)]}",
                )
            )


# ---------------------------------------------------------------------- the bus's own archive


@dataclass
class BusReplaySummary:
    """What EventBridge's native replay (StartReplay) did, as DescribeReplay reports it."""

    replay_name: str
    archive: str
    window: str
    state: str
    reason: str = ""
    rules: list[str] = field(default_factory=list)  # FilterArns; empty: every rule
    last_replayed: str | None = None
    archive_event_count: int | None = None  # DescribeArchive's count (reconciled over 24 h)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.state in ("COMPLETED", "DRY_RUN")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


TERMINAL_REPLAY_STATES = ("COMPLETED", "CANCELLED", "FAILED")


def replay_from_bus_archive(
    events: Any,
    *,
    archive_name: str,
    bus_arn: str,
    window: Window,
    replay_name: str,
    rule_arns: list[str] | None = None,
    dry_run: bool = False,
    poll_seconds: float = 10.0,
    timeout_seconds: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_poll: Callable[[dict[str, Any]], None] | None = None,
) -> BusReplaySummary:
    """StartReplay of ``window`` from the bus's archive to the bus (every rule, or
    ``rule_arns``), then DescribeReplay until it ends (or ``timeout_seconds``)."""
    if window.detail_types or window.sources:
        raise ReplayError(
            "--type and --source do not apply to the bus archive's replay (EventBridge replays "
            "every archived event of the window); choose rules with --rule instead"
        )
    archive = events.describe_archive(ArchiveName=archive_name)
    summary = BusReplaySummary(
        replay_name=replay_name,
        archive=archive["ArchiveArn"],
        window=f"{window.start.isoformat()} .. {window.end.isoformat()}",
        state="DRY_RUN" if dry_run else "STARTING",
        rules=list(rule_arns or []),
        archive_event_count=archive.get("EventCount"),
        dry_run=dry_run,
    )
    if dry_run:
        return summary
    destination: dict[str, Any] = {"Arn": bus_arn}
    if rule_arns:
        destination["FilterArns"] = list(rule_arns)
    events.start_replay(
        ReplayName=replay_name,
        Description=f"kahula replay {summary.window}",
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=window.start,
        EventEndTime=window.end,
        Destination=destination,
    )
    deadline = clock() + timeout_seconds
    while True:
        described = events.describe_replay(ReplayName=replay_name)
        summary.state = str(described.get("State", "UNKNOWN"))
        summary.reason = str(described.get("StateReason", ""))
        last = described.get("EventLastReplayedTime")
        summary.last_replayed = last.isoformat() if hasattr(last, "isoformat") else last
        if on_poll is not None:
            on_poll(described)
        if summary.state in TERMINAL_REPLAY_STATES:
            return summary
        if clock() >= deadline:
            summary.reason = (
                f"still {summary.state} after {timeout_seconds:.0f} s; follow it with "
                f"`aws events describe-replay --replay-name {replay_name}`"
            )
            return summary
        sleep(poll_seconds)
