"""Values derived from catalog records, computed once per record object.

A record is immutable and replaced whenever the torrent changes, so a value keyed by the
torrent id stays valid while the catalog still holds that same object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from revaer.events import TorrentRecord

__all__ = ["RecordMemo"]

T = TypeVar("T")


class RecordMemo(Generic[T]):
    """``compute(record)``, remembered per torrent id while the record object is current."""

    def __init__(self, compute: Callable[[TorrentRecord], T]) -> None:
        self._compute = compute
        self._values: dict[str, tuple[TorrentRecord, T]] = {}
        self._limit = 4096

    def size_for(self, records: int) -> None:
        """Keep at most about twice ``records`` entries (ids of removed torrents go)."""
        self._limit = 2 * records + 1024

    def of(self, record: TorrentRecord) -> T:
        """The value for ``record``."""
        cached = self._values.get(record.torrent_id)
        if cached is not None and cached[0] is record:
            return cached[1]
        if len(self._values) >= self._limit:
            self._values.clear()  # start over rather than track which ids are gone
        value = self._compute(record)
        self._values[record.torrent_id] = (record, value)
        return value
