"""Events: what happened, as frozen payloads; the in-process bus; the torrent catalog.

:class:`EventBus` stamps each payload with an id and a time and fans it out to bounded
per-subscriber queues; a subscriber that falls behind is dropped rather than slowing anyone.
:class:`Publisher` applies every event to the read models first (synchronously, so they never
miss one), then hands it to the bus. :class:`TorrentCatalog` is such a read model: every
torrent's record, kept from the engine's events and persisted to PostgreSQL.
:class:`EventJournal` records every event so SSE clients can replay what they missed, across
restarts.
Exceptions::

    RevaerError
    └── SubscriberLagged   a subscriber's queue overflowed; it was dropped and must resubscribe
"""

from revaer.events._bridges import publish_health_changes, publish_settings_changes
from revaer.events._bus import (
    BusMetrics,
    BusStatistics,
    Event,
    EventBus,
    SubscriberLagged,
    Subscription,
)
from revaer.events._catalog import CatalogStatistics, TorrentCatalog, TorrentRecord
from revaer.events._journal import (
    RESERVE,
    EventFilter,
    EventJournal,
    Frame,
    JournalPolicy,
    JournalStatistics,
)
from revaer.events._payloads import (
    EVENT_KINDS,
    Completed,
    EventPayload,
    FileInfo,
    FilesDiscovered,
    FsopsCompleted,
    FsopsFailed,
    FsopsProgress,
    FsopsStarted,
    HealthChanged,
    Progress,
    SelectionReconciled,
    SettingsChanged,
    StateChanged,
    TorrentAdded,
    TorrentFailed,
    TorrentRemoved,
    TorrentState,
    TorrentUpdated,
)
from revaer.events._publisher import Projection, Publisher, Recorder

__all__ = [
    "EVENT_KINDS",
    "RESERVE",
    "BusMetrics",
    "BusStatistics",
    "CatalogStatistics",
    "Completed",
    "Event",
    "EventBus",
    "EventFilter",
    "EventJournal",
    "EventPayload",
    "FileInfo",
    "FilesDiscovered",
    "Frame",
    "FsopsCompleted",
    "FsopsFailed",
    "FsopsProgress",
    "FsopsStarted",
    "HealthChanged",
    "JournalPolicy",
    "JournalStatistics",
    "Progress",
    "Projection",
    "Publisher",
    "Recorder",
    "SelectionReconciled",
    "SettingsChanged",
    "StateChanged",
    "SubscriberLagged",
    "Subscription",
    "TorrentAdded",
    "TorrentCatalog",
    "TorrentFailed",
    "TorrentRecord",
    "TorrentRemoved",
    "TorrentState",
    "TorrentUpdated",
    "publish_health_changes",
    "publish_settings_changes",
]
