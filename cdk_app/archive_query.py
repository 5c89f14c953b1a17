"""SQL over the event archive: DuckDB over the archive objects, or Athena over the catalog.

Both engines see one table, ``events``, with the same columns (``kahula_core.spec``
``ARCHIVE_COLUMNS`` plus the partitions ``year``, ``month``, ``day``, ``hour``), so one SQL
text runs on both where the dialects agree. DuckDB also gets the two Athena (Trino) functions
archive queries need most, ``json_extract_scalar`` and ``from_iso8601_timestamp``, as macros.

* :func:`query_local_archive` copies the archive's objects (``events/year=/month=/day=/hour=``,
  gzipped JSON lines) from an S3 endpoint (the local pipeline's moto server) into a temporary
  directory and runs the SQL with DuckDB; :func:`run_duckdb` runs it over a directory that
  already holds such a tree (``aws s3 sync s3://ARCHIVE/events/ DIR/events/``).
* :func:`run_athena` runs the SQL in the catalog's workgroup: start, poll with backoff,
  paginate the results, report the bytes scanned, and turn a failure into its reason.
* :func:`shortcut_sql` writes the common question (events of a type since a time) once for
  both engines.

No AWS call or import of DuckDB happens at import; clients are passed in. Every failure is a
:class:`QueryError` whose message says what to do, never a raw botocore or DuckDB traceback.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from kahula_core import spec

EVENTS_PREFIX = spec.ARCHIVE_EVENTS_PREFIX
TABLE = spec.ARCHIVE_TABLE
PARTITIONS = spec.ARCHIVE_PARTITIONS
CLI_EXTRA = "pip install 'kahula-event-persistence[cli]'"
AWS_ERRORS = (ClientError, BotoCoreError)


#: Athena's AthenaError.ErrorCategory for an error in the query itself (1 system, 3 other).
ATHENA_USER_ERROR = 2


class QueryError(Exception):
    """A query could not run or did not finish; the message says why and what to do.

    ``aws_error``: the botocore exception behind it, if any (a caller may map its kind, such
    as missing credentials, to its own exit code)."""

    def __init__(self, message: str, *, aws_error: Exception | None = None) -> None:
        super().__init__(message)
        self.aws_error = aws_error


class QueryFailed(QueryError):
    """Athena ran the query and it failed (bad SQL, missing permission, malformed data)."""


class QueryRefused(QueryFailed):
    """The engine refused the SQL itself (syntax, an unknown table, column or function, a file
    outside the archive): nothing ran. Athena says so with its USER error category."""


class QueryCancelled(QueryError):
    """The query was cancelled: by someone, or by the workgroup's bytes-scanned cutoff."""


class QueryTimeout(QueryError):
    """The query did not finish in time; it was stopped."""


@dataclass(frozen=True)
class QueryResult:
    """Column names, rows (tuples of Python values) and what the engine reports about the run."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    engine: str
    bytes_scanned: int | None = None
    query_id: str | None = None
    elapsed_ms: int | None = None

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts of JSON-ready values (dates as ISO 8601, decimals as strings)."""
        return [
            {c: jsonable(v) for c, v in zip(self.columns, row, strict=True)} for row in self.rows
        ]


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


# --------------------------------------------------------------------------- the shortcut

