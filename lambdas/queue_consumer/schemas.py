"""The JSON Schemas, one file per event type in ``schemas/``: ``<event_type>.schema.json``.

Adding an event type is dropping its schema file in that folder (and, by convention, a valid
``<event_type>.sample.json`` and an ``<event_type>.invalid.json`` message beside it, which the
tests and ``make seed`` use). A schema's top-level ``"version"`` is recorded with each ledger
entry; without one, the first 12 hex digits of the file's SHA-256 stand in.

Each schema is compiled by fastjsonschema (the validator Powertools' validation utility uses;
the official Powertools layer ships it) on first use and kept for the life of the container:
Powertools' ``validate()`` would compile the schema again on every call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kahula_core.errors import ConfigurationError

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMA_SUFFIX = ".schema.json"


@dataclass(frozen=True)
class Verdict:
    valid: bool
    schema_version: str | None  # None: no schema for the type
    reason: str | None = None


@dataclass(frozen=True)
class _Compiled:
    version: str
    check: Callable[[Any], Any]


#: A reason longer than this is shortened in the middle: it may quote a payload's key path,
#: and the ledger item holding it must stay within DynamoDB's 400 KB beside the payload.
MAX_REASON_CHARS = 1024


def shortened(reason: str, limit: int = MAX_REASON_CHARS) -> str:
    """The reason, its middle elided when over ``limit`` characters (head and tail kept)."""
    if len(reason) <= limit:
        return reason
    keep = (limit - 5) // 2
    return f"{reason[:keep]} ... {reason[-keep:]}"


class SchemaRegistry:
    """Event type -> its compiled schema; compiled once, on first use."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self.directory = directory
        self._files = {
            path.name.removesuffix(SCHEMA_SUFFIX): path
            for path in sorted(directory.glob(f"*{SCHEMA_SUFFIX}"))
        }
        self._compiled: dict[str, _Compiled] = {}

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self._files)

    def _compile(self, event_type: str) -> _Compiled:
        import fastjsonschema  # noqa: PLC0415 - paid on the first message, not at import

        path = self._files[event_type]
        text = path.read_bytes()
        try:
            definition = json.loads(text)
            check = fastjsonschema.compile(definition)
        except (json.JSONDecodeError, fastjsonschema.JsonSchemaDefinitionException) as exc:
            raise ConfigurationError(
                f"schema file {path.name} is not a valid schema: {exc}"
            ) from None
        version = definition.get("version") if isinstance(definition, dict) else None
        if not isinstance(version, str) or not version:
            version = "sha256:" + hashlib.sha256(text).hexdigest()[:12]
        return _Compiled(version=version, check=check)

    def validate(self, event_type: str, payload: Any) -> Verdict:
        if event_type not in self._files:
            return Verdict(False, None, f"no schema for event type {event_type}")
        compiled = self._compiled.get(event_type)
        if compiled is None:
            compiled = self._compiled[event_type] = self._compile(event_type)
        import fastjsonschema  # noqa: PLC0415 - already loaded by _compile

        try:
            compiled.check(payload)
        except fastjsonschema.JsonSchemaValueException as exc:
            # fastjsonschema names the document "data"; ours is the message's payload.
            message = exc.message
            if exc.rule == "required" and isinstance(exc.value, dict):
                # fastjsonschema lists missing properties in set order: use the schema's.
                missing = [p for p in exc.rule_definition or () if p not in exc.value]
                message = f"{exc.name} must contain {missing} properties"
            if message.startswith("data"):
                message = "payload" + message.removeprefix("data")
            return Verdict(False, compiled.version, shortened(message))
        return Verdict(True, compiled.version)
