"""Restoring every stored torrent at start, and saving every changed one at the end.

Restore posts all stored torrents to libtorrent in one call (``async_add``), then the session
actor handles alert batches until each add is answered: 10,000 torrents cost a few batches,
not 20,000 thread round trips. After an unclean stop, pieces on disk that the resume data
does not record yet are verified and kept (``trust_pieces_on_disk``), so nothing already
downloaded is fetched again.

The final save asks only for the resume data of torrents that changed, handles the answers
(writing them in batches), and marks the store clean when all of them are on disk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import trio
from loguru import logger

from revaer.errors import ValidationFailed
from revaer.runtime import settle_heap
from revaer.torrent._alerts import AlertHandler
from revaer.torrent._core import PendingAdd, SessionCore
from revaer.torrent._inbox import Inbound
from revaer.torrent._lt import AddParams, parse_magnet, read_resume, trust_pieces_on_disk
from revaer.torrent._resume import StoredTorrent
from revaer.torrent._state import worth_saving

__all__ = ["final_save", "restore"]

_log = logger.bind(actor="session")
_WAIT_MS = 200
# Seconds (plus one per thousand torrents) libtorrent gets to answer a restore's adds.
_ANSWER_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class _Restorable:
    item: StoredTorrent
    source: AddParams
    kept_pieces: int


def _prepare(items: Sequence[StoredTorrent], clean: bool) -> list[_Restorable]:
    """Runs in a worker thread: parse every blob (or magnet); after an unclean stop, check
    the disk for pieces the blobs miss."""
    ready: list[_Restorable] = []
    for item in items:
        meta = item.meta
        try:
            if item.resume is not None:
                source = read_resume(item.resume, listing=False)
            else:
                assert meta.magnet is not None  # the store keeps no .torrent without a blob
                source = parse_magnet(meta.magnet)
        except ValidationFailed as exc:
            _log.error("cannot restore torrent {}: {}", meta.torrent_id, exc.detail)
            continue
        kept = 0
        if not clean and source.incomplete:
            kept = trust_pieces_on_disk(source, meta.download_dir)
        ready.append(_Restorable(item=item, source=source, kept_pieces=kept))
    return ready


def _reconciled(restorable: _Restorable) -> list[str]:
    meta, source = restorable.item.meta, restorable.source
    details = []
    stored = source.info_priorities
    if meta.priorities is not None and stored and stored != meta.priorities:
        details.append("file priorities in the resume data differed; restored Revaer's")
    if source.info_sequential is not None and source.info_sequential != meta.sequential:
        details.append(f"sequential restored to {meta.sequential}")
    return details


async def restore(
    core: SessionCore,
    inbox: trio.MemoryReceiveChannel[Inbound],
    handle: Callable[[Inbound], Awaitable[None]],
) -> None:
    """Add every stored torrent to the session; returns once libtorrent answered each."""
    clean = await core.store.take_clean_mark()
    items = await core.store.load_all()
    ready = await trio.to_thread.run_sync(_prepare, items, clean)
    kept = sum(r.kept_pieces for r in ready)
    if kept:
        _log.info("kept {} piece(s) found on disk after an unclean stop", kept)
    posted = []
    for restorable in ready:
        meta, source = restorable.item.meta, restorable.source
        hashes = source.info.info_hashes
        if any(h in core.adding for h in hashes):
            _log.error("cannot restore torrent {}: its info hash is stored twice", meta.torrent_id)
            continue
        pending = PendingAdd(
            meta=meta,
            hashes=hashes,
            info=source.info,
            reconciled=_reconciled(restorable),
            source=source,
            blob_current=restorable.kept_pieces == 0,
        )
        for h in hashes:
            core.adding[h] = pending
        posted.append(restorable)

    await core.post_adds([(r.source, r.item.meta) for r in posted])
    # libtorrent answers every add; should an answer be very late (or lost: an alert that could
    # not be read), the engine must still come up. Those restores stay pending: a late answer
    # registers the torrent as usual.
    with trio.move_on_after(_ANSWER_TIMEOUT + len(posted) / 1000) as waiting:
        while core.adding:
            await handle(await inbox.receive())
    if waiting.cancelled_caught:
        late = sorted(core.pending_ids())
        _log.error("libtorrent has not answered the restore of {} torrent(s): {}", len(late), late)
    core.restored.set()
    if posted:
        _log.info("restored {} torrents", len(core.state.entries))
        settle_heap()  # thousands of entries live as long as the session


async def final_save(core: SessionCore, handler: AlertHandler, *, after_crash: bool) -> bool:
    """Save the resume data of every torrent that changed; True when all of it is on disk.

    The alert pump has stopped: alerts are popped here. After a crash, answers asked for
    earlier may be lost: everything that changed is asked again, only those answers are
    awaited, and the result is never reported clean (the next start then checks the disk).
    Only a bounded, shielded caller should run this (it waits for libtorrent's answers).
    """
    handler.closing = True
    failures = handler.write_failures
    entries = list(core.state.entries.values())
    await core.lt(core.session.pause)
    if after_crash:
        for entry in entries:
            entry.pending_saves = 0
    # A finished torrent needs its final blob; the others only if libtorrent has news.
    forced = [e for e in entries if e.completing and not e.pending_saves]
    changed = [e for e in entries if not (e.completing or e.pending_saves) and worth_saving(e)]
    await core.ask_resume(forced)
    await core.ask_resume(changed, only_if_modified=True)
    while any(e.pending_saves for e in core.state.entries.values()):
        if not await core.lt(core.session.wait_for_alert, _WAIT_MS):
            continue
        await handler.handle(await core.lt(core.session.pop_alerts))
    _log.info(
        "asked for the resume data of {} of {} torrents", len(forced) + len(changed), len(entries)
    )
    return handler.write_failures == failures and not after_crash