_RELATIVE = re.compile(r"(\d+)\s*([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``--since``: an ISO 8601 time or date (UTC unless it names an offset), or an age such
    as ``90m``, ``6h``, ``7d`` (before ``now``)."""
    given = text.strip()
    relative = _RELATIVE.fullmatch(given)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = datetime.fromisoformat(given.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"--since {text!r}: expected an ISO 8601 time (2026-11-20T10:00:00Z), a date "
            "(2026-11-20) or an age (90m, 6h, 7d)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def literal(text: str) -> str:
    """A SQL string literal, the same in Athena and DuckDB."""
    if any(ord(c) < 32 for c in text):
        raise QueryError(f"{text!r} holds a control character; it cannot be a SQL literal")
    return "'" + text.replace("'", "''") + "'"


def since_predicates(since: datetime) -> list[str]:
    """Predicates for events at or after ``since``: the event time, and the partitions.

    The archive is partitioned by *arrival* hour, and an event arrives at or after its own
    time, so every event with ``time >= since`` lies in an hour partition at or after the hour
    of ``since``. The partition predicate lets Athena skip every earlier hour (that is what it
    bills); the time predicate then keeps exactly the events asked for.
    """
    at = since.astimezone(UTC)
    year, month, day, hour = (f"{v:02d}" for v in (at.year, at.month, at.day, at.hour))
    keys = list(zip(PARTITIONS, (year, month, day, hour), strict=True))
    # year > Y OR (year = Y AND (month > M OR (month = M AND (... hour >= H))))
    name, value = keys[-1]
    clause = f"{name} >= {literal(value)}"
    for name, value in reversed(keys[:-1]):
        clause = f"{name} > {literal(value)} OR ({name} = {literal(value)} AND ({clause}))"
    iso = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        f"({clause})",
        f"from_iso8601_timestamp(time) >= from_iso8601_timestamp({literal(iso)})",
    ]


def shortcut_sql(
    *,
    detail_type: str | None = None,
    since: datetime | None = None,
    list_events: bool = False,
    limit: int = 100,
) -> str:
    """The SQL of ``--type T --since T``: counts per type, or (``list_events``) the events."""
    if limit < 1:
        raise QueryError(f"--limit must be at least 1, got {limit}")
    where = []
    if detail_type is not None:
        where.append(f"detail_type = {literal(detail_type)}")
    if since is not None:
        where += since_predicates(since)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    if list_events:
        return (
            f"SELECT time, id, detail_type, source FROM {TABLE}{condition} "  # noqa: S608 - literals quoted
            f"ORDER BY time, id LIMIT {limit}"
        )
    return (
        f"SELECT detail_type, count(*) AS count FROM {TABLE}{condition} "  # noqa: S608 - quoted
        "GROUP BY detail_type ORDER BY count DESC, detail_type"
    )


# --------------------------------------------------------------------------- DuckDB (local)

# Presto/Trino functions the archive's queries use, under their Athena names.
_DUCKDB_MACROS = (
    "CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)",
    "CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
)


def _duckdb() -> Any:
    try:
        import duckdb  # noqa: PLC0415 - an optional dependency, loaded only to query locally
    except ImportError:
        raise QueryError(f"querying locally needs DuckDB: {CLI_EXTRA}") from None
    return duckdb


def _columns_sql() -> str:
    json_keys = ", ".join(f"'{c.key}': '{c.duckdb_type}'" for c in spec.ARCHIVE_COLUMNS)
    return "{" + json_keys + "}"


def _create_events(connection: Any, archive_dir: Path) -> int:
    """Load every ``events/**/*.json.gz`` under ``archive_dir`` into the table ``events``;
    returns the number of objects read."""
    objects = sorted((archive_dir / EVENTS_PREFIX).glob("**/*.gz"))
    selected = ", ".join(
        f'"{c.key}" AS {c.name}' if c.key != c.name else c.name for c in spec.ARCHIVE_COLUMNS
    )
    partitions = ", ".join(PARTITIONS)
    if not objects:
        columns = ", ".join(
            [f"{c.name} {c.duckdb_type}" for c in spec.ARCHIVE_COLUMNS]
            + [f"{p} VARCHAR" for p in PARTITIONS]
        )
        connection.execute(f"CREATE TABLE {TABLE} ({columns})")
        return 0
    files = "[" + ", ".join(literal(str(p)) for p in objects) + "]"
    hive_types = "{" + ", ".join(f"'{p}': 'VARCHAR'" for p in PARTITIONS) + "}"
    connection.execute(
        f"CREATE TABLE {TABLE} AS SELECT {selected}, {partitions} FROM read_json({files}, "  # noqa: S608
        "format = 'newline_delimited', compression = 'gzip', hive_partitioning = true, "
        f"hive_types = {hive_types}, columns = {_columns_sql()})"
    )
    return len(objects)


def run_duckdb(sql: str, archive_dir: Path) -> QueryResult:
    """Run ``sql`` with DuckDB over the archive tree under ``archive_dir`` (``events/...``).

    The archive is loaded into an in-memory table first, then the connection is locked: the
    SQL reads the archive and nothing else on this machine.
    """
    duckdb = _duckdb()
    started = time.monotonic()
    try:
        connection = duckdb.connect(":memory:")
    except duckdb.Error as exc:
        raise QueryError(f"DuckDB could not start: {_first_line(exc)}") from None
    try:
        try:
            _create_events(connection, archive_dir)
        except duckdb.Error as exc:
            raise QueryError(
                f"the archive under {archive_dir} could not be read: {_first_line(exc)}"
            ) from None
        for macro in _DUCKDB_MACROS:
            connection.execute(macro)
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        try:
            cursor = connection.execute(sql)
            columns = tuple(d[0] for d in cursor.description or ())
            rows = [tuple(r) for r in cursor.fetchall()] if columns else []
        except (duckdb.ProgrammingError, duckdb.PermissionException) as exc:
            raise QueryRefused(f"DuckDB: {_first_line(exc)}") from None
        except duckdb.Error as exc:
            raise QueryError(f"DuckDB: {_first_line(exc)}") from None
    finally:
        connection.close()
    elapsed = int((time.monotonic() - started) * 1000)
    return QueryResult(columns, rows, engine="duckdb", elapsed_ms=elapsed)


def copy_archive(s3: Any, bucket: str, destination: Path) -> int:
    """Copy every object under ``events/`` of ``bucket`` to ``destination``, keys kept as
    paths (so the hive partitions survive). Returns the number of objects copied."""
    copied = 0
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=EVENTS_PREFIX)
        for page in pages:
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if key.endswith("/"):
                    continue  # a folder marker (console-made), not an archive object
                target = (destination / key).resolve()
                if destination.resolve() not in target.parents:
                    raise QueryError(
                        f"the archive bucket {bucket!r} holds a key that is not a path inside "
                        f"it ({key!r}); Firehose never writes one: look at who put it there"
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                target.write_bytes(body)
                copied += 1
    except AWS_ERRORS as exc:
        raise QueryError(
            f"the archive bucket {bucket!r} could not be read: {exc}", aws_error=exc
        ) from None
    return copied


def query_local_archive(sql: str, *, s3: Any, bucket: str) -> QueryResult:
    """Copy the archive from ``bucket`` (through ``s3``) to a temporary directory, query it."""
    with tempfile.TemporaryDirectory(prefix="kahula-archive-") as scratch:
        copy_archive(s3, bucket, Path(scratch))
        return run_duckdb(sql, Path(scratch))


# --------------------------------------------------------------------------- Athena (deployed)


@dataclass(frozen=True)
class AthenaTarget:
    """Where a deployed query runs: the catalog's workgroup and database (stack outputs
    ``ArchiveWorkGroupName`` and ``ArchiveDatabaseName``)."""

    work_group: str
    database: str


@dataclass(frozen=True)
class Polling:
    """Backoff while a query runs: ``first`` seconds, times ``factor``, at most ``cap``;
    the query is stopped after ``timeout`` seconds."""

    first: float = 0.25
    factor: float = 2.0
    cap: float = 5.0
    timeout: float = 600.0

    def delays(self) -> Iterable[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.cap)


_INTEGER_TYPES = {"tinyint", "smallint", "integer", "bigint"}
_FLOAT_TYPES = {"double", "float", "real"}
CUTOFF_HINT = (
    "the workgroup cancels a query that would scan more than its bytes-scanned cutoff "
    "(ArchiveCatalogProps.bytes_scanned_cutoff_gib): narrow it with year/month/day/hour"
)
ACCESS_HINT = "attach the stack's ArchiveQueryPolicyArn to your role to query the archive"


@dataclass
class _Execution:
    query_id: str
    state: str = "QUEUED"
    reason: str = ""
    error: str = ""
    error_category: int | None = None
    statement_type: str = ""
    bytes_scanned: int | None = None
    elapsed_ms: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def run_athena(
    sql: str,
    *,
    athena: Any,
    target: AthenaTarget,
    polling: Polling | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    page_size: int = 1000,
) -> QueryResult:
    """Run ``sql`` in ``target``'s workgroup and return every row of its result."""
    polling = polling or Polling()
    try:
        started = athena.start_query_execution(
            QueryString=sql,
            WorkGroup=target.work_group,
            QueryExecutionContext={"Database": target.database, "Catalog": "AwsDataCatalog"},
        )
    except AWS_ERRORS as exc:
        raise _athena_error(exc, "start the query") from None
    execution = _Execution(started["QueryExecutionId"])
    deadline = clock() + polling.timeout
    for delay in polling.delays():
        execution = _describe(athena, execution.query_id)
        if execution.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        if clock() + delay > deadline:
            _stop(athena, execution.query_id)
            raise QueryTimeout(
                f"query {execution.query_id} did not finish within {polling.timeout:.0f} s; "
                "it was stopped (narrow it with year/month/day/hour)"
            )
        sleep(delay)
    if execution.state == "FAILED":
        failed = QueryRefused if execution.error_category == ATHENA_USER_ERROR else QueryFailed
        raise failed(
            f"query {execution.query_id} failed: {execution.reason or 'no reason given'}"
            + (f" ({execution.error})" if execution.error else "")
        )
    if execution.state == "CANCELLED":
        why = execution.reason or "cancelled"
        hint = f"; {CUTOFF_HINT}" if re.search(r"(?i)bytes|limit|cutoff", why) else ""
        raise QueryCancelled(f"query {execution.query_id} was cancelled: {why}{hint}")
    columns, rows = _results(athena, execution, page_size)
    return QueryResult(
        columns,
        rows,
        engine="athena",
        bytes_scanned=execution.bytes_scanned,
        query_id=execution.query_id,
        elapsed_ms=execution.elapsed_ms,
    )


