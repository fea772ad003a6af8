"""The only module that imports libtorrent: typed wrappers over the 2.x Python bindings.

Rules kept here (see docs/adr/0005-alert-pump.md): no deprecated calls; no Python callbacks
into libtorrent; every alert is copied into a frozen record before the next ``pop_alerts``;
callers run the blocking calls (adds, status reads) in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import libtorrent as lt
from loguru import logger

from revaer.errors import InvalidParam, ValidationFailed
from revaer.events import FileInfo
from revaer.torrent._records import (
    AddFinished,
    AlertRecord,
    AlertsDropped,
    DataDeleteFailed,
    FileError,
    Inspection,
    ListenResult,
    LtStateChanged,
    MetadataReceived,
    ResumeData,
    ResumeDataFailed,
    StateUpdate,
    StatusRecord,
    StorageMoved,
    StorageMoveFailed,
    TorrentChecked,
    TorrentError,
    TorrentFinished,
    TorrentPaused,
    TorrentSourceInfo,
    TrackerError,
    TrackerStatus,
)
from revaer.torrent._text import clean_name
from revaer.torrent.limits import MAX_TRACKERS

__all__ = [
    "ALERT_MASK",
    "AddParams",
    "LtSession",
    "LtTorrent",
    "parse_magnet",
    "parse_torrent",
    "read_resume",
    "trust_pieces_on_disk",
]

_log = logger.bind(actor="alert_pump")

#: Alerts the engine consumes: status (state, finished, metadata, resume data), errors,
#: storage moves, tracker errors.
ALERT_MASK = (
    lt.alert_category.error
    | lt.alert_category.status
    | lt.alert_category.storage
    | lt.alert_category.tracker
)

_STATES = {
    lt.torrent_status.states.checking_files: "checking_files",
    lt.torrent_status.states.downloading_metadata: "downloading_metadata",
    lt.torrent_status.states.downloading: "downloading",
    lt.torrent_status.states.finished: "finished",
    lt.torrent_status.states.seeding: "seeding",
    lt.torrent_status.states.checking_resume_data: "checking_resume_data",
}
_MAX_METAINFO_FILES = 100_000
# The default (2,000) overflows while 10,000 torrents are restored: each add posts several
# alerts, and a lost add_torrent_alert would leave its add unanswered.
_ALERT_QUEUE_SIZE = 500_000
_OPEN_FILES = 16


class AddParams:
    """Opaque ``add_torrent_params`` plus what Revaer learned parsing them."""

    __slots__ = ("_from_resume", "_params", "info")

    def __init__(
        self, params: lt.add_torrent_params, info: TorrentSourceInfo, *, from_resume: bool = False
    ) -> None:
        self._params = params
        self._from_resume = from_resume
        self.info = info

    @property
    def info_priorities(self) -> tuple[int, ...] | None:
        """File priorities stored in resume data (None when there are none)."""
        return tuple(self._params.file_priorities) or None if self._from_resume else None

    @property
    def info_sequential(self) -> bool | None:
        """The sequential flag stored in resume data (None for a new torrent)."""
        if not self._from_resume:
            return None
        return bool(self._params.flags & lt.torrent_flags.sequential_download)

    @property
    def incomplete(self) -> bool:
        """Whether resume data says some piece is still missing (a torrent with metadata)."""
        ti = self._params.ti
        if ti is None:
            return False
        count = ti.num_pieces()
        have = self._params.have_pieces  # a bitfield: padded to whole bytes
        return len(have) < count or not all(have[:count])

    def listing(self) -> tuple[FileInfo, ...]:
        """The files (pad files left out), when the metadata is known; else empty."""
        if self.info.files or self._params.ti is None:
            return self.info.files
        return _files_of(self._params.ti)[0]

    def add_trackers(self, trackers: Sequence[str]) -> None:
        """Announce to these trackers too."""
        self._params.trackers = [*self._params.trackers, *trackers]

    def to_resume(self) -> bytes:
        """These parameters as a resume blob (a .torrent's first resume data)."""
        return bytes(lt.write_resume_data_buf(self._params))


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([InvalidParam(pointer="/" + field, message=message)])


def _trackers(params: lt.add_torrent_params, field: str) -> tuple[str, ...]:
    """The trackers of ``params``, bounded; a URL that is not UTF-8 is refused (the bindings
    raise ``UnicodeDecodeError`` reading it)."""
    try:
        trackers = tuple(params.trackers)
    except UnicodeDecodeError:
        raise _invalid(field, "has a tracker URL that is not valid UTF-8") from None
    if len(trackers) > MAX_TRACKERS:
        raise _invalid(field, f"lists {len(trackers)} trackers; at most {MAX_TRACKERS}")
    return trackers


def _hashes(ih: lt.info_hash_t) -> tuple[str, tuple[str, ...]]:
    found: list[str] = []
    if ih.has_v1():
        found.append(str(ih.v1))
    if ih.has_v2():
        found.append(str(ih.v2))
    if not found:
        raise _invalid("magnet", "has no info hash")
    return found[0], tuple(found)


def _files_of(ti: lt.torrent_info) -> tuple[tuple[FileInfo, ...], int]:
    layout = ti.layout()
    files: list[FileInfo] = []
    total = 0
    for index in range(layout.num_files()):
        if layout.file_flags(index) & lt.file_storage.flag_pad_file:
            continue  # v2/hybrid alignment padding: never written to disk
        size = layout.file_size(index)
        files.append(FileInfo(index=index, path=layout.file_path(index), size=size, priority=4))
        total += size
    return tuple(files), total


def _check_raw_paths(data: bytes) -> None:
    # libtorrent silently rewrites '..' and absolute components; a hostile torrent should be
    # refused with a clear error instead, so the raw bencoded paths are checked first.
    decoded: Any = lt.bdecode(data)
    info: Any = decoded.get(b"info") if isinstance(decoded, dict) else None
    if not isinstance(info, dict):
        raise _invalid("metainfo", "is not a torrent file (no info dictionary)")
    paths: list[list[Any]] = []
    name = info.get(b"name")
    if isinstance(name, bytes):
        paths.append([name])
    for entry in info.get(b"files") or []:
        if isinstance(entry, dict):
            paths.append(list(entry.get(b"path.utf-8") or entry.get(b"path") or []))
    if len(paths) > _MAX_METAINFO_FILES:
        raise _invalid("metainfo", f"lists more than {_MAX_METAINFO_FILES} files")
    _walk_tree(info.get(b"file tree"), [], paths)
    for parts in paths:
        for part in parts:
            text = part.decode("utf-8", "replace") if isinstance(part, bytes) else str(part)
            if text in ("", ".", "..") or "/" in text or "\\" in text or "\x00" in text:
                shown = "/".join(
                    p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in parts
                )
                raise _invalid("metainfo", f"has an unsafe file path {shown!r}")


def _walk_tree(tree: Any, prefix: list[Any], out: list[list[Any]]) -> None:
    if not isinstance(tree, dict):
        return
    for key, value in tree.items():
        if key == b"":
            out.append(prefix)
        else:
            _walk_tree(value, [*prefix, key], out)
        if len(out) > _MAX_METAINFO_FILES:
            return


def parse_torrent(data: bytes) -> AddParams:
    """Parse .torrent bytes; ``ValidationFailed`` at ``/metainfo`` when corrupt or unsafe."""
    try:
        params = lt.load_torrent_buffer(data)
    except RuntimeError as exc:
        raise _invalid("metainfo", f"is not a valid torrent file: {exc}") from None
    _check_raw_paths(data)
    trackers = _trackers(params, "metainfo")
    ti = params.ti
    assert ti is not None
    key, hashes = _hashes(ti.info_hashes())
    try:
        files, total = _files_of(ti)
        name = clean_name(ti.name())
    except UnicodeDecodeError:
        raise _invalid("metainfo", "has names that are not valid UTF-8") from None
    info = TorrentSourceInfo(
        info_hash=key,
        info_hashes=hashes,
        name=name,
        has_metadata=True,
        files=files,
        total_size=total,
        piece_length=ti.piece_length(),
        trackers=trackers,
    )
    return AddParams(params, info)


def parse_magnet(uri: str) -> AddParams:
    """Parse a magnet URI; ``ValidationFailed`` at ``/magnet`` when it is not usable."""
    try:
        params = lt.parse_magnet_uri(uri)
    except RuntimeError as exc:
        raise _invalid("magnet", f"is not a valid magnet URI: {exc}") from None
    key, hashes = _hashes(params.info_hashes)
    if set(key) == {"0"}:
        raise _invalid("magnet", "has an all-zero info hash")
    trackers = _trackers(params, "magnet")
    try:
        name = clean_name(params.name) or key
    except UnicodeDecodeError:
        raise _invalid("magnet", "its name (dn) is not valid UTF-8") from None
    info = TorrentSourceInfo(
        info_hash=key,
        info_hashes=hashes,
        name=name,
        has_metadata=False,
        files=(),
        total_size=0,
        piece_length=0,
        trackers=trackers,
    )
    return AddParams(params, info)


def read_resume(blob: bytes, *, listing: bool = True) -> AddParams:
    """Parse a fast-resume blob written by ``write_resume_data_buf``.

    Without ``listing`` the file list is not built (a restore of thousands of torrents whose
    files are already known); :meth:`AddParams.listing` builds it later if needed.
    """
    try:
        params = lt.read_resume_data(blob)
    except RuntimeError as exc:
        raise _invalid("resume", f"is not valid resume data: {exc}") from None
    key, hashes = _hashes(params.info_hashes)
    files: tuple[FileInfo, ...] = ()
    total = piece_length = 0
    try:
        name = params.name or key
        if params.ti is not None:
            if listing:
                files, total = _files_of(params.ti)
            else:
                total = params.ti.total_size()
            piece_length = params.ti.piece_length()
            name = params.ti.name()
    except UnicodeDecodeError:
        raise _invalid("resume", "has names that are not valid UTF-8") from None
    info = TorrentSourceInfo(
        info_hash=key,
        info_hashes=hashes,
        name=clean_name(name),
        has_metadata=params.ti is not None,
        files=files,
        total_size=total,
        piece_length=piece_length,
        trackers=tuple(params.trackers),
    )
    return AddParams(params, info, from_resume=True)


def trust_pieces_on_disk(source: AddParams, save_path: str) -> int:
    """Record as had the pieces that are on disk and valid but missing from the resume data.

    After an unclean stop the resume data can be older than the files: pieces written since
    are on disk, yet libtorrent would fetch them again. Only pieces whose every byte is backed
    by data (no hole, no missing file) are read and checked against their v1 hash, so the
    regions never written cost two ``lseek`` calls a piece. Returns how many pieces were added.
    v2-only torrents (no v1 piece hashes) are left as they are. Blocks: call it in a thread.
    """
    params = source._params
    ti = params.ti
    if ti is None or not ti.info_hashes().has_v1():
        return 0
    count = ti.num_pieces()
    have = list(params.have_pieces)[:count]
    have += [False] * (count - len(have))
    if all(have):
        return 0
    found = 0
    with _PieceReader(ti.layout(), save_path) as reader:
        for piece in range(count):
            if have[piece]:
                continue
            data = reader.read(ti.map_block(piece, 0, ti.piece_size(piece)))
            digest = hashlib.sha1(data, usedforsecurity=False).digest() if data else None
            if digest is not None and digest == ti.hash_for_piece(piece):
                have[piece] = True
                found += 1
    if found:
        params.have_pieces = have
    return found


class _PieceReader:
    """Reads a piece's bytes from its files, but only where the files hold data."""

    def __init__(self, layout: lt.file_storage, save_path: str) -> None:
        self._layout = layout
        self._save_path = save_path
        # Pieces are read in order, so a few open files suffice; a torrent may list 100,000
        # and keeping them all open would starve the process of descriptors.
        self._fds: OrderedDict[int, int | None] = OrderedDict()

    def __enter__(self) -> _PieceReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        for fd in self._fds.values():
            if fd is not None:
                os.close(fd)

    def _fd(self, index: int) -> int | None:
        if index in self._fds:
            self._fds.move_to_end(index)
            return self._fds[index]
        if len(self._fds) >= _OPEN_FILES:
            _, oldest = self._fds.popitem(last=False)
            if oldest is not None:
                os.close(oldest)
        path = self._layout.file_path(index, self._save_path)
        try:
            fd: int | None = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            fd = None
        self._fds[index] = fd
        return fd

    def read(self, slices: Iterable[Any]) -> bytes | None:
        chunks: list[bytes] = []
        for part in slices:
            index, offset, size = int(part.file_index), int(part.offset), int(part.size)
            if self._layout.file_flags(index) & lt.file_storage.flag_pad_file:
                chunks.append(bytes(size))  # padding is zeros and never on disk
                continue
            fd = self._fd(index)
            if fd is None or not _all_data(fd, offset, size):
                return None
            chunk = os.pread(fd, size, offset)
            if len(chunk) != size:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


def _all_data(fd: int, offset: int, size: int) -> bool:
    """Whether ``size`` bytes from ``offset`` are all written data (no hole, not past the end)."""
    try:
        return os.lseek(fd, offset, os.SEEK_DATA) == offset and (
            os.lseek(fd, offset, os.SEEK_HOLE) >= offset + size
        )
    except OSError:  # ENXIO: at or past the end of the file
        return False


class LtTorrent:
    """A torrent in the session (a handle): hashable, safe to keep; calls may block briefly."""

    __slots__ = ("_h",)

    def __init__(self, handle: lt.torrent_handle) -> None:
        self._h = handle

    def __hash__(self) -> int:
        return hash(self._h)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LtTorrent) and self._h == other._h

    def is_valid(self) -> bool:
        """Whether the torrent is still in the session."""
        return bool(self._h.is_valid())

    def pause(self) -> None:
        """Stop transferring (manually paused, not auto-managed)."""
        self._h.unset_flags(lt.torrent_flags.auto_managed)
        self._h.pause()

    def resume(self) -> None:
        """Transfer again."""
        self._h.resume()

    def set_sequential(self, enabled: bool) -> None:
        """Download pieces in order (or not)."""
        if enabled:
            self._h.set_flags(lt.torrent_flags.sequential_download)
        else:
            self._h.unset_flags(lt.torrent_flags.sequential_download)

    def set_limits(self, download_bps: int | None, upload_bps: int | None) -> None:
        """Per-torrent caps in bytes/s; None means no cap."""
        self._h.set_download_limit(download_bps or -1)
        self._h.set_upload_limit(upload_bps or -1)

    def limits(self) -> tuple[int | None, int | None]:
        """The per-torrent caps in effect (None: no cap)."""
        down, up = self._h.download_limit(), self._h.upload_limit()
        return (down if down > 0 else None, up if up > 0 else None)

    def prioritize_files(self, priorities: Sequence[int]) -> None:
        """Set every file's priority (0 = skip … 7 = top)."""
        self._h.prioritize_files(list(priorities))

    def file_priorities(self) -> tuple[int, ...]:
        """Every file's priority."""
        return tuple(self._h.get_file_priorities())

    def files(self) -> tuple[tuple[FileInfo, ...], int, int] | None:
        """(files with priorities, total size, piece length), or None before metadata."""
        ti = self._h.torrent_file()
        if ti is None:
            return None
        files, total = _files_of(ti)
        prios = self._h.get_file_priorities()
        with_prio = tuple(
            FileInfo(index=f.index, path=f.path, size=f.size, priority=prios[f.index])
            for f in files
        )
        return with_prio, total, ti.piece_length()

    def name(self) -> str:
        """The torrent's name (the info hash until a magnet's metadata arrives)."""
        return str(self._h.status(0).name)

    def force_recheck(self) -> None:
        """Verify every piece on disk again."""
        self._h.force_recheck()

    def force_reannounce(self) -> None:
        """Announce to every tracker now."""
        self._h.force_reannounce(0, -1, 0)

    def move_storage(self, path: str) -> None:
        """Move the files to ``path`` (asynchronous; a storage alert reports the outcome)."""
        self._h.move_storage(path, lt.move_flags_t.always_replace_files)

    def save_resume_data(self, *, only_if_modified: bool = False) -> None:
        """Ask for fast-resume data (answered by a resume alert, or a failure "not modified")."""
        flags = lt.save_resume_flags_t.save_info_dict
        if only_if_modified:
            flags |= lt.save_resume_flags_t.only_if_modified
        self._h.save_resume_data(flags)

    def connect_peer(self, host: str, port: int) -> None:
        """Dial a peer directly (the loopback seeder in tests)."""
        self._h.connect_peer((host, port))

    def status(self) -> StatusRecord:
        """A fresh status (blocks until the network thread answers)."""
        return _status(self._h.status(), self)

    def inspect(self) -> Inspection:
        """Per-file progress, trackers, pieces and connections, now."""
        st = self._h.status(lt.status_flags_t.query_pieces)
        ti = self._h.torrent_file()
        progress = tuple(int(b) for b in self._h.file_progress()) if ti is not None else None
        try:
            trackers = tuple(_tracker(entry) for entry in self._h.trackers())
        except UnicodeDecodeError:
            # A tracker's message that is not UTF-8 (old trackers send Latin-1) makes the
            # bindings raise while reading the list: show none rather than fail.
            trackers = ()
        return Inspection(
            file_progress=progress,
            trackers=trackers,
            pieces_total=int(ti.num_pieces()) if ti is not None else 0,
            pieces_done=int(st.num_pieces),
            piece_length=int(ti.piece_length()) if ti is not None else 0,
            peers=int(st.num_peers),
            seeds=int(st.num_seeds),
            connections=int(st.num_connections),
        )


