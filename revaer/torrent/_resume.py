"""The resume store: each torrent's fast-resume blob and our own metadata, as files.

Layout under the store's directory (``resume_dir``)::

    <torrent_id>.meta.json     TorrentMeta as JSON (selection, priorities, caps, tags, ...)
    <torrent_id>.fastresume    libtorrent's resume data, opaque bytes
    *.corrupt                  damaged files moved aside by load_all (never deleted)
    clean-shutdown             present only between a complete final save and the next start

Every write goes to a unique temporary file that is fsynced and then renamed over the final
name, followed by an fsync of the directory (once per batch): a crash leaves either the old or
the new content (plus perhaps a ``.tmp`` file, which :meth:`ResumeStore.load_all` removes).
A torrent's metadata file is what makes it exist: a new torrent's blob is durable before its
metadata is written, and its metadata is deleted before its blob. The store decides nothing
about *when* to save, and never sees libtorrent: the session actor (its only user) hands it
bytes.

A failed write or removal degrades the store's health component and raises
:class:`ResumeStoreUnavailable` (503), so nothing is acknowledged that is not on disk; the next
successful write clears the failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

import trio
from loguru import logger

from revaer.errors import ServiceUnavailable
from revaer.runtime import HealthRegistry, fsync_directory

__all__ = [
    "ResumeStore",
    "ResumeStoreStatistics",
    "ResumeStoreUnavailable",
    "StoredTorrent",
    "TorrentMeta",
]

T = TypeVar("T")

FORMAT = 1
"""Version of the ``.meta.json`` document; bumped on an incompatible change."""

_META_SUFFIX = ".meta.json"
_RESUME_SUFFIX = ".fastresume"
_CORRUPT_SUFFIX = ".corrupt"
_CLEAN_MARK = "clean-shutdown"
_SYNCFS_FROM = 64
# syncfs(2) has no wrapper in os; Linux (the only platform Revaer runs on) has it in libc.
_LIBC = ctypes.CDLL(None, use_errno=True)
# Only temporary files this module could have written are removed, nothing else in the directory.
_TEMP_NAME = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"\.(?:meta\.json|fastresume)\.[0-9a-f]{32}\.tmp"
)
_INFO_HASH = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# What str(uuid.UUID(...)) gives: a regular expression checks 10,000 names in milliseconds.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAX_PRIORITY = 7
_MAX_RATE = 2**31 - 1  # libtorrent's limit (MAX_RATE_BPS); a larger one would never restore

Source = Literal["magnet", "torrent"]


class ResumeStoreUnavailable(ServiceUnavailable):
    """The resume directory cannot be written (or read): nothing was stored."""

    title = "Resume store unavailable"
    slug = "resume-store-unavailable"


def _check_torrent_id(torrent_id: str) -> None:
    # Only the canonical form (lowercase, hyphenated) is accepted: it is what ends up in file
    # names, so nothing else (no "..", no separators) can ever reach the file system.
    if not _is_torrent_id(torrent_id):
        raise ValueError(f"torrent_id: {torrent_id!r} is not a canonical UUID string")


def _is_torrent_id(text: str) -> bool:
    return _CANONICAL_UUID.fullmatch(text) is not None


def _parse_added_at(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"added_at: {value!r} is not an ISO 8601 timestamp") from None
    if moment.utcoffset() is None:
        # load_all sorts by it, and naive and aware datetimes cannot be compared.
        raise ValueError(f"added_at: {value!r} has no UTC offset")
    return moment


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentMeta:
    """What we need to re-add a torrent as the user left it; stored as ``<id>.meta.json``.

    Values are checked on construction; a ``ValueError`` names the offending field.
    """

    torrent_id: str
    """Canonical UUID string (lowercase, hyphenated)."""
    info_hash: str
    """Lowercase hex: 40 characters (v1) or 64 (v2)."""
    name: str
    source: Source
    magnet: str | None
    """The magnet URI when ``source == "magnet"``: re-adds it before metadata is known."""
    download_dir: str
    sequential: bool
    paused: bool
    tags: tuple[str, ...]
    trackers: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    skip_fluff: bool
    priorities: tuple[int, ...] | None
    """Per-file priority 0-7, once the file list is known."""
    max_download_bps: int | None
    max_upload_bps: int | None
    added_at: str
    """ISO 8601 with a UTC offset."""
    completed: bool = False
    """Whether ``completed`` was announced, so a restart does not announce it again."""
    named: bool = False
    """``name`` was given by the user: the torrent's own name does not replace it."""

    def __post_init__(self) -> None:
        _check_torrent_id(self.torrent_id)
        if not _INFO_HASH.fullmatch(self.info_hash):
            raise ValueError(f"info_hash: {self.info_hash!r} is not 40 or 64 lowercase hex digits")
        if self.source not in ("magnet", "torrent"):
            raise ValueError(f"source: {self.source!r} is not 'magnet' or 'torrent'")
        if self.source == "magnet" and self.magnet is None:
            raise ValueError("magnet: required when source is 'magnet'")
        if self.priorities is not None and any(
            not 0 <= p <= _MAX_PRIORITY for p in self.priorities
        ):
            raise ValueError(f"priorities: each must be within 0..{_MAX_PRIORITY}")
        for name in ("max_download_bps", "max_upload_bps"):
            cap = getattr(self, name)
            if cap is not None and not 0 <= cap <= _MAX_RATE:
                raise ValueError(f"{name}: must be within 0..{_MAX_RATE} or null")
        _parse_added_at(self.added_at)

    def to_json(self) -> dict[str, Any]:
        """The JSON document, with ``"format"`` set to the current version."""
        return {
            "format": FORMAT,
            "torrent_id": self.torrent_id,
            "info_hash": self.info_hash,
            "name": self.name,
            "source": self.source,
            "magnet": self.magnet,
            "download_dir": self.download_dir,
            "sequential": self.sequential,
            "paused": self.paused,
            "tags": list(self.tags),
            "trackers": list(self.trackers),
            "include": list(self.include),
            "exclude": list(self.exclude),
            "skip_fluff": self.skip_fluff,
            "priorities": None if self.priorities is None else list(self.priorities),
            "max_download_bps": self.max_download_bps,
            "max_upload_bps": self.max_upload_bps,
            "added_at": self.added_at,
            "completed": self.completed,
            "named": self.named,
        }

    @classmethod
    def from_json(cls, doc: object) -> TorrentMeta:
        """Parse a document written by :meth:`to_json`.

        Missing or ill-typed fields and an unsupported ``format`` raise ``ValueError`` naming
        the field; unknown keys are ignored so that a newer writer's files still load.
        """
        if not isinstance(doc, Mapping):
            # Damaged data like any ill-typed field, so the same ValueError callers catch.
            raise ValueError(  # noqa: TRY004
                f"document: expected a JSON object, got {type(doc).__name__}"
            )
        version = _get(doc, "format", _is_int, "an integer")
        if version != FORMAT:
            raise ValueError(f"format: unsupported version {version} (expected {FORMAT})")
        return cls(
            torrent_id=_get(doc, "torrent_id", _is_str, "a string"),
            info_hash=_get(doc, "info_hash", _is_str, "a string"),
            name=_get(doc, "name", _is_str, "a string"),
            source=_source(_get(doc, "source", _is_str, "a string")),
            magnet=_get_optional(doc, "magnet", _is_str, "a string"),
            download_dir=_get(doc, "download_dir", _is_str, "a string"),
            sequential=_get(doc, "sequential", _is_bool, "a boolean"),
            paused=_get(doc, "paused", _is_bool, "a boolean"),
            tags=_get_array(doc, "tags", _is_str, "strings"),
            trackers=_get_array(doc, "trackers", _is_str, "strings"),
            include=_get_array(doc, "include", _is_str, "strings"),
            exclude=_get_array(doc, "exclude", _is_str, "strings"),
            skip_fluff=_get(doc, "skip_fluff", _is_bool, "a boolean"),
            priorities=(
                None
                if "priorities" in doc and doc["priorities"] is None
                else _get_array(doc, "priorities", _is_int, "integers")
            ),
            max_download_bps=_get_optional(doc, "max_download_bps", _is_int, "an integer"),
            max_upload_bps=_get_optional(doc, "max_upload_bps", _is_int, "an integer"),
            added_at=_get(doc, "added_at", _is_str, "a string"),
            # Absent in files written before the flag existed.
            completed=_get(doc, "completed", _is_bool, "a boolean")
            if "completed" in doc
            else False,
            named=_get(doc, "named", _is_bool, "a boolean") if "named" in doc else False,
        )


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_int(value: object) -> bool:
    # bool is an int subclass; JSON true must not pass for 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_array(value: object) -> bool:
    return isinstance(value, list | tuple)


