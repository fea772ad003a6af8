"""kill -9 mid-download: the restarted engine resumes from what it had and restores settings."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.harness import Seeder, make_payload, make_torrent, same_tree

pytestmark = pytest.mark.integration
MIB = 1 << 20


class EngineProcess:
    def __init__(self, root: Path, torrent_file: Path, seeder: Seeder) -> None:
        self.lines: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.torrent.engine_process", str(root), str(torrent_file),
             *map(str, seeder.endpoint)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    def until(self, predicate: Any, timeout: float = 60) -> dict[str, Any]:
        """The first line so far or from now on that satisfies ``predicate``."""
        for seen in self.lines:
            if predicate(seen):
                return seen
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(
                    f"engine process ended ({self.proc.poll()}): {self.lines[-5:]}"
                )
            doc: dict[str, Any] = json.loads(line)
            self.lines.append(doc)
            if predicate(doc):
                return doc
        raise AssertionError("timed out")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def processes() -> Iterator[list[EngineProcess]]:
    running: list[EngineProcess] = []
    yield running
    for p in running:
        if p.proc.poll() is None:
            p.kill()


def kind(name: str, **data: Any) -> Any:
    return lambda d: d.get("kind") == name and all(d["data"].get(k) == v for k, v in data.items())


def test_kill_9_mid_download_resumes_without_refetching(
    tmp_path: Path, processes: list[EngineProcess]
) -> None:
    payload = make_payload(
        tmp_path / "seed", {"Show/ep1.mkv": 8 * MIB, "Show/sample/sample.mkv": 256 * 1024}
    )
    torrent = make_torrent(payload, piece_length=64 * 1024)
    torrent_file = tmp_path / "show.torrent"
    torrent_file.write_bytes(torrent.data)
    root = tmp_path / "engine"
    with Seeder() as seeder:
        seeder.seed(torrent, payload.parent)
        first = EngineProcess(root, torrent_file, seeder)
        processes.append(first)
        first.until(lambda d: d.get("kind") == "progress" and d["data"]["bytes_done"] >= 3 * MIB)
        time.sleep(0.6)  # a periodic resume save (every 0.2 s) has happened since
        first.kill()
        had = (root / "downloads" / "Show" / "ep1.mkv").stat().st_size

        second = EngineProcess(root, torrent_file, seeder)
        processes.append(second)
        restored = second.until(lambda d: "restored" in d)["restored"]
        assert len(restored) == 1
        state = restored[0]
        assert state["sequential"] is True
        assert state["limits"] == [2 * MIB, None]
        sample_index = 1
        assert state["priorities"][sample_index] == 0  # the excluded sample stays excluded
        assert state["total_done"] >= 2 * MIB, state  # pieces it had are kept, not fetched again
        assert had > 0
        second.until(kind("completed"))
        assert (root / "downloads" / "Show" / "ep1.mkv").read_bytes() == (
            payload / "ep1.mkv"
        ).read_bytes()
        time.sleep(0.5)  # final resume data of the finished torrent
        second.kill()

        third = EngineProcess(root, torrent_file, seeder)
        processes.append(third)
        restored = third.until(lambda d: "restored" in d)["restored"]
        assert restored[0]["total_done"] == 8 * MIB  # complete at once: no recheck from zero
        third.until(kind("state_changed", state="seeding"))
        assert not [d for d in third.lines if d.get("kind") == "completed"]  # not announced again
        assert not same_tree(payload, root / "downloads" / "Show")  # the sample was never fetched
