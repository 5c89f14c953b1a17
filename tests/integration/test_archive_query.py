"""Querying the archive the local pipeline wrote: DuckDB over Firehose's real gzip NDJSON
objects in moto's S3, counted against what the table holds."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from cdk_app.archive_query import literal, query_local_archive, shortcut_sql
from local.demo import SAMPLES, read_entries
from local.pipeline import LocalPipeline


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The shipped samples through the dev stack on moto, with the persister's ledger."""
    workdir = tmp_path_factory.mktemp("archive-query")
    with LocalPipeline.start(workdir, handler_log=io.StringIO()) as pipeline:
        published = pipeline.process(list(read_entries(SAMPLES, [])))
        ledger = pipeline.account(published)
        (stream,) = pipeline.topology.of_type("AWS::KinesisFirehose::DeliveryStream")
        destination = pipeline.topology.resolve(
            stream.properties["ExtendedS3DestinationConfiguration"]
        )
        bucket = destination["BucketARN"].split(":")[-1]
        yield pipeline, ledger, bucket


def query(demo, sql):
    pipeline, _, bucket = demo
    return query_local_archive(sql, s3=pipeline.clients.s3, bucket=bucket)


def test_counts_by_type_are_the_archived_lines_by_type(demo):
    # GIVEN the archive objects the pipeline's Firehose stream wrote
    pipeline, _, _ = demo
    archived, objects = pipeline.archived_events()
    assert objects and all(key.endswith(".json.gz") for key, _ in objects)
    # WHEN the shortcut counts them with DuckDB
    result = query(demo, shortcut_sql())
    # THEN every archived line is counted once, under its type
    assert dict(result.rows) == dict(Counter(e["detail-type"] for e in archived))
    assert sum(n for _, n in result.rows) == sum(lines for _, lines in objects)


def test_distinct_events_by_type_match_the_tables_items(demo):
    # GIVEN the archive (every event the bus carried: retries, conflicts and refused events
    # too) and the persister's refusals (on its failure queue, with their reasons)
    pipeline, ledger, _ = demo
    refused = [event_id for event_id, _ in ledger.failed]
    assert refused, "the samples include events the persister refuses"
    excluded = ", ".join(literal(i) for i in refused)
    # WHEN the archive's distinct identities (the producer's id, else EventBridge's) are
    # counted per type, leaving out the refused events
    result = query(
        demo,
        "SELECT detail_type, count(DISTINCT coalesce("
        "json_extract_scalar(detail, '$.metadata.event_id'), id)) AS events "
        f"FROM events WHERE id NOT IN ({excluded}) GROUP BY detail_type",
    )
    # THEN they are the table's items per event name, exactly
    items = Counter(item["event_name"]["S"] for item in pipeline.items().values())
    assert dict(result.rows) == dict(items)


def test_type_and_since_shortcut_counts_that_types_events(demo):
    pipeline, _, _ = demo
    archived, _ = pipeline.archived_events()
    since = datetime.now(UTC) - timedelta(hours=2)
    result = query(demo, shortcut_sql(detail_type="ValidatableEvent", since=since))
    expected = sum(1 for e in archived if e["detail-type"] == "ValidatableEvent")
    assert expected > 0
    assert result.rows == [("ValidatableEvent", expected)]
    later = query(demo, shortcut_sql(since=datetime.now(UTC) + timedelta(hours=1)))
    assert later.rows == []


def test_the_partitions_are_the_arrival_hour_of_each_object(demo):
    pipeline, _, _ = demo
    _, objects = pipeline.archived_events()
    result = query(demo, "SELECT DISTINCT year, month, day, hour FROM events")
    from_keys = {tuple(part.split("=")[1] for part in key.split("/")[1:5]) for key, _ in objects}
    assert set(result.rows) == from_keys


class _Attached:
    """Stands in for the local session (``local/session.py``): this pipeline's moto server."""

    endpoint = ""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def client(self, service):
        return getattr(self.pipeline.clients, service)

    def settle(self):
        self.pipeline.run()

    def close(self):
        return None


def test_kahula_local_query_counts_by_type_match_the_table(demo):
    # GIVEN the demo's pipeline as the --local target of the CLI
    from cdk_app import stack_outputs as so
    from cdk_app.cli.context import Options, State, Target
    from cdk_app.cli.main import run
    from cdk_app.cli.output import Output

    pipeline, ledger, bucket = demo
    session = _Attached(pipeline)

    def target(options: Options) -> Target:
        return Target(
            env="dev",
            stack_name=options.stack_name,
            outputs={so.ARCHIVE_BUCKET_NAME: bucket},
            client_factory=session.client,
            local=session,
        )

    refused = ", ".join(literal(event_id) for event_id, _ in ledger.failed)
    stdout, stderr = io.StringIO(), io.StringIO()
    state = State(
        target_factory=target, output=Output(json_mode=True, stdout=stdout, stderr=stderr)
    )
    # WHEN `kahula --local --json query` counts distinct events per type
    code = run(
        [
            "--local",
            "--json",
            "query",
            "SELECT detail_type, count(DISTINCT coalesce(json_extract_scalar(detail, "
            f"'$.metadata.event_id'), id)) AS events FROM events WHERE id NOT IN ({refused}) "
            "GROUP BY detail_type",
        ],
        state=state,
    )
    # THEN DuckDB read the local archive and the counts are the table's items by type
    assert code == 0, stderr.getvalue()
    document = json.loads(stdout.getvalue())
    assert document["engine"] == "duckdb"
    counts = {row["detail_type"]: row["events"] for row in document["rows"]}
    items = Counter(item["event_name"]["S"] for item in pipeline.items().values())
    assert counts == dict(items)