def _get(doc: Mapping[Any, Any], name: str, check: Callable[[object], bool], kind: str) -> Any:
    if name not in doc:
        raise ValueError(f"{name}: missing")
    value = doc[name]
    if not check(value):
        raise ValueError(f"{name}: expected {kind}, got {type(value).__name__}")
    return value


def _get_optional(
    doc: Mapping[Any, Any], name: str, check: Callable[[object], bool], kind: str
) -> Any:
    # Optional fields are still required keys: a writer that forgot one is a bug worth seeing.
    if name in doc and doc[name] is None:
        return None
    return _get(doc, name, check, f"{kind} or null")


def _get_array(
    doc: Mapping[Any, Any], name: str, check: Callable[[object], bool], kind: str
) -> tuple[Any, ...]:
    items: Sequence[object] = _get(doc, name, _is_array, f"an array of {kind}")
    for index, item in enumerate(items):
        if not check(item):
            raise ValueError(f"{name}[{index}]: expected one of {kind}, got {type(item).__name__}")
    return tuple(items)


def _source(value: str) -> Source:
    if value == "magnet":
        return "magnet"
    if value == "torrent":
        return "torrent"
    raise ValueError(f"source: {value!r} is not 'magnet' or 'torrent'")


def _encode(meta: TorrentMeta) -> bytes:
    # ensure_ascii (the default) escapes lone surrogates, which names decoded from foreign
    # file systems may carry, instead of failing to encode them as UTF-8.
    return (json.dumps(meta.to_json(), indent=2, sort_keys=True) + "\n").encode("ascii")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTorrent:
    """One torrent as found on disk by :meth:`ResumeStore.load_all`."""

    meta: TorrentMeta
    resume: bytes | None
    """The ``.fastresume`` blob, or None when none was saved (libtorrent then rechecks)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeStoreStatistics:
    """What :meth:`ResumeStore.statistics` returns."""

    saves: int
    """Successful writes (metadata and resume blobs)."""
    failures: int
    """Writes, removals and directory reads that failed."""
    last_error: str | None
    """The latest failure, kept after recovery."""
    quarantined: int
    """Damaged files :meth:`ResumeStore.load_all` moved aside."""


@dataclass(slots=True)
class _Scan:
    """What one pass over the directory found; built in a worker thread, reported on trio's."""

    torrents: list[StoredTorrent] = field(default_factory=list)
    quarantined: list[tuple[Path, str]] = field(default_factory=list)
    """(new path, why) of each damaged file moved aside."""
    problems: list[str] = field(default_factory=list)


