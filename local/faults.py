"""Fault injection for the local pipeline: prove that nothing is lost or stored twice.

Faults are injected where AWS would produce them, so every layer's own recovery runs:

* DynamoDB PutItem throttling (400) and 5xx, at the HTTP layer of the handler's clients:
  botocore's retries see them, then Lambda's async retries;
* PutEvents entries reported failed (FailedEntryCount): the emitter retries the failed ones;
* a crash between the write and the follow-up (the process dies at PutEvents): Lambda retries,
  the write is a duplicate, the follow-up is emitted again;
* a lost PutEvents response (the request succeeded, the answer never came back): the follow-up
  is on the bus, the invocation fails, Lambda retries, and the follow-up is sent a second time,
  so both copies must carry the same follow_up_id and be stored once;
* Firehose PutRecordBatch failing: EventBridge's target retries, then the archive DLQ.

    python -m local.faults --events 500
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import random
import sys
import tempfile
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.endpoint
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ReadTimeoutError

from .pipeline import Ledger, LocalPipeline, Published


class InjectedCrash(RuntimeError):
    """The function's process died (injected between the write and the follow-up)."""


class _Body:
    def __init__(self, payload: dict[str, Any]) -> None:
        self._data = json.dumps(payload).encode()

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _response(status: int, payload: dict[str, Any]) -> AWSResponse:
    headers = HTTPHeaders()
    headers["x-amzn-RequestId"] = "injected"
    headers["Content-Type"] = "application/x-amz-json-1.0"
    return AWSResponse("https://injected", status, headers, _Body(payload))


