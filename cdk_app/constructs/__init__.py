"""The construct library: one architectural job per construct."""

from .event_archive import EventArchive
from .event_bus import EVERY_EVENT, EventBus
from .event_table import EventTable
from .follow_up_routing import FollowUpRouting
from .monitoring import Monitoring
from .persister import Persister
from .secure_queue import SecureQueue

__all__ = [
    "EVERY_EVENT",
    "EventArchive",
    "EventBus",
    "EventTable",
    "FollowUpRouting",
    "Monitoring",
    "Persister",
    "SecureQueue",
]
