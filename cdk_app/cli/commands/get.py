"""``kahula get ID``: one stored event, read strongly consistent, its claim check restored."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..context import State, Target, aws_errors
from ..output import CliError, ExitCode, NotFoundError, Output, UsageError, to_json


def read_event(target: Target, unique_id: str) -> dict[str, Any]:
    """The stored event as JSON-ready values (kahula_core.reader: the API's read path)."""
    if not unique_id.strip():
        raise UsageError("ID is empty: give the event's unique_id (`kahula get ID`)")
    from kahula_core.reader import ClaimCheckUnavailableError, EventReader  # noqa: PLC0415

    reader = EventReader(
        dynamodb=lambda: target.client("dynamodb"),
        s3=lambda: target.client("s3"),
        table_name=target.table_name,
    )
    try:
        with aws_errors():
            stored = reader.get(unique_id)
    except ClaimCheckUnavailableError as exc:  # stored, but its detail in S3 is gone or damaged
        raise CliError(
            f"event {unique_id!r} is stored but its detail is unavailable: {exc}"
        ) from exc
    if stored is None:
        shown = repr(unique_id[:200])
        if len(unique_id) > 200:
            shown += f" (the first 200 of {len(unique_id)} characters)"
        raise NotFoundError(f"no event stored under unique_id {shown} in {target.where}")
    event: dict[str, Any] = {**stored.fields, "detail": stored.detail}
    if stored.claim_check is not None:
        event["payload_claim_check"] = stored.claim_check
    return event


def show(out: Output, event: dict[str, Any]) -> None:
    if out.json_mode:
        out.document(event)
        return
    fields = [(k, v) for k, v in event.items() if k not in ("detail", "payload_claim_check")]
    out.table(f"event {event['unique_id']}", ("field", "value"), fields, fold=("value",))
    claim = event.get("payload_claim_check")
    if claim:
        out.note(f"detail restored from s3://{claim['bucket']}/{claim['key']} (SHA-256 checked)")
    out.console.print_json(to_json(event["detail"]))


def register(app: typer.Typer) -> None:
    @app.command("get", no_args_is_help=True)
    def get(
        ctx: typer.Context,
        unique_id: Annotated[str, typer.Argument(metavar="ID", help="the event's unique_id")],
    ) -> int:
        """Print one stored event: its contract fields and its detail.

        The read is strongly consistent (it sees every acknowledged write), and a detail kept
        in S3 (claim check, over 350 KB) is fetched and checked against its SHA-256.
        Exit code 4 when no event has that id.

        Examples:

        \b
          kahula get order-1001-v3
          kahula --json get order-1001-v3 | jq .detail
          kahula --local get tenant-a#5f0c8a1e-...
        """
        state = State.of(ctx)
        show(state.out, read_event(state.target(), unique_id))
        return ExitCode.OK
