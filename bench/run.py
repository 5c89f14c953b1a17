"""`make bench`: ratios measured in one run on one machine (absolute times are noisy here).

1. Handler CPU per event (no-op clients), 1 KB (stored; stored with a follow-up) and 100 KB,
   against a floor of json.loads + canonical dump + sha256 of the same payload, as the median
   ratio of interleaved runs.                       target: <= 3x at 1 KB (stored, the common case)
2. Cold-start proxy: a fresh interpreter importing the handler and building the clients a
   first invocation builds, against `import boto3` + the same clients. target: <= 1.25x
3. Synth: `cdk synth` of every environment against a one-resource app.  target: <= 1.5x
4. Local end-to-end throughput through the demo pipeline (events/s, for information).
5. Aggregate store appends per second on moto in-process (a moto figure, dated: moto copies
   the table for every transaction, so it says nothing about DynamoDB), and the outbox end to
   end: appended events through stream -> pipe -> bus -> persister per second locally.

6. The FIFO door's consumer CPU per message, READY and INVALID (no-op clients; information).

    python -m bench.run [--quick] [--only handler,coldstart,synth,e2e,appends,outbox,queue]
                        [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
sys.path[:0] = [str(ROOT), str(LAMBDAS)]
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "event-persister")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Kahula/Bench")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")

TARGETS = {"handler_1kb": 3.0, "coldstart": 1.25, "synth": 1.5}


def best_of(fn: Callable[[], Any], *, repeat: int, number: int) -> float:
    """Seconds per call: the minimum over ``repeat`` runs of ``number`` calls (least noisy)."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return min(runs)


# --------------------------------------------------------------------------- 1. handler CPU


class _NoOp:
    """Answers every AWS call the handler makes, instantly and successfully."""

    def put_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def put_events(self, Entries: list[Any]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "x"} for _ in Entries]}

    def put_object(self, **_: Any) -> dict[str, Any]:
        return {}

    def send_message(self, **_: Any) -> dict[str, Any]:
        return {}


def sample_event(size: int, *, follow_up: bool = True) -> str:
    """An event whose JSON is about ``size`` bytes: an *UpdatedEvent (a follow-up is emitted
    too) or, with ``follow_up=False``, an OrderCreatedEvent (the common case: stored only)."""
    lines: list[dict[str, Any]] = []
    event: dict[str, Any] = {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "OrderUpdatedEvent" if follow_up else "OrderCreatedEvent",
        "source": "orders.service",
        "account": "123456789012",
        "time": "2026-11-20T10:15:30Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "metadata": {"event_id": "order-1001", "domain": "orders", "saga_id": "saga-42"},
            "order_id": "1001",
            "status": "PAID",
            "lines": lines,
        },
    }
    i = 0
    while len(json.dumps(event)) < size:
        lines.append({"sku": f"SKU-{i:05d}", "qty": i % 7, "price": round(i * 1.37, 2)})
        i += 1
    return json.dumps(event)


def _powertools_handler(*, emf_line: bool) -> Callable[[Any, Any], Any]:
    """What the handler pays Powertools per invocation with none of its own work: the same
    logger decorator and correlation id; with ``emf_line``, also one metric and its EMF line
    (an invocation that emits a follow-up writes one; a stored event writes none)."""
    from persister.handler import MetricUnit, logger, metrics  # noqa: PLC0415

    @logger.inject_lambda_context
    def handler(event: dict[str, Any], _context: Any) -> None:
        logger.set_correlation_id(event.get("id"))
        if emf_line:
            metrics.add_metric(name="FollowUpsEmitted", unit=MetricUnit.Count, value=1)
            metrics.flush_metrics()

    return handler


def bench_handler(quick: bool) -> dict[str, Any]:
    from kahula_core import persist  # noqa: PLC0415
    from persister import handler  # noqa: PLC0415

    noop = _NoOp()
    environ = {
        "TABLE_NAME": "t",
        "EVENT_BUS_NAME": "b",
        "CONFLICTS_QUEUE_URL": "q",
        "PAYLOAD_BUCKET": "p",
        "PAYLOAD_PREFIX": "oversize-payloads",
        "FOLLOW_UP_SOURCE": "kahula.event-persister",
    }
    pipeline = persist.build_pipeline(environ, lambda _service: lambda: noop)
    handler.use_pipeline(pipeline)
    context = type(
        "Context",
        (),
        {
            "function_name": "bench",
            "memory_limit_in_mb": 256,
            "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
            "aws_request_id": "r",
        },
    )()
    try:
        return _measure_handler(handler, context, quick)
    finally:
        handler.use_pipeline(None)  # the local pipeline must build its own