def _tracker(entry: Mapping[str, Any]) -> TrackerStatus:
    # The dict the bindings return; per-endpoint results say what the last announce did.
    results = [ih for ep in entry.get("endpoints", []) for ih in ep.get("info_hashes", [])]
    failed = [r for r in results if (r.get("last_error") or {}).get("value") and r.get("fails")]
    message = next((r["message"] for r in results if r.get("message")), None)
    if any(r.get("updating") for r in results):
        status = "updating"
    elif failed:
        status = "error"
        error = failed[0]["last_error"]
        if message is None:
            code = int(error["value"])
            category = str(error.get("category", ""))
            message = os.strerror(code) if category == "system" else f"{category} error {code}"
    elif entry.get("verified") or any(r.get("start_sent") for r in results):
        status = "working"
    else:
        status = "not_contacted"
    scrape = [r for r in results if r.get("scrape_complete", -1) >= 0]
    return TrackerStatus(
        url=clean_name(str(entry.get("url", ""))),
        tier=int(entry.get("tier", 0)),
        status=status,
        message=None if message is None else clean_name(str(message)),
        seeds=int(scrape[0]["scrape_complete"]) if scrape else None,
        peers=int(scrape[0]["scrape_incomplete"]) if scrape else None,
    )


def _all_hashes(ih: lt.info_hash_t) -> tuple[str, ...]:
    found: list[str] = []
    if ih.has_v1():
        found.append(str(ih.v1))
    if ih.has_v2():
        found.append(str(ih.v2))
    return tuple(found)