@dataclass
class FaultPlan:
    throttle: float = 0.0  # share of PutItem calls answered 400 ProvisionedThroughputExceeded
    server_error: float = 0.0  # share of PutItem calls answered 500
    put_events_failure: float = 0.0  # share of PutEvents calls whose entries all fail
    crash_after_write: float = 0.0  # share of PutEvents calls at which the process dies
    lost_response: float = 0.0  # share of successful PutEvents calls whose response is lost
    firehose_failure: float = 0.0  # share of archive delivery attempts that fail
    seed: int = 7
    injected: collections.Counter[str] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def _roll(self, share: float) -> bool:
        return share > 0 and self._random.random() < share

    def on_put_item(self, **_: Any) -> AWSResponse | None:
        if self._roll(self.throttle):
            self.injected["dynamodb throttling (400)"] += 1
            return _response(
                400,
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#"
                    "ProvisionedThroughputExceededException",
                    "message": "injected throttling",
                },
            )
        if self._roll(self.server_error):
            self.injected["dynamodb 5xx"] += 1
            return _response(
                500,
                {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError"},
            )
        return None

    def on_put_events(self, request: Any, **_: Any) -> AWSResponse | None:
        if self._roll(self.crash_after_write):
            self.injected["crash between write and follow-up"] += 1
            raise InjectedCrash("injected: the process died before emitting its follow-up")
        if self._roll(self.put_events_failure):
            entries = json.loads(request.body)["Entries"]
            self.injected["PutEvents entries failed"] += len(entries)
            return _response(
                200,
                {
                    "FailedEntryCount": len(entries),
                    "Entries": [
                        {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}
                        for _ in entries
                    ],
                },
            )
        return None

    def after_put_events(self, http_response: Any, parsed: Any, **_: Any) -> None:
        """After PutEvents succeeded (the entries are on the bus), lose the response."""
        if parsed.get("FailedEntryCount") == 0 and self._roll(self.lost_response):
            self.injected["PutEvents response lost after success"] += 1
            raise ReadTimeoutError(endpoint_url="injected: PutEvents succeeded, response lost")

    def on_firehose(self) -> bool:
        if self._roll(self.firehose_failure):
            self.injected["firehose delivery failed"] += 1
            return True
        return False


@contextlib.contextmanager
def injected(plan: FaultPlan) -> Iterator[collections.Counter[str]]:
    """Install ``plan`` on the default boto3 session (the handler's, not the pipeline's), and
    let botocore retry without waiting: its backoff sleeps are counted instead."""
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    emitter: Any = boto3.DEFAULT_SESSION.events
    endpoint: Any = botocore.endpoint
    # First: an in-process moto answers before-send too, and the first answer wins.
    emitter.register_first("before-send.dynamodb.PutItem", plan.on_put_item)
    emitter.register_first("before-send.eventbridge.PutEvents", plan.on_put_events)
    emitter.register("after-call.eventbridge.PutEvents", plan.after_put_events)
    sleeps: collections.Counter[str] = collections.Counter()
    real_time = endpoint.time
    endpoint.time = types.SimpleNamespace(
        sleep=lambda _seconds: sleeps.update(["sdk retry"]), time=real_time.time
    )
    try:
        yield sleeps
    finally:
        endpoint.time = real_time
        emitter.unregister("before-send.dynamodb.PutItem", plan.on_put_item)
        emitter.unregister("before-send.eventbridge.PutEvents", plan.on_put_events)
        emitter.unregister("after-call.eventbridge.PutEvents", plan.after_put_events)
        boto3.DEFAULT_SESSION = None


def events(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """A mix: a third *UpdatedEvent, a sixth *ValidatedEvent; most with a producer id."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = rng.choice(["Updated", "Updated", "Validated", "Created", "Created", "Deleted"])
        detail: dict[str, Any] = {"n": i, "amount": round(rng.uniform(0, 1000), 2)}
        if i % 5:
            detail["metadata"] = {"event_id": f"fault-{i}", "saga_id": f"saga-{i % 7}"}
        out.append(
            {"Source": f"domain{i % 4}.service", "DetailType": f"Order{kind}Event",
             "Detail": json.dumps(detail)}
        )  # fmt: skip
    return out


@dataclass
class FaultReport:
    events: int
    injected: dict[str, int]
    sdk_retries: int
    lambda_retries: int
    ledger: Ledger
    expected_ids: set[str]
    stored_ids: set[str]
    follow_ups_due: int
    follow_ups_received: int
    follow_ups_sent_more_than_once: int  # source events whose follow-up arrived 2+ times
    follow_up_ids_stable: bool  # every source event's follow-ups carry one and the same id
    quarantined: dict[str, int]

    @property
    def exactly_once_errors(self) -> str:
        missing = len(self.expected_ids - self.stored_ids)
        return f"{missing} / {len(self.stored_ids - self.expected_ids)}"

    def table(self) -> str:
        rows = [
            ("events published", self.events),
            *[(f"injected: {k}", v) for k, v in sorted(self.injected.items())],
            ("SDK retries (botocore)", self.sdk_retries),
            ("Lambda retries (invocations after the first)", self.lambda_retries),
            ("distinct ids expected (events + follow-ups)", len(self.expected_ids)),
            ("items in the table", len(self.stored_ids)),
            ("expected ids missing / unexpected items", self.exactly_once_errors),
            ("follow-ups due (distinct ids)", self.follow_ups_due),
            ("follow-up messages received", self.follow_ups_received),
            ("follow-ups received more than once", self.follow_ups_sent_more_than_once),
            ("follow_up_id stable across re-emission", self.follow_up_ids_stable),
            *[(f"quarantined: {k}", v) for k, v in sorted(self.quarantined.items())],
            ("lost", len(self.ledger.lost)),
        ]
        return "\n".join(f"| {k} | {v} |" for k, v in rows)


def run(count: int, plan: FaultPlan, workdir: Path) -> FaultReport:
    entries = events(count)
    # On the moto server: botocore calls every before-send hook, so an in-process moto would
    # still carry out a call whose injected answer is a failure (a "throttled" write stored).
    with (
        LocalPipeline.start(
            workdir, handler_log=io.StringIO(), firehose_fault=plan.on_firehose, server=True
        ) as pipeline,
        injected(plan) as sleeps,
    ):
        published: Published = pipeline.process(entries)
        function = pipeline.function  # the persister (the other doors' functions are others)
        invocations = list(function.invocations)
        items = pipeline.items()
        ledger = pipeline.account(published)
    received = ledger.follow_up_messages
    received_ids = collections.Counter(m["detail"]["follow_up_id"] for m in received)
    due = {fid for i in invocations if i.response for fid in i.response["follow_ups"]}
    # Per source event: how many follow-ups arrived, and under how many distinct ids.
    copies: collections.Counter[tuple[str, str]] = collections.Counter()
    ids: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for message in received:
        source = (message["detail-type"], message["detail"]["source_unique_id"])
        copies[source] += 1
        ids[source].add(message["detail"]["follow_up_id"])
    # Exactly once: the stored ids are the published events' ids (the producer's, else the
    # EventBridge id) plus the emitted follow-ups' ids, each once.
    expected = {
        json.loads(e["Detail"]).get("metadata", {}).get("event_id") or event_id
        for event_id, e in published.accepted.items()
    } | set(received_ids)
    return FaultReport(
        events=len(published.accepted),
        injected=dict(plan.injected),
        sdk_retries=sleeps["sdk retry"],
        lambda_retries=sum(i.attempts - 1 for i in invocations),
        ledger=ledger,
        expected_ids=expected,
        stored_ids=set(items),
        follow_ups_due=len(due),
        follow_ups_received=sum(received_ids.values()),
        follow_ups_sent_more_than_once=sum(1 for n in copies.values() if n > 1),
        follow_up_ids_stable=all(len(found) == 1 for found in ids.values()),
        quarantined={
            "failure queue": len(ledger.failed),
            "conflicts queue": len(ledger.conflicts),
            "undeliverable (rule DLQs)": len(ledger.undeliverable),
        },
    )


# The standard scenario: 10 % DynamoDB throttling and 10 % 5xx, 20 % PutEvents failures, 20 %
# crashes between write and follow-up, 10 % lost PutEvents responses, 20 % failed Firehose puts.
STANDARD: dict[str, Any] = {
    "throttle": 0.1,
    "server_error": 0.1,
    "put_events_failure": 0.2,
    "crash_after_write": 0.2,
    "lost_response": 0.1,
    "firehose_failure": 0.2,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.faults")
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    plan = FaultPlan(**STANDARD, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        report = run(args.events, plan, Path(tmp))
    warnings.filterwarnings("ignore", message="No application metrics")
    print("| measure | value |\n|---|---|")
    print(report.table())
    broken = (
        report.ledger.lost
        or report.expected_ids != report.stored_ids
        or not report.follow_up_ids_stable
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
