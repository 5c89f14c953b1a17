"""`make demo` and `make push`: the real pipeline on an embedded AWS, with a report.

    python -m local.demo                        # the shipped samples (samples/events.jsonl)
    python -m local.demo --events my.jsonl      # your own events, one JSON object per line

A line is a PutEvents entry ({"Source", "DetailType", "Detail"}, Detail as an object or a JSON
string) or an EventBridge event ({"source", "detail-type", "detail"}). Keys starting with "_"
are comments. Exits 1 if any accepted event was lost, or if no line was usable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from cdk_app.cli.entries import read_entries as parse_entries
from cdk_app.cli.seeding import read_stream_records, sample_messages

from .pipeline import Ledger, LocalPipeline, Published, StreamLedger
from .pipes import aggregate_store

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "events.jsonl"
STREAM_SAMPLES = ROOT / "samples" / "stream_records.jsonl"
WORKDIR = ROOT / ".demo"
PROGRESS_THRESHOLD = 50


def read_entries(path: Path, bad: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """The file's usable events as PutEvents entries (the parser ``kahula put`` uses);
    unusable lines appended to ``bad`` as (where, reason)."""
    for _, entry in parse_entries(path.read_text(encoding="utf-8"), path.name, bad):
        yield entry


@dataclass
class Appended:
    """What the demo appended to the aggregate store, and the stale append it refused."""

    events: list[tuple[str, int, str, str]]  # aggregate id, sequence number, type, event id
    refused: str


def append_to_aggregates(pipeline: LocalPipeline) -> Appended:
    """A few appends through the aggregate store's client (the outbox pipe publishes them on
    the next run), and one from a stale writer, which is refused and publishes nothing."""
    from kahula_core.aggregates import ConcurrencyError, NewEvent  # noqa: PLC0415

    store = aggregate_store(pipeline.topology, pipeline.clients.dynamodb)
    commands = [
        [
            NewEvent("OrderPlaced", {"sku": "A-1", "qty": 2}, {"user": "u-7"}, "demo-cmd-1"),
            NewEvent("OrderPaid", {"amount": 129.95}, event_id="demo-cmd-2"),
        ],
        [NewEvent("OrderShipped", event_id="demo-cmd-3")],
    ]
    events, version = [], 0
    for command in commands:
        result = store.append("order-42", "Order", command, expected_version=version)
        version = result.version
        events += [
            ("order-42", seq, e.event_type, e.event_id)
            for seq, e in zip(result.sequence_numbers, command, strict=True)
        ]
    try:
        store.append("order-42", "Order", [NewEvent("OrderCancelled")], expected_version=1)
        refused = "[red]a stale append was accepted[/red]"
    except ConcurrencyError as conflict:
        refused = f"stale append refused: expected {conflict.expected}, actual {conflict.actual}"
    return Appended(events, refused)


def render_outbox(pipeline: LocalPipeline, appended: Appended, console: Console) -> None:
    """Each appended event: did the outbox publish it, the persister store it, Firehose
    archive it?"""
    published = {
        json.loads(e["Detail"])["metadata"]["event_id"] for e in pipeline.outbox.accepted.values()
    }
    items = pipeline.items()
    archived, _ = pipeline.archived_events()
    sources = {e["Source"] for e in pipeline.outbox.accepted.values()}
    archived_ids = {e["detail"]["metadata"]["event_id"] for e in archived if e["source"] in sources}
    table = Table(title=f"Aggregate store -> outbox pipe -> bus ({appended.refused})")
    for column in (
        "aggregate",
        "seq",
        "event type",
        "event id",
        "published",
        "persisted",
        "archived",
    ):
        table.add_column(column)
    for aggregate_id, seq, event_type, event_id in appended.events:
        table.add_row(
            aggregate_id,
            str(seq),
            event_type,
            event_id,
            *(
                "yes" if event_id in found else "[red]no[/red]"
                for found in (published, items, archived_ids)
            ),
        )
    console.print(table)


def render_stream(ledger: StreamLedger, console: Console) -> None:
    table = Table(title=f"Kinesis stream {ledger.stream}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in (
        ("records published (accepted by PutRecords)", ledger.published),
        ("refused by PutRecords", len(ledger.rejected_by_put_records)),
        ("records stored (new or duplicate)", ledger.stored),
        ("  distinct items", ledger.unique_items),
        ("conflicts (conflicts queue)", ledger.conflicts),
        ("quarantined (malformed queue)", len(ledger.quarantined)),
        ("batches on the on-failure queue", len(ledger.failed_batches)),
        ("records archived", ledger.archived),
        (
            "invocations / partial failures / retries / bisections",
            f"{ledger.invocations} / {ledger.partial_failures} / {ledger.retries} / "
            f"{ledger.bisections}",
        ),
        ("lost", len(ledger.lost)),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for sequence, reason in ledger.quarantined:
        console.print(f"  quarantined {sequence}: {reason}")
    for sequence, what in ledger.lost:
        console.print(f"[red]  LOST record {sequence}: {what}[/red]")


def render(
    ledger: Ledger, bad_lines: list[tuple[str, str]], seconds: float, console: Console
) -> None:
    summary = Table(title="Local pipeline report", show_header=False)
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("events published (accepted by PutEvents)", str(ledger.published))
    summary.add_row("input lines rejected before publishing", str(len(bad_lines)))
    summary.add_row("rejected by PutEvents", str(len(ledger.rejected_by_put_events)))
    summary.add_row("items persisted", str(ledger.persisted))
    summary.add_row("duplicates (already stored)", str(ledger.duplicates))
    summary.add_row("items in the table (incl. follow-ups)", str(ledger.items_in_table))
    for detail_type, count in sorted(ledger.follow_ups.items()):
        summary.add_row(f"follow-ups emitted: {detail_type}", str(count))
    for queue, count in sorted(ledger.follow_ups_routed.items()):
        summary.add_row(f"  routed to queue {queue}", str(count))
    summary.add_row("archive objects (events/)", str(len(ledger.archive_objects)))
    summary.add_row("archived lines", str(sum(n for _, n in ledger.archive_objects)))
    summary.add_row("seconds", f"{seconds:.1f}")
    console.print(summary)

    if ledger.fifo_sent:
        summary_title = f"FIFO door ({ledger.fifo_sent} sent): tenant ledger"
        fifo = Table(title=summary_title)
        fifo.add_column("tenant")
        fifo.add_column("status")
        fifo.add_column("entries", justify="right")
        for (tenant, status), count in ledger.fifo_ledger.items():
            fifo.add_row(tenant, status, str(count))
        console.print(fifo)

    if ledger.archive_objects:
        archive = Table(title="Archive objects")
        archive.add_column("key")
        archive.add_column("lines", justify="right")
        for key, lines in ledger.archive_objects:
            archive.add_row(key, str(lines))
        console.print(archive)

    quarantined = Table(title="Quarantined (nothing lost: kept with the reason)")
    quarantined.add_column("where")
    quarantined.add_column("id")
    quarantined.add_column("reason", overflow="fold")
    for where, rows in (
        ("input", bad_lines),
        ("PutEvents", ledger.rejected_by_put_events),
        ("conflicts queue", ledger.conflicts),
        ("failure queue", ledger.failed),
        ("undeliverable DLQ", ledger.undeliverable),
        ("FIFO DLQ", [(body, reason) for body, reason in ledger.fifo_dead_letters]),
    ):
        for ident, reason in rows:
            quarantined.add_row(where, ident, reason)
    console.print(quarantined)

    if ledger.lost:
        lost = Table(title="[red]LOST[/red]")
        lost.add_column("event id")
        lost.add_column("what is missing")
        for ident, what in ledger.lost:
            lost.add_row(ident, what)
        console.print(lost)
        console.print(f"[red]{len(ledger.lost)} event(s) lost[/red]")
    else:
        console.print(
            "[green]nothing lost: every accepted event is archived and persisted "
            "or quarantined with its reason; every due follow-up reached its queue[/green]"
        )


@contextlib.contextmanager
def _pipeline(keep: bool, console: Console) -> Iterator[LocalPipeline]:
    """A pipeline of its own (stopped afterwards), or, with ``keep``, a fresh local session
    left running for ``kahula --local`` (any running session is stopped first)."""
    if not keep:
        with LocalPipeline.start(WORKDIR) as pipeline:
            yield pipeline
        return
    from cdk_app.config import DEFAULT_PREFIX, Naming  # noqa: PLC0415

    from . import session  # noqa: PLC0415

    if session.down() is not None:
        console.print("stopped the running local session: the demo starts from an empty one")
    record, _ = session.up(announce=console.print)
    attached = session.LocalSession(record, names=Naming(DEFAULT_PREFIX, record.env))
    try:
        yield attached.pipeline
        attached.pipeline.put_back_drained()  # the report read the queues: leave them full
    finally:
        attached.close()


def run(
    events: Path,
    *,
    progress: bool | None,
    console: Console,
    stream_events: Path | None = STREAM_SAMPLES,
    keep: bool = False,
    showcase: bool = True,
) -> int:
    """Push ``events`` through the local pipeline and report. ``showcase`` (``make demo``) also
    runs the demo's own aggregate-store appends and FIFO messages; ``make push`` reports only
    the pushed file's events."""
    if WORKDIR.exists():
        shutil.rmtree(WORKDIR)
    WORKDIR.mkdir()
    bad: list[tuple[str, str]] = []
    entries = list(read_entries(events, bad))
    stream_records = (
        [(key, data) for _, key, data in read_stream_records(stream_events, bad)]
        if stream_events
        else []
    )
    if not entries:
        console.print(f"[red]nothing to push: no usable line in {events}[/red]")
        for where, why in bad:
            console.print(f"  {why}" if why.startswith(where) else f"  {where}: {why}")
        return 1
    show_progress = progress if progress is not None else len(entries) >= PROGRESS_THRESHOLD
    started = time.monotonic()
    console.print(
        f"synthesizing the dev stack and starting moto on 127.0.0.1 ({len(entries)} events)"
    )
    with _pipeline(keep, console) as pipeline:
        published: Published
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_progress,
        ) as bar:
            task = bar.add_task("publishing", total=len(entries))
            # Every event goes to two rules (persister, archive); follow-ups add more.
            routing = bar.add_task("routing", total=None)
            published = pipeline.process(
                entries,
                on_published=lambda n: bar.advance(task, n),
                on_delivered=lambda n: bar.advance(routing, n),
            )
            appended = append_to_aggregates(pipeline) if showcase else None
            pipeline.run(on_delivered=lambda n: bar.advance(routing, n))
        fifo = pipeline.fifo and showcase
        if fifo:
            # The FIFO door: one valid and one invalid sample per event type, and one
            # unreadable envelope (it goes to the DLQ with its reason).
            fifo_messages = [
                *sample_messages(invalid=True),
                {"tenant_id": "tenant-c", "event_id": "no-type", "payload": {}},
            ]
            pipeline.door.send(fifo_messages)
            pipeline.door.poll()
            pipeline.run()  # the follow-ups of what the door stored
        # The outbox's events are accounted like any published event.
        published.accepted.update(pipeline.outbox.accepted)
        ledger = pipeline.account(published)
        ledger = pipeline.account_fifo(ledger) if fifo else ledger
        ledger.fifo_sent = len(fifo_messages) if fifo else 0
        if appended is not None:
            render_outbox(pipeline, appended, console)
        stream_ledger = None
        if pipeline.stream_name is not None and stream_records:
            stream_published = pipeline.put_records(stream_records)
            pipeline.run()
            stream_ledger = pipeline.account_stream(stream_published)
    render(ledger, bad, time.monotonic() - started, console)
    if stream_ledger is not None:
        render_stream(stream_ledger, console)
    if keep:
        console.print(
            "the local session is still running: try `kahula --local get order-1001-v3`, "
            "`kahula --local redrive failed`; `kahula local down` stops it"
        )
    else:
        console.print(f"handler logs: {WORKDIR / 'persister.log'}")
    return 1 if ledger.lost or (stream_ledger and stream_ledger.lost) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=Path, default=SAMPLES, help="JSON-lines file of events")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--stream-records",
        type=Path,
        default=None,
        help="JSON-lines file of Kinesis records ({partitionKey, data}) for the stream "
        "(default: the shipped samples with the shipped events, none with --events)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="run in a fresh local session and leave it running for `kahula --local`",
    )
    args = parser.parse_args(argv)
    if not args.events.is_file():
        parser.error(f"no such file: {args.events}")
    if args.stream_records is not None and not args.stream_records.is_file():
        parser.error(f"no such file: {args.stream_records}")
    console = Console()
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the moto server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return run(
            args.events,
            progress=args.progress,
            console=console,
            stream_events=args.stream_records
            or (STREAM_SAMPLES if args.events == SAMPLES else None),
            keep=args.keep,
            showcase=args.events == SAMPLES,
        )
    except KeyboardInterrupt:
        console.print("interrupted; the local moto server was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
