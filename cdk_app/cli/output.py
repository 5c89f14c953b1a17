"""One way to print results and one set of exit codes, for every command.

Human output (the default) is rich tables and progress bars on stdout; ``--json`` prints one
JSON document per command (or JSON lines, one per item, for per-item results such as ``put``)
on stdout, and everything meant for a person (notes, progress) goes to stderr or nowhere, so a
script can always parse stdout. With ``--json`` the error that stops a command is a JSON object
on stderr, with its exit code.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from enum import IntEnum
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table


class ExitCode(IntEnum):
    """What a ``kahula`` exit status means (documented in the README and in ``--help``)."""

    OK = 0  #: everything asked for was done
    ITEMS_FAILED = 1  #: the command ran, but some items failed (each reported with its reason)
    USAGE = 2  #: bad arguments or unusable input (nothing was done)
    UNREACHABLE = 3  #: the target is unreachable or not deployed (credentials, stack, endpoint)
    NOT_FOUND = 4  #: the thing asked for does not exist (``get``: no event with that id)
    INTERRUPTED = 130  #: Ctrl-C


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 some items failed (each reported); 2 usage error or unusable input; "
    "3 target unreachable or not deployed; 4 not found; 130 interrupted."
)


class CliError(Exception):
    """A failure a person can act on: its message is printed as one sentence, no traceback."""

    code: ExitCode = ExitCode.ITEMS_FAILED

    def __init__(self, message: str, code: ExitCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(CliError):
    code = ExitCode.USAGE


class TargetUnreachableError(CliError):
    code = ExitCode.UNREACHABLE


class NotFoundError(CliError):
    code = ExitCode.NOT_FOUND


def _default(value: Any) -> Any:
    """JSON for what boto3 and DynamoDB hand back (Decimal, datetime, bytes, sets)."""
    from decimal import Decimal  # noqa: PLC0415

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def to_json(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_default, indent=indent, ensure_ascii=False)


class Output:
    """Where a command writes: a rich console for people, JSON for scripts."""

    def __init__(
        self, *, json_mode: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self._stdout = stdout
        self.console = Console(file=stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=stderr or sys.stderr, highlight=False, soft_wrap=True)

    # ------------------------------------------------------------------ JSON

    def document(self, value: Any) -> None:
        """The command's one JSON document (``--json``); ignored in human mode."""
        if self.json_mode:
            self._write(to_json(value, indent=2))

    def json_line(self, value: Any) -> None:
        """One JSON line (per-item results, ``--json``); ignored in human mode."""
        if self.json_mode:
            self._write(to_json(value))

    def _write(self, text: str) -> None:
        stream = self._stdout or sys.stdout
        stream.write(text + "\n")
        stream.flush()

    # ------------------------------------------------------------------ people

    def note(self, text: str) -> None:
        """A line for a person: stdout in human mode, stderr with ``--json``."""
        (self.err if self.json_mode else self.console).print(text)

    def error(self, text: str, code: int = ExitCode.ITEMS_FAILED) -> None:
        """Why the command stopped: ``error: <sentence>`` on stderr for a person; with
        ``--json``, one JSON object on stderr (``{"error": ..., "exit_code": ...}``) so a
        script reads the reason the way it reads results."""
        if self.json_mode:
            stream = self.err.file
            stream.write(to_json({"error": text, "exit_code": int(code)}) + "\n")
            stream.flush()
        else:
            self.err.print(f"[red]error:[/red] {text}")

    def table(
        self,
        title: str | None,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        fold: Sequence[str] = (),
    ) -> None:
        """A rich table (human mode only)."""
        if self.json_mode:
            return
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.console.print(table)

    @contextlib.contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr (never with ``--json``); yields ``advance(n)``."""
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.err,
            disable=self.json_mode,
            transient=False,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
