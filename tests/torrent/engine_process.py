"""The engine subtree as its own process, for kill -9 tests.

``python -m tests.torrent.engine_process ROOT TORRENT_FILE HOST PORT CAP`` runs the engine with
its state under ROOT. It prints one JSON line per event, and these lines of its own:

- ``{"restored": [...]}`` once started: each restored torrent's id, state, flags and bytes done;
- ``{"adding": true}`` just before it adds TORRENT_FILE (only when nothing was restored), and
  ``{"added": "<id>"}`` once the add is acknowledged;
- ``{"received": N}`` after each progress event: payload bytes this process has received.

Every torrent dials the seeder at HOST:PORT; CAP is the per-torrent download cap in bytes/s
(0: none). It runs until killed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import trio
from trio.to_thread import run_sync as to_thread

from revaer.telemetry import configure_logging
from revaer.torrent import AddTorrent, EngineTuning
from tests.torrent.engine_harness import TEST_SETTINGS, running_engine


def emit(doc: object) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


async def main(root: Path, torrent_file: Path, host: str, port: int, cap: int) -> None:
    tuning = EngineTuning(extra_settings=TEST_SETTINGS)
    async with running_engine(root, tuning=tuning) as run:
        for event in run.log.events:
            emit(event.to_json())
        seen = len(run.log.events)
        entries = list(run.engine.state.entries.values())
        restored = []
        for entry in entries:
            st = await to_thread(entry.ref.status)
            states = [st.lt_state]
            with trio.fail_after(10):  # report what the restore kept, once its check is done
                while st.lt_state.startswith("checking"):
                    await trio.sleep(0.01)
                    st = await to_thread(entry.ref.status)
                    states.append(st.lt_state)
            restored.append(
                {
                    "torrent_id": entry.meta.torrent_id,
                    "lt_state": st.lt_state,
                    "sequential": st.sequential,
                    "priorities": list(await to_thread(entry.ref.file_priorities)),
                    "limits": list(await to_thread(entry.ref.limits)),
                    "total_done": st.total_done,
                    "total_wanted": st.total_wanted,
                    "states": sorted(set(states)),
                }
            )
        emit({"restored": restored})
        if not entries:
            emit({"adding": True})
            added = await run.engine.handle.add(
                AddTorrent(
                    metainfo=torrent_file.read_bytes(),
                    exclude=("*sample*",),
                    sequential=True,
                    max_download_bps=cap or None,
                )
            )
            emit({"added": added.torrent_id})
        for torrent_id in run.engine.state.entries:
            await run.engine.handle.connect_peer(torrent_id, host, port)
        while True:
            for event in run.log.events[seen:]:
                emit(event.to_json())
                if event.kind == "progress":
                    received = [
                        (await to_thread(e.ref.status)).session_download
                        for e in list(run.engine.state.entries.values())
                    ]
                    emit({"received": sum(received)})
            seen = len(run.log.events)
            await run.log.wait_beyond(seen)


if __name__ == "__main__":
    configure_logging(level="WARNING")
    trio.run(
        main, Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    )
