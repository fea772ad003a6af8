"""Loopback torrent test harness: payload files, .torrent creation, a seeder, a bare leecher.

Everything runs on 127.0.0.1 over TCP with plain libtorrent sessions (no internet, no uTP).
Fixtures live in ``tests.harness.fixtures``; activate them with
``pytest_plugins = ["tests.harness.fixtures"]`` in ``tests/conftest.py``.
"""

from tests.harness._payload import DEFAULT_LAYOUT, make_payload, same_tree
from tests.harness._session import (
    LOOPBACK,
    Seeder,
    bare_download,
    bare_download_in_thread,
    loopback_settings,
    open_seeder,
)
from tests.harness._torrent import TorrentFile, TorrentKind, make_torrent

__all__ = [
    "DEFAULT_LAYOUT",
    "LOOPBACK",
    "Seeder",
    "TorrentFile",
    "TorrentKind",
    "bare_download",
    "bare_download_in_thread",
    "loopback_settings",
    "make_payload",
    "make_torrent",
    "open_seeder",
    "same_tree",
]
