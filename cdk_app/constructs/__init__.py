"""The construct library: one architectural job per construct, each owning its defaults."""

from .aggregate_event_store import AggregateEventStore, AggregateEventStoreProps
from .archive_catalog import ArchiveCatalog, ArchiveCatalogProps
from .common import LogLevel, Naming, PlatformLogLevel
from .encryption import EncryptionKey, EncryptionProps
from .event_api import Authorization, EndpointKind, EventApi, EventApiProps
from .event_archive import EventArchive, EventArchiveProps
from .event_bus import EVERY_EVENT, EventBus, EventBusProps
from .event_replay import EventReplay
from .event_table import EventTable, EventTableProps
from .follow_up_routing import FollowUpRouting, FollowUpRoutingProps
from .monitoring import Monitoring, MonitoringProps
from .network import FunctionNetwork
from .persister import Persister, PersisterProps
from .queue_ingest import QueueIngest, QueueIngestProps
from .secure_bucket import ObjectLockMode
from .secure_queue import SecureQueue
from .standalone_core import StandaloneCore, StandaloneCoreProps
from .stream_ingest import StreamIngest, StreamIngestProps, StreamMode

__all__ = [
    "EVERY_EVENT",
    "AggregateEventStore",
    "AggregateEventStoreProps",
    "ArchiveCatalog",
    "ArchiveCatalogProps",
    "Authorization",
    "EncryptionKey",
    "EncryptionProps",
    "EndpointKind",
    "EventApi",
    "EventApiProps",
    "EventArchive",
    "EventArchiveProps",
    "EventBus",
    "EventBusProps",
    "EventReplay",
    "EventTable",
    "EventTableProps",
    "FollowUpRouting",
    "FollowUpRoutingProps",
    "FunctionNetwork",
    "LogLevel",
    "Monitoring",
    "MonitoringProps",
    "Naming",
    "ObjectLockMode",
    "Persister",
    "PersisterProps",
    "PlatformLogLevel",
    "QueueIngest",
    "QueueIngestProps",
    "SecureQueue",
    "StandaloneCore",
    "StandaloneCoreProps",
    "StreamIngest",
    "StreamIngestProps",
    "StreamMode",
]
