"""`kahula query`: Athena in the catalog's workgroup when deployed, DuckDB over a local copy."""

from __future__ import annotations

import gzip
import json

import boto3
import pytest
from botocore.stub import Stubber
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID

from cdk_app import stack_outputs as so
from cdk_app.cli.output import ExitCode

from .conftest import REGION


@pytest.fixture
def catalog(deployed):
    """The catalog's workgroup on moto and its outputs; moto answers with canned rows."""
    athena = deployed.client("athena")
    athena.create_work_group(Name="kahula-archive-dev")
    deployed.outputs[so.ARCHIVE_WORK_GROUP_NAME] = "kahula-archive-dev"
    deployed.outputs[so.ARCHIVE_DATABASE_NAME] = "kahula_archive_dev"
    deployed.outputs[so.ARCHIVE_TABLE_NAME] = "events"
    athena_backends[DEFAULT_ACCOUNT_ID][REGION].query_results_queue.append(
        QueryResults(
            rows=[
                {"Data": [{"VarCharValue": "detail_type"}, {"VarCharValue": "count"}]},
                {"Data": [{"VarCharValue": "OrderUpdatedEvent"}, {"VarCharValue": "7"}]},
            ],
            column_info=[
                {"Name": "detail_type", "Label": "detail_type", "Type": "varchar"},
                {"Name": "count", "Label": "count", "Type": "bigint"},
            ],
        )
    )
    return athena