def _error_text(err: lt.error_code) -> str | None:
    return str(err.message()) if err.value() else None


def _status(st: lt.torrent_status, ref: LtTorrent | None = None) -> StatusRecord:
    flags = st.flags
    return StatusRecord(
        ref=ref if ref is not None else LtTorrent(st.handle),
        lt_state=_STATES.get(st.state, "downloading"),
        paused=bool(flags & lt.torrent_flags.paused),
        auto_managed=bool(flags & lt.torrent_flags.auto_managed),
        has_metadata=bool(st.has_metadata),
        is_finished=bool(st.is_finished),
        is_seeding=bool(st.is_seeding),
        moving_storage=bool(st.moving_storage),
        total_done=int(st.total_wanted_done),
        total_wanted=int(st.total_wanted),
        download_rate=int(st.download_payload_rate),
        upload_rate=int(st.upload_payload_rate),
        num_peers=int(st.num_peers),
        num_seeds=int(st.num_seeds),
        all_time_download=int(st.all_time_download),
        all_time_upload=int(st.all_time_upload),
        session_download=int(st.total_payload_download),
        error=_error_text(st.errc),
        save_path=str(st.save_path),
        sequential=bool(flags & lt.torrent_flags.sequential_download),
        need_save_resume=bool(st.need_save_resume),
    )


