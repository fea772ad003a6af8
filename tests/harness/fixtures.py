"""pytest fixtures for loopback torrent tests (activate with ``pytest_plugins``).

All function-scoped and fast: a ≈5 MiB payload, a v1 and a hybrid torrent of it, and a seeder
serving both on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness._payload import make_payload
from tests.harness._session import Seeder
from tests.harness._torrent import TorrentFile, make_torrent

__all__ = ["payload", "seeder", "torrent_hybrid", "torrent_v1"]


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    """The default multi-file payload (``Show/…``) under ``tmp_path / "seed"``."""
    return make_payload(tmp_path / "seed")


@pytest.fixture
def torrent_v1(payload: Path) -> TorrentFile:
    """A v1-only torrent of ``payload``."""
    return make_torrent(payload, kind="v1")


@pytest.fixture
def torrent_hybrid(payload: Path) -> TorrentFile:
    """A hybrid (v1 + v2) torrent of ``payload``."""
    return make_torrent(payload, kind="hybrid")


@pytest.fixture
def seeder(payload: Path, torrent_v1: TorrentFile, torrent_hybrid: TorrentFile) -> Iterator[Seeder]:
    """A running ``Seeder`` seeding ``torrent_v1`` and ``torrent_hybrid``; closed afterwards."""
    with Seeder() as running:
        running.seed(torrent_v1, payload.parent)
        running.seed(torrent_hybrid, payload.parent)
        yield running
