"""Commands, executed by the session actor one at a time (see ``SessionActor``).

Each command that changes a torrent stores the change first and applies it to libtorrent
after, so what is acknowledged is on disk, and a failure to store changes nothing. An add is
answered later, when libtorrent reports it (``AddFinished``): :data:`DEFERRED`.
Commands run with their request id bound; what libtorrent reports of an add, a pause or a
resume later carries it too (the rule is in ``_core``).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, assert_never

import trio

from revaer.errors import Conflict, InvalidParam, RevaerError, ValidationFailed
from revaer.events import FilesDiscovered, TorrentRemoved, TorrentState
from revaer.runtime import current_request_id
from revaer.torrent._commands import (
    ChangeTags,
    ConnectPeer,
    Inspect,
    Inspected,
    MoveStorage,
    PauseTorrent,
    Reannounce,
    Recheck,
    RemoveTorrent,
    ResumeTorrent,
    SelectFiles,
    SetRateLimits,
    SetSequential,
)
from revaer.torrent._core import AddGroup, PendingAdd, SessionCore
from revaer.torrent._inbox import PreparedAdd, PreparedAdds, Reply, SessionCommand
from revaer.torrent._resume import ResumeStoreUnavailable, TorrentMeta
from revaer.torrent._selection import Selection, compute_priorities, with_priorities
from revaer.torrent._state import TorrentEntry
from revaer.torrent._validate import absolute_path
from revaer.torrent.limits import MAX_TAGS

__all__ = ["DEFERRED", "execute"]

_ENCODE_INLINE = 64 * 1024

DEFERRED: Final = object()
"""Returned for a command whose reply is sent later (an add waits for libtorrent)."""

_PAUSED = frozenset({TorrentState.PAUSED})
_UNPAUSED = frozenset(TorrentState) - _PAUSED


async def execute(core: SessionCore, command: SessionCommand, reply: Reply) -> object:  # noqa: PLR0912 -- one branch per command
    """Run one command; its result, or :data:`DEFERRED` when ``reply`` is answered later."""
    match command:
        case PreparedAdds():
            await _add_many(core, command, reply)
            return DEFERRED
        case PauseTorrent():
            entry = core.entry(command.torrent_id)
            await _change(core, entry, entry.ref.pause, paused=True)
            core.expect(entry, _PAUSED)
        case ResumeTorrent():
            entry = core.entry(command.torrent_id)
            await _change(core, entry, entry.ref.resume, paused=False)
            core.expect(entry, _UNPAUSED)
        case RemoveTorrent():
            await _remove(core, command)
        case SetSequential():
            entry = core.entry(command.torrent_id)
            await _change(
                core,
                entry,
                partial(entry.ref.set_sequential, command.enabled),
                sequential=command.enabled,
            )
        case SetRateLimits():
            entry = core.entry(command.torrent_id)
            await _change(
                core,
                entry,
                partial(entry.ref.set_limits, command.download_bps, command.upload_bps),
                max_download_bps=command.download_bps or None,
                max_upload_bps=command.upload_bps or None,
            )
        case SelectFiles():
            await _select(core, command)
        case Reannounce():
            await core.lt(core.entry(command.torrent_id).ref.force_reannounce)
        case Recheck():
            await core.lt(core.entry(command.torrent_id).ref.force_recheck)
        case MoveStorage():
            path = absolute_path(command.download_dir, "download_dir")
            # Recorded only once libtorrent confirms it (StorageMoved): a failed move leaves
            # the torrent where it was, and so do its metadata and the catalog.
            await core.lt(core.entry(command.torrent_id).ref.move_storage, path)
        case ConnectPeer():
            entry = core.entry(command.torrent_id)
            await core.lt(entry.ref.connect_peer, command.host, command.port)
        case ChangeTags():
            entry = core.entry(command.torrent_id)
            await core.store_meta(entry, replace(entry.meta, tags=new_tags(entry.meta, command)))
        case Inspect():
            entry = core.entry(command.torrent_id)
            meta = entry.meta
            return Inspected(
                torrent_id=meta.torrent_id,
                live=await core.lt(entry.ref.inspect),
                include=meta.include,
                exclude=meta.exclude,
                skip_fluff=meta.skip_fluff,
                paused=meta.paused,
                max_download_bps=meta.max_download_bps,
                max_upload_bps=meta.max_upload_bps,
            )
        case _:
            assert_never(command)
    return None


def new_tags(meta: TorrentMeta, command: ChangeTags) -> tuple[str, ...]:
    """The tags after ``command``: replaced, then added to (no duplicates), then removed from."""
    tags = list(meta.tags if command.replace is None else command.replace)
    tags += [t for t in dict.fromkeys(command.add) if t not in tags]
    dropped = set(command.remove)
    kept = tuple(dict.fromkeys(t for t in tags if t not in dropped))
    if len(kept) > MAX_TAGS:
        raise ValidationFailed(
            [InvalidParam(pointer="/add", message=f"{len(kept)} tags; at most {MAX_TAGS}")]
        )
    return kept


async def _change(core: SessionCore, entry: TorrentEntry, action: Any, **meta_changes: Any) -> None:
    await core.store_meta(entry, replace(entry.meta, **meta_changes))
    await core.lt(action)
    await core.ask_resume([entry])


async def _add_many(core: SessionCore, adds: PreparedAdds, reply: Reply) -> None:
    """Admit each add (or refuse it with its own error), store all in one batch, post all.

    The reply (one result per item, in order) goes out once libtorrent has answered each.
    """
    group = AddGroup(reply, len(adds.items))
    admitted: list[tuple[int, PreparedAdd, TorrentMeta, bytes | None]] = []
    # Info hashes and ids taken: by adds still in flight, then by earlier items of this command.
    claimed: set[str] = core.pending_ids()
    for index, prepared in enumerate(adds.items):
        try:
            meta, blob = await _admit(core, prepared, claimed)
        except RevaerError as exc:
            group.resolve(index, exc)
            continue
        admitted.append((index, prepared, meta, blob))
    if not admitted:
        return
    # Each blob and then its metadata, durably, before libtorrent hears of any of them: after
    # a crash a torrent is restored whole, or it never was.
    try:
        await core.store.save_torrents([(meta, blob) for _, _, meta, blob in admitted])
    except ResumeStoreUnavailable as exc:
        for index, *_ in admitted:
            group.resolve(index, exc)
        return

    try:
        await core.post_adds([(prepared.source, meta) for _, prepared, meta, _ in admitted])
    except Exception:
        # libtorrent refused them at once: forget the files again (a cancellation instead
        # leaves stored torrents, restored whole at the next start).
        for _, _, meta, _ in admitted:
            with contextlib.suppress(ResumeStoreUnavailable):
                await core.store.remove(meta.torrent_id)
        raise
    request_id = current_request_id()
    for index, prepared, meta, _ in admitted:
        pending = PendingAdd(
            meta=meta, hashes=prepared.source.info.info_hashes, info=prepared.source.info,
            group=group, index=index, request_id=request_id,
        )  # fmt: skip
        for h in pending.hashes:
            core.adding[h] = pending


async def _admit(
    core: SessionCore, prepared: PreparedAdd, claimed: set[str]
) -> tuple[TorrentMeta, bytes | None]:
    """The metadata (and first blob) of one add, or the error that refuses it."""
    command, source, torrent_id = prepared.command, prepared.source, prepared.torrent_id
    profile = core.profile()
    hashes = source.info.info_hashes
    existing = next((core.state.by_hash[h] for h in hashes if h in core.state.by_hash), None)
    if existing is None:
        pending = next((core.adding[h] for h in hashes if h in core.adding), None)
        existing = pending.meta.torrent_id if pending is not None else None
    if existing is not None:
        raise Conflict(f"this torrent is already present as {existing}")
    if any(h in claimed for h in hashes):
        raise Conflict("this torrent is given twice in one request")
    if torrent_id in core.state.entries or torrent_id in claimed:
        raise Conflict(f"a torrent with id {torrent_id} exists already")
    root = command.download_dir or profile.get("download_root")
    if not root:
        raise ValidationFailed(
            [InvalidParam(pointer="/download_dir", message="required: no download_root is set")]
        )
    extra = (profile.get("tracker") or {}).get("extra_trackers") or ()
    if extra:
        source.add_trackers(tuple(extra))
    selection = Selection(
        include=command.include, exclude=command.exclude, skip_fluff=command.skip_fluff
    )
    meta = TorrentMeta(
        torrent_id=torrent_id,
        info_hash=source.info.info_hash,
        name=command.name or source.info.name,
        named=command.name is not None,
        source="magnet" if command.magnet else "torrent",
        magnet=command.magnet,
        download_dir=absolute_path(root, "download_dir"),
        sequential=(
            command.sequential
            if command.sequential is not None
            else bool(profile.get("sequential_default"))
        ),
        paused=command.paused,
        tags=command.tags,
        trackers=command.trackers,
        include=command.include,
        exclude=command.exclude,
        skip_fluff=command.skip_fluff,
        priorities=(
            compute_priorities(source.info.files, selection)
            if source.info.has_metadata and not selection.is_default
            else None
        ),
        max_download_bps=command.max_download_bps or None,
        max_upload_bps=command.max_upload_bps or None,
        added_at=datetime.now(UTC).isoformat(),
    )
    blob = None
    if source.info.has_metadata:
        # A .torrent's first resume blob holds its info dictionary. Encoding is quick for a
        # typical torrent; a big one is encoded off the loop.
        big = len(command.metainfo or b"") > _ENCODE_INLINE
        blob = await trio.to_thread.run_sync(source.to_resume) if big else source.to_resume()
    claimed.update(hashes)
    claimed.add(torrent_id)
    return meta, blob


async def _remove(core: SessionCore, command: RemoveTorrent) -> None:
    entry = core.entry(command.torrent_id)
    # Stored files first: if this fails nothing changed, and once it succeeded a crash can
    # only leave a torrent that is gone (its data is kept unless libtorrent deleted it).
    await core.store.remove(command.torrent_id)
    await core.lt(partial(core.session.remove, entry.ref, delete_files=command.delete_data))
    core.state.forget(command.torrent_id)
    core.progress.forget(command.torrent_id)
    core.publish(TorrentRemoved(torrent_id=command.torrent_id, deleted_data=command.delete_data))


async def _select(core: SessionCore, command: SelectFiles) -> None:
    entry = core.entry(command.torrent_id)
    selection = Selection(
        include=command.include, exclude=command.exclude, skip_fluff=command.skip_fluff
    )
    files = await core.lt(entry.ref.files)
    priorities = None
    if files is not None:
        priorities = compute_priorities(files[0], selection, command.priorities)
    await core.store_meta(
        entry,
        replace(
            entry.meta,
            include=command.include,
            exclude=command.exclude,
            skip_fluff=command.skip_fluff,
            priorities=priorities,
        ),
    )
    if files is None or priorities is None:
        return  # applied when the metadata arrives
    await core.lt(entry.ref.prioritize_files, priorities)
    await core.ask_resume([entry])
    listed, total, piece_length = files
    core.publish(
        FilesDiscovered(
            torrent_id=entry.meta.torrent_id,
            name=entry.meta.name,
            total_size=total,
            piece_length=piece_length,
            files=with_priorities(listed, priorities),
        )
    )
