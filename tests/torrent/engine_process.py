"""The engine subtree as its own process, for kill -9 tests.

``python -m tests.torrent.engine_process ROOT TORRENT_FILE HOST PORT`` runs the engine with its
state under ROOT, adds TORRENT_FILE unless a torrent was restored, dials the seeder, and prints
one JSON line per event (plus a ``restored`` line describing restored torrents) until killed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import trio

from revaer.telemetry import configure_logging
from revaer.torrent import AddTorrent, EngineTuning
from tests.torrent.engine_harness import TEST_SETTINGS, running_engine

MIB = 1 << 20


def emit(doc: object) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


async def main(root: Path, torrent_file: Path, host: str, port: int) -> None:
    tuning = EngineTuning(extra_settings=TEST_SETTINGS, resume_interval=0.2)
    async with running_engine(root, tuning=tuning) as run:
        for event in run.log.events:
            emit(event.to_json())
        entries = list(run.engine.state.entries.values())
        restored = []
        for entry in entries:
            st = await trio.to_thread.run_sync(entry.ref.status)
            restored.append(
                {
                    "torrent_id": entry.meta.torrent_id,
                    "sequential": st.sequential,
                    "priorities": list(await trio.to_thread.run_sync(entry.ref.file_priorities)),
                    "limits": list(await trio.to_thread.run_sync(entry.ref.limits)),
                    "total_done": st.total_done,
                }
            )
        emit({"restored": restored})
        if entries:
            torrent_id = entries[0].meta.torrent_id
        else:
            added = await run.engine.handle.add(
                AddTorrent(
                    metainfo=torrent_file.read_bytes(),
                    exclude=("*sample*",),
                    sequential=True,
                    max_download_bps=2 * MIB,
                )
            )
            torrent_id = added.torrent_id
        await run.engine.handle.connect_peer(torrent_id, host, port)
        seen = len(run.log.events)
        while True:
            for event in run.log.events[seen:]:
                emit(event.to_json())
            seen = len(run.log.events)
            await trio.sleep(0.05)


if __name__ == "__main__":
    configure_logging(level="WARNING")
    trio.run(main, Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
