"""``kahula put FILE``: publish events onto the environment's bus, with a result per line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..context import State, Target
from ..entries import BadInputLine, parse_items, to_entry
from ..output import ExitCode, Output, UsageError
from ..publish import Publisher

#: Above this many results, the human report lists only the failures (all are in --json).
TABLE_LIMIT = 50


def read_input(source: str) -> tuple[str, str]:
    """(text, name) of a file, or of stdin for ``-``."""
    if source == "-":
        return sys.stdin.read().removeprefix("\ufeff"), "stdin"
    path = Path(source)
    try:  # utf-8-sig: a file saved with a byte-order mark (some Windows editors) reads alike
        return path.read_text(encoding="utf-8-sig"), path.name
    except FileNotFoundError:
        raise UsageError(f"no such file: {source}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"cannot read {source}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start}); nothing was published"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None


def put_events(
    target: Target,
    text: str,
    name: str,
    *,
    publisher: Publisher | None = None,
    on_result: Any = None,
) -> list[dict[str, Any]]:
    """Publish every usable item; one result per input item (published, refused by
    PutEvents, or unusable with its reason), in input order."""
    results: list[dict[str, Any] | None] = []
    entries: list[tuple[str, dict[str, Any]]] = []
    positions: dict[str, tuple[int, int | None]] = {}
    for item in parse_items(text, name):
        if isinstance(item, BadInputLine):
            results.append(_bad(item, item.number))
            continue
        try:
            entry = to_entry(item.value, item.where)
        except BadInputLine as exc:
            results.append(_bad(exc, item.number))
            continue
        positions[item.where] = (len(results), item.number)
        results.append(None)
        entries.append((item.where, entry))
    publisher = publisher or Publisher(target.client("events"), target.bus_name)
    for result in publisher.publish(entries):
        index, number = positions[result.ref]
        results[index] = {"line": number, **result.as_json()}
        if on_result is not None:
            on_result(result)
    if entries:
        target.settle()
    return [r for r in results if r is not None]


def _bad(exc: BadInputLine, number: int | None) -> dict[str, Any]:
    return {
        "line": number,
        "ref": exc.where,
        "ok": False,
        "error_code": "BadInput",
        "error_message": exc.reason,
        "attempts": 0,
    }


def report(out: Output, results: list[dict[str, Any]]) -> None:
    for result in results:
        out.json_line(result)
    failed = [r for r in results if not r["ok"]]
    shown = results if len(results) <= TABLE_LIMIT else failed
    rows = [
        (
            r["ref"],
            "published" if r["ok"] else f"[red]{r['error_code']}[/red]",
            r["event_id"] if r["ok"] else r["error_message"],
        )
        for r in shown
    ]
    if rows:
        title = "results" if shown is results else f"failures ({len(failed)})"
        out.table(
            title, ("where", "result", "event id / reason"), rows, fold=("event id / reason",)
        )
    out.note(
        f"{len(results) - len(failed)} published, {len(failed)} failed"
        + (" (each listed with its reason)" if failed else "")
    )


def register(app: typer.Typer) -> None:
    @app.command("put", no_args_is_help=True)
    def put(
        ctx: typer.Context,
        source: Annotated[
            str, typer.Argument(metavar="FILE", help="JSON lines or one JSON document; - for stdin")
        ],
    ) -> int:
        """Publish events onto the environment's bus, with a result per input line.

        Each line (or each element of a JSON list, or one JSON object) is a PutEvents entry
        {"Source", "DetailType", "Detail"} or an EventBridge event {"source", "detail-type",
        "detail"} (optionally Time/time and Resources/resources); keys starting with "_" are
        comments. The same format as `make push`.

        Events go in batches of 10; entries PutEvents refuses for a transient reason
        (throttling, internal failure) are retried, alone, up to 5 times. A line that cannot
        be published is reported with its reason, never skipped. With --local, the events
        are then routed through the local pipeline (persisted, archived, followed up).
        Exit code 1 when any line failed.

        Examples:

        \b
          kahula put events.jsonl
          kahula --json put events.jsonl | jq 'select(.ok | not)'
          echo '{"Source": "a.b", "DetailType": "X", "Detail": {}}' | kahula put -
        """
        state = State.of(ctx)
        out = state.out
        text, name = read_input(source)
        target = state.target()
        lines = text.count("\n") + 1
        if lines >= TABLE_LIMIT:
            with out.progress("publishing", lines) as advance:
                results = put_events(target, text, name, on_result=lambda _: advance(1))
        else:
            results = put_events(target, text, name)
        if not results:
            raise UsageError(f"nothing to publish: {name} holds no event")
        report(out, results)
        if all(r["ok"] for r in results):
            return ExitCode.OK
        # Nothing publishable at all is unusable input; otherwise some items failed.
        usable = any(r["error_code"] != "BadInput" for r in results if not r["ok"]) or any(
            r["ok"] for r in results
        )
        return ExitCode.ITEMS_FAILED if usable else ExitCode.USAGE
