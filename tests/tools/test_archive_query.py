"""The archive query engine: the shortcut's SQL, DuckDB over archive objects, Athena's loop."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from kahula_core import spec
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

from cdk_app.archive_query import (
    AthenaTarget,
    Polling,
    QueryCancelled,
    QueryError,
    QueryFailed,
    QueryTimeout,
    copy_archive,
    parse_since,
    query_local_archive,
    run_athena,
    run_duckdb,
    shortcut_sql,
    since_predicates,
)

REGION = "us-east-1"
TARGET = AthenaTarget(work_group="kahula-archive-dev", database="kahula_archive_dev")


def event(event_id, detail_type, time, detail=None, source="orders.service"):
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": time,
        "region": REGION,
        "resources": [],
        "detail": detail if detail is not None else {"metadata": {"event_id": event_id}},
    }


def write_object(root: Path, hour: str, name: str, events: list[dict]) -> Path:
    """One archive object as Firehose writes it: gzipped JSON lines under the hour prefix."""
    year, month, day, hh = hour.split("-")
    folder = root / "events" / f"year={year}" / f"month={month}" / f"day={day}" / f"hour={hh}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"kahula-events-dev-1-{name}.json.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(e) + "\n" for e in events).encode()))
    return path


@pytest.fixture
def archive(tmp_path):
    write_object(
        tmp_path,
        "2026-11-20-09",
        "a",
        [
            event("e1", "OrderUpdatedEvent", "2026-11-20T09:10:00Z", {"order_id": "1", "n": 2}),
            event("e2", "ShipmentCreatedEvent", "2026-11-20T09:50:00Z", {"shipment_id": "S-1"}),
        ],
    )
    write_object(
        tmp_path,
        "2026-11-20-10",
        "b",
        [
            event("e3", "OrderUpdatedEvent", "2026-11-20T10:05:00Z", {"order_id": "2"}),
            event("e4", "OrderUpdatedEvent", "2026-11-20T10:06:00Z", {"order_id": "3"}),
        ],
    )
    write_object(
        tmp_path,
        "2026-12-01-00",
        "c",
        [event("e5", "IndexableEvent", "2026-12-01T00:00:01Z", {"follow_up_id": "f"})],
    )
    return tmp_path


# ------------------------------------------------------------------ --since


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T12:00:00+02:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T10:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("90m", datetime(2026, 11, 20, 8, 30, tzinfo=UTC)),
        ("6h", datetime(2026, 11, 20, 4, tzinfo=UTC)),
        ("2d", datetime(2026, 11, 18, 10, tzinfo=UTC)),
    ],
)
def test_since_reads_times_dates_and_ages_in_utc(text, expected):
    now = datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_since(text, now=now) == expected


def test_since_refuses_what_it_cannot_read_with_the_forms_it_accepts():
    with pytest.raises(QueryError, match=r"--since 'yesterday': expected an ISO 8601 time"):
        parse_since("yesterday")


# ------------------------------------------------------------------ the shortcut, on DuckDB


def test_counts_by_type_without_filters(archive):
    result = run_duckdb(shortcut_sql(), archive)
    assert result.columns == ("detail_type", "count")
    assert result.rows == [
        ("OrderUpdatedEvent", 3),
        ("IndexableEvent", 1),
        ("ShipmentCreatedEvent", 1),
    ]


def test_type_and_since_count_only_that_type_from_that_time(archive):
    # GIVEN events of a type before and after 09:30 WHEN counting since 09:30
    since = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    result = run_duckdb(shortcut_sql(detail_type="OrderUpdatedEvent", since=since), archive)
    # THEN the 09:10 one (same hour partition) is left out by its time, the others count
    assert result.rows == [("OrderUpdatedEvent", 2)]


def test_list_mode_lists_the_events_in_time_order_up_to_the_limit(archive):
    since = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    sql = shortcut_sql(since=since, list_events=True, limit=2)
    result = run_duckdb(sql, archive)
    assert result.columns == ("time", "id", "detail_type", "source")
    assert [r[1] for r in result.rows] == ["e2", "e3"]


def test_a_type_with_a_quote_is_a_literal_not_sql(archive):
    sql = shortcut_sql(detail_type="x' OR '1'='1")
    assert run_duckdb(sql, archive).rows == []


def test_a_type_with_a_control_character_is_refused():
    with pytest.raises(QueryError, match="control character"):
        shortcut_sql(detail_type="Order\nUpdated")


def test_limit_below_one_is_refused():
    with pytest.raises(QueryError, match="--limit must be at least 1"):
        shortcut_sql(list_events=True, limit=0)


def test_the_partition_predicate_keeps_exactly_the_hours_at_or_after_since(tmp_path):
    # GIVEN every hour around year, month and day boundaries, each with one event at hh:59
    hours = [
        "2025-12-31-22",
        "2025-12-31-23",
        "2026-01-01-00",
        "2026-01-01-01",
        "2026-01-31-23",
        "2026-02-01-00",
        "2026-02-09-23",
        "2026-02-10-00",
        "2026-02-10-01",
        "2026-10-01-05",
        "2027-01-01-00",
    ]
    for hour in hours:
        y, m, d, h = hour.split("-")
        write_object(tmp_path, hour, hour, [event(hour, "T", f"{y}-{m}-{d}T{h}:59:00Z")])
    for since in ("2026-01-01-00", "2026-01-31-23", "2026-02-10-00", "2025-12-31-23"):
        y, m, d, h = (int(v) for v in since.split("-"))
        clause = since_predicates(datetime(y, m, d, h, tzinfo=UTC))[0]
        # WHEN only the partition predicate filters
        result = run_duckdb(f"SELECT id FROM events WHERE {clause} ORDER BY id", tmp_path)
        # THEN exactly the hours at or after since remain (string order is time order)
        assert [r[0] for r in result.rows] == [x for x in hours if x >= since], since


# ------------------------------------------------------------------ DuckDB: the table


def test_the_local_table_has_the_catalog_columns_then_the_partitions(archive):
    result = run_duckdb("DESCRIBE events", archive)
    names = [r[0] for r in result.rows]
    assert names == [c.name for c in spec.ARCHIVE_COLUMNS] + list(spec.ARCHIVE_PARTITIONS)


def test_partitions_come_from_the_object_keys_as_zero_padded_strings(archive):
    result = run_duckdb(
        "SELECT DISTINCT year, month, day, hour FROM events ORDER BY 1, 2, 3, 4", archive
    )
    assert result.rows == [
        ("2026", "11", "20", "09"),
        ("2026", "11", "20", "10"),
        ("2026", "12", "01", "00"),
    ]


def test_athena_functions_read_detail_fields_and_times_the_same_way(archive):
    sql = (
        "SELECT json_extract_scalar(detail, '$.order_id') AS order_id FROM events "
        "WHERE detail_type = 'OrderUpdatedEvent' AND "
        "from_iso8601_timestamp(time) < from_iso8601_timestamp('2026-11-20T10:06:00Z') "
        "ORDER BY 1"
    )
    assert run_duckdb(sql, archive).rows == [("1",), ("2",)]


def test_an_empty_archive_is_an_empty_table_with_the_same_columns(tmp_path):
    result = run_duckdb(shortcut_sql(), tmp_path)
    assert result.rows == []
    described = run_duckdb("DESCRIBE events", tmp_path)
    assert [r[0] for r in described.rows][:2] == ["version", "id"]


def test_bad_sql_is_a_query_error_with_duckdbs_reason(archive):
    with pytest.raises(QueryError, match=r"^DuckDB: .*nosuchcolumn") as caught:
        run_duckdb("SELECT nosuchcolumn FROM events", archive)
    assert caught.value.__cause__ is None
    assert "\n" not in str(caught.value)


def test_a_line_that_is_not_json_fails_the_query_naming_the_archive(tmp_path):
    folder = tmp_path / "events/year=2026/month=11/day=20/hour=09"
    folder.mkdir(parents=True)
    (folder / "broken.json.gz").write_bytes(gzip.compress(b'{"id": "e1"}\nnot json\n'))
    with pytest.raises(QueryError, match=r"the archive under .* could not be read"):
        run_duckdb("SELECT count(*) FROM events", tmp_path)


def test_the_sql_reads_the_archive_and_no_other_file(archive, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "secret.csv"
    elsewhere.write_text("a\n1\n")
    with pytest.raises(QueryError, match="DuckDB: "):
        run_duckdb(f"SELECT * FROM read_csv('{elsewhere}')", archive)


# ------------------------------------------------------------------ from S3 (moto)


@mock_aws
def test_copy_archive_keeps_the_keys_and_only_the_events_prefix(tmp_path, archive):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="archive")
    for path in (archive / "events").rglob("*.gz"):
        s3.put_object(Bucket="archive", Key=str(path.relative_to(archive)), Body=path.read_bytes())
    s3.put_object(Bucket="archive", Key="oversize-payloads/abc", Body=b"claim check")
    s3.put_object(Bucket="archive", Key="events/", Body=b"")
    copied = copy_archive(s3, "archive", tmp_path / "copy")
    assert copied == 3
    assert not (tmp_path / "copy" / "oversize-payloads").exists()
    result = query_local_archive(shortcut_sql(), s3=s3, bucket="archive")
    assert dict(result.rows) == {
        "OrderUpdatedEvent": 3,
        "IndexableEvent": 1,
        "ShipmentCreatedEvent": 1,
    }


@mock_aws
def test_a_key_that_would_leave_the_copy_is_refused_not_skipped(tmp_path):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="archive")
    s3.put_object(Bucket="archive", Key="events/../../outside.json.gz", Body=b"x")
    with pytest.raises(QueryError, match="holds a key that is not a path inside it"):
        copy_archive(s3, "archive", tmp_path / "copy")
    assert not (tmp_path / "outside.json.gz").exists()


@mock_aws
def test_a_missing_archive_bucket_is_a_query_error(tmp_path):
    s3 = boto3.client("s3", region_name=REGION)
    with pytest.raises(
        QueryError, match=r"the archive bucket 'nope' could not be read: .*NoSuchBucket"
    ):
        copy_archive(s3, "nope", tmp_path)


# ------------------------------------------------------------------ Athena on moto


def no_sleep(_):
    return None


@mock_aws
def test_athena_runs_the_sql_in_the_workgroup_and_database():
    # GIVEN moto's Athena with one canned result (moto runs no SQL)
    athena = boto3.client("athena", region_name=REGION)
    athena.create_work_group(Name=TARGET.work_group)
    backend = athena_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.query_results_queue.append(
        QueryResults(
            rows=[
                {"Data": [{"VarCharValue": "detail_type"}, {"VarCharValue": "count"}]},
                {"Data": [{"VarCharValue": "OrderUpdatedEvent"}, {"VarCharValue": "3"}]},
            ],
            column_info=[
                {"Name": "detail_type", "Label": "detail_type", "Type": "varchar"},
                {"Name": "count", "Label": "count", "Type": "bigint"},
            ],
        )
    )
    sql = shortcut_sql(detail_type="OrderUpdatedEvent")
    # WHEN the query runs
    result = run_athena(sql, athena=athena, target=TARGET, sleep=no_sleep)
    # THEN the request named the SQL, the workgroup and the database ...
    sent = athena.get_query_execution(QueryExecutionId=result.query_id)["QueryExecution"]
    assert sent["Query"] == sql
    assert sent["WorkGroup"] == TARGET.work_group
    assert sent["QueryExecutionContext"] == {
        "Database": TARGET.database,
        "Catalog": "AwsDataCatalog",
    }
    # ... and the canned rows came back typed, the header row dropped, bytes reported
    assert result.engine == "athena"
    assert result.columns == ("detail_type", "count")
    assert result.rows == [("OrderUpdatedEvent", 3)]
    assert result.bytes_scanned == 0


@mock_aws
def test_a_workgroup_that_does_not_exist_is_a_query_error_with_athenas_words():
    athena = boto3.client("athena", region_name=REGION)
    with pytest.raises(QueryError) as caught:
        run_athena("SELECT 1", athena=athena, target=TARGET, sleep=no_sleep)
    assert str(caught.value) == (
        "Athena could not start the query: InvalidRequestException: WorkGroup does not exist"
    )


def stubbed_athena():
    athena = boto3.client(
        "athena", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    return athena, Stubber(athena)


def execution(state, reason=None, error=None, scanned=1234):
    status = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    if error:
        status["AthenaError"] = error
    return {
        "QueryExecution": {
            "QueryExecutionId": "q-1",
            "StatementType": "DML",
            "Status": status,
            "Statistics": {"DataScannedInBytes": scanned, "EngineExecutionTimeInMillis": 42},
        }
    }


def start(stubber):
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {
            "QueryString": "SELECT 1",
            "WorkGroup": TARGET.work_group,
            "QueryExecutionContext": {"Database": TARGET.database, "Catalog": "AwsDataCatalog"},
        },
    )


def results_page(rows, token=None, header=False):
    data = [{"Data": [{"VarCharValue": "n"}, {"VarCharValue": "ok"}]}] if header else []
    data += [{"Data": [({"VarCharValue": v} if v is not None else {}) for v in r]} for r in rows]
    page = {
        "ResultSet": {
            "Rows": data,
            "ResultSetMetadata": {
                "ColumnInfo": [
                    {"Name": "n", "Label": "n", "Type": "bigint"},
                    {"Name": "ok", "Label": "ok", "Type": "boolean"},
                ]
            },
        }
    }
    if token:
        page["NextToken"] = token
    return page


def test_athena_polls_with_backoff_until_done_and_pages_through_results():
    athena, stubber = stubbed_athena()
    start(stubber)
    for state in ("QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"):
        stubber.add_response("get_query_execution", execution(state))
    stubber.add_response(
        "get_query_results",
        results_page([("1", "true"), ("2", None)], token="t2", header=True),
        {"QueryExecutionId": "q-1", "MaxResults": 1000},
    )
    stubber.add_response(
        "get_query_results",
        results_page([("3", "false")]),
        {"QueryExecutionId": "q-1", "MaxResults": 1000, "NextToken": "t2"},
    )
    slept = []
    with stubber:
        result = run_athena("SELECT 1", athena=athena, target=TARGET, sleep=slept.append)
    stubber.assert_no_pending_responses()
    # Backoff doubles from 0.25 s while the query is queued or running.
    assert slept == [0.25, 0.5, 1.0]
    # The header row is dropped once (first page only), types follow ColumnInfo, nulls stay.
    assert result.rows == [(1, True), (2, None), (3, False)]
    assert result.bytes_scanned == 1234
    assert result.elapsed_ms == 42


def test_backoff_stops_growing_at_its_cap():
    delays = Polling(first=1, factor=3, cap=5).delays()
    assert [next(iter(delays)) for _ in range(4)] == [1, 3, 5, 5]


def test_a_failed_query_says_athenas_reason_and_error_type():
    athena, stubber = stubbed_athena()
    start(stubber)
    stubber.add_response(
        "get_query_execution",
        execution(
            "FAILED",
            reason="COLUMN_NOT_FOUND: line 1:8: Column 'nosuch' cannot be resolved",
            error={"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False},
        ),
    )
    with stubber, pytest.raises(QueryFailed) as caught:
        run_athena("SELECT 1", athena=athena, target=TARGET, sleep=no_sleep)
    message = str(caught.value)
    assert message.startswith("query q-1 failed: COLUMN_NOT_FOUND: line 1:8: Column 'nosuch'")
    assert "ErrorType 1006, ErrorCategory 2, Retryable False" in message


def test_a_query_cancelled_by_the_scan_cutoff_says_how_to_narrow_it():
    athena, stubber = stubbed_athena()
    start(stubber)
    stubber.add_response(
        "get_query_execution",
        execution("CANCELLED", reason="Query cancelled: bytes scanned limit was exceeded"),
    )
    with (
        stubber,
        pytest.raises(QueryCancelled, match=r"bytes-scanned cutoff .* year/month/day/hour"),
    ):
        run_athena("SELECT 1", athena=athena, target=TARGET, sleep=no_sleep)


def test_a_query_past_the_timeout_is_stopped():
    athena, stubber = stubbed_athena()
    start(stubber)
    stubber.add_response("get_query_execution", execution("RUNNING"))
    stubber.add_response("get_query_execution", execution("RUNNING"))
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-1"})
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    with stubber, pytest.raises(QueryTimeout, match="did not finish within 1 s; it was stopped"):
        run_athena(
            "SELECT 1",
            athena=athena,
            target=TARGET,
            polling=Polling(first=0.6, factor=1, cap=0.6, timeout=1),
            sleep=sleep,
            clock=lambda: now[0],
        )
    stubber.assert_no_pending_responses()


def test_access_denied_is_a_query_error_naming_the_policy_to_attach():
    athena, stubber = stubbed_athena()
    stubber.add_client_error(
        "start_query_execution",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: athena:StartQueryExecution",
    )
    with stubber, pytest.raises(QueryError) as caught:
        run_athena("SELECT 1", athena=athena, target=TARGET, sleep=no_sleep)
    assert str(caught.value) == (
        "Athena could not start the query: AccessDeniedException: not authorized to perform: "
        "athena:StartQueryExecution; attach the stack's ArchiveQueryPolicyArn to your role to "
        "query the archive"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
