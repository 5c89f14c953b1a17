"""``kahula local up|down|status``: the local pipeline's session (a checkout only).

The session is moto's server running in the background with the synthesized stack created in
it (``local/session.py``); every ``--local`` command attaches to it, so what ``put`` stored,
``get`` reads. The first ``--local`` command starts it on demand; ``down`` stops it.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from ..context import State, import_local
from ..output import ExitCode, TargetUnreachableError


def _record_json(record: Any) -> dict[str, Any]:
    return {
        "stack": record.stack_name,
        "endpoint": record.endpoint,
        "pid": record.pid,
        "started_at": record.started_at,
    }


def register(app: typer.Typer) -> None:
    local = typer.Typer(
        help="""The local pipeline's session: moto in the background, the dev stack in it.

The first --local command starts it on demand (synthesizing once, about 30 s); later ones
attach in about a second. Its state (pid, endpoint, readers' positions) is in .kahula-local/.

Examples:

\b
  kahula local up && kahula --local put samples/events.jsonl
  kahula local status
  kahula local down
""",
        no_args_is_help=True,
    )

    @local.command("up")
    def local_up(ctx: typer.Context) -> int:
        """Start the session (if none runs): synthesize, start moto, create the stack in it."""
        state = State.of(ctx)
        session = import_local("session")
        try:
            record, started = session.up(
                env=state.options.env,
                prefix=state.options.prefix,
                announce=lambda line: print(line, file=sys.stderr),
            )
        except (session.LocalSessionError, RuntimeError) as exc:
            raise TargetUnreachableError(f"the local session: {exc}") from None
        state.out.document({**_record_json(record), "started": started})
        if not started:
            state.out.note(f"the local session runs {record.stack_name} on {record.endpoint}")
        return ExitCode.OK

    @local.command("down")
    def local_down(ctx: typer.Context) -> int:
        """Stop the session's moto server; everything in it is gone."""
        state = State.of(ctx)
        record = import_local("session").down()
        state.out.document({"stopped": record is not None})
        state.out.note(
            f"stopped the local session ({record.stack_name}, pid {record.pid})"
            if record
            else "no local session was running"
        )
        return ExitCode.OK

    @local.command("status")
    def local_status(ctx: typer.Context) -> int:
        """Is a session running, and where (exit 3 when none runs)."""
        state = State.of(ctx)
        record = import_local("session").status()
        state.out.document(_record_json(record) if record else {"running": False})
        if record is None:
            state.out.note("no local session is running (`kahula local up` starts one)")
            return ExitCode.UNREACHABLE
        state.out.note(
            f"{record.stack_name} on {record.endpoint} (pid {record.pid}, since "
            f"{record.started_at})"
        )
        return ExitCode.OK

    app.add_typer(local, name="local")
