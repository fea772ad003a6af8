"""Finding the archives among a job's files, and extracting one safely into a staging directory.

Blocking, for a worker thread. zip and tar are read with the standard library, member by
member; 7z and RAR with external tools (:mod:`revaer.fsops._archive_tools`).

Safety is the point: an archive is refused (:class:`FsopsRefused`, naming the member and why)
before anything is written when a member is absolute, climbs with ``..``, or is anything but a
regular file or a directory. Every link is refused, even a symlink pointing inside the archive:
one simple rule that needs no reasoning about where a chain of links ends up. Files are written
only below the destination, created exclusively and without following links, with plain modes
(``0o666`` less the umask; no setuid or executable bits from the archive). When extraction
fails or is stopped, what was written is removed again, so the destination is left as it was
found: absent or empty.

``.tar.zst`` is not recognised: ``tarfile`` reads zstd only from Python 3.14 on.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from revaer.fsops._archive_tools import (
    extract_7z,
    extract_rar,
    is_top,
    member_name,
    refuse,
    type_name,
)
from revaer.fsops._confine import Confinement
from revaer.fsops._errors import FsopsFailed
from revaer.fsops._tools import Toolbox

__all__ = ["ArchiveKind", "ArchiveSet", "extract", "find_archives"]

ArchiveKind = Literal["zip", "tar", "7z", "rar"]

CHUNK = 1 << 20
_FILE_MODE = 0o666  # the umask takes its share; nothing from the archive is copied
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# What reading a damaged archive raises (the decompressors' own errors included).
_READ_ERRORS = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,  # zipfile: a compression method it does not know
)
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_SINGLE_FILE: tuple[tuple[tuple[str, ...], ArchiveKind], ...] = (
    ((".zip",), "zip"),
    (_TAR_SUFFIXES, "tar"),
    ((".7z",), "7z"),
)
_RAR_PART = re.compile(r"^(?P<stem>.+)\.part(?P<n>\d+)\.rar$", re.IGNORECASE)
# Old-style RAR volumes: name.rar, then name.r00 … name.r99, name.s00 …
_RAR_OLD = re.compile(r"^(?P<stem>.+)\.(?P<letter>[r-z])(?P<n>\d\d)$", re.IGNORECASE)
_7Z_PART = re.compile(r"^(?P<stem>.+\.7z)\.(?P<n>\d{3,})$", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveSet:
    """One archive: its first volume, every volume (first included), its kind."""

    first: Path
    volumes: tuple[Path, ...]
    kind: ArchiveKind

    @property
    def tool(self) -> str | None:
        """The external tool this kind needs (a name in ``TOOLS``), None for zip and tar."""
        return {"7z": "7z", "rar": "unar"}.get(self.kind)


# A volume's group, its kind, its place in the group and the place the first volume has.
_Volume = tuple[tuple[str, Path, str], ArchiveKind, int, int]


def _classify(path: Path) -> _Volume | None:
    name = path.name
    lower = name.lower()
    for suffixes, kind in _SINGLE_FILE:
        if lower.endswith(suffixes):
            return ((kind, path.parent, name), kind, 0, 0)
    if match := _7Z_PART.match(name):
        return (("7z-split", path.parent, match["stem"]), "7z", int(match["n"]), 1)
    if match := _RAR_PART.match(name):
        return (("rar-part", path.parent, match["stem"]), "rar", int(match["n"]), 1)
    if lower.endswith(".rar"):
        return (("rar-old", path.parent, name[: -len(".rar")]), "rar", -1, -1)
    if match := _RAR_OLD.match(name):
        place = (ord(match["letter"].lower()) - ord("r")) * 100 + int(match["n"])
        return (("rar-old", path.parent, match["stem"]), "rar", place, -1)
    return None


def find_archives(files: Iterable[Path]) -> list[ArchiveSet]:
    """Group the given files into archives, sorted by first volume; other files are ignored.

    Recognised by name (any case): ``.zip``; ``.tar``, ``.tar.gz``/``.tgz``,
    ``.tar.bz2``/``.tbz2``, ``.tar.xz``/``.txz``; ``.7z`` and split ``.7z.001``, ``.7z.002`` …;
    ``.rar``, new-style volumes ``name.part1.rar`` (or ``part01``) …, and old-style ``name.rar``
    with ``name.r00``, ``name.r01`` …. A later volume always joins its set; volumes whose first
    volume is not among ``files`` make no set (they cannot be extracted). The content is not
    sniffed: an archive that is not what its name says fails at :func:`extract`.
    """
    groups: dict[tuple[str, Path, str], list[tuple[int, Path]]] = {}
    kinds: dict[tuple[str, Path, str], tuple[ArchiveKind, int]] = {}
    for path in sorted(set(files)):
        found = _classify(path)
        if found is None:
            continue
        key, kind, place, first_place = found
        groups.setdefault(key, []).append((place, path))
        kinds[key] = (kind, first_place)
    sets = []
    for key, members in groups.items():
        kind, first_place = kinds[key]
        members.sort()
        if members[0][0] != first_place:
            continue
        volumes = tuple(path for _, path in members)
        sets.append(ArchiveSet(first=volumes[0], volumes=volumes, kind=kind))
    return sorted(sets, key=lambda s: s.first)


def extract(
    archive: ArchiveSet,
    dest: Path,
    *,
    toolbox: Toolbox,
    check: Callable[[], None] = lambda: None,
    progress: Callable[[int], None] = lambda n: None,
) -> list[PurePosixPath]:
    """Extract every member into ``dest``; the relative paths of the regular files written.

    ``dest`` must be absent or an empty directory (the caller's fresh staging directory).
    ``check()`` is called between members, between 1 MiB chunks, and every 0.1 s while an
    external tool runs; whatever it raises stops the extraction (a tool is killed first) and
    propagates. ``progress(n)`` reports ``n`` more bytes written (for 7z and RAR once per file,
    after the tool finished).

    Raises :class:`FsopsRefused` (with ``member``) before writing anything when a member is
    absolute, contains ``..``, or is a link (symlink, even one pointing inside, or hard link), a
    device, a fifo or a socket; 7z and RAR output is checked again after the tool ran.
    Raises :class:`FsopsFailed` for an encrypted archive, a damaged one (with the tool's last
    words), a missing tool (with its install hint) or a write error. On any error, and when
    ``check()`` raises, the destination is emptied again (and removed if this call made it).
    """
    made = _prepare(dest)
    try:
        if archive.kind == "zip":
            return _extract_zip(archive.first, dest, check, progress)
        if archive.kind == "tar":
            return _extract_tar(archive.first, dest, check, progress)
        if archive.kind == "7z":
            written = extract_7z(archive.volumes, dest, toolbox=toolbox, check=check)
        else:
            written = extract_rar(archive.volumes, dest, toolbox=toolbox, check=check)
        for _, size in written:
            progress(size)
        return [rel for rel, _ in written]
    except BaseException:
        _clear(dest, remove=made)
        raise


def _prepare(dest: Path) -> bool:
    """Make sure ``dest`` is an empty real directory; whether it had to be created."""
    try:
        info = dest.lstat()
    except FileNotFoundError:
        try:
            dest.mkdir(parents=True)
        except OSError as exc:
            raise FsopsFailed(f"cannot create {dest}: {exc.strerror}", path=str(dest)) from exc
        return True
    except OSError as exc:
        raise FsopsFailed(f"cannot use {dest}: {exc.strerror}", path=str(dest)) from exc
    if not stat.S_ISDIR(info.st_mode):
        raise FsopsFailed(f"{dest} is not a directory to extract into", path=str(dest))
    if any(dest.iterdir()):
        raise FsopsFailed(
            f"{dest} is not empty; archives are extracted into a fresh directory", path=str(dest)
        )
    return False


def _clear(dest: Path, *, remove: bool) -> None:
    """Remove what an extraction wrote (never following links); best effort while failing."""
    with suppress(OSError), os.scandir(dest) as entries:
        for entry in entries:
            with suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
    if remove:
        with suppress(OSError):
            dest.rmdir()


def _damaged(archive: Path, exc: BaseException, member: str | None = None) -> FsopsFailed:
    where = f" (member {member!r})" if member else ""
    return FsopsFailed(
        f"{archive.name} is damaged or unreadable{where}: {exc}", path=str(archive), member=member
    )


class _Writer:
    """Creates directories and files below ``dest`` only, never through a link."""

    def __init__(
        self,
        archive: Path,
        dest: Path,
        check: Callable[[], None],
        progress: Callable[[int], None],
    ) -> None:
        self.archive = archive
        self.dest = dest
        self.confine = Confinement([dest])
        self.check = check
        self.progress = progress
        self.files: set[PurePosixPath] = set()

    def directory(self, rel: PurePosixPath) -> Path:
        """Make ``rel`` and its parents, each a real directory below ``dest``."""
        current = self.dest
        for part in rel.parts:
            current = current / part
            try:
                current.mkdir()
            except FileExistsError:
                if not stat.S_ISDIR(current.lstat().st_mode):
                    raise FsopsFailed(
                        f"{self.archive.name}: {rel} needs {current.relative_to(self.dest)} to "
                        "be a directory, but a file of that name was extracted",
                        path=str(self.archive),
                        member=str(rel),
                    ) from None
            except OSError as exc:
                raise self._write_failed(rel, exc) from exc
        return current

    def file(self, rel: PurePosixPath, source: IO[bytes], mtime: float | None) -> None:
        """Write ``rel`` from ``source`` in chunks; a repeated member replaces the earlier one."""
        target = self.directory(rel.parent) / rel.name
        self.confine.check(target, what=f"archive member {rel}")
        try:
            if rel in self.files:
                target.unlink()
            fd = os.open(target, _OPEN_FLAGS, _FILE_MODE)
        except OSError as exc:
            raise self._write_failed(rel, exc) from exc
        self.files.add(rel)
        try:
            while True:
                self.check()
                try:
                    chunk = source.read(CHUNK)
                except _READ_ERRORS as exc:
                    raise _damaged(self.archive, exc, str(rel)) from exc
                if not chunk:
                    break
                try:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                except OSError as exc:
                    raise self._write_failed(rel, exc) from exc
                self.progress(len(chunk))
            if mtime is not None:
                # A time the platform cannot store is not worth failing the job for.
                with suppress(OSError, OverflowError, ValueError):
                    os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)

    def _write_failed(self, rel: PurePosixPath, exc: OSError) -> FsopsFailed:
        return FsopsFailed(
            f"cannot write {rel} from {self.archive.name}: {exc.strerror or exc}",
            path=str(self.dest / rel),
            member=str(rel),
        )


# --- zip ------------------------------------------------------------------------------------


def _zip_plan(
    zf: zipfile.ZipFile, archive: Path
) -> list[tuple[zipfile.ZipInfo, PurePosixPath, bool]]:
    plan = []
    for info in zf.infolist():
        # The Unix mode sits in the high half of external_attr (zero from other systems).
        kind = stat.S_IFMT(info.external_attr >> 16)
        is_dir = info.is_dir() or kind == stat.S_IFDIR
        if is_dir and is_top(info.filename):
            continue
        rel = member_name(info.filename, archive)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise refuse(archive, info.filename, f"is {type_name(kind)}")
        if info.flag_bits & 0x1:
            raise FsopsFailed(
                f"{archive.name} is encrypted (password protected; member {info.filename!r}); "
                "Revaer has no password to open it",
                path=str(archive),
                member=info.filename,
            )
        plan.append((info, rel, is_dir))
    return plan


def _zip_mtime(info: zipfile.ZipInfo) -> float | None:
    # zip stores local wall-clock time; a nonsensical date leaves the time alone.
    try:
        return time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def _extract_zip(
    archive: Path, dest: Path, check: Callable[[], None], progress: Callable[[int], None]
) -> list[PurePosixPath]:
    try:
        zf = zipfile.ZipFile(archive)
    except _READ_ERRORS as exc:
        raise _damaged(archive, exc) from exc
    with zf:
        plan = _zip_plan(zf, archive)
        writer = _Writer(archive, dest, check, progress)
        for info, rel, is_dir in plan:
            check()
            if is_dir:
                writer.directory(rel)
                continue
            try:
                source = zf.open(info)
            except _READ_ERRORS as exc:
                raise _damaged(archive, exc, info.filename) from exc
            with source:
                writer.file(rel, source, _zip_mtime(info))
    return sorted(writer.files)


# --- tar ------------------------------------------------------------------------------------


def _tar_problem(member: tarfile.TarInfo) -> str | None:
    if member.issym():
        return f"is a symlink (to {member.linkname!r})"
    if member.islnk():
        return f"is a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "is a device"
    if member.isfifo():
        return "is a fifo"
    if not (member.isreg() or member.isdir()):
        return f"has the unsupported type {member.type!r}"
    return None


def _tar_plan(
    tf: tarfile.TarFile, archive: Path, check: Callable[[], None]
) -> list[tuple[tarfile.TarInfo, PurePosixPath]]:
    """Every member, checked, read through once before anything is written.

    A compressed tar is thus decompressed twice (once to check, once to extract): the price of
    refusing an archive before writing any of it.
    """
    plan: list[tuple[tarfile.TarInfo, PurePosixPath]] = []
    while True:
        check()
        try:
            member = tf.next()
        except _READ_ERRORS as exc:
            raise _damaged(archive, exc) from exc
        if member is None:
            return plan
        if member.isdir() and is_top(member.name):
            continue  # "./" from `tar -C dir .`: the destination itself
        rel = member_name(member.name, archive)
        problem = _tar_problem(member)
        if problem:
            raise refuse(archive, member.name, problem)
        plan.append((member, rel))


def _open_tar(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r:*")
    except _READ_ERRORS as exc:
        raise _damaged(archive, exc) from exc


def _extract_tar(
    archive: Path, dest: Path, check: Callable[[], None], progress: Callable[[int], None]
) -> list[PurePosixPath]:
    with _open_tar(archive) as tf:
        plan = _tar_plan(tf, archive, check)
        writer = _Writer(archive, dest, check, progress)
        for member, rel in plan:
            check()
            if member.isdir():
                writer.directory(rel)
                continue
            try:
                source = tf.extractfile(member)
            except _READ_ERRORS as exc:
                raise _damaged(archive, exc, member.name) from exc
            if source is None:  # isreg() members always have data; kept for the type checker
                raise _damaged(archive, ValueError("no data"), member.name)
            with source:
                writer.file(rel, source, member.mtime)
    return sorted(writer.files)