def _convert(a: lt.alert) -> AlertRecord | None:  # noqa: PLR0911 -- one branch per alert type
    # Runs before the next pop_alerts: copy what is needed, keep nothing of the alert.
    if isinstance(a, lt.state_update_alert):
        statuses = tuple(_status(st) for st in a.status)
        return StateUpdate(statuses=statuses) if statuses else None  # nothing changed
    if isinstance(a, lt.add_torrent_alert):
        failed = bool(a.error.value())
        return AddFinished(
            ref=None if failed else LtTorrent(a.handle),
            info_hashes=_all_hashes(a.params.info_hashes),
            error=str(a.error.message()) if failed else None,
        )
    if isinstance(a, lt.torrent_delete_failed_alert):
        hashes = _all_hashes(a.info_hashes)
        return DataDeleteFailed(
            info_hash=hashes[0] if hashes else "", message=str(a.error.message())
        )
    if isinstance(a, lt.alerts_dropped_alert):
        return AlertsDropped(message=str(a.message()))
    if isinstance(a, lt.torrent_alert):
        ref = LtTorrent(a.handle)
        return _convert_torrent_alert(a, ref)
    if isinstance(a, lt.listen_succeeded_alert):
        return ListenResult(
            address=str(a.address),
            port=int(a.port),
            ok=True,
            message="",
            transport=str(a.socket_type),
        )
    if isinstance(a, lt.listen_failed_alert):
        return ListenResult(
            address=str(a.address),
            port=int(a.port),
            ok=False,
            message=str(a.error.message()),
            transport=str(a.socket_type),
        )
    return None


