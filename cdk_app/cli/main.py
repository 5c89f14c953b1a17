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
from .output import EXIT_CODES_HELP, CliError, ExitCode, Output

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


def _asks_for_json(args: Sequence[str]) -> bool:
    """Whether ``--json`` is among the options (those before a ``--``): read from the words,
    because a usage error can stop Typer before it parsed the global options."""
    options = args[: list(args).index("--")] if "--" in args else args
    return "--json" in options


def _usage_message(exc: typer.TyperException) -> str:
    """A usage error in one sentence: a command given no arguments at all (whose message is
    its whole help) says so and where the help is."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        return f"{ctx.command_path}: arguments missing (see {ctx.command_path} --help)"
    return str(exc.format_message())  # type: ignore[attr-defined]


def run(argv: Sequence[str] | None = None, *, state: State | None = None) -> int:
    """Run one command line; returns its exit code (tests call this with their own state)."""
    state = state or State()
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        try:
            result = app(
                args=args,
                prog_name="kahula",
                standalone_mode=False,
                obj=state,
            )
        finally:
            state.close()
    except typer.Exit as done:
        return int(done.exit_code)
    except typer.TyperException as exc:  # Typer's (vendored Click's) usage errors
        code = int(getattr(exc, "exit_code", ExitCode.USAGE))
        if _asks_for_json(args):
            given = state.output
            out = given if given is not None and given.json_mode else Output(json_mode=True)
            out.error(_usage_message(exc), code)
        else:
            exc.show()  # type: ignore[attr-defined]
        return code
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
