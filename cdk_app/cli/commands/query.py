"""``kahula query SQL``: SQL over the S3 archive, with Athena (deployed) or DuckDB (local)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ... import stack_outputs as so
from ...archive_query import (
    AthenaTarget,
    Polling,
    QueryError,
    QueryRefused,
    QueryResult,
    parse_since,
    query_local_archive,
    run_athena,
    run_duckdb,
    shortcut_sql,
)
from ..context import State, Target, aws_errors, translate
from ..output import CliError, ExitCode, Output, UsageError

#: Athena's price per TB scanned (docs/limits-and-prices.md), for the cost line.
ATHENA_USD_PER_TB = 5.0
TB = 1000**4
#: Athena bills at least 10 MB per query (docs/limits-and-prices.md).
ATHENA_MINIMUM_BYTES = 10 * 1000**2


def choose_sql(
    sql: str | None, detail_type: str | None, since: str | None, list_events: bool, limit: int
) -> str:
    """The SQL given, or the shortcut's; never both, never neither."""
    shortcut = detail_type is not None or since is not None or list_events
    if sql is not None and shortcut:
        raise UsageError("give either SQL or the shortcut (--type/--since/--list), not both")
    if sql is None and not shortcut:
        raise UsageError(
            'give SQL (kahula query "SELECT ... FROM events") or the shortcut '
            "(kahula query --type OrderUpdatedEvent --since 6h)"
        )
    if sql == "-":
        sql = sys.stdin.read()
    if sql is not None:
        if not sql.strip():
            raise UsageError("the SQL is empty")
        return sql
    try:
        return shortcut_sql(
            detail_type=detail_type,
            since=parse_since(since) if since is not None else None,
            list_events=list_events,
            limit=limit,
        )
    except QueryError as exc:
        raise UsageError(str(exc)) from None


def run_query(
    target: Target | None, sql: str, *, archive_dir: Path | None, timeout: float
) -> QueryResult:
    """DuckDB over ``archive_dir`` or the local pipeline's archive; Athena when deployed."""
    try:
        if archive_dir is not None:
            if not archive_dir.is_dir():
                raise UsageError(f"--archive-dir {archive_dir}: no such directory")
            return run_duckdb(sql, archive_dir)
        assert target is not None
        if target.is_local:
            with aws_errors():
                return query_local_archive(
                    sql, s3=target.client("s3"), bucket=target.archive_bucket
                )
        athena = AthenaTarget(
            work_group=target.output(so.ARCHIVE_WORK_GROUP_NAME, "the archive's Athena workgroup"),
            database=target.output(so.ARCHIVE_DATABASE_NAME, "the archive's Glue database"),
        )
        with aws_errors():
            return run_athena(
                sql,
                athena=target.client("athena"),
                target=athena,
                polling=Polling(timeout=timeout),
            )
    except QueryRefused as exc:  # the SQL itself: unusable input, nothing ran
        raise UsageError(str(exc)) from None
    except QueryError as exc:
        # The AWS failure behind it decides the exit code (credentials, access: 3).
        translated = translate(exc.aws_error) if exc.aws_error is not None else None
        raise CliError(str(exc), translated.code if translated else None) from None


def scanned(result: QueryResult) -> str | None:
    """Bytes scanned and what Athena bills for them, for a person."""
    if result.bytes_scanned is None:
        return None
    billed = max(result.bytes_scanned, ATHENA_MINIMUM_BYTES)
    cost = billed / TB * ATHENA_USD_PER_TB
    return f"{result.bytes_scanned:,} bytes scanned (billed as {billed:,}: ${cost:.6f})"


def show(out: Output, result: QueryResult, sql: str) -> None:
    if out.json_mode:
        out.document(
            {
                "engine": result.engine,
                "sql": sql,
                "columns": list(result.columns),
                "rows": result.records(),
                "row_count": len(result.rows),
                "bytes_scanned": result.bytes_scanned,
                "query_id": result.query_id,
                "elapsed_ms": result.elapsed_ms,
            }
        )
        return
    out.table(None, result.columns, [_cells(row) for row in result.rows], fold=result.columns)
    facts = [f"{len(result.rows)} row{'s' if len(result.rows) != 1 else ''}", result.engine]
    if result.query_id:
        facts.append(f"query {result.query_id}")
    cost = scanned(result)
    if cost:
        facts.append(cost)
    out.note(", ".join(facts))


def _cells(row: tuple[Any, ...]) -> list[Any]:
    from ..output import to_json  # noqa: PLC0415

    return [to_json(v) if isinstance(v, list | dict) else v for v in row]


def register(app: typer.Typer) -> None:
    @app.command("query")
    def query(
        ctx: typer.Context,
        *,
        sql: Annotated[
            str | None,
            typer.Argument(
                metavar="[SQL]", help="SQL over the table `events` (- reads it from stdin)"
            ),
        ] = None,
        detail_type: Annotated[
            str | None, typer.Option("--type", "-t", help="shortcut: only this detail type")
        ] = None,
        since: Annotated[
            str | None,
            typer.Option(
                "--since",
                "-s",
                help="shortcut: events at or after this time (2026-11-20T10:00Z, 2026-11-20, "
                "90m, 6h, 7d)",
            ),
        ] = None,
        list_events: Annotated[
            bool, typer.Option("--list", help="shortcut: list the events instead of counting")
        ] = False,
        limit: Annotated[
            int, typer.Option("--limit", min=1, help="shortcut --list: at most this many")
        ] = 100,
        archive_dir: Annotated[
            Path | None,
            typer.Option(
                "--archive-dir",
                help="query a local copy (DIR/events/year=...) with DuckDB, no AWS call",
            ),
        ] = None,
        show_sql: Annotated[
            bool, typer.Option("--show-sql", help="print the SQL before running it")
        ] = False,
        timeout: Annotated[
            float, typer.Option("--timeout", help="stop an Athena query after (seconds)")
        ] = 600.0,
    ) -> int:
        """SQL over the event archive (gzip JSON lines under events/year=/month=/day=/hour=).

        Deployed, the query runs in the archive catalog's Athena workgroup (results encrypted,
        expiring; queries past the bytes-scanned cutoff are cancelled) and the bytes scanned
        are reported. With --local (or --archive-dir) DuckDB reads the archive objects. The
        table is `events` in both, with the same columns: version, id, detail_type, source,
        account, time, region, resources, detail (JSON text), and the arrival-hour partitions
        year, month, day, hour (zero-padded strings). Filter on the partitions: Athena bills
        the bytes it reads.

        Examples:

        \b
          kahula query --type OrderUpdatedEvent --since 6h
          kahula --local query --since 2026-11-20 --list --limit 20
          kahula --env prod query "SELECT detail_type, count(*) AS n FROM events
            WHERE year = '2026' AND month = '11' AND day = '20' GROUP BY detail_type"
          kahula --json query --type ValidatableEvent --since 1d | jq '.rows'
        """
        state = State.of(ctx)
        text = choose_sql(sql, detail_type, since, list_events, limit)
        if show_sql:
            state.out.note(text)
        target = None if archive_dir is not None else state.target()
        result = run_query(target, text, archive_dir=archive_dir, timeout=timeout)
        show(state.out, result, text)
        return ExitCode.OK