def _convert_torrent_alert(a: lt.torrent_alert, ref: LtTorrent) -> AlertRecord | None:  # noqa: PLR0911 -- one branch per alert type
    if isinstance(a, lt.state_changed_alert):
        return LtStateChanged(ref=ref, lt_state=_STATES.get(a.state, "downloading"))
    if isinstance(a, lt.torrent_paused_alert):
        return TorrentPaused(ref=ref)
    if isinstance(a, lt.metadata_received_alert):
        return MetadataReceived(ref=ref)
    if isinstance(a, lt.torrent_finished_alert):
        return TorrentFinished(ref=ref)
    if isinstance(a, lt.torrent_checked_alert):
        return TorrentChecked(ref=ref)
    if isinstance(a, lt.save_resume_data_alert):
        return ResumeData(ref=ref, blob=bytes(lt.write_resume_data_buf(a.params)))
    if isinstance(a, lt.save_resume_data_failed_alert):
        return ResumeDataFailed(ref=ref, message=str(a.error.message()))
    if isinstance(a, lt.tracker_error_alert):
        message = a.failure_reason() or str(a.error.message())
        return TrackerError(ref=ref, tracker=str(a.tracker_url()), message=message)
    if isinstance(a, lt.file_error_alert):
        return FileError(ref=ref, file=str(a.filename()), message=str(a.error.message()))
    if isinstance(a, lt.torrent_error_alert):
        return TorrentError(ref=ref, message=str(a.error.message()))
    if isinstance(a, lt.storage_moved_alert):
        return StorageMoved(ref=ref, path=str(a.storage_path()))
    if isinstance(a, lt.storage_moved_failed_alert):
        return StorageMoveFailed(ref=ref, message=str(a.error.message()))
    return None


