"""Events: what happened, as frozen payloads; the in-process bus; the torrent catalog.

:class:`EventBus` stamps each payload with an id and a time and fans it out to bounded
per-subscriber queues; a subscriber that falls behind is dropped rather than slowing anyone.
:class:`TorrentCatalog` keeps every torrent's record current from those events and persists it.
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
from revaer.events._payloads import (
    Completed,
    EventPayload,
    FileInfo,
    FilesDiscovered,
    HealthChanged,
    Progress,
    SelectionReconciled,
    SettingsChanged,
    StateChanged,
    TorrentAdded,
    TorrentFailed,
    TorrentRemoved,
    TorrentState,
)

__all__ = [
    "BusMetrics",
    "BusStatistics",
    "CatalogStatistics",
    "Completed",
    "Event",
    "EventBus",
    "EventPayload",
    "FileInfo",
    "FilesDiscovered",
    "HealthChanged",
    "Progress",
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
    "publish_health_changes",
    "publish_settings_changes",
]