def _describe(athena: Any, query_id: str) -> _Execution:
    try:
        raw = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    except AWS_ERRORS as exc:
        raise _athena_error(exc, f"follow query {query_id}") from None
    status = raw.get("Status", {})
    error = status.get("AthenaError", {})
    statistics = raw.get("Statistics", {})
    return _Execution(
        query_id=query_id,
        state=status.get("State", "QUEUED"),
        reason=status.get("StateChangeReason", ""),
        error=", ".join(
            f"{k} {error[k]}" for k in ("ErrorType", "ErrorCategory", "Retryable") if k in error
        ),
        error_category=error.get("ErrorCategory"),
        statement_type=raw.get("StatementType", ""),
        bytes_scanned=statistics.get("DataScannedInBytes"),
        elapsed_ms=statistics.get("EngineExecutionTimeInMillis"),
        raw=raw,
    )


def _stop(athena: Any, query_id: str) -> None:
    try:
        athena.stop_query_execution(QueryExecutionId=query_id)
    except AWS_ERRORS as exc:
        raise _athena_error(exc, f"stop query {query_id}") from None


def _results(
    athena: Any, execution: _Execution, page_size: int
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    columns: tuple[str, ...] = ()
    types: Sequence[str] = ()
    rows: list[tuple[Any, ...]] = []
    token: str | None = None
    first = True
    while True:
        request: dict[str, Any] = {"QueryExecutionId": execution.query_id, "MaxResults": page_size}
        if token:
            request["NextToken"] = token
        try:
            page = athena.get_query_results(**request)
        except AWS_ERRORS as exc:
            raise _athena_error(exc, f"read the results of query {execution.query_id}") from None
        result_set = page.get("ResultSet", {})
        if first:
            info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            columns = tuple(c.get("Label") or c["Name"] for c in info)
            types = [c.get("Type", "varchar").lower() for c in info]
        page_rows = [
            tuple(d.get("VarCharValue") for d in r.get("Data", []))
            for r in result_set.get("Rows", [])
        ]
        # A SELECT's first result row repeats the column names (Athena's result format).
        if first and execution.statement_type == "DML" and page_rows:
            page_rows = page_rows[1:]
        rows += [tuple(_typed(v, t) for v, t in zip(r, types, strict=False)) for r in page_rows]
        first = False
        token = page.get("NextToken")
        if not token:
            return columns, rows


def _typed(value: str | None, athena_type: str) -> Any:
    if value is None:
        return None
    try:
        if athena_type in _INTEGER_TYPES:
            return int(value)
        if athena_type in _FLOAT_TYPES:
            return float(value)
        if athena_type == "boolean":
            return value == "true"
    except ValueError:
        return value
    return value


def _athena_error(exc: Exception, doing: str) -> QueryError:
    """A botocore failure as a QueryError with its code, message and, if it helps, a hint."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Error")
        message = exc.response.get("Error", {}).get("Message", "")
        hint = f"; {ACCESS_HINT}" if code in ("AccessDeniedException", "AccessDenied") else ""
        return QueryError(f"Athena could not {doing}: {code}: {message}{hint}", aws_error=exc)
    return QueryError(f"Athena could not {doing}: {exc}", aws_error=exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
