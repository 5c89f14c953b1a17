"""``kahula seed``: seed the front doors (today the SQS FIFO door) with their sample messages."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..context import State, Target, aws_errors
from ..output import ExitCode, Output, UsageError
from ..seeding import ledger_status, sample_messages, send_envelopes


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


def register(app: typer.Typer) -> None:
    @app.command("seed")
    def seed(
        ctx: typer.Context,
        invalid: Annotated[
            bool, typer.Option("--invalid", help="also one invalid sample per event type")
        ] = False,
    ) -> int:
        """Seed the SQS FIFO door: one sample message per event type.

        The samples are the files beside the door's JSON Schemas (<type>.sample.json, and
        <type>.invalid.json with --invalid), each sent with a fresh event id and the current
        time, grouped by tenant. Then each message's tenant-ledger status is shown (READY or
        INVALID with the reason; "pending" while a deployed consumer has not run yet).
        Exit code 3 when the environment has no FIFO door.

        Examples:

        \b
          kahula --local seed --invalid          # what `make seed INVALID=1` runs
          kahula --env dev seed
        """
        state = State.of(ctx)
        target = state.target()
        report(state.out, target, seed_fifo(target, invalid=invalid))
        return ExitCode.OK