class LtSession:
    """The ``lt.session``; only the session actor creates one, and calls it one call at a time."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        pack: dict[str, Any] = {
            "alert_mask": ALERT_MASK,
            "alert_queue_size": _ALERT_QUEUE_SIZE,
            **settings,
        }
        # settings_pack exists only as a TypedDict in the stubs; a plain dict is what it takes.
        self._ses: lt.session | None = lt.session(pack)  # type: ignore[call-overload]

    @property
    def _live(self) -> lt.session:
        if self._ses is None:
            raise RuntimeError("the libtorrent session is closed")
        return self._ses

    def apply_settings(self, settings: Mapping[str, Any]) -> None:
        """Change session settings live."""
        self._live.apply_settings(dict(settings))  # type: ignore[arg-type]  # see __init__

    def get_settings(self) -> dict[str, Any]:
        """The settings in effect."""
        return dict(self._live.get_settings())

    def listen_port(self) -> int:
        """The TCP port peers reach us on."""
        return int(self._live.listen_port())

    def async_add(
        self,
        source: AddParams,
        *,
        save_path: str,
        paused: bool,
        sequential: bool,
        download_bps: int | None,
        upload_bps: int | None,
        priorities: Sequence[int] | None = None,
        peers: Iterable[tuple[str, int]] = (),
    ) -> None:
        """Start adding a torrent; an ``AddFinished`` record reports the outcome.

        Nothing waits here for libtorrent's network thread, so thousands of adds (a restore)
        are posted in one call and answered in a few alert batches.
        """
        params = source._params
        params.save_path = save_path
        flags = params.flags | lt.torrent_flags.duplicate_is_error
        flags &= ~lt.torrent_flags.auto_managed
        flags = (flags | lt.torrent_flags.paused) if paused else (flags & ~lt.torrent_flags.paused)
        if sequential:
            flags |= lt.torrent_flags.sequential_download
        else:
            flags &= ~lt.torrent_flags.sequential_download
        params.flags = flags
        params.download_limit = download_bps or -1
        params.upload_limit = upload_bps or -1
        if priorities is not None:
            params.file_priorities = list(priorities)
        if peers:
            params.peers = [*params.peers, *peers]
        self._live.async_add_torrent(params)

    def remove(self, torrent: LtTorrent, *, delete_files: bool) -> None:
        """Remove a torrent, optionally deleting its files (asynchronously)."""
        option = lt.session.delete_files if delete_files else 0
        self._live.remove_torrent(torrent._h, option)

    def request_resume(self, torrents: Iterable[LtTorrent], *, only_if_modified: bool) -> int:
        """Ask for resume data of each torrent (answered by resume alerts); returns how many."""
        count = 0
        for torrent in torrents:
            torrent.save_resume_data(only_if_modified=only_if_modified)
            count += 1
        return count

    def set_alert_fd(self, fd: int) -> None:
        """libtorrent writes a byte to ``fd`` when alerts are waiting (no Python callback)."""
        self._live.set_alert_fd(fd)

    def pop_alerts(self) -> list[AlertRecord]:
        """Take every waiting alert, copied into records at once.

        An alert that cannot be copied (an unexpected value in it) is logged and skipped: one
        odd alert must not stop every other one from being delivered.
        """
        records: list[AlertRecord] = []
        for alert in self._live.pop_alerts():
            try:
                record = _convert(alert)
            except Exception as exc:  # noqa: BLE001 -- skip the one alert, keep the rest
                _log.warning("skipped a {} alert: {!r}", type(alert).__name__, exc)
                continue
            if record is not None:
                records.append(record)
        return records

    def wait_for_alert(self, timeout_ms: int) -> bool:
        """Block (GIL released) until an alert is waiting or the timeout passes."""
        return self._live.wait_for_alert(timeout_ms) is not None

    def post_torrent_updates(self) -> None:
        """Ask for one ``state_update_alert`` with the torrents that changed."""
        self._live.post_torrent_updates()

    def torrents(self) -> list[LtTorrent]:
        """Every torrent in the session."""
        return [LtTorrent(h) for h in self._live.get_torrents()]

    def pause(self) -> None:
        """Stop all transfer (used on shutdown before the final resume save)."""
        self._live.pause()

    def close(self) -> None:
        """Destroy the session; blocks until libtorrent's threads are down (call it off-loop)."""
        session, self._ses = self._ses, None
        # The last reference: libtorrent's destructor runs here, in the caller's thread.
        del session
