"""One exception type per failure kind, each with a message an on-call engineer can act on.

MalformedEventError and its subclasses mean the event itself is bad: retrying cannot help, the
event reaches the function's on-failure queue intact with this message as its reason.
The others are transient: raising them makes Lambda retry the whole (idempotent) invocation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .follow_ups import EmitReport


class PersisterError(Exception):
    """Base of every error the persister raises on purpose."""


class MalformedEventError(PersisterError, ValueError):
    """The event cannot be persisted as it is; the message names the field and the problem."""


class EnvelopeError(MalformedEventError):
    """The EventBridge envelope is not an object, or lacks or mistypes a required field."""


class InvalidTimestampError(MalformedEventError):
    """The event's ``time`` is not an ISO-8601 timestamp with a UTC offset."""


class InvalidIdentifierError(MalformedEventError):
    """A contract field (event id, saga id, ...) is present but not a usable identifier."""


class UnstorableValueError(MalformedEventError):
    """The detail holds a value DynamoDB cannot store (NaN, Infinity, a number out of range,
    nesting deeper than 32 levels, an empty map key, or text that is not valid Unicode)."""


class ConfigurationError(PersisterError):
    """The function's environment is missing a variable or holds an invalid value."""


class FollowUpEmissionError(PersisterError):
    """PutEvents still reported failed entries after every retry; Lambda retries the event."""

    report: EmitReport | None = None  # what was emitted and retried before giving up