class _Stdout:
    """Lambda sends log lines and EMF to stdout: here a file, whose growth per call is what
    CloudWatch Logs would ingest per event."""

    def __enter__(self) -> _Stdout:
        sys.stdout.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(1)
        os.dup2(self._file.fileno(), 1)
        return self

    def bytes_per_call(self, fn: Callable[[], Any], calls: int = 100) -> float:
        sys.stdout.flush()
        before = os.fstat(1).st_size
        for _ in range(calls):
            fn()
        sys.stdout.flush()
        return (os.fstat(1).st_size - before) / calls

    def __exit__(self, *_: object) -> None:
        sys.stdout.flush()
        os.dup2(self._saved, 1)
        os.close(self._saved)
        self._file.close()


def _interleaved(fns: dict[str, Callable[[], Any]], *, repeat: int, number: int) -> dict:
    """Seconds per call of each function, run in turn ``repeat`` times (so drift on a shared
    machine hits them alike): each one's median, and the median of each one's ratio to the
    first (``floor``) taken run by run."""
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            runs[name].append(best_of(fn, repeat=1, number=number))
    first = next(iter(fns))
    return {
        name: (
            statistics.median(times),
            statistics.median(t / f for t, f in zip(times, runs[first], strict=True)),
        )
        for name, times in runs.items()
    }


def _measure_handler(handler: Any, context: Any, quick: bool) -> dict[str, Any]:
    """Handler CPU per event against the floor, as the median ratio of interleaved runs.

    ``handler_1kb`` is the common case (an event stored, no follow-up): the target's measure.
    ``handler_1kb_follow_up`` also builds and emits a follow-up and writes its EMF line.
    Where the time over the floor goes, each part timed alone on an already parsed event (so
    the parts add up: the floor holds the one ``json.loads``): the DynamoDB map of the detail,
    Powertools' per-invocation work, and the rest (envelope, identifiers, record, hash
    exclusions, the clock, outcome). Log bytes per event are measured at INFO (staging,
    prod) and DEBUG (dev)."""
    from kahula_core.attributes import detail_attribute_value  # noqa: PLC0415

    results: dict[str, Any] = {}
    cases = (
        ("1kb", 1024, False),
        ("1kb_follow_up", 1024, True),
        ("100kb", 100 * 1024, False),
    )
    for label, size, follow_up in cases:
        raw = sample_event(size, follow_up=follow_up)
        parsed = json.loads(raw)
        powertools_handler = _powertools_handler(emf_line=follow_up)
        number = 200 if size <= 1024 else 10
        repeat = 7 if quick else 21

        def floor(raw: str = raw) -> None:
            detail = json.loads(raw)["detail"]
            # the floor: parse and hash with the standard library only
            text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            hashlib.sha256(text.encode()).hexdigest()

        def run(raw: str = raw) -> None:
            handler.lambda_handler(json.loads(raw), context)

        def powertools(parsed: dict = parsed, powertools_handler: Any = powertools_handler) -> None:
            powertools_handler(parsed, context)

        def dynamodb_map(detail: dict = parsed["detail"]) -> None:
            # the contract's DynamoDB map of the detail alone (the walk that also finds
            # whether the fast canonical path applies)
            detail_attribute_value(detail)

        with _Stdout() as out:
            run()  # warm: first-call costs are the cold-start benchmark's business
            powertools()
            log_bytes = out.bytes_per_call(run)
            level = handler.logger.log_level
            handler.logger.setLevel("DEBUG")
            try:
                debug_log_bytes = out.bytes_per_call(run)
            finally:
                handler.logger.setLevel(level)
            timed = _interleaved(
                {"floor": floor, "handler": run, "powertools": powertools, "map": dynamodb_map},
                repeat=repeat,
                number=number,
            )
        floor_s, handler_s = timed["floor"][0], timed["handler"][0]
        rest_s = handler_s - floor_s - timed["map"][0] - timed["powertools"][0]
        results[f"handler_{label}"] = {
            "event_bytes": len(raw),
            "floor_us": round(floor_s * 1e6, 1),
            "handler_us": round(handler_s * 1e6, 1),
            "map_us": round(timed["map"][0] * 1e6, 1),
            "powertools_us": round(timed["powertools"][0] * 1e6, 1),
            "rest_us": round(rest_s * 1e6, 1),
            "map_x_floor": round(timed["map"][1], 2),
            "powertools_x_floor": round(timed["powertools"][1], 2),
            "rest_x_floor": round(rest_s / floor_s, 2),
            "log_bytes_per_event": round(log_bytes),
            "debug_log_bytes_per_event": round(debug_log_bytes),
            "ratio": round(timed["handler"][1], 2),
        }
    return results


