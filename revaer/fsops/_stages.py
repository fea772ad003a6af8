"""The pipeline's stages, each idempotent: a rerun after a crash repeats no finished work.

A stage is an ``async`` function of the :class:`Job`; its blocking file work runs in a worker
thread (:meth:`Job.blocking`) that checks for cancellation between files and archive members.
It returns the details recorded for it, or :class:`Skipped`. The runner records each finished
stage in ``.revaer.meta`` (atomically) before the next begins, so after a crash the job
continues with the first unfinished stage, with the plan the earlier run recorded.

``STAGES`` is looked up at each call, so a test can wrap a stage (e.g. to kill the process in
the middle of one); the product never changes it.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import os
import shutil
import stat
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar

import trio

from revaer.fsops._archives import ArchiveSet, extract, find_archives
from revaer.fsops._checksum import MANIFEST_NAME, sha256_file, write_manifest
from revaer.fsops._confine import Confinement
from revaer.fsops._errors import FsopsFailed, FsopsRefused
from revaer.fsops._layout import Layout, TorrentView, flatten
from revaer.fsops._meta import META_NAME, JobMeta
from revaer.fsops._policy import FsPolicy
from revaer.fsops._tools import TOOLS, Toolbox
from revaer.fsops._transfer import place, same_content

__all__ = ["STAGES", "STAGE_NAMES", "EnginePort", "Job", "Skipped", "remove_empty_dirs"]

T = TypeVar("T")

RESERVED_NAMES = frozenset({META_NAME, ".revaer.staging", MANIFEST_NAME})
"""Names the pipeline writes beside a payload or in the library: no payload file may have one."""

STAGE_NAMES = (
    "validate",
    "par2",
    "extract",
    "flatten",
    "transfer",
    "permissions",
    "cleanup",
    "checksum",
)


class EnginePort(Protocol):
    """What the pipeline asks of the engine."""

    async def move(self, torrent_id: str, download_dir: Path) -> None:
        """Move the torrent's storage and return once the engine confirms the new place."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A stage that had nothing to do, and why."""

    reason: str


