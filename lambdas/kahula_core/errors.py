"""One exception type per failure kind, each with a message an on-call engineer can act on.

MalformedEventError and its subclasses mean the event itself is bad: retrying cannot help, so
the function raises at once and the event reaches its on-failure queue intact, with this message
as the reason. The others are transient: raising them makes Lambda retry the whole invocation,
which is safe because every step is idempotent.

This module imports nothing from the core, so every other module can import it.
"""

from __future__ import annotations


class PersisterError(Exception):
    """Base of every error the persistence core raises on purpose."""


class MalformedEventError(PersisterError, ValueError):
    """The event cannot be persisted as it is; the message names the field and the problem."""


class EnvelopeError(MalformedEventError):
    """The EventBridge envelope is not an object, or lacks or mistypes a required field."""


class ReplayedEventError(EnvelopeError):
    """An event under the reserved replay source is not a wrapper around one original event."""


class InvalidTimestampError(MalformedEventError):
    """The event's ``time`` is not an ISO-8601 timestamp with a UTC offset, or its instant
    falls outside years 0001-9999 once moved to UTC."""


class InvalidIdentifierError(MalformedEventError):
    """A contract field (event id, saga id, ...) is present but not a usable identifier."""


class KeyTooLongError(InvalidIdentifierError):
    """An attribute that keys the table or an index is longer than DynamoDB's key limit."""


class UnstorableValueError(MalformedEventError):
    """The detail holds a value DynamoDB cannot store (NaN, Infinity, a number out of range,
    nesting deeper than 32 levels, an empty map key, or text that is not valid Unicode)."""


class ItemTooLargeError(MalformedEventError):
    """The item is over DynamoDB's 400 KB limit even with its detail claim-checked to S3."""


class ConfigurationError(PersisterError):
    """The function's environment is missing a variable or holds an invalid value."""


class FollowUpEmissionError(PersisterError):
    """PutEvents still reported failed entries after every retry; Lambda retries the event."""

    def __init__(self, message: str, *, emitted: int = 0, failed_entries: int = 0) -> None:
        super().__init__(message)
        self.emitted = emitted  # entries PutEvents accepted before giving up
        self.failed_entries = failed_entries  # rejections seen, retries included
