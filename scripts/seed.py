"""`make seed`: one valid sample message per event type (``--invalid``: plus one invalid each)
on the FIFO queue.

    python -m scripts.seed                 # the local pipeline on moto: send, poll, report
    python -m scripts.seed --invalid       # ... and one invalid sample per type
    python -m scripts.seed --env dev       # the deployed queue (AWS credentials needed)

The samples are the files beside the schemas (``<type>.sample.json``, ``<type>.invalid.json``,
in lambdas/queue_consumer/schemas/), so adding a schema with its samples adds it here. Each
send gets a fresh event id (as the Go seeder does) and the current time as created_at; the
group is the tenant and the deduplication id the event id. Deployed, the queue URL is the
stack's ``IngestQueueUrl`` output (stack ``{prefix}-{env}``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from local.fifo import SCHEMAS, sample_messages

ROOT = Path(__file__).resolve().parents[1]
QUEUE_OUTPUT = "IngestQueueUrl"


class SeedError(RuntimeError):
    """The seeder cannot run as asked (no queue, no samples); the message says what to do."""


def samples(*, invalid: bool, folder: Path = SCHEMAS) -> list[dict[str, Any]]:
    """One message per event type with a schema in ``folder``, fresh ids and time."""
    try:
        return sample_messages(invalid=invalid, folder=folder)
    except FileNotFoundError as exc:
        raise SeedError(str(exc)) from None


def send(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> int:
    for message in messages:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(message),
            MessageGroupId=message["tenant_id"],
            MessageDeduplicationId=message["event_id"],
        )
    return len(messages)


def deployed_queue_url(cloudformation: Any, stack_name: str) -> str:
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:
        raise SeedError(f"cannot read stack {stack_name}: {exc}") from None
    for output in stack.get("Outputs", []):
        if output["OutputKey"] == QUEUE_OUTPUT:
            return str(output["OutputValue"])
    raise SeedError(
        f"stack {stack_name} has no {QUEUE_OUTPUT} output: is the FIFO door (config `queue`) "
        "deployed in that environment?"
    )


def seed_deployed(env: str, prefix: str, messages: list[dict[str, Any]]) -> Iterator[str]:
    import boto3  # noqa: PLC0415 - only for the deployed queue

    url = deployed_queue_url(boto3.client("cloudformation"), f"{prefix}-{env}")
    count = send(boto3.client("sqs"), url, messages)
    yield f"sent {count} message(s) to {url}"


def seed_local(messages: list[dict[str, Any]]) -> Iterator[str]:
    """Start the local pipeline (dev on moto), send, poll as the mapping would, report."""
    import io  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    from local.pipeline import Ledger, LocalPipeline  # noqa: PLC0415

    workdir = ROOT / ".seed"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    with LocalPipeline.start(workdir, handler_log=io.StringIO()) as pipeline:
        if not pipeline.fifo:
            raise SeedError("the dev stack has no FIFO door (config `queue` is None)")
        pipeline.door.send(messages)
        stats = pipeline.door.poll()
        ledger = pipeline.account_fifo(Ledger())
    yield f"sent {len(messages)} message(s) to the local FIFO queue; {stats.invocations} batch(es)"
    for (tenant, status), count in ledger.fifo_ledger.items():
        yield f"ledger {tenant:<12} {status:<8} {count}"
    for body, reason in ledger.fifo_dead_letters:
        yield f"DLQ {reason}: {body}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.seed", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--invalid", action="store_true", help="also one invalid sample per type")
    parser.add_argument("--env", help="publish to this deployed environment's queue (e.g. dev)")
    parser.add_argument("--prefix", default="kahula", help="stack prefix (default kahula)")
    args = parser.parse_args(argv)
    try:
        messages = samples(invalid=args.invalid)
        lines = seed_deployed(args.env, args.prefix, messages) if args.env else seed_local(messages)
        for line in lines:
            print(line)
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