class ResumeStore:
    """Fast-resume blobs and :class:`TorrentMeta` files under one directory.

    All file I/O runs in worker threads, one at a time (in call order), so two writes to the
    same file can never interleave and ``load_all`` never sees a write half done. A write
    already in a thread completes even if the caller is cancelled, so shutdown saves are not
    torn. :meth:`run_io` is the one place that runs file operations (tests override it to
    slow them down or make them fail).
    """

    def __init__(
        self, directory: Path, *, health: HealthRegistry, component: str = "resume_store"
    ) -> None:
        self._directory = directory
        self._health = health
        self._component = component
        self._limiter = trio.CapacityLimiter(1)
        self._log = logger.bind(actor=component)
        self._saves = 0
        self._failures = 0
        self._last_error: str | None = None
        self._quarantined = 0
        self._failing: str | None = None
        # What load_all moved aside: kept in the health reason until the next load.
        self._notices: list[str] = []

    @property
    def directory(self) -> Path:
        """The resume directory."""
        return self._directory

    def statistics(self) -> ResumeStoreStatistics:
        """Counters since this store was created."""
        return ResumeStoreStatistics(
            saves=self._saves,
            failures=self._failures,
            last_error=self._last_error,
            quarantined=self._quarantined,
        )

    async def run_io(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one blocking file operation in the store's worker thread."""
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def save_meta(self, meta: TorrentMeta) -> None:
        """Write ``<id>.meta.json`` atomically; ``ResumeStoreUnavailable`` when it failed."""
        await self._write([(self._path(meta.torrent_id, _META_SUFFIX), _encode(meta))])

    async def save_metas(self, metas: Sequence[TorrentMeta]) -> None:
        """Write several metadata files with one directory sync."""
        await self._write([(self._path(m.torrent_id, _META_SUFFIX), _encode(m)) for m in metas])

    async def save_resume(self, torrent_id: str, blob: bytes) -> None:
        """Write ``<id>.fastresume`` atomically; ``ResumeStoreUnavailable`` when it failed.

        Raises ``ValueError`` when ``torrent_id`` is not a canonical UUID string.
        """
        await self._write([(self._path(torrent_id, _RESUME_SUFFIX), blob)])

    async def save_resumes(self, blobs: Mapping[str, bytes]) -> None:
        """Write several resume blobs with one directory sync."""
        await self._write([(self._path(tid, _RESUME_SUFFIX), b) for tid, b in blobs.items()])

    async def save_torrent(self, meta: TorrentMeta, blob: bytes | None) -> None:
        """Store a new torrent (see :meth:`save_torrents`)."""
        await self.save_torrents([(meta, blob)])

    async def save_torrents(self, torrents: Sequence[tuple[TorrentMeta, bytes | None]]) -> None:
        """Store new torrents: each blob, then the metadata that makes it exist, in one batch.

        Everything is synced before anything is renamed into place, blobs first: a crash
        leaves nothing, orphan blobs (deleted by ``load_all``), or whole torrents. Journaling
        file systems keep renames in order; were a metadata file ever to survive without its
        blob, ``load_all`` moves it aside (it was never acknowledged: this returns after the
        directory sync).
        """
        blobs = [
            (self._path(meta.torrent_id, _RESUME_SUFFIX), blob)
            for meta, blob in torrents
            if blob is not None
        ]
        metas = [(self._path(meta.torrent_id, _META_SUFFIX), _encode(meta)) for meta, _ in torrents]
        try:
            await self._write(blobs + metas)
        except ResumeStoreUnavailable:
            # Some renames may have happened before the one that failed: these torrents are
            # new, so removing their files again leaves the store as it was.
            paths = [path for path, _ in metas + blobs]
            with contextlib.suppress(OSError):
                await self.run_io(_remove_quietly, paths)
            raise

    async def remove(self, torrent_id: str) -> None:
        """Delete both files of a torrent; files that do not exist are fine.

        ``ResumeStoreUnavailable`` when they could not be deleted (the torrent would come back
        at the next start, so the caller must keep it). Raises ``ValueError`` when
        ``torrent_id`` is not a canonical UUID string.
        """
        # Metadata first: if we crash in between, an orphan blob is deleted at load, whereas
        # a metadata file left alone would bring the removed torrent back.
        paths = (self._path(torrent_id, _META_SUFFIX), self._path(torrent_id, _RESUME_SUFFIX))
        try:
            problems = await self.run_io(_remove_files, paths)
        except OSError as exc:
            self._raise(f"cannot remove {_error_path(exc, paths[0])}: {_strerror(exc)}")
        for problem in problems:
            self._log.warning("{problem}", problem=problem)
        self._succeeded()

    async def take_clean_mark(self) -> bool:
        """Whether the previous run ended with a complete final save; the mark is consumed.

        Until :meth:`mark_clean` is called again, a crash counts as an unclean stop.
        """
        path = self._directory / _CLEAN_MARK
        try:
            return await self.run_io(_take_file, path)
        except OSError as exc:
            self._raise(f"cannot remove {path}: {_strerror(exc)}")

    async def mark_clean(self) -> None:
        """Record that every resume blob is current (the end of a complete final save)."""
        await self._write([(self._directory / _CLEAN_MARK, b"1\n")])

    async def load_all(self) -> list[StoredTorrent]:
        """Every stored torrent, oldest ``added_at`` first; empty when the directory is missing.

        A metadata file that cannot be read or parsed, or a blob that cannot be read, is moved
        aside to ``<name>.corrupt`` (never deleted), logged and reported as degraded health;
        the torrent is skipped (or loaded without its blob). So is the metadata of a .torrent
        whose blob is missing (it cannot be restored). Leftover ``.tmp`` files of an
        interrupted write and orphan blobs (an add interrupted before its metadata) are
        removed. A directory that exists but cannot be listed degrades health and raises
        ``ResumeStoreUnavailable``: starting with no torrents would hide them all.
        """
        try:
            scan = await self.run_io(self._scan)
        except OSError as exc:
            self._raise(f"cannot read {self._directory}: {_strerror(exc)}")
        for path, why in scan.quarantined:
            self._log.warning("moved damaged file aside to {path}: {why}", path=path, why=why)
        for problem in scan.problems:
            self._log.warning("{problem}", problem=problem)
        self._quarantined += len(scan.quarantined)
        self._notices = [f"moved aside damaged {path}" for path, _ in scan.quarantined]
        self._notices += scan.problems
        self._report()
        self._log.info("loaded {count} torrent(s)", count=len(scan.torrents))
        return scan.torrents

    def _path(self, torrent_id: str, suffix: str) -> Path:
        _check_torrent_id(torrent_id)
        return self._directory / f"{torrent_id}{suffix}"

    async def _write(self, items: Sequence[tuple[Path, bytes]]) -> None:
        if not items:
            return
        try:
            await self.run_io(_write_atomically, self._directory, items)
        except OSError as exc:
            # The final name, not the temporary file's (which tells an operator nothing).
            if len(items) == 1:
                where = str(items[0][0])
            else:
                where = f"{len(items)} files in {self._directory}"
            self._raise(f"cannot write {where}: {_strerror(exc)}")
        self._saves += len(items)
        self._succeeded()

    def _succeeded(self) -> None:
        if self._failing is not None:
            self._failing = None
            self._log.info("writing again")
        self._report()

    def _report(self) -> None:
        reasons = ([self._failing] if self._failing else []) + self._notices
        if reasons:
            self._health.degraded(self._component, "; ".join(reasons))
        else:
            self._health.ok(self._component)

    def _raise(self, reason: str) -> NoReturn:
        self._failures += 1
        self._last_error = reason
        # Periodic saves of many torrents would repeat the same error every few seconds:
        # warn once per outage, the rest at debug level.
        if self._failing is not None:
            self._log.debug("{reason}", reason=reason)
        else:
            self._log.warning("{reason}", reason=reason)
        self._failing = reason
        self._report()
        raise ResumeStoreUnavailable(reason)

    def _scan(self) -> _Scan:
        """Runs in a worker thread: read everything, clean up, quarantine the damaged."""
        scan = _Scan()
        try:
            names = sorted(os.listdir(self._directory))
        except FileNotFoundError:
            return scan
        present = set(names)
        changed = False
        for name in names:
            if _TEMP_NAME.fullmatch(name):
                changed |= _unlink(self._directory / name, scan)
            elif name.endswith(_META_SUFFIX):
                changed |= self._load_one(name.removesuffix(_META_SUFFIX), present, scan)
        changed |= self._remove_orphans(scan)
        if changed:
            try:
                fsync_directory(self._directory)
            except OSError as exc:
                scan.problems.append(f"cannot sync {self._directory}: {_strerror(exc)}")
        scan.torrents.sort(
            key=lambda t: (_parse_added_at(t.meta.added_at), t.meta.torrent_id),
        )
        return scan

    def _remove_orphans(self, scan: _Scan) -> bool:
        """Delete blobs of adds interrupted before their metadata; True when one was."""
        names = {entry.name for entry in os.scandir(self._directory)}
        removed = False
        for name in names:
            stem = name.removesuffix(_RESUME_SUFFIX)
            if (
                name.endswith(_RESUME_SUFFIX)
                and _is_torrent_id(stem)
                and f"{stem}{_META_SUFFIX}" not in names
                # A blob whose metadata was moved aside is kept with it, for recovery.
                and not any(n.startswith(f"{stem}{_META_SUFFIX}") for n in names)
            ):
                removed |= _unlink(self._directory / name, scan)
        return removed

    def _load_one(self, stem: str, present: set[str], scan: _Scan) -> bool:
        """Load one torrent into ``scan``; True when a file was moved aside."""
        if not _is_torrent_id(stem):
            return False  # not a name this store writes; leave it alone
        # Plain string paths and reads: pathlib's overhead is most of the time at 10,000.
        directory = os.fspath(self._directory)
        path = os.path.join(directory, f"{stem}{_META_SUFFIX}")
        try:
            meta = _read_meta(path, stem)
        except (OSError, ValueError) as exc:
            # JSONDecodeError and UnicodeDecodeError are ValueErrors too.
            _quarantine(Path(path), _describe(exc), scan)
            return True
        resume_name = f"{stem}{_RESUME_SUFFIX}"
        resume: bytes | None = None
        moved = False
        if resume_name in present:
            try:
                with open(os.path.join(directory, resume_name), "rb") as file:
                    resume = file.read()
            except FileNotFoundError:
                resume = None
            except OSError as exc:
                _quarantine(self._directory / resume_name, _describe(exc), scan)
                moved = True
        if resume is None and meta.source == "torrent":
            # Without its blob a .torrent has no info dictionary: nothing to restore from.
            _quarantine(Path(path), "a .torrent's metadata without its resume data", scan)
            return True
        scan.torrents.append(StoredTorrent(meta=meta, resume=resume))
        return moved


def _unlink(path: Path, scan: _Scan) -> bool:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        scan.problems.append(f"cannot remove {path}: {_strerror(exc)}")
        return False
    return True


def _take_file(path: Path) -> bool:
    """Runs in a worker thread: delete ``path`` durably; whether it existed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_directory(path.parent)
    return True


def _read_meta(path: str, stem: str) -> TorrentMeta:
    with open(path, "rb") as file:
        meta = TorrentMeta.from_json(json.loads(file.read()))
    if meta.torrent_id != stem:
        # A copied or renamed file: loading it would give two files one torrent id.
        raise ValueError(f"torrent_id: {meta.torrent_id!r} does not match the file name")
    return meta


def _quarantine(path: Path, why: str, scan: _Scan) -> None:
    target = path.with_name(path.name + _CORRUPT_SUFFIX)
    number = 1
    # Never replace an earlier .corrupt file: that would delete the evidence it holds.
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.{number}{_CORRUPT_SUFFIX}")
    try:
        os.rename(path, target)
    except OSError as exc:
        scan.problems.append(f"cannot move damaged {path} aside ({why}): {_strerror(exc)}")
        return
    scan.quarantined.append((target, why))


def _write_atomically(directory: Path, items: Sequence[tuple[Path, bytes]]) -> None:
    """Runs in a worker thread: each to a synced temp file, rename all, fsync the directory.

    A big batch (a bulk add, a shutdown of thousands of changed torrents) writes its files
    and then syncs the whole file system once (``syncfs``) instead of each file: 1.7 times the
    adds per second here. On ext4 an fsync commits the journal anyway, flushing other files'
    data with it, so the single sync costs little more than one of them.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    temps = [path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp") for path, _ in items]
    batch = len(items) >= _SYNCFS_FROM
    try:
        for temp, (_, data) in zip(temps, items, strict=True):
            _write_temp(temp, data, sync=not batch)
        if batch:
            _sync_file_system(directory)
        for temp, (path, _) in zip(temps, items, strict=True):
            os.replace(temp, path)
    except BaseException:
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        raise
    # Without this the renames themselves may be lost on power failure.
    fsync_directory(directory)


def _write_temp(temp: Path, data: bytes, *, sync: bool) -> None:
    # 0o600 because tracker URLs in the metadata and the blob often carry private passkeys.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        if sync:
            os.fsync(file.fileno())


def _sync_file_system(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _LIBC.syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(directory))
    finally:
        os.close(fd)


def _remove_files(paths: Sequence[Path]) -> list[str]:
    """Runs in a worker thread: unlink the metadata (raises if it cannot), then the rest.

    Once the metadata is gone the torrent is gone: what cannot be removed after it, or a
    directory sync that fails, is reported (returned), not raised — raising would tell the
    caller nothing changed while the store already lost the torrent. An orphan blob is deleted
    at the next load.
    """
    first, *rest = paths
    problems: list[str] = []
    removed = _unlink_existing(first)
    for path in rest:
        try:
            removed |= _unlink_existing(path)
        except OSError as exc:
            problems.append(f"cannot remove {path}: {_strerror(exc)}")
    if removed:
        try:
            fsync_directory(first.parent)
        except OSError as exc:
            problems.append(f"cannot sync {first.parent}: {_strerror(exc)}")
    return problems


def _remove_quietly(paths: Sequence[Path]) -> None:
    """Runs in a worker thread: unlink whatever of ``paths`` exists, as far as possible."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    fsync_directory(paths[0].parent)


def _unlink_existing(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _strerror(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _error_path(exc: OSError, default: Path) -> str:
    return str(exc.filename) if exc.filename is not None else str(default)


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return _strerror(exc)
    return f"{type(exc).__name__}: {exc}"
