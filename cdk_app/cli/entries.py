"""Input events as PutEvents entries: the one parser of ``kahula put`` and ``make push``.

An input item is a PutEvents entry (``{"Source", "DetailType", "Detail"}``, optionally
``Time``, ``Resources``, ``TraceHeader``; ``Detail`` an object or a JSON string of one) or an
EventBridge event (``{"source", "detail-type", "detail"}``, optionally ``time`` and
``resources``, as the bus delivers it or the archive holds it). Keys starting with ``_`` are
comments. A file is JSON lines, or one JSON document that is an object or a list of them.
Every unusable item is reported with where it is and why, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: What PutEvents takes in an entry (EventBusName is the target's: ``kahula put`` sets it).
ENTRY_KEYS = ("Source", "DetailType", "Detail", "Time", "Resources", "TraceHeader", "EventBusName")
#: EventBridge event fields -> the PutEvents entry's (the rest of an event is EventBridge's).
EVENT_KEYS = {
    "source": "Source",
    "detail-type": "DetailType",
    "detail": "Detail",
    "time": "Time",
    "resources": "Resources",
}
REQUIRED = ("Source", "DetailType", "Detail")


class BadInputLine(ValueError):
    """An input item that cannot be published: where it is, and why (the message is both)."""

    def __init__(self, where: str, reason: str, number: int | None = None) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
        self.number = number  # its line number, when it is a line


def to_entry(record: Any, where: str) -> dict[str, Any]:
    """One input item as a PutEvents entry (``Detail`` as a JSON string of an object)."""
    if not isinstance(record, dict):
        raise BadInputLine(where, f"expected a JSON object, got {type(record).__name__}")
    record = {k: v for k, v in record.items() if not k.startswith("_")}
    if "detail-type" in record or "source" in record:
        record = {EVENT_KEYS[k]: v for k, v in record.items() if k in EVENT_KEYS}
    unknown = sorted(set(record) - set(ENTRY_KEYS))
    if unknown:
        raise BadInputLine(
            where,
            f"unknown field(s) {', '.join(unknown)} (a PutEvents entry has "
            f"{', '.join(ENTRY_KEYS)})",
        )
    missing = [k for k in REQUIRED if record.get(k) is None]
    if missing:
        raise BadInputLine(where, f"missing {', '.join(missing)}")
    detail = record["Detail"]
    if isinstance(detail, str):
        try:
            parsed = json.loads(detail)
        except json.JSONDecodeError as exc:
            raise BadInputLine(where, f"Detail is a string but not JSON ({exc})") from None
        if not isinstance(parsed, dict):
            raise BadInputLine(where, "Detail must be a JSON object")
    elif not isinstance(detail, dict):
        raise BadInputLine(where, f"Detail must be an object, got {type(detail).__name__}")
    for key in ("Source", "DetailType", "TraceHeader", "EventBusName"):
        if key in record and not isinstance(record[key], str):
            raise BadInputLine(where, f"{key} must be a string")
    resources = record.get("Resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise BadInputLine(where, "Resources must be a list of ARNs (strings)")
    if "Time" in record:
        _check_time(record["Time"], where)
    entry = dict(record)
    entry["Detail"] = detail if isinstance(detail, str) else json.dumps(detail)
    return entry


def _check_time(value: Any, where: str) -> None:
    """Time as PutEvents takes it in JSON: an ISO-8601 string with an offset (``Z``)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if not isinstance(value, str) or parsed is None or parsed.tzinfo is None:
        raise BadInputLine(where, f"Time must be an ISO-8601 time with an offset, got {value!r}")


@dataclass(frozen=True)
class Item:
    """One input item: where it is (``file:line`` or ``file[index]``) and what it holds."""

    where: str
    number: int  # line number (JSON lines) or position from 1 (a document's list)
    value: Any


def parse_items(text: str, name: str) -> Iterator[Item | BadInputLine]:
    """The items of a file's text: one JSON document (an object or a list), else JSON lines.

    Yields each item, or a ``BadInputLine`` for a line that is not JSON (blank lines are
    skipped), so a caller reports it in order with the others.
    """
    stripped = text.strip()
    if not stripped:
        return
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError:
        document = None
    else:
        if isinstance(document, list):
            for index, value in enumerate(document, start=1):
                yield Item(f"{name}[{index}]", index, value)
            return
        if isinstance(document, dict):
            yield Item(f"{name}:1", 1, document)
            return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            yield Item(where, number, json.loads(line))
        except json.JSONDecodeError as exc:
            yield BadInputLine(where, f"not JSON ({exc.msg} at column {exc.colno})", number)


def read_entries(
    text: str, name: str, bad: list[tuple[str, str]]
) -> Iterator[tuple[Item, dict[str, Any]]]:
    """Each usable item with its PutEvents entry; unusable ones appended to ``bad`` as
    (where, reason), in order."""
    for item in parse_items(text, name):
        if isinstance(item, BadInputLine):
            bad.append((item.where, str(item)))
            continue
        try:
            yield item, to_entry(item.value, item.where)
        except BadInputLine as exc:
            bad.append((item.where, str(exc)))
