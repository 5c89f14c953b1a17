"""The demo's promises: it notices a loss, and its moto server never outlives it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time

import pytest

from local.moto_server import moto_server
from local.pipeline import LocalPipeline
from local.synth import ROOT


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_moto_server_stops_even_when_the_run_fails():
    # GIVEN a running server WHEN the code using it raises
    with pytest.raises(RuntimeError, match="boom"), moto_server() as endpoint:
        pid = int(
            subprocess.run(
                ["pgrep", "-f", f"local.moto_server {endpoint.rsplit(':', 1)[1]}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[0]
        )
        assert _alive(pid)
        raise RuntimeError("boom")
    # THEN the server process is gone
    assert not _alive(pid)


def test_a_lost_event_is_reported(tmp_path):
    # GIVEN events published, then the persister's route queue emptied before delivery
    entries = [
        {"Source": "a.b", "DetailType": "ThingHappenedEvent", "Detail": json.dumps({"n": i})}
        for i in range(3)
    ]
    with LocalPipeline.start(tmp_path, handler_log=io.StringIO()) as pipeline:
        published = pipeline.publish(entries)
        (persist_route,) = [r for r in pipeline.routes if r.target.type == "AWS::Lambda::Function"]
        pipeline.clients.sqs.purge_queue(QueueUrl=persist_route.route_queue_url)
        pipeline.run()
        ledger = pipeline.account(published)
    # THEN every one of them is reported lost, with what is missing
    assert sorted(e for e, _ in ledger.lost) == sorted(published.accepted)
    assert {why for _, why in ledger.lost} == {"never reached the persister"}


def test_an_event_whose_item_is_another_event_is_reported_lost(tmp_path):
    # GIVEN two events persisted, then the item under one id replaced by another event's
    entries = [
        {
            "Source": "a.b",
            "DetailType": "ThingHappenedEvent",
            "Detail": json.dumps({"metadata": {"event_id": f"thing-{i}"}, "n": i}),
        }
        for i in range(2)
    ]
    with LocalPipeline.start(tmp_path, handler_log=io.StringIO()) as pipeline:
        published = pipeline.process(entries)
        items = pipeline.items()
        forged = {**items["thing-0"], "event_name": {"S": "OtherEvent"}}
        pipeline.clients.dynamodb.put_item(TableName=pipeline.names.of("events"), Item=forged)
        ledger = pipeline.account(published)
    # THEN the ledger does not count it as stored: the item under its id is not that event
    ((lost_id, why),) = ledger.lost
    assert published.accepted[lost_id]["Detail"] == entries[0]["Detail"]
    assert why == "the item under its id has another event_name"


def test_make_demo_runs_the_shipped_samples_and_loses_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "local.demo", "--no-progress"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing lost" in result.stdout
    assert "conflicts queue" in result.stdout
    assert "failure queue" in result.stdout
    # the aggregate appends went through the outbox: published, persisted and archived
    outbox_rows = [line for line in result.stdout.splitlines() if "demo-cmd-" in line]
    assert len(outbox_rows) == 3
    assert all(row.count(" yes ") == 3 for row in outbox_rows), outbox_rows
    assert "stale append refused: expected 1, actual 3" in result.stdout


def test_the_callers_environment_is_restored(tmp_path):
    # GIVEN the caller's environment WHEN a local pipeline runs and stops
    before = dict(os.environ)
    with LocalPipeline.start(tmp_path, handler_log=io.StringIO()) as pipeline:
        pipeline.process([{"Source": "a.b", "DetailType": "X", "Detail": "{}"}])
        assert "AWS_LAMBDA_FUNCTION_NAME" in os.environ  # the function's, while it runs
    # THEN nothing of the function's environment is left behind
    assert dict(os.environ) == before


def test_moto_server_dies_with_a_parent_killed_outright(tmp_path):
    # GIVEN a process running a moto server WHEN it is SIGKILLed (no cleanup can run)
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from local.moto_server import moto_server\n"
        "with moto_server() as endpoint:\n"
        "    print(endpoint, flush=True)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    endpoint = parent.stdout.readline().strip()
    port = endpoint.rsplit(":", 1)[1]
    found = subprocess.run(
        ["pgrep", "-f", f"local.moto_server {port}"], capture_output=True, text=True, check=True
    )
    child = int(found.stdout.split()[0])
    parent.kill()
    parent.wait()
    # THEN the server goes too
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child)