@dataclass(slots=True, kw_only=True)
class Job:
    """One run of one torrent's job: its inputs, its record, and its progress counters."""

    view: TorrentView
    layout: Layout
    policy: FsPolicy
    toolbox: Toolbox
    engine: EnginePort
    meta: JobMeta
    warn: Callable[[str], None] = lambda _message: None
    checkpoint: Callable[[], Awaitable[None]] = field(default=lambda: _nothing())  # noqa: PLW0108
    taken: Callable[[Path], bool] = lambda _dest: False
    """Whether a library folder belongs to another torrent's job (the runner's)."""
    """Persists the record in the middle of a long stage (the runner's)."""
    stage: str = ""
    bytes_done: int = 0
    bytes_total: int = 0
    """Progress of the current stage (written by the worker thread, read by the reporter)."""
    confinement: Confinement
    """The policy's allowed roots, resolved (by the runner, off the event loop)."""

    @property
    def staging(self) -> Path:
        """The job's staging area, where ``validate`` found it (a move does not move it)."""
        return Path(self.meta.staging) if self.meta.staging else self.layout.staging

    @property
    def dest(self) -> Path:
        """The payload's folder in the library (decided by ``validate``)."""
        assert self.meta.dest is not None, "validate has not run"
        return Path(self.meta.dest)

    def add_bytes(self, n: int) -> None:
        """Count ``n`` more bytes of the current stage (called from the worker thread)."""
        self.bytes_done += n

    async def blocking(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a worker thread; cancelling the job stops it at its next check."""
        return await trio.to_thread.run_sync(fn)

    def check(self) -> None:
        """Raise ``Cancelled`` in the worker thread when the job is being cancelled."""
        trio.from_thread.check_cancelled()


async def _nothing() -> None:
    return None


Stage = Callable[[Job], Awaitable[dict[str, Any] | Skipped]]


# -- validate -------------------------------------------------------------------------------


async def validate(job: Job) -> dict[str, Any] | Skipped:
    """Every source and the destination resolve inside the allowed roots; decide the route."""
    policy = job.policy
    if policy.library_root is None:
        raise FsopsFailed("fs_policy.library_root is not set: set it to the library directory")
    if not job.layout.files:
        raise FsopsFailed("the torrent has no wanted files: nothing to put into the library")
    conf = job.confinement

    def check_files() -> tuple[int, Path, list[Path]]:
        conf.check(job.view.save_path, what="download directory")
        root = conf.check(job.layout.root, what="payload directory")
        total = 0
        resolved: list[Path] = []
        for rel in job.layout.files:
            path = job.layout.root / rel
            if any(part in RESERVED_NAMES for part in rel.parts):
                raise FsopsRefused(
                    f"payload file {path} has a name the pipeline keeps for itself "
                    f"({', '.join(sorted(RESERVED_NAMES))})",
                    path=str(path),
                )
            conf.check(path, what="payload file")
            try:
                info = path.lstat()
            except OSError as exc:
                raise FsopsFailed(
                    f"payload file {path} is missing: {exc.strerror}", path=str(path)
                ) from None
            if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
                raise FsopsFailed(f"payload file {path} is not a regular file", path=str(path))
            total += info.st_size
            resolved.append(path.resolve())
        return total, root, resolved

    total, root, payload = await job.blocking(check_files)
    route = policy.route(job.view.tags)
    wanted = job.layout.destination(policy.library_root, route)
    dest = wanted
    for n in range(1, 1000):
        await job.blocking(partial(_refuse_overlap, job, route.mode, dest, root, payload))
        if not job.taken(dest):
            break
        if route.mode == "move":
            raise FsopsFailed(
                f"library folder {wanted} belongs to another torrent, and move mode cannot "
                "rename this torrent's folder; use hardlink or copy, or move that one away",
                path=str(wanted),
            )
        # Another torrent's folder: this one gets its own, so records never mix.
        dest = wanted.with_name(f"{wanted.name} ({n})")
    else:
        raise FsopsFailed(f"no free library folder for {wanted} (tried 999 names)")
    job.meta.dest = str(dest)
    job.meta.mode = route.mode
    job.meta.staging = str(job.layout.staging)
    return {"dest": str(dest), "mode": route.mode, "bytes": total}


def _refuse_overlap(job: Job, mode: str, wanted: Path, root: Path, payload: list[Path]) -> None:
    """The library folder must be allowed, hold none of the torrent's files (cleanup would
    delete them, the manifest would cover them) and lie outside a torrent's own folder —
    unless it is where a move already put the torrent, which is the point of ``move``."""
    dest = job.confinement.check(wanted, what="library destination")
    if mode == "move":
        target = dest.parent if job.layout.multi else dest
        if job.view.save_path.resolve() == target:
            return  # the torrent seeds from the library already (a rerun after its move)
    inside_torrent = job.layout.multi and (dest == root or dest.is_relative_to(root))
    if inside_torrent or any(p.is_relative_to(dest) for p in payload):
        raise FsopsRefused(
            f"library destination {dest} overlaps the payload {job.layout.root}: "
            "library_root (or a tag's subdir) must not be the download directory",
            path=str(dest),
        )


# -- par2 -----------------------------------------------------------------------------------


async def par2(job: Job) -> dict[str, Any] | Skipped:
    """Verify (or repair) with the payload's PAR2 set, when enabled and present."""
    if job.policy.par2 == "off":
        return Skipped("fs_policy.par2 is off")
    sets = sorted(f for f in job.layout.files if f.suffix.lower() == ".par2")
    if not sets:
        return Skipped("no PAR2 files")
    main = min(sets, key=lambda f: (".vol" in f.name.lower(), len(f.name)))
    tool = job.toolbox.path("par2")
    if tool is None:
        raise FsopsFailed(f"par2 not found on PATH: {TOOLS['par2'].install}")
    path = job.layout.root / main
    done = await trio.run_process(
        [tool, job.policy.par2, "-q", "--", path.name],
        cwd=path.parent,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        stdin=b"",
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-2:]
        verb = "repair" if job.policy.par2 == "repair" else "verification"
        raise FsopsFailed(
            f"PAR2 {verb} of {main} failed (exit {done.returncode}): {' '.join(tail)}",
            path=str(path),
        )
    return {"set": str(main), "mode": job.policy.par2}


# -- extract --------------------------------------------------------------------------------


def _rel(path: Path, root: Path) -> PurePosixPath:
    return PurePosixPath(path.relative_to(root).as_posix())


