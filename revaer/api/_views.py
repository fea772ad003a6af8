"""What the torrent routes send: catalog records (and the engine's live view) as JSON values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from revaer.events import TorrentRecord
from revaer.torrent import Inspected

__all__ = ["detail", "page_json", "summary"]

_ENCODER = msgspec.json.Encoder()
# Records are immutable: a record object's summary is encoded once however often it is listed.
_ENCODED: dict[str, tuple[TorrentRecord, bytes]] = {}


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def summary(r: TorrentRecord) -> dict[str, Any]:
    """The list entry of a record (``TorrentSummary``)."""
    return {
        "torrent_id": r.torrent_id,
        "info_hash": r.info_hash,
        "name": r.name,
        "state": r.state.value,
        "progress": r.progress,
        "bytes_done": r.bytes_done,
        "bytes_total": r.bytes_total,
        "download_bps": r.download_bps,
        "upload_bps": r.upload_bps,
        "eta_seconds": r.eta_seconds,
        "peers": r.peers,
        "seeds": r.seeds,
        "ratio": r.ratio,
        "tags": list(r.tags),
        "trackers": list(r.trackers),
        "download_dir": r.save_path,
        "sequential": r.sequential,
        "max_download_bps": r.max_download_bps,
        "max_upload_bps": r.max_upload_bps,
        "added_at": r.added_at.isoformat(),
        "completed_at": _iso(r.completed_at),
        "last_error": r.last_error,
    }


def _encoded(r: TorrentRecord, limit: int) -> bytes:
    cached = _ENCODED.get(r.torrent_id)
    if cached is not None and cached[0] is r:
        return cached[1]
    if len(_ENCODED) >= limit:
        _ENCODED.clear()  # ids of removed torrents accumulate; start over
    data = _ENCODER.encode(summary(r))
    _ENCODED[r.torrent_id] = (r, data)
    return data


def page_json(records: list[TorrentRecord], next_cursor: str | None, *, catalog_size: int) -> bytes:
    """A ``TorrentList`` body, from each record's cached encoding (at most twice the catalog
    is cached, so removed torrents do not pile up)."""
    limit = 2 * catalog_size + 1024
    parts = b",".join(_encoded(r, limit) for r in records)
    return b'{"torrents":[' + parts + b'],"next":' + _ENCODER.encode(next_cursor) + b"}"


def detail(r: TorrentRecord, inspected: Inspected | None) -> dict[str, Any]:
    """The detail of a record (``TorrentDetail``); live fields null without the engine."""
    live = inspected.live if inspected is not None else None
    progress = live.file_progress if live is not None else None
    files = []
    for f in r.files:
        done = progress[f.index] if progress is not None and f.index < len(progress) else None
        fraction = (done / f.size if f.size else 1.0) if done is not None else r.progress
        files.append(
            {
                "index": f.index,
                "path": f.path,
                "size": f.size,
                "priority": f.priority,
                "progress": min(1.0, max(0.0, fraction)),
                "bytes_done": done,
            }
        )
    if live is not None:
        trackers = [
            {
                "url": t.url,
                "tier": t.tier,
                "status": t.status,
                "message": t.message,
                "seeds": t.seeds,
                "peers": t.peers,
            }
            for t in live.trackers
        ]
    else:
        trackers = [
            {"url": url, "tier": None, "status": "unknown", "message": None, "seeds": None,
             "peers": None}
            for url in r.trackers
        ]  # fmt: skip
    return summary(r) | {
        "files": files,
        "tracker_status": trackers,
        "pieces": (
            {"total": live.pieces_total, "done": live.pieces_done, "length": live.piece_length}
            if live is not None and live.pieces_total
            else None
        ),
        "connections": live.connections if live is not None else None,
        "selection": (
            {
                "include": list(inspected.include),
                "exclude": list(inspected.exclude),
                "skip_fluff": inspected.skip_fluff,
            }
            if inspected is not None
            else None
        ),
        "paused": inspected.paused if inspected is not None else None,
        # The post-download pipeline does not exist yet; its status will be shown here.
        "fsops": None,
        "live": inspected is not None,
    }