# --------------------------------------------------------------------------- 2. cold start

_COLD_HANDLER = """
import os, time
os.environ.update(POWERTOOLS_SERVICE_NAME="s", POWERTOOLS_METRICS_NAMESPACE="n",
                  POWERTOOLS_TRACE_DISABLED={trace_disabled!r}, AWS_DEFAULT_REGION="us-east-1",
                  TABLE_NAME="t", EVENT_BUS_NAME="b", CONFLICTS_QUEUE_URL="q",
                  PAYLOAD_BUCKET="p", PAYLOAD_PREFIX="o", FOLLOW_UP_SOURCE="f")
t = time.perf_counter()
import persister.handler as h
p = h.pipeline()
p.store._client(); p.emitter._client()
print(time.perf_counter() - t)
"""
_COLD_BASELINE = """
import time
t = time.perf_counter()
import boto3
boto3.client("dynamodb", region_name="us-east-1"); boto3.client("events", region_name="us-east-1")
print(time.perf_counter() - t)
"""


def _fresh(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=LAMBDAS,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times)


def bench_coldstart(quick: bool) -> dict[str, Any]:
    runs = 5 if quick else 11
    # Interleave so drift on a noisy machine hits both sides alike.
    baseline, handler_default, handler_traced = [], [], []
    for _ in range(runs):
        baseline.append(_fresh(_COLD_BASELINE, 1))
        handler_default.append(_fresh(_COLD_HANDLER.format(trace_disabled="true"), 1))
        handler_traced.append(_fresh(_COLD_HANDLER.format(trace_disabled="false"), 1))
    b, d, t = (statistics.median(x) for x in (baseline, handler_default, handler_traced))
    return {
        "coldstart": {
            "baseline_ms": round(b * 1000, 1),
            "handler_ms": round(d * 1000, 1),
            "ratio": round(d / b, 2),
        },
        "coldstart_with_detailed_tracing": {
            "handler_ms": round(t * 1000, 1),
            "ratio": round(t / b, 2),
        },
    }


# --------------------------------------------------------------------------- 3. synth

_MINIMAL_APP = """
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
app = App()
stack = Stack(app, "Minimal")
sqs.Queue(stack, "Queue")
app.synth()
"""


def _cdk_synth(app: str, outdir: str, cwd: Path) -> float:
    cdk = str(ROOT / "node_modules" / ".bin" / "cdk")
    env = {
        **os.environ,
        "PATH": f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    start = time.perf_counter()
    subprocess.run(
        [cdk, "synth", "--quiet", "--no-notices", "--app", app, "--output", outdir],
        cwd=cwd,
        check=True,
        capture_output=True,
        env=env,
    )
    return time.perf_counter() - start


_IN_PROCESS = """
import os, sys, tempfile, time, runpy, contextlib, io
sys.path[:0] = [{root!r}, {lambdas!r}]
os.environ["CDK_OUTDIR"] = tempfile.mkdtemp()
from jsii._kernel.providers import process
calls = [0]
send = process._NodeProcess.send
def counted(self, *args, **kwargs):
    calls[0] += 1
    return send(self, *args, **kwargs)
process._NodeProcess.send = counted
start = time.perf_counter()
if {variant!r} == "minimal":
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs
    app = App()
    sqs.Queue(Stack(app, "Minimal"), "Queue")
    app.synth()
else:
    import stacks.event_persistence_stack as composition
    if {variant!r} == "without_checks":
        composition.apply_checks = lambda app, control_tower=False: None
    sys.argv = ["app.py"]
    with contextlib.redirect_stderr(io.StringIO()):
        runpy.run_path({app!r}, run_name="__main__")
print(time.perf_counter() - start, calls[0])
"""


def _in_process(variant: str) -> tuple[float, int]:
    """(seconds, jsii round trips) of one synth inside Python, without the CDK CLI.

    ``..._unvalidated``: the same with the CDK's built-in CloudFormation validation off
    (``CDK_VALIDATION=false``), to show what it costs; the app itself never turns it off.
    """
    base, unvalidated = variant.removesuffix("_unvalidated"), variant.endswith("_unvalidated")
    code = _IN_PROCESS.format(
        root=str(ROOT), lambdas=str(LAMBDAS), app=str(ROOT / "app.py"), variant=base
    )
    env = {**os.environ, **({"CDK_VALIDATION": "false"} if unvalidated else {})}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    ).stdout
    seconds, calls = out.strip().splitlines()[-1].split()
    return float(seconds), int(calls)


