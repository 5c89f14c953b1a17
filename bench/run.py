"""`make bench`: ratios measured in one run on one machine (absolute times are noisy here).

1. Handler CPU per event (no-op clients), 1 KB and 100 KB, against a floor of
   json.loads + canonical dump + sha256 of the same payload.       target: <= 3x at 1 KB
2. Cold-start proxy: a fresh interpreter importing the handler and building the clients a
   first invocation builds, against `import boto3` + the same clients. target: <= 1.25x
3. Synth: `cdk synth` of every environment against a one-resource app.  target: <= 1.5x
4. Local end-to-end throughput through the demo pipeline (events/s, for information).
5. The FIFO door's consumer CPU per message, READY and INVALID (no-op clients; information).

    python -m bench.run [--quick] [--only handler,coldstart,synth,e2e,queue] [--json out.json]
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


def sample_event(size: int) -> str:
    """An *UpdatedEvent (so a follow-up is emitted too) whose JSON is about ``size`` bytes."""
    lines: list[dict[str, Any]] = []
    event = {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "OrderUpdatedEvent",
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


def _powertools_handler() -> Callable[[Any, Any], Any]:
    """What the handler pays Powertools per event, with none of its own work: the same
    decorators, the correlation id, and the same two metrics."""
    from persister.handler import MetricUnit, logger, metrics  # noqa: PLC0415

    @metrics.log_metrics
    @logger.inject_lambda_context
    def handler(event: dict[str, Any], _context: Any) -> None:
        logger.set_correlation_id(event.get("id"))
        metrics.add_metric(name="EventsPersisted", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="FollowUpsEmitted", unit=MetricUnit.Count, value=1)

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
    powertools_handler = _powertools_handler()
    try:
        return _measure_handler(handler, context, powertools_handler, quick)
    finally:
        handler.use_pipeline(None)  # the local pipeline must build its own


def _measure_handler(
    handler: Any, context: Any, powertools_handler: Any, quick: bool
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, size in (("1kb", 1024), ("100kb", 100 * 1024)):
        raw = sample_event(size)
        number = 200 if size <= 1024 else 10
        repeat = 5 if quick else 15

        def floor(raw: str = raw) -> None:
            detail = json.loads(raw)["detail"]
            # the floor: parse and hash with the standard library only
            text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            hashlib.sha256(text.encode()).hexdigest()

        def run(raw: str = raw) -> None:
            handler.lambda_handler(json.loads(raw), context)

        def powertools_only(raw: str = raw) -> None:
            powertools_handler(json.loads(raw), context)

        # The handler's log lines and EMF metrics go, as in Lambda, to stdout: here a file,
        # whose size per call is what CloudWatch Logs would ingest per event.
        log_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
        saved_fd, devnull = os.dup(1), log_file.fileno()
        os.dup2(devnull, 1)
        try:
            run()  # warm: first-call costs are the cold-start benchmark's business
            powertools_only()
            sys.stdout.flush()
            before = os.fstat(1).st_size
            for _ in range(100):
                run()
            sys.stdout.flush()
            log_bytes = (os.fstat(1).st_size - before) / 100
            floor_s = best_of(floor, repeat=repeat, number=number)
            handler_s = best_of(run, repeat=repeat, number=number)
            powertools_s = best_of(powertools_only, repeat=repeat, number=number)
        finally:
            sys.stdout.flush()
            os.dup2(saved_fd, 1)
            log_file.close()
            os.close(saved_fd)
        results[f"handler_{label}"] = {
            "event_bytes": len(raw),
            "floor_us": round(floor_s * 1e6, 1),
            "handler_us": round(handler_s * 1e6, 1),
            "powertools_only_us": round(powertools_s * 1e6, 1),
            "log_bytes_per_event": round(log_bytes),
            "ratio": round(handler_s / floor_s, 2),
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


def bench_synth(quick: bool) -> dict[str, Any]:
    runs = 2 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(_MINIMAL_APP)
        python = sys.executable
        ours, floor = [], []
        for i in range(runs):
            floor.append(_cdk_synth(f"{python} {minimal}", f"{tmp}/min{i}", Path(tmp)))
            ours.append(_cdk_synth(f"{python} app.py", f"{tmp}/ours{i}", ROOT))
    o, f = statistics.median(ours), statistics.median(floor)
    return {
        "synth": {"minimal_s": round(f, 2), "all_envs_s": round(o, 2), "ratio": round(o / f, 2)}
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
        start = time.perf_counter()
        published = pipeline.process(entries)
        seconds = time.perf_counter() - start
        ledger = pipeline.account(published)
    return {
        "e2e": {
            "events": count,
            "seconds": round(seconds, 1),
            "events_per_second": round(count / seconds, 1),
            "lost": len(ledger.lost),
        }
    }


def bench_queue(quick: bool) -> dict[str, Any]:
    """5. The FIFO door's consumer CPU per message (READY, INVALID), for information."""
    from bench.queue import bench_queue as measure  # noqa: PLC0415

    return measure(quick)


BENCHES = {
    "handler": bench_handler,
    "coldstart": bench_coldstart,
    "synth": bench_synth,
    "e2e": bench_e2e,
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