async def extract_archives(job: Job) -> dict[str, Any] | Skipped:
    """Extract every archive (and archives inside them, one level) into the staging area."""
    if not job.policy.extract:
        return Skipped("fs_policy.extract is off")
    root = job.layout.root
    archives = find_archives(root / f for f in job.layout.files)
    if not archives:
        return Skipped("no archives")
    done = {entry["archive"] for entry in job.meta.extracted}
    job.bytes_done = 0
    job.bytes_total = await job.blocking(lambda: _sizes(v for a in archives for v in a.volumes))
    for archive in archives:
        name = str(_rel(archive.first, root))
        if name in done:
            continue
        base = _rel(archive.first.parent, root)
        # Named after the archive, not its position: a changed file list moves nothing.
        staging = job.staging / _key(name)
        files = await _extract_one(job, archive, staging)
        entries = [_entry(name, archive, root, staging, base, files)]
        # Archives inside the archive, one level: extracted beside where they were.
        for inner in find_archives(staging / f for f in files):
            inner_rel = _rel(inner.first, staging)
            inner_staging = job.staging / f"{_key(name)}.{_key(str(inner_rel))}"
            inner_files = await _extract_one(job, inner, inner_staging)
            inner_base = base / _rel(inner.first.parent, staging)
            inner_name = f"{name}/{inner_rel}"
            entries.append(
                _entry(inner_name, inner, staging, inner_staging, inner_base, inner_files)
                | {"nested": True}
            )
            consumed = {_rel(v, staging) for v in inner.volumes}
            entries[0]["files"] = [
                f for f in entries[0]["files"] if PurePosixPath(f) not in consumed
            ]
        job.meta.extracted.extend(entries)
        await job.checkpoint()  # an archive done is never extracted again
    return {"archives": len(job.meta.extracted)}


