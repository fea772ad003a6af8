"""What the torrent routes send: catalog records (and the engine's live view) as JSON values."""

from __future__ import annotations

from typing import Any

import msgspec

from revaer.api._memo import RecordMemo
from revaer.events import TorrentRecord
from revaer.fsops import JobStatus
from revaer.torrent import Inspected

__all__ = ["detail", "page_json"]

_ENCODER = msgspec.json.Encoder()
# A record object's summary is encoded once however often it is listed.
_ENCODED = RecordMemo(lambda r: _ENCODER.encode(r.to_summary()))


def page_json(records: list[TorrentRecord], next_cursor: str | None, *, catalog_size: int) -> bytes:
    """A ``TorrentList`` body, from each record's cached encoding."""
    _ENCODED.size_for(catalog_size)
    parts = b",".join(_ENCODED.of(r) for r in records)
    return b'{"torrents":[' + parts + b'],"next":' + _ENCODER.encode(next_cursor) + b"}"


def detail(
    r: TorrentRecord, inspected: Inspected | None, fsops: JobStatus | None
) -> dict[str, Any]:
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
    return r.to_summary() | {
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
        "fsops": fsops.to_json() if fsops is not None else None,
        "live": inspected is not None,
    }
