"""The README's "Event sourcing with the store" example: the docs' example, executed as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

from kahula_core.aggregates.client import AggregateStore

from .conftest import create_table

ROOT = Path(__file__).resolve().parents[3]
SECTION = "## Event sourcing with the store"


def example(path: Path) -> str:
    """The first Python block of the section in a markdown file."""
    section = path.read_text(encoding="utf-8").split(SECTION, 1)[1]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def test_the_readme_shows_the_docs_example_unchanged():
    assert example(ROOT / "README.md") == example(ROOT / "docs" / "aggregate-event-store.md")


def test_the_readme_example_appends_reads_and_refuses_a_stale_writer(dynamodb: Any):
    # GIVEN the table the example names, on moto (its client is made lazily from boto3)
    code = example(ROOT / "README.md")
    (table,) = re.findall(r'table_name="([^"]+)"', code)
    create_table(dynamodb, table)
    # WHEN the example runs as written
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})  # our own README
    # THEN the stale writer was refused at versions 1 / 2 and the stream holds two events
    assert out.getvalue() == "1 2\n"
    stored = AggregateStore(table_name=table, dynamodb=dynamodb).read("order-42")
    assert [(e.sequence_number, e.event_type, e.event_id) for e in stored] == [
        (1, "OrderPlaced", "cmd-1"),
        (2, "OrderPaid", "cmd-2"),
    ]
