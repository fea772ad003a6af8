"""Plain libtorrent sessions on 127.0.0.1 over TCP: a seeder, and a bare leecher for baselines.

Nothing here registers a Python callback into libtorrent (no ``set_alert_notify``); waiting is
done with ``wait_for_alert``, which releases the GIL.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from types import TracebackType

import libtorrent as lt
import trio

from tests.harness._torrent import TorrentFile

__all__ = [
    "LOOPBACK",
    "Seeder",
    "bare_download",
    "bare_download_in_thread",
    "loopback_settings",
    "open_seeder",
]

LOOPBACK = "127.0.0.1"

# Upper bound on one wait for an alert while polling a download's status.
_POLL_MS = 50


def loopback_settings() -> lt.settings_pack:
    """Session settings for loopback peers: TCP only, no discovery, no rate limits.

    uTP is off in both directions (over loopback it runs ~20 times slower than TCP). DHT, LSD,
    UPnP and NAT-PMP are off so nothing leaves the machine. Several sessions on one host share
    127.0.0.1, hence ``allow_multiple_connections_per_ip``. The tick stays at libtorrent's
    default (500 ms) so a bare baseline matches a default session: after a .torrent's start-up
    check, peers are dialled on the next tick, while a magnet dials its peers at once.
    """
    return {
        "listen_interfaces": f"{LOOPBACK}:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
        "rate_limit_ip_overhead": False,
        "alert_mask": lt.alert_category.error | lt.alert_category.status,
    }


def _settings(overrides: lt.settings_pack | None) -> lt.settings_pack:
    pack = loopback_settings()
    if overrides:
        pack.update(overrides)
    return pack


def _unmanaged(params: lt.add_torrent_params) -> lt.add_torrent_params:
    # Auto-managed torrents queue behind active_downloads/active_seeds; a harness wants every
    # torrent running at once.
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    return params


def _error_messages(session: lt.session) -> list[str]:
    # Alerts die at the next pop_alerts: keep only their text.
    return [
        alert.message()
        for alert in session.pop_alerts()
        if alert.category() & lt.alert_category.error
    ]


@contextmanager
def _open_session(settings: lt.settings_pack | None) -> Iterator[lt.session]:
    session = lt.session(_settings(settings))
    try:
        yield session
    finally:
        # The session itself is destroyed with its last reference.
        session.pause()


class Seeder:
    """A libtorrent session seeding torrents to peers on 127.0.0.1 over TCP.

    Use it as a context manager (or call ``close``); from trio, ``open_seeder`` keeps session
    start and shutdown off the event loop. ``settings`` override ``loopback_settings()``.
    """

    def __init__(self, *, settings: lt.settings_pack | None = None) -> None:
        self._session: lt.session | None = lt.session(_settings(settings))
        self._handles: dict[bytes, lt.torrent_handle] = {}
        self._port = self._live.listen_port()
        if self._port == 0:
            self.close()
            raise RuntimeError("seeder session is not listening on 127.0.0.1")

    @property
    def _live(self) -> lt.session:
        if self._session is None:
            raise RuntimeError("seeder is closed")
        return self._session

    @property
    def port(self) -> int:
        """The TCP port the seeder listens on."""
        return self._port

    @property
    def endpoint(self) -> tuple[str, int]:
        """``(host, port)`` for ``connect_peer`` or a magnet's ``x.pe``."""
        return (LOOPBACK, self._port)

    def seed(self, torrent: TorrentFile, save_path: Path) -> None:
        """Seed ``torrent`` from the files under ``save_path``, without hashing them first.

        The files are trusted (seed mode: libtorrent verifies each piece when a peer first
        asks for it); a missing file or a wrong size raises ``FileNotFoundError`` /
        ``ValueError`` here instead of surfacing as a stalled download.
        """
        for relative, size in torrent.files:
            actual = (save_path / relative).stat().st_size
            if actual != size:
                raise ValueError(f"{save_path / relative}: {actual} bytes, torrent says {size}")
        params = _unmanaged(lt.load_torrent_buffer(torrent.data))
        params.save_path = str(save_path)
        params.flags |= lt.torrent_flags.seed_mode
        self._handles[torrent.data] = self._live.add_torrent(params)

    def uploaded(self, torrent: TorrentFile) -> int:
        """Payload bytes sent to peers for ``torrent`` since it was seeded (re-sends included)."""
        return int(self._handles[torrent.data].status().all_time_upload)

    def pop_errors(self) -> list[str]:
        """Messages of the error alerts raised since the last call (for failure reports)."""
        return _error_messages(self._live)

    def close(self) -> None:
        """Stop seeding and destroy the session; closing twice is harmless."""
        session, self._session = self._session, None
        if session is not None:
            session.pause()

    def __enter__(self) -> Seeder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@asynccontextmanager
async def open_seeder(*, settings: lt.settings_pack | None = None) -> AsyncIterator[Seeder]:
    """A ``Seeder`` for trio code: created and closed in a worker thread."""
    seeder = await trio.to_thread.run_sync(partial(Seeder, settings=settings))
    try:
        yield seeder
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(seeder.close)


def bare_download(
    source: TorrentFile | str,
    save_path: Path,
    seeder: Seeder | None,
    *,
    timeout: float,
    settings: lt.settings_pack | None = None,
) -> float:
    """Download ``source`` with a plain libtorrent session; return the seconds it took.

    ``source`` is a ``TorrentFile`` or a magnet URI (its metadata then comes from the peers,
    e.g. a magnet's ``x.pe``). With a ``seeder``, the leecher dials it directly. The
    session is configured like the seeder (``loopback_settings()`` plus ``settings``). Time is
    counted from adding the torrent until every piece is downloaded and verified; session
    start and shutdown are excluded. Raises ``TimeoutError`` after ``timeout`` seconds and
    ``RuntimeError`` when the torrent fails.
    """
    if isinstance(source, TorrentFile):
        params = lt.load_torrent_buffer(source.data)
    else:
        params = lt.parse_magnet_uri(source)
    params = _unmanaged(params)
    params.save_path = str(save_path)
    if seeder is not None:
        # A magnet dials the peers in its params at once (5 MiB done in ~20 ms), whereas
        # handle.connect_peer() waits for the next session tick (~0.5 s).
        params.peers = [*params.peers, seeder.endpoint]
    errors: list[str] = []
    with _open_session(settings) as session:
        start = time.monotonic()
        deadline = start + timeout
        handle = session.add_torrent(params)
        while True:
            status = handle.status()
            if status.is_seeding:
                return time.monotonic() - start
            if status.errc.value() != 0:
                raise RuntimeError(f"bare download failed: {status.errc.message()}")
            if time.monotonic() >= deadline:
                seeder_errors = seeder.pop_errors() if seeder is not None else []
                raise TimeoutError(
                    f"bare download not done after {timeout} s: state {status.state}, "
                    f"progress {status.progress:.3f}, {status.num_peers} peers, "
                    f"leecher errors {errors}, seeder errors {seeder_errors}"
                )
            # Returns early on any alert (state change, finished), so completion is seen
            # promptly without spinning.
            session.wait_for_alert(_POLL_MS)
            errors.extend(_error_messages(session))


async def bare_download_in_thread(
    source: TorrentFile | str,
    save_path: Path,
    seeder: Seeder | None,
    *,
    timeout: float,
    settings: lt.settings_pack | None = None,
) -> float:
    """``bare_download`` from trio, in a worker thread so the event loop keeps running."""
    return await trio.to_thread.run_sync(
        partial(bare_download, source, save_path, seeder, timeout=timeout, settings=settings)
    )
