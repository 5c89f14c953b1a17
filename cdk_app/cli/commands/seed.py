"""``kahula seed``: seed the front doors: the SQS FIFO door with its samples, the Kinesis door
with a file of records (``--stream``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..context import State, Target, aws_errors
from ..output import ExitCode, Output, UsageError
from ..seeding import (
    ledger_status,
    put_records,
    read_stream_records,
    sample_messages,
    send_envelopes,
)


def seed_fifo(target: Target, *, invalid: bool) -> list[dict[str, Any]]:
    """Send one sample per event type (``invalid``: and one invalid each) to the FIFO door;
    each message with its ledger status once the consumer has run (locally: at once)."""
    try:
        messages = sample_messages(invalid=invalid)
    except FileNotFoundError as exc:
        raise UsageError(f"cannot seed: {exc}") from None
    queue_url, ledger = target.ingest_queue_url, target.ledger_table  # both, before sending
    with aws_errors():
        send_envelopes(target.client("sqs"), queue_url, messages)
        target.settle()
        dynamodb = target.client("dynamodb")
        rows = []
        for message in messages:
            status, reason = ledger_status(dynamodb, ledger, message)
            rows.append(
                {
                    "tenant_id": message["tenant_id"],
                    "event_type": message["event_type"],
                    "event_id": message["event_id"],
                    "status": status,
                    "reason": reason,
                }
            )
    return rows


def report(out: Output, target: Target, rows: list[dict[str, Any]]) -> None:
    out.document({"queue": target.ingest_queue_url, "sent": len(rows), "messages": rows})
    out.table(
        f"FIFO door: {len(rows)} message(s) sent",
        ("tenant", "event type", "event id", "ledger", "reason"),
        [(r["tenant_id"], r["event_type"], r["event_id"], r["status"], r["reason"]) for r in rows],
        fold=("reason",),
    )
    if any(r["status"] == "pending" for r in rows):
        out.note(
            "pending: not in the tenant ledger yet (the consumer runs asynchronously; "
            "`kahula seed` does not wait)"
        )


def seed_stream(target: Target, path: Path) -> list[dict[str, Any]]:
    """PutRecords every record of ``path`` onto the Kinesis door's stream: one row per line,
    accepted (shard and sequence number) or refused with the reason (PutRecords' own, or why
    the line is not a record); then the consumer runs (locally: at once)."""
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    bad: list[tuple[str, str]] = []
    try:
        records = read_stream_records(path, bad)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if not records:
        raise UsageError(f"nothing to seed: {path.name} holds no stream record")
    stream = target.stream_name
    with aws_errors():
        results = put_records(
            target.client("kinesis"), stream, [(key, data) for _, key, data in records]
        )
        target.settle()
    rows = [
        {"where": where, "partition_key": "", "ok": False, "result": reason}
        for where, reason in bad
    ]
    for (where, key, _), result in zip(records, results, strict=True):
        accepted = "SequenceNumber" in result
        rows.append(
            {
                "where": where,
                "partition_key": key,
                "ok": accepted,
                "result": (
                    f"{result['ShardId']} #{result['SequenceNumber']}"
                    if accepted
                    else f"{result.get('ErrorCode', 'refused')}: {result.get('ErrorMessage', '')}"
                ),
            }
        )
    return sorted(rows, key=lambda r: int(str(r["where"]).rsplit(":", 1)[1]))


def report_stream(out: Output, target: Target, rows: list[dict[str, Any]]) -> None:
    accepted = sum(1 for r in rows if r["ok"])
    out.document({"stream": target.stream_name, "accepted": accepted, "records": rows})
    out.table(
        f"Kinesis door: {accepted} of {len(rows)} record(s) accepted",
        ("where", "partition key", "shard / sequence number, or why not"),
        [(r["where"], r["partition_key"], r["result"]) for r in rows],
        fold=("shard / sequence number, or why not",),
    )
    out.note(
        "accepted records are stored, or quarantined with their reason, by the stream's "
        "consumer (`kahula redrive stream-malformed` shows those)"
    )


def register(app: typer.Typer) -> None:
    @app.command("seed")
    def seed(
        ctx: typer.Context,
        invalid: Annotated[
            bool, typer.Option("--invalid", help="also one invalid sample per event type")
        ] = False,
        stream: Annotated[
            Path | None,
            typer.Option(
                "--stream",
                metavar="FILE",
                help="seed the Kinesis door instead, with the records of FILE (JSON lines "
                '{"partitionKey", "data"} or {"partitionKey", "raw"}; the checkout\'s '
                "samples/stream_records.jsonl)",
            ),
        ] = None,
    ) -> int:
        """Seed the SQS FIFO door (one sample message per event type), or with --stream the
        Kinesis door.

        The samples are the files beside the door's JSON Schemas (<type>.sample.json, and
        <type>.invalid.json with --invalid), each sent with a fresh event id and the current
        time, grouped by tenant. Then each message's tenant-ledger status is shown (READY or
        INVALID with the reason; "pending" while a deployed consumer has not run yet).
        With --stream, each record of FILE is put on the door's stream (PutRecords) and shown
        accepted, with its shard and sequence number, or refused with the reason. Exit code 3
        when the environment has no such door; 1 when a record was refused.

        Examples:

        \b
          kahula --local seed --invalid          # what `make seed INVALID=1` runs
          kahula --env dev seed
          kahula --local seed --stream samples/stream_records.jsonl
        """
        state = State.of(ctx)
        target = state.target()
        if stream is not None:
            if invalid:
                raise UsageError("--invalid is for the FIFO door's samples, not --stream")
            rows = seed_stream(target, stream)
            report_stream(state.out, target, rows)
            return ExitCode.OK if all(r["ok"] for r in rows) else ExitCode.ITEMS_FAILED
        report(state.out, target, seed_fifo(target, invalid=invalid))
        return ExitCode.OK