def bench_synth(quick: bool) -> dict[str, Any]:
    """`cdk synth` of every environment against a one-resource app (the target), and where
    the time goes: the same two apps synthesized inside Python (no CLI), the checks
    (cdk-nag's two packs) switched off, and the jsii round trips each makes."""
    runs = 2 if quick else 5
    variants = ("minimal", "ours", "without_checks", "minimal_unvalidated", "ours_unvalidated")
    parts: dict[str, list[tuple[float, int]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(_MINIMAL_APP)
        python = sys.executable
        ours, floor = [], []
        for i in range(runs):
            floor.append(_cdk_synth(f"{python} {minimal}", f"{tmp}/min{i}", Path(tmp)))
            ours.append(_cdk_synth(f"{python} app.py", f"{tmp}/ours{i}", ROOT))
            for variant, measured in parts.items():
                measured.append(_in_process(variant))
    o, f = statistics.median(ours), statistics.median(floor)
    seconds = {k: statistics.median(s for s, _ in v) for k, v in parts.items()}
    calls = {k: v[0][1] for k, v in parts.items()}
    return {
        "synth": {"minimal_s": round(f, 2), "all_envs_s": round(o, 2), "ratio": round(o / f, 2)},
        "synth_breakdown": {
            "cli_and_node_s": round(f - seconds["minimal"], 2),
            "minimal_in_python_s": round(seconds["minimal"], 2),
            "ours_in_python_s": round(seconds["ours"], 2),
            "checks_s": round(seconds["ours"] - seconds["without_checks"], 2),
            # The CDK's CloudFormation validation (a WebAssembly engine started once per synth,
            # then each template): what the one-queue app pays, and what ours pays.
            "validation_minimal_s": round(seconds["minimal"] - seconds["minimal_unvalidated"], 2),
            "validation_ours_s": round(seconds["ours"] - seconds["ours_unvalidated"], 2),
            "jsii_calls_minimal": calls["minimal"],
            "jsii_calls_ours": calls["ours"],
        },
    }


# --------------------------------------------------------------------------- 4. end to end


def bench_e2e(quick: bool) -> dict[str, Any]:
    from local.pipeline import LocalPipeline  # noqa: PLC0415

    count = 200 if quick else 1000
    entries = [
        {
            "Source": "orders.service",
            "DetailType": "OrderUpdatedEvent" if i % 4 == 0 else "OrderCreatedEvent",
            "Detail": json.dumps({"metadata": {"event_id": f"bench-{i}"}, "n": i}),
        }
        for i in range(count)
    ]
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalPipeline.start(Path(tmp), handler_log=io.StringIO()) as pipeline,
    ):
        start, cpu = time.perf_counter(), time.process_time()
        published = pipeline.process(entries, chunk=200)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        ledger = pipeline.account(published)
    return {
        "e2e": {
            "events": count,
            "seconds": round(seconds, 1),
            "events_per_second": round(count / seconds, 1),
            # moto runs in this process: its CPU time is the figure a busy machine keeps
            "events_per_cpu_second": round(count / cpu, 1),
            "lost": len(ledger.lost),
        }
    }


# --------------------------------------------------------------------------- 5. aggregate store


def _aggregate_table(client: Any, name: str) -> None:
    """A table laid out as the construct lays it out (kahula_core.aggregates.schema)."""
    from kahula_core.aggregates import schema  # noqa: PLC0415

    attributes = {schema.AGGREGATE_ID: "S", schema.SEQUENCE_NUMBER: "N"}
    indexes = []
    for index, pk, pk_type, sk, sk_type in schema.INDEXES:
        attributes |= {pk: pk_type, sk: sk_type}
        keys = [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}]
        indexes.append(
            {"IndexName": index, "KeySchema": keys, "Projection": {"ProjectionType": "ALL"}}
        )
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": schema.AGGREGATE_ID, "KeyType": "HASH"},
            {"AttributeName": schema.SEQUENCE_NUMBER, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": k, "AttributeType": t} for k, t in attributes.items()
        ],
        GlobalSecondaryIndexes=indexes,
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