def _key(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _entry(
    name: str,
    archive: ArchiveSet,
    root: Path,
    staging: Path,
    base: PurePosixPath,
    files: list[PurePosixPath],
) -> dict[str, Any]:
    return {
        "archive": name,
        "volumes": [str(_rel(v, root)) for v in archive.volumes],
        "staging": str(staging),
        "base": str(base),
        "files": [str(f) for f in files],
    }


async def _extract_one(job: Job, archive: ArchiveSet, staging: Path) -> list[PurePosixPath]:
    if archive.tool is not None and job.toolbox.path(archive.tool) is None:
        spec = TOOLS[archive.tool]
        raise FsopsFailed(
            f"{archive.first.name} needs {spec.name}, which is not on PATH: {spec.install}",
            path=str(archive.first),
        )

    def run() -> list[PurePosixPath]:
        job.confinement.check(staging, what="staging directory")
        # A run that crashed in the middle of this archive left part of it: start it over.
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        return extract(
            archive, staging, toolbox=job.toolbox, check=job.check, progress=job.add_bytes
        )

    return await job.blocking(run)


# -- flatten --------------------------------------------------------------------------------


async def flatten_plan(job: Job) -> dict[str, Any] | Skipped:
    """Decide every library file and its source; lift a single top-level directory."""
    root = job.layout.root
    consumed: set[PurePosixPath] = set()
    extracted: list[tuple[PurePosixPath, str]] = []
    for entry in job.meta.extracted:
        if not entry.get("nested"):
            consumed.update(PurePosixPath(v) for v in entry["volumes"])
        base = PurePosixPath(entry["base"])
        staging = Path(entry["staging"])
        extracted.extend((base / f, str(staging / f)) for f in entry["files"])
    moving = job.meta.mode == "move"
    # Moved files keep the torrent's layout (it seeds from them); the rest may be lifted.
    own: list[tuple[PurePosixPath, str]] = (
        [] if moving else [(f, str(root / f)) for f in job.layout.files if f not in consumed]
    )
    plan = own + extracted
    levels = 0
    if job.policy.flatten and not moving:
        lifted, levels = flatten([rel for rel, _ in plan])
        plan = list(zip(lifted, (src for _, src in plan), strict=True))
    job.meta.plan = [[str(rel), src] for rel, src in _distinct(plan)]
    return {"files": len(plan), "lifted_levels": levels}


def _distinct(plan: list[tuple[PurePosixPath, str]]) -> list[tuple[PurePosixPath, str]]:
    """Two sources for one library path (``CD1/cover.jpg``, ``CD2/cover.jpg`` lifted): the
    later ones get ``name (n).ext``, as the conflict policy's ``rename`` would name them."""
    used: set[PurePosixPath] = set()
    out: list[tuple[PurePosixPath, str]] = []
    for rel, src in plan:
        target, n = rel, 1
        while target in used:
            target = rel.with_name(f"{PurePosixPath(rel.name).stem} ({n}){rel.suffix}")
            n += 1
        used.add(target)
        out.append((target, src))
    return out


# -- transfer -------------------------------------------------------------------------------


async def transfer(job: Job) -> dict[str, Any] | Skipped:
    """Hardlink, copy or move every planned file into the library."""
    dest = job.dest
    mode = job.meta.mode or job.policy.move_mode
    if mode == "move":
        await _move_torrent(job)
    staging = job.staging
    job.bytes_done = 0
    job.bytes_total = await job.blocking(lambda: _sizes(Path(src) for _, src in job.meta.plan))
    fell_back = False

    def run() -> tuple[list[str], int]:
        nonlocal fell_back
        placed: list[str] = []
        skipped = 0
        for rel, src in job.meta.plan:
            job.check()
            source, target = Path(src), dest / rel
            job.confinement.check(target.parent, what="library destination")
            ours = source.is_relative_to(staging)
            # Extracted files are the job's own: they are moved, never left behind twice
            # (a rerun after a crash finds a file moved already by its content).
            how = "move" if ours or mode == "move" else mode
            result = place(
                source,
                target,
                mode=how,  # type: ignore[arg-type]
                conflict=job.policy.conflict,
                check=job.check,
                progress=job.add_bytes,
                file_mode=_file_mode(job.policy, source) if how == "copy" or ours else None,
            )
            fell_back = fell_back or result.fell_back
            if result.how == "skipped":
                skipped += 1
                continue
            placed.append(str(result.dest.relative_to(dest)))
        return placed, skipped

    placed, skipped = await job.blocking(run)
    if fell_back:
        job.warn(
            f"hardlinks are impossible from {job.layout.root} to {dest} (another filesystem): "
            "files were copied instead"
        )
    if mode == "move":
        placed = [str(f) for f in job.layout.files] + placed
    job.meta.placed = placed
    return {"mode": mode, "files": len(placed), "skipped_existing": skipped, "copied": fell_back}


async def _move_torrent(job: Job) -> None:
    """Move the torrent itself through the engine, so it seeds from the library."""
    target = job.dest.parent if job.layout.multi else job.dest

    def prepare() -> bool:
        if job.view.save_path.resolve() == target.resolve():
            return False  # moved by the run that crashed
        # libtorrent replaces what is in the way: the conflict policy is applied here first.
        for rel in job.layout.files:
            there = job.dest / rel
            source = job.layout.root / rel
            if (
                there.exists()
                and source.exists()  # gone: libtorrent moved it before a crash
                and job.policy.conflict != "overwrite"
                and not same_content(source, there, check=job.check)
            ):
                raise FsopsFailed(
                    f"the library already has {there} with other content, and moving the "
                    "torrent would replace it: move it away, or set fs_policy.conflict to "
                    "overwrite",
                    path=str(there),
                )
        target.mkdir(parents=True, exist_ok=True)
        return True

    if await job.blocking(prepare):
        await job.engine.move(job.view.torrent_id, target)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _sizes(paths: Iterable[Path]) -> int:
    """The bytes a stage will go through (for progress; a missing file counts 0)."""
    return sum(_size(p) for p in paths)


def _file_mode(policy: FsPolicy, source: Path) -> int | None:
    if policy.chmod_file is not None:
        return policy.chmod_file
    if policy.umask is not None:
        try:
            return (source.stat().st_mode & 0o777) & ~policy.umask
        except OSError:
            return None  # moved already by a run that crashed: place() recognises it
    return None


# -- permissions ----------------------------------------------------------------------------


async def permissions(job: Job) -> dict[str, Any] | Skipped:
    """chmod and chown the library folder and everything in it."""
    policy = job.policy
    dir_mode = policy.chmod_dir
    if dir_mode is None and policy.umask is not None:
        dir_mode = 0o777 & ~policy.umask
    file_mode = policy.chmod_file
    if dir_mode is None and file_mode is None and policy.owner is None and policy.group is None:
        return Skipped("no chmod, chown or umask configured")
    dest = job.dest

    def run() -> int:
        changed = 0
        for path in _walk(dest):
            job.check()
            try:
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode):
                    continue
                mode = dir_mode if stat.S_ISDIR(info.st_mode) else file_mode
                if mode is not None and stat.S_IMODE(info.st_mode) != mode:
                    os.chmod(path, mode, follow_symlinks=False)
                    changed += 1
                if policy.owner is not None or policy.group is not None:
                    shutil.chown(path, _id(policy.owner), _id(policy.group))  # type: ignore[arg-type]
            except (OSError, LookupError) as exc:
                raise FsopsFailed(
                    f"cannot set permissions of {path}: {exc}", path=str(path)
                ) from None
        return changed

    return {"changed": await job.blocking(run)}


