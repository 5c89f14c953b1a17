"""Sources only the platform publishes under: a front door refuses an event that claims one.

On the bus an explicit Deny reserves the persister's follow-up source, the replay and outbox
sources, and the prefix the FIFO door stamps on its events (``tenant.``) (README, "No producer
can impersonate the platform"). A front door that writes straight into the store (a Kinesis
record in the platform's envelope, a POST /events) never crosses that policy, so it checks the
source itself: otherwise a producer could store an event as the platform's follow-up, or take
the id a follow-up will have (it is derived, so it can be computed) and turn the real follow-up
into a conflict.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from . import spec
from .errors import EnvelopeError
from .persist import Pipeline


class ReservedSourceError(EnvelopeError):
    """The event claims a source only the platform may publish under."""


def refuse_reserved_source(event: Mapping[str, Any], reserved: Collection[str]) -> None:
    """Raise ReservedSourceError when the event's ``source`` is one of ``reserved`` or starts
    with one of its ``prefix*`` entries (spec.source_is_reserved)."""
    source = event.get("source")
    if isinstance(source, str) and spec.source_is_reserved(source.strip(), reserved):
        raise ReservedSourceError(
            f"event source {source!r} is reserved for the platform's own events; a producer "
            "may not publish under it"
        )


def refuse_platform_sources(event: Mapping[str, Any], pipeline: Pipeline) -> None:
    """What a front door writing straight into the store checks: the event claims neither the
    persister's follow-up source nor any source reserved on the bus (``RESERVED_SOURCES``:
    replays, the aggregate store's outbox)."""
    refuse_reserved_source(event, {pipeline.emitter.source, *pipeline.settings.reserved_sources})
