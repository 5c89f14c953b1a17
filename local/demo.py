"""`make demo` and `make push`: the real pipeline on an embedded AWS, with a report.

    python -m local.demo                        # the shipped samples (samples/events.jsonl)
    python -m local.demo --events my.jsonl      # your own events, one JSON object per line

A line is a PutEvents entry ({"Source", "DetailType", "Detail"}, Detail as an object or a JSON
string) or an EventBridge event ({"source", "detail-type", "detail"}). Keys starting with "_"
are comments. Exits 1 if any accepted event was lost, or if no line was usable.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from .fifo import sample_messages
from .pipeline import Ledger, LocalPipeline, Published

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "events.jsonl"
WORKDIR = ROOT / ".demo"
PROGRESS_THRESHOLD = 50


class BadInputLine(ValueError):
    pass


def to_entry(record: Any, where: str) -> dict[str, Any]:
    """One input line as a PutEvents entry."""
    if not isinstance(record, dict):
        raise BadInputLine(f"{where}: expected a JSON object, got {type(record).__name__}")
    record = {k: v for k, v in record.items() if not k.startswith("_")}
    if "detail-type" in record or "source" in record:
        record = {
            "Source": record.get("source"),
            "DetailType": record.get("detail-type"),
            "Detail": record.get("detail"),
        }
    missing = [k for k in ("Source", "DetailType", "Detail") if record.get(k) is None]
    if missing:
        raise BadInputLine(f"{where}: missing {', '.join(missing)}")
    detail = record["Detail"]
    entry = dict(record)
    entry["Detail"] = detail if isinstance(detail, str) else json.dumps(detail)
    return entry


def read_entries(path: Path, bad: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                yield to_entry(json.loads(line), where)
            except (json.JSONDecodeError, BadInputLine) as exc:
                bad.append((where, str(exc)))


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


def run(events: Path, *, progress: bool | None, console: Console) -> int:
    if WORKDIR.exists():
        shutil.rmtree(WORKDIR)
    WORKDIR.mkdir()
    bad: list[tuple[str, str]] = []
    entries = list(read_entries(events, bad))
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
    with LocalPipeline.start(WORKDIR) as pipeline:
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
        if pipeline.fifo:
            # The FIFO door: one valid and one invalid sample per event type, and one
            # unreadable envelope (it goes to the DLQ with its reason).
            fifo_messages = [
                *sample_messages(invalid=True),
                {"tenant_id": "tenant-c", "event_id": "no-type", "payload": {}},
            ]
            pipeline.door.send(fifo_messages)
            pipeline.door.poll()
        ledger = pipeline.account_fifo(pipeline.account(published))
        ledger.fifo_sent = len(fifo_messages) if pipeline.fifo else 0
    render(ledger, bad, time.monotonic() - started, console)
    console.print(f"handler logs: {WORKDIR / 'persister.log'}")
    return 1 if ledger.lost else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=Path, default=SAMPLES, help="JSON-lines file of events")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args(argv)
    if not args.events.is_file():
        parser.error(f"no such file: {args.events}")
    console = Console()
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the moto server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return run(args.events, progress=args.progress, console=console)
    except KeyboardInterrupt:
        console.print("interrupted; the local moto server was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
