"""`kahula --local`: commands share one local session, so what `put` stored `get` reads, and
`redrive` hands a failed event back to the real persister."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cdk_app.cli.context import State, local_target
from cdk_app.cli.main import run
from cdk_app.cli.output import ExitCode, Output
from local.demo import SAMPLES
from local.session import down, status, up


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Iterator[Path]:
    """One local session for the module, in its own state directory; stopped afterwards."""
    folder = tmp_path_factory.mktemp("kahula-local")
    up(state_dir=folder)
    try:
        yield folder
    finally:
        down(folder)


@pytest.fixture
def kahula(state_dir) -> Callable[..., tuple[int, str, str]]:
    """Run one command line as a fresh process would: a new attachment each time."""

    def invoke(*argv: str) -> tuple[int, str, str]:
        stdout, stderr = io.StringIO(), io.StringIO()
        state = State(
            target_factory=functools.partial(local_target, state_dir=state_dir),
            output=Output(json_mode="--json" in argv, stdout=stdout, stderr=stderr),
        )
        code = run(["--local", *argv], state=state)
        return int(code), stdout.getvalue(), stderr.getvalue()

    return invoke


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_what_put_published_get_reads_in_a_later_command(kahula):
    # GIVEN the shipped samples put on the local bus
    code, out, _ = kahula("--json", "put", str(SAMPLES))
    results = _lines(out)
    assert code == ExitCode.OK
    assert len(results) == len(SAMPLES.read_text().splitlines())
    # WHEN a later command reads one of them
    code, out, err = kahula("--json", "get", "order-1001-v3")
    # THEN the persister stored it (the pipeline ran after put) and get sees it
    assert code == ExitCode.OK, err
    event = json.loads(out)
    assert event["event_name"] == "OrderUpdatedEvent"
    assert event["detail"]["total"] == 129.95


def test_the_samples_malformed_events_stay_on_the_failure_queue_with_their_reason(kahula):
    # GIVEN the samples, two of them malformed, put on the local bus
    kahula("put", str(SAMPLES))
    # WHEN the failure queue is redriven
    code, out, _ = kahula("--json", "redrive", "failed")
    # THEN they stay, each with the persister's reason and why it was not redriven
    kept = _lines(out)
    assert code == ExitCode.ITEMS_FAILED
    assert {k["action"] for k in kept} == {"kept"}
    assert all(k["why_kept"].startswith("still malformed") for k in kept)
    assert len(_lines(kahula("--json", "redrive", "failed", "--dry-run")[1])) == len(kept)


def test_a_failed_event_once_fixed_is_redriven_to_the_persister_and_stored(kahula, state_dir):
    # GIVEN an on-failure record of an event that is storable now (its cause fixed)
    record = status(state_dir)
    assert record is not None
    from local.session import LocalSession

    session = LocalSession(record, state_dir)
    failed_url = session.outputs()["FailureQueueUrl"]
    event = {
        "version": "0",
        "id": "redrive-e-1",
        "detail-type": "OrderUpdatedEvent",
        "source": "orders.service",
        "account": "123456789012",
        "time": "2026-11-22T05:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"metadata": {"event_id": "order-redriven"}, "n": 1},
    }
    session.client("sqs").send_message(
        QueueUrl=failed_url,
        MessageBody=json.dumps(
            {
                "requestPayload": event,
                "responsePayload": {"errorType": "StoreUnavailableError", "errorMessage": "x"},
            }
        ),
    )
    session.close()
    # WHEN the failure queue is redriven
    code, out, _ = kahula("--json", "redrive", "failed")
    # THEN it was handed to the real persister, is stored under its id, and left the queue
    redriven = [r for r in _lines(out) if r["action"] == "redriven"]
    assert [r["what"] for r in redriven] == [
        "OrderUpdatedEvent from orders.service (id redrive-e-1)"
    ]
    code, out, _ = kahula("--json", "get", "order-redriven")
    assert code == ExitCode.OK
    assert json.loads(out)["aws_id"] == "redrive-e-1"


def test_seed_reports_ready_and_invalid_samples_from_the_ledger(kahula):
    code, out, _ = kahula("--json", "seed", "--invalid")
    report = json.loads(out)
    assert code == ExitCode.OK
    statuses = {(m["tenant_id"], m["status"]) for m in report["messages"]}
    assert statuses == {("tenant-a", "READY"), ("tenant-b", "INVALID")}