@pytest.fixture
def archive_copy(tmp_path):
    folder = tmp_path / "events/year=2026/month=11/day=20/hour=09"
    folder.mkdir(parents=True)
    lines = [
        {
            "version": "0",
            "id": f"e{i}",
            "detail-type": detail_type,
            "source": "orders.service",
            "account": "123456789012",
            "time": "2026-11-20T09:00:00Z",
            "region": REGION,
            "resources": [],
            "detail": {"order_id": str(i)},
        }
        for i, detail_type in enumerate(["OrderUpdatedEvent", "OrderUpdatedEvent", "X"])
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    (folder / "kahula-events-dev-1-a.json.gz").write_bytes(gzip.compress(body))
    return tmp_path


def test_deployed_shortcut_runs_in_the_workgroup_and_reports_bytes(catalog, cli):
    # WHEN the shortcut runs against the deployed environment
    ran = cli("--json", "query", "--type", "OrderUpdatedEvent", "--since", "2026-11-20")
    # THEN Athena received the shortcut's SQL in the catalog's workgroup and database ...
    assert ran.code == ExitCode.OK, ran.stderr
    document = json.loads(ran.stdout)
    sent = catalog.get_query_execution(QueryExecutionId=document["query_id"])["QueryExecution"]
    assert sent["Query"] == document["sql"]
    assert "detail_type = 'OrderUpdatedEvent'" in sent["Query"]
    assert sent["WorkGroup"] == "kahula-archive-dev"
    assert sent["QueryExecutionContext"]["Database"] == "kahula_archive_dev"
    # ... and the (canned) rows come back as records, with the engine and the bytes scanned
    assert document["engine"] == "athena"
    assert document["rows"] == [{"detail_type": "OrderUpdatedEvent", "count": 7}]
    assert document["bytes_scanned"] == 0


def test_human_output_is_a_table_and_the_scan_with_its_cost(catalog, cli):
    ran = cli("query", "SELECT detail_type, count(*) AS count FROM events GROUP BY 1")
    assert ran.code == ExitCode.OK, ran.stderr
    assert "OrderUpdatedEvent" in ran.stdout and "7" in ran.stdout
    # Athena bills at least 10 MB a query: moto's 0 bytes are billed as 10 MB.
    assert "0 bytes scanned (billed as 10,000,000: $0.000050)" in ran.stdout


def test_an_environment_without_the_catalog_is_unreachable_with_the_missing_output(cli):
    ran = cli("query", "--type", "OrderUpdatedEvent")
    assert ran.code == ExitCode.UNREACHABLE
    assert "has no output ArchiveWorkGroupName" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_access_denied_exits_unreachable_naming_the_policy(deployed, cli):
    athena = boto3.client("athena", region_name=REGION)
    stubber = Stubber(athena)
    stubber.add_client_error("start_query_execution", "AccessDeniedException", "no")
    deployed.fakes["athena"] = athena
    deployed.outputs[so.ARCHIVE_WORK_GROUP_NAME] = "kahula-archive-dev"
    deployed.outputs[so.ARCHIVE_DATABASE_NAME] = "kahula_archive_dev"
    with stubber:
        ran = cli("query", "SELECT 1")
    assert ran.code == ExitCode.UNREACHABLE
    assert "ArchiveQueryPolicyArn" in ran.stderr


def test_archive_dir_counts_a_local_copy_with_duckdb(archive_copy, cli):
    ran = cli("--json", "query", "--archive-dir", str(archive_copy), "--since", "2026-11-20")
    assert ran.code == ExitCode.OK, ran.stderr
    document = json.loads(ran.stdout)
    assert document["engine"] == "duckdb"
    assert document["rows"] == [
        {"detail_type": "OrderUpdatedEvent", "count": 2},
        {"detail_type": "X", "count": 1},
    ]


def test_sql_the_engine_refuses_is_one_sentence_and_exit_2(archive_copy, cli):
    # GIVEN SQL naming a column the archive does not have
    ran = cli("query", "--archive-dir", str(archive_copy), "SELECT nope FROM events")
    # THEN it is unusable input (2), said in one sentence
    assert ran.code == ExitCode.USAGE
    assert ran.stderr.startswith("error: DuckDB: Binder Error")
    assert "Traceback" not in ran.stderr


def test_sql_that_fails_on_the_data_is_exit_1(archive_copy, cli):
    # GIVEN valid SQL that fails while it reads the rows (a cast the data does not allow)
    ran = cli("query", "--archive-dir", str(archive_copy), "SELECT CAST(id AS INT) FROM events")
    # THEN the query ran and failed: 1, with DuckDB's reason
    assert ran.code == ExitCode.ITEMS_FAILED, ran.stderr
    assert ran.stderr.startswith("error: DuckDB: Conversion Error")


def test_with_json_the_error_is_a_json_object_on_stderr(archive_copy, cli):
    ran = cli("--json", "query", "--archive-dir", str(archive_copy), "SELEC 1")
    assert ran.code == ExitCode.USAGE
    assert ran.stdout == ""
    error = json.loads(ran.stderr)
    assert error["exit_code"] == ExitCode.USAGE
    assert error["error"].startswith("DuckDB: Parser Error")


@pytest.mark.parametrize(
    ("category", "code"),
    [(2, ExitCode.USAGE), (1, ExitCode.ITEMS_FAILED), (3, ExitCode.ITEMS_FAILED)],
)
def test_athena_says_whether_the_sql_or_the_run_failed(deployed, cli, category, code):
    # GIVEN Athena failing a query with its error category (2: the user's query)
    athena = boto3.client("athena", region_name=REGION)
    stubber = Stubber(athena)
    stubber.add_response("start_query_execution", {"QueryExecutionId": "q1"})
    stubber.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": "q1",
                "Status": {
                    "State": "FAILED",
                    "StateChangeReason": "COLUMN_NOT_FOUND: line 1:8: Column 'nope' unknown",
                    "AthenaError": {"ErrorCategory": category, "ErrorType": 1006},
                },
            }
        },
    )
    deployed.fakes["athena"] = athena
    deployed.outputs[so.ARCHIVE_WORK_GROUP_NAME] = "kahula-archive-dev"
    deployed.outputs[so.ARCHIVE_DATABASE_NAME] = "kahula_archive_dev"
    with stubber:
        ran = cli("query", "SELECT nope FROM events")
    # THEN the exit code says which: 2 for the query itself, 1 for a run that failed
    assert ran.code == code, ran.stderr
    assert "COLUMN_NOT_FOUND" in ran.stderr


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("query", "SELECT 1", "--type", "X"), "either SQL or the shortcut"),
        (("query",), "give SQL"),
        (("query", "--since", "yesterday"), "--since 'yesterday'"),
        (("query", "  "), "the SQL is empty"),
        (("query", "--archive-dir", "/no/such/dir", "SELECT 1"), "no such directory"),
    ],
)
def test_usage_errors_exit_2_with_their_reason(cli, argv, says):
    ran = cli(*argv)
    assert ran.code == ExitCode.USAGE, ran.stderr
    assert says in ran.stderr
