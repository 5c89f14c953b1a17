"""An operator's day on the local pipeline, only through `kahula --local` (issue 17's scenario):
the samples go through the pipeline, their whole window is replayed from the archive and
creates nothing, a quarantined event is fixed and stored, and the archive's counts by type
match the table."""

from __future__ import annotations

import functools
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cdk_app.cli.context import State, local_target
from cdk_app.cli.main import run
from cdk_app.cli.output import ExitCode, Output
from local.demo import SAMPLES
from local.session import LocalSession, down, status, up

Kahula = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("kahula-scenario")
    up(state_dir=folder)
    try:
        yield folder
    finally:
        down(folder)


@pytest.fixture(scope="module")
def kahula(state_dir) -> Kahula:
    def invoke(*argv: str) -> tuple[int, str, str]:
        stdout, stderr = io.StringIO(), io.StringIO()
        state = State(
            target_factory=functools.partial(local_target, state_dir=state_dir),
            output=Output(json_mode="--json" in argv, stdout=stdout, stderr=stderr),
        )
        return int(run(["--local", *argv], state=state)), stdout.getvalue(), stderr.getvalue()

    return invoke


def _session(state_dir: Path) -> LocalSession:
    record = status(state_dir)
    assert record is not None
    return LocalSession(record, state_dir)


def _items(state_dir: Path) -> dict[str, dict[str, Any]]:
    session = _session(state_dir)
    try:
        table = session.outputs()["EventTableName"]
        pages = session.client("dynamodb").get_paginator("scan").paginate(TableName=table)
        return {i["unique_id"]["S"]: i for page in pages for i in page["Items"]}
    finally:
        session.close()


def _queue_depth(state_dir: Path, output: str) -> int:
    session = _session(state_dir)
    try:
        url = session.outputs()[output]
        attributes = session.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())
    finally:
        session.close()


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def day(kahula, state_dir):
    """The samples put through the pipeline, with the window they were published in."""
    start = datetime.now(UTC) - timedelta(minutes=1)
    code, _, err = kahula("--json", "put", str(SAMPLES))
    assert code == ExitCode.OK, err
    end = datetime.now(UTC) + timedelta(minutes=1)
    return start, end, _items(state_dir)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_replaying_the_whole_window_creates_no_item_and_no_conflict(kahula, state_dir, day):
    # GIVEN the samples stored (one deliberate conflict among them) and the conflicts queue
    start, end, before = day
    conflicts_before = _queue_depth(state_dir, "ConflictsQueueUrl")
    # WHEN their whole window (EventBridge stamped them when put) is replayed
    code, out, err = kahula(
        "--json",
        "replay",
        "--from",
        _stamp(start),
        "--to",
        _stamp(end),
        "--no-assume-role",
        "--checkpoint",
        str(state_dir / "replay-checkpoint.json"),
    )
    # THEN events were published again, and the table holds exactly what it held
    assert code == ExitCode.OK, err
    summary = json.loads(out)
    assert summary["published"] > 0
    after = _items(state_dir)
    assert after.keys() == before.keys()
    assert {k: v["payload_hash"] for k, v in after.items()} == {
        k: v["payload_hash"] for k, v in before.items()
    }
    # and the only conflict is the samples' deliberate one, once more, not a new kind
    assert _queue_depth(state_dir, "ConflictsQueueUrl") - conflicts_before <= 1


def test_a_quarantined_event_fixed_and_put_again_is_stored(kahula, state_dir, tmp_path, day):
    # GIVEN the samples' malformed events on the failure queue, exported to a file
    exported = tmp_path / "stuck.jsonl"
    code, out, _ = kahula("--json", "redrive", "failed", "--export", str(exported))
    kept = _lines(out)
    assert kept and {k["action"] for k in kept} == {"kept"}
    events = _lines(exported.read_text())
    assert events
    # WHEN an operator fixes one (gives it a detail object and an id) and puts it again
    fixed = dict(events[0])
    fixed["detail"] = {"metadata": {"event_id": "fixed-by-operator"}, "note": "repaired"}
    fixed.setdefault("detail-type", "OrderRepairedEvent")
    fixed.setdefault("source", "orders.service")
    (tmp_path / "fixed.jsonl").write_text(json.dumps(fixed) + "\n")
    code, _, err = kahula("--json", "put", str(tmp_path / "fixed.jsonl"))
    assert code == ExitCode.OK, err
    # THEN it is stored, readable at once
    code, out, err = kahula("--json", "get", "fixed-by-operator")
    assert code == ExitCode.OK, err
    assert json.loads(out)["detail"]["note"] == "repaired"


def test_the_archive_counts_by_type_match_the_table(kahula, state_dir, tmp_path, day):
    # GIVEN the events the persister refused (still on its failure queue, read, not consumed)
    refused_file = tmp_path / "refused.jsonl"
    kahula("--json", "redrive", "failed", "--dry-run", "--export", str(refused_file))
    refused = [e["id"] for e in _lines(refused_file.read_text()) if e["source"] != "kahula.replay"]
    assert refused, "the samples include events the persister refuses"
    excluded = ", ".join("'" + i.replace("'", "''") + "'" for i in refused)
    # WHEN the archive's distinct identities (the producer's id, else EventBridge's) are counted
    # by type with SQL, leaving out the refused events and the replays' wrappers
    code, out, err = kahula(
        "--json",
        "query",
        "SELECT detail_type, count(DISTINCT coalesce("
        "json_extract_scalar(detail, '$.metadata.event_id'), id)) AS n "
        f"FROM events WHERE source <> 'kahula.replay' AND id NOT IN ({excluded}) "
        "GROUP BY detail_type",
    )
    assert code == ExitCode.OK, err
    counted = {row["detail_type"]: row["n"] for row in json.loads(out)["rows"]}
    # THEN they are the table's items per event name, exactly
    items = Counter(i["event_name"]["S"] for i in _items(state_dir).values())
    assert counted == dict(items)