def _id(name: str | None) -> str | int | None:
    return int(name) if name is not None and name.isdigit() else name


def _walk(top: Path) -> list[Path]:
    out = [top] if top.exists() else []
    for dirpath, dirnames, filenames in os.walk(top):
        out.extend(Path(dirpath) / d for d in dirnames)
        out.extend(Path(dirpath) / f for f in filenames)
    return out


# -- cleanup --------------------------------------------------------------------------------


def _matches(rel: str, patterns: tuple[str, ...]) -> bool:
    folded = rel.casefold()
    name = PurePosixPath(folded).name
    return any(
        fnmatch.fnmatchcase(folded, p.casefold()) or fnmatch.fnmatchcase(name, p.casefold())
        for p in patterns
    )


async def cleanup(job: Job) -> dict[str, Any] | Skipped:
    """Drop fluff from the library (keep globs win), empty folders, and the staging area."""
    dest = job.dest
    policy = job.policy
    seeding = {str(f) for f in job.layout.files} if job.meta.mode == "move" else set()

    def run() -> tuple[list[str], int]:
        dropped: list[str] = []
        kept_seeding = 0
        for rel in job.meta.placed:
            if not _matches(rel, policy.cleanup_drop) or _matches(rel, policy.cleanup_keep):
                continue
            if rel in seeding:
                kept_seeding += 1  # the torrent seeds from it: never deleted
                continue
            path = dest / rel
            job.confinement.check(path.parent, what="library file")
            with contextlib.suppress(FileNotFoundError):  # dropped by the run that crashed
                path.unlink()
            dropped.append(rel)
        remove_empty_dirs(dest, keep_top=True)
        job.confinement.check(job.staging, what="staging directory")
        shutil.rmtree(job.staging, ignore_errors=True)
        return dropped, kept_seeding

    dropped, kept = await job.blocking(run)
    job.meta.placed = [rel for rel in job.meta.placed if rel not in set(dropped)]
    return {"dropped": dropped, "kept_seeding": kept}


def remove_empty_dirs(top: Path, *, keep_top: bool) -> None:
    """Remove the directories under ``top`` (and ``top`` unless ``keep_top``) left empty,
    deepest first; a directory that still holds something stays."""
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
        path = Path(dirpath)
        if keep_top and path == top:
            continue
        try:
            path.rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                raise


# -- checksum -------------------------------------------------------------------------------


async def checksum(job: Job) -> dict[str, Any] | Skipped:
    """sha256 of every library file, into a manifest ``sha256sum -c`` accepts."""
    if not job.policy.checksums:
        return Skipped("fs_policy.checksums is off")
    dest = job.dest
    files = sorted(job.meta.placed)
    if not files:
        return Skipped("no file was placed in the library")
    job.bytes_done = 0
    job.bytes_total = await job.blocking(lambda: _sizes(dest / f for f in files))

    def run() -> str:
        digests = {
            rel: sha256_file(dest / rel, check=job.check, progress=job.add_bytes)
            for rel in files
            if PurePosixPath(rel).name not in (MANIFEST_NAME, META_NAME)
        }
        return str(write_manifest(dest, digests))

    manifest = await job.blocking(run)
    job.meta.manifest = manifest
    return {"manifest": manifest, "files": len(files)}


STAGES: dict[str, Stage] = {
    "validate": validate,
    "par2": par2,
    "extract": extract_archives,
    "flatten": flatten_plan,
    "transfer": transfer,
    "permissions": permissions,
    "cleanup": cleanup,
    "checksum": checksum,
}
