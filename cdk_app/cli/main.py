"""The ``kahula`` console script: global options, the commands, exit codes.

Each command lives in its own module under ``commands/`` and exposes
``register(app: typer.Typer) -> None``; adding a command is one import and one entry in
``COMMANDS``. A command reads its target and output from ``State.of(ctx)`` (context.py) and
returns an ``ExitCode``; failures are ``CliError`` sentences, never tracebacks.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Annotated

import typer

from .commands import get, local_session, put, query, redrive, replay, seed
from .context import DEFAULT_PREFIX, ENV_VARIABLE, Options, State, translate
from .output import EXIT_CODES_HELP, CliError, ExitCode

#: The command modules, in the order ``--help`` lists them.
COMMANDS: tuple[ModuleType, ...] = (get, put, replay, redrive, query, seed, local_session)

HELP = f"""Operate a Kahula event-persistence environment: read stored events, publish events,
inspect and redrive failure queues, seed the front doors.

Deployed environments are found through the CloudFormation outputs of the stack
PREFIX-ENV (AWS credentials needed); --local works on the local pipeline (moto) of a
checkout instead.

Examples:

\b
  kahula get order-1001-v3                      # one stored event
  kahula --env prod --profile ops redrive failed --dry-run
  kahula --local put samples/events.jsonl && kahula --local get order-1001-v3
  kahula --json put events.jsonl | jq .         # one JSON line per input line

{EXIT_CODES_HELP}"""

app = typer.Typer(
    name="kahula",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


@app.callback()
def options(  # Typer reads the options from the signature
    ctx: typer.Context,
    *,
    env: Annotated[
        str,
        typer.Option(
            "--env",
            "-e",
            envvar=ENV_VARIABLE,
            help="environment: the stack is PREFIX-ENV",
        ),
    ] = "dev",
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="AWS profile (default: boto3's chain)")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", "-r", help="AWS region (default: the profile's)")
    ] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="the local pipeline on moto (a checkout; started on demand, see `kahula local`)",
        ),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="machine-readable output: JSON on stdout")
    ] = False,
    prefix: Annotated[
        str, typer.Option("--prefix", help="resource-name prefix of the stack PREFIX-ENV")
    ] = DEFAULT_PREFIX,
) -> None:
    state = ctx.ensure_object(State)
    state.options = Options(
        env=env, prefix=prefix, profile=profile, region=region, local=local, json=json_output
    )


for _module in COMMANDS:
    _module.register(app)


def run(argv: Sequence[str] | None = None, *, state: State | None = None) -> int:
    """Run one command line; returns its exit code (tests call this with their own state)."""
    state = state or State()
    try:
        try:
            result = app(
                args=list(argv) if argv is not None else None,
                prog_name="kahula",
                standalone_mode=False,
                obj=state,
            )
        finally:
            state.close()
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.TyperException as exc:  # Typer's (vendored Click's) usage errors
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    except (KeyboardInterrupt, typer.Abort):
        state.out.error("interrupted", ExitCode.INTERRUPTED)
        return ExitCode.INTERRUPTED
    except CliError as exc:
        state.out.error(str(exc), exc.code)
        return exc.code
    except Exception as exc:
        translated = translate(exc)
        if translated is None:
            raise
        state.out.error(str(translated), translated.code)
        return translated.code
    return int(result) if isinstance(result, int) else ExitCode.OK


def main() -> None:
    sys.exit(run(sys.argv[1:]))
