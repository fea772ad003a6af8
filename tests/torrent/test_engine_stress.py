"""Random commands on 50 torrents while the session, the pump and the store writes keep crashing.

Afterwards the resume store, the live session and the catalog agree exactly, and every
acknowledged command is reflected in all three.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from revaer.errors import NotFound, RevaerError, ServiceUnavailable
from revaer.runtime import Backoff
from revaer.torrent import AddTorrent
from tests.torrent.engine_harness import RunningEngine, running_engine, tiny_metainfo, wait_running
from tests.torrent.faults import Faults, InjectedFault

pytestmark = pytest.mark.integration

TORRENTS = 50
DURATION = 30.0
FAULTS = ("session", "pump", "store", "disk")


@dataclass
class Expected:
    """What acknowledged commands say about one torrent id; None: not known for sure."""

    source: int
    exists: bool | None
    paused: bool | None
    exclude: tuple[str, ...] | None


@dataclass
class Tally:
    acknowledged: int = 0
    refused: int = 0


class Driver:
    def __init__(self, run: RunningEngine, rng: random.Random) -> None:
        self.run = run
        self.rng = rng
        self.metainfos = [tiny_metainfo(i) for i in range(TORRENTS)]
        self.expected: dict[str, Expected] = {}
        self.tally = Tally()

    def present(self) -> list[str]:
        return [tid for tid, e in self.expected.items() if e.exists is not False]

    def free_sources(self) -> list[int]:
        used = {e.source for e in self.expected.values() if e.exists is not False}
        return [i for i in range(TORRENTS) if i not in used]

    async def step(self) -> None:
        present = self.present()
        choice = self.rng.random()
        if not present or (choice < 0.3 and self.free_sources()):
            await self.add()
            return
        tid = self.rng.choice(present)
        if choice < 0.45:
            await self.act(tid, "remove")
        elif choice < 0.7:
            await self.act(tid, "pause")
        elif choice < 0.85:
            await self.act(tid, "resume")
        else:
            await self.act(tid, "select")

    async def add(self) -> None:
        source = self.rng.choice(self.free_sources())
        tid = str(uuid.uuid4())
        paused = self.rng.random() < 0.5
        try:
            await self.run.engine.handle.add(
                AddTorrent(metainfo=self.metainfos[source], torrent_id=tid, paused=paused)
            )
        except (ServiceUnavailable, InjectedFault):
            self.expected[tid] = Expected(source, None, None, None)
            self.tally.refused += 1
        except RevaerError as exc:
            # A conflict: an unacknowledged add of the same source did go through.
            assert exc.status == 409, exc
            self.tally.refused += 1
        else:
            self.expected[tid] = Expected(source, True, paused, ())
            self.tally.acknowledged += 1

    async def act(self, tid: str, action: str) -> None:
        handle = self.run.engine.handle
        e = self.expected[tid]
        exclude = (f"*{self.rng.randrange(10)}*",)
        try:
            match action:
                case "remove":
                    await handle.remove(tid)
                case "pause":
                    await handle.pause(tid)
                case "resume":
                    await handle.resume(tid)
                case _:
                    await handle.select(tid, exclude=exclude)
        except NotFound:
            assert e.exists is not True, f"acknowledged torrent {tid} was lost"
            e.exists = False
            self.tally.refused += 1
            return
        except (ServiceUnavailable, InjectedFault):
            # Unknown outcome: the command may or may not have taken effect.
            if action == "remove":
                e.exists = None if e.exists else e.exists
            elif action == "select":
                e.exclude = None
            else:
                e.paused = None
            self.tally.refused += 1
            return
        self.tally.acknowledged += 1
        e.exists = action != "remove"
        if action == "pause":
            e.paused = True
        elif action == "resume":
            e.paused = False
        elif action == "select":
            e.exclude = exclude


async def crash_repeatedly(faults: Faults, rng: random.Random, until: float) -> None:
    while trio.current_time() < until:
        await trio.sleep(rng.uniform(0.3, 1.2))
        faults.arm(rng.choice(FAULTS))


async def test_random_commands_and_crashes_leave_store_session_and_catalog_in_agreement(
    tmp_path: Path,
) -> None:
    rng = random.Random(7)
    faults = Faults()
    fast = Backoff(initial=0.01, maximum=0.1, jitter=0)
    tuning = faults.tuning(backoff=fast, start_backoff=fast)
    async with running_engine(tmp_path / "e", tuning=tuning) as run:
        driver = Driver(run, rng)
        until = trio.current_time() + DURATION
        async with trio.open_nursery() as nursery:
            nursery.start_soon(crash_repeatedly, faults, rng, until)
            while trio.current_time() < until:
                refused = driver.tally.refused
                await driver.step()
                # Refused at once while the engine restarts: do not spin.
                await trio.sleep(0.005 if driver.tally.refused > refused else 0)
        faults.pending.clear()
        await wait_running(run.engine)
        assert sum(faults.fired.values()) >= 20, faults.fired
        assert driver.tally.acknowledged >= 100, driver.tally

        entries = run.engine.state.entries
        stored = _stored_metas(run.root / "resume")
        # The store and the session agree exactly.
        assert set(stored) == set(entries)
        for tid, entry in entries.items():
            assert stored[tid] == entry.meta.to_json(), tid
        session = run.engine.state.session
        assert session is not None
        live = await trio.to_thread.run_sync(session.torrents)
        assert len(live) == len(entries)
        for tid, entry in entries.items():
            status = await trio.to_thread.run_sync(entry.ref.status)
            assert status.paused == entry.meta.paused, tid
        # The catalog is the same set, with the same metadata.
        assert {r.torrent_id for r in run.catalog.all()} == set(entries)
        for tid, entry in entries.items():
            record = run.catalog.get(tid)
            assert record is not None
            assert record.save_path == entry.meta.download_dir
            assert record.info_hash == entry.meta.info_hash
        # Every acknowledged command is there.
        for tid, e in driver.expected.items():
            if e.exists is True:
                assert tid in entries, f"acknowledged torrent {tid} was lost"
            elif e.exists is False:
                assert tid not in entries, f"removed torrent {tid} came back"
            if tid not in entries:
                continue
            meta = entries[tid].meta
            if e.paused is not None:
                assert meta.paused == e.paused, tid
            if e.exclude is not None:
                assert meta.exclude == e.exclude, tid


def _stored_metas(resume: Path) -> dict[str, object]:
    return {
        path.name.removesuffix(".meta.json"): json.loads(path.read_text())
        for path in resume.glob("*.meta.json")
    }
