"""``kahula replay`` against moto: options, role, summary, exit codes."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from kahula_core import spec

from cdk_app import stack_outputs as so

from .conftest import REGION

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
WINDOW = ("--from", "2026-11-22T07:00:00Z", "--to", "2026-11-22T08:00:00Z")
SOURCE = spec.replay_source("kahula")


def archived(n: int) -> dict:
    return {
        "version": "0",
        "id": f"eb-{n}",
        "detail-type": "OrderUpdatedEvent",
        "source": "orders.service",
        "account": "123456789012",
        "time": f"2026-11-22T07:{n:02d}:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"n": n},
    }


@pytest.fixture
def archive(deployed, tmp_path, monkeypatch):
    """Three archived events in the 07:00 partition; a queue that gets what is replayed."""
    monkeypatch.chdir(tmp_path)  # the default checkpoint directory
    s3 = deployed.client("s3")
    body = b"".join(json.dumps(archived(n)).encode() + b"\n" for n in range(3))
    s3.put_object(
        Bucket=deployed.outputs[so.ARCHIVE_BUCKET_NAME],
        Key="events/year=2026/month=11/day=22/hour=07/a.json.gz",
        Body=gzip.compress(body),
    )
    events, sqs = deployed.client("events"), deployed.client("sqs")
    url = sqs.create_queue(QueueName="replayed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    bus = deployed.outputs[so.EVENT_BUS_NAME]
    events.put_rule(Name="replays", EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(
        Rule="replays", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}]
    )
    iam = deployed.client("iam")
    role = iam.create_role(RoleName="kahula-replay-dev", AssumeRolePolicyDocument="{}")["Role"]
    deployed.outputs[so.REPLAY_ROLE_ARN] = role["Arn"]

    def delivered() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return delivered


def test_replay_publishes_the_window_and_prints_the_summary(cli, archive, tmp_path):
    # GIVEN three archived events in the window
    # WHEN the window is replayed
    ran = cli("replay", *WINDOW)
    # THEN each is delivered wrapped, the summary counts them, and the run leaves no checkpoint
    assert ran.code == 0, ran.stderr
    assert sorted(e["detail"]["id"] for e in archive()) == ["eb-0", "eb-1", "eb-2"]
    assert "replay from the S3 archive" in ran.stdout
    assert "published" in ran.stdout
    assert list((tmp_path / ".kahula-replay").glob("*")) == []


def test_replay_json_summary(cli, archive):
    # GIVEN archived events
    # WHEN replayed with --json and one type
    ran = cli("--json", "replay", *WINDOW, "--type", "OrderUpdatedEvent")
    # THEN stdout is one JSON document with every count
    summary = json.loads(ran.stdout)
    assert (summary["matched"], summary["published"], summary["failed"]) == (3, 3, [])
    assert summary["skipped_malformed"] == []


def test_dry_run_publishes_nothing(cli, archive):
    # GIVEN archived events
    # WHEN a dry run is asked
    ran = cli("--json", "replay", *WINDOW, "--dry-run")
    # THEN they are counted, and nothing reaches the bus
    assert json.loads(ran.stdout)["matched"] == 3
    assert json.loads(ran.stdout)["published"] == 0
    assert archive() == []


def test_without_the_role_output_replay_says_what_is_missing(cli, archive, deployed):
    # GIVEN a stack without the ReplayRoleArn output (deployed before EventReplay)
    del deployed.outputs[so.REPLAY_ROLE_ARN]
    # WHEN replaying
    ran = cli("replay", *WINDOW)
    # THEN exit 3 with a sentence naming the output, and nothing published
    assert ran.code == 3
    assert "no output ReplayRoleArn" in ran.stderr
    assert archive() == []


def test_no_assume_role_uses_the_callers_credentials(cli, archive, deployed):
    # GIVEN no role output, and --no-assume-role
    del deployed.outputs[so.REPLAY_ROLE_ARN]
    # WHEN replaying
    ran = cli("replay", *WINDOW, "--no-assume-role")
    # THEN the caller's own credentials publish
    assert ran.code == 0, ran.stderr
    assert len(archive()) == 3


def test_bad_time_is_a_usage_error(cli, archive):
    # GIVEN a --from that is no time
    # WHEN replaying
    ran = cli("replay", "--from", "yesterday", "--to", "2026-11-22T08:00:00Z")
    # THEN exit 2 with the reason
    assert ran.code == 2
    assert "--from 'yesterday' is not an ISO-8601 time" in ran.stderr


def test_rule_without_bus_archive_is_a_usage_error(cli, archive):
    # GIVEN --rule on an S3 replay
    ran = cli("replay", *WINDOW, "--rule", "arn:aws:events:x")
    # THEN it is refused: --rule chooses rules of the bus archive's replay only
    assert ran.code == 2
    assert "--rule applies to --from-bus-archive only" in ran.stderr


def test_bus_archive_replay_without_an_archive_output_is_unreachable(cli, archive):
    # GIVEN a stack without a bus archive output
    # WHEN the bus archive's replay is asked
    ran = cli("replay", "--from-bus-archive", *WINDOW)
    # THEN exit 3 naming what is missing
    assert ran.code == 3
    assert "no output EventBusArchiveName" in ran.stderr


def test_bus_archive_replay_reports_its_state(cli, deployed):
    # GIVEN a bus archive named by the stack's outputs
    events = boto3.client("events", region_name=REGION)
    events.create_archive(
        ArchiveName="kahula-events-dev-replay", EventSourceArn=deployed.outputs[so.EVENT_BUS_ARN]
    )
    deployed.outputs[so.EVENT_BUS_ARCHIVE_NAME] = "kahula-events-dev-replay"
    now = datetime.now(UTC)
    # WHEN its replay runs
    ran = cli(
        "--json",
        "replay",
        "--from-bus-archive",
        "--from",
        (now - timedelta(minutes=5)).isoformat(),
        "--to",
        now.isoformat(),
    )
    # THEN the summary reports the replay completed, to every rule
    summary = json.loads(ran.stdout)
    assert ran.code == 0, ran.stderr
    assert (summary["state"], summary["rules"]) == ("COMPLETED", [])
    assert summary["replay_name"].startswith("kahula-")


def test_replay_is_listed_in_help(cli, deployed, capsys):
    # GIVEN the CLI
    # WHEN --help is read
    cli("--help")
    # THEN replay is one of its commands, described
    assert "replay   Put archived events back on the bus" in capsys.readouterr().out