def _appends(store: Any, count: int, aggregates: int) -> None:
    """``count`` single-event appends round-robin over ``aggregates`` aggregates (after the
    first round each append carries the version check)."""
    from kahula_core.aggregates import NewEvent  # noqa: PLC0415

    for i in range(count):
        event = NewEvent("OrderUpdated", {"n": i, "sku": "A-1"}, {"user": "bench"})
        store.append(f"order-{i % aggregates}", "Order", [event], expected_version=i // aggregates)


def bench_appends(quick: bool) -> dict[str, Any]:
    import boto3  # noqa: PLC0415
    from kahula_core.aggregates.client import AggregateStore  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    count = 100 if quick else 200
    with mock_aws():
        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",  # noqa: S106 - moto accepts any credentials
        )
        _aggregate_table(client, "bench-aggregates")
        store = AggregateStore(table_name="bench-aggregates", dynamodb=client)
        start = time.perf_counter()
        _appends(store, count, aggregates=10)
        seconds = time.perf_counter() - start
    return {
        "appends": {
            "appends": count,
            "table_items_at_end": count,
            "appends_per_second_on_moto": round(count / seconds, 1),
            "measured": time.strftime("%Y-%m-%d"),
        }
    }


def bench_outbox(quick: bool) -> dict[str, Any]:
    from local.pipeline import LocalPipeline  # noqa: PLC0415
    from local.pipes import aggregate_store  # noqa: PLC0415

    count = 50 if quick else 100
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalPipeline.start(Path(tmp), handler_log=io.StringIO()) as pipeline,
    ):
        store = aggregate_store(pipeline.topology, pipeline.clients.dynamodb)
        start = time.perf_counter()
        _appends(store, count, aggregates=10)
        pipeline.run()
        seconds = time.perf_counter() - start
        ledger = pipeline.account(pipeline.outbox)
    return {
        "outbox": {
            "events": count,
            "published": len(pipeline.outbox.accepted),
            "persisted": ledger.persisted,
            "seconds": round(seconds, 1),
            "events_per_second_local": round(count / seconds, 1),
            "lost": len(ledger.lost),
        }
    }


def bench_stream_door(quick: bool) -> dict[str, Any]:
    """The Kinesis consumer's CPU per record (bench/stream.py)."""
    from bench.stream import bench_stream  # noqa: PLC0415 - bench.stream imports this module

    return bench_stream(quick)


def bench_queue(quick: bool) -> dict[str, Any]:
    """6. The FIFO door's consumer CPU per message (READY, INVALID), for information."""
    from bench.queue import bench_queue as measure  # noqa: PLC0415

    return measure(quick)


BENCHES = {
    "handler": bench_handler,
    "stream": bench_stream_door,
    "coldstart": bench_coldstart,
    "synth": bench_synth,
    "e2e": bench_e2e,
    "appends": bench_appends,
    "outbox": bench_outbox,
    "queue": bench_queue,
}


def report(results: dict[str, Any]) -> str:
    rows = ["| measure | figures | ratio | target | met |", "|---|---|---|---|---|"]
    for name, figures in results.items():
        ratio = figures.get("ratio")
        target = TARGETS.get(name)
        shown = ", ".join(f"{k}={v}" for k, v in figures.items() if k != "ratio")
        met = "" if target is None else ("yes" if ratio <= target else "NO")
        rows.append(
            f"| {name} | {shown} | {'' if ratio is None else f'{ratio}x'} | "
            f"{'' if target is None else f'<= {target}x'} | {met} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (CI smoke)")
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for name in args.only.split(","):
        print(f"running {name} ...", file=sys.stderr)
        results.update(BENCHES[name](args.quick))
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
