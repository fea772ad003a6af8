"""kill -9 at random moments: nothing on disk is fetched again, no torrent is half added.

Each test runs the engine as a separate process (``tests/torrent/engine_process.py``) and kills
it with SIGKILL while a torrent downloads from the loopback seeder, while it is being added,
or right after ``completed``.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from tests.conftest import ROOT
from tests.harness import Seeder, TorrentFile, make_payload, make_torrent

pytestmark = pytest.mark.integration
MIB = 1 << 20
PIECE = 64 * 1024

Doc = dict[str, Any]


class EngineProcess:
    """The engine in a child process; its JSON lines are read by a thread into a queue."""

    def __init__(self, root: Path, torrent_file: Path, seeder: Seeder, *, cap: int = 0) -> None:
        self.lines: list[Doc] = []
        self.stderr = root.parent / f"{root.name}-{time.monotonic_ns()}.log"
        root.parent.mkdir(parents=True, exist_ok=True)
        self._err = self.stderr.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.torrent.engine_process", str(root), str(torrent_file),
             *map(str, seeder.endpoint), str(cap)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self._err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self._queue: queue.Queue[Doc | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:  # blocking reads, in this thread only
            self._queue.put(json.loads(raw))
        self._queue.put(None)

    def until(
        self, predicate: Callable[[Doc], bool], timeout: float = 60, *, after: int = 0
    ) -> Doc:
        """The first line (from line ``after`` on) that satisfies ``predicate``."""
        for seen in self.lines[after:]:
            if predicate(seen):
                return seen
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                doc = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if doc is None:
                raise AssertionError(f"engine process ended ({self.proc.poll()}): {self.log()}")
            self.lines.append(doc)
            if predicate(doc):
                return doc
        raise AssertionError(f"timed out; last lines {self.lines[-5:]}; log {self.log()}")

    @property
    def received(self) -> int:
        """Payload bytes this process reported receiving (its last report before the kill)."""
        return max((d["received"] for d in self.lines if "received" in d), default=0)

    def log(self) -> str:
        self._err.flush()
        return self.stderr.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._err.close()


@pytest.fixture
def processes() -> Iterator[list[EngineProcess]]:
    running: list[EngineProcess] = []
    yield running
    for p in running:
        if p.proc.poll() is None:
            p.kill()


def kind(name: str, **data: Any) -> Callable[[Doc], bool]:
    return lambda d: d.get("kind") == name and all(d["data"].get(k) == v for k, v in data.items())


def restored_line(d: Doc) -> bool:
    return "restored" in d


def _have(blob: bytes) -> int:
    return sum(1 for had in lt.read_resume_data(blob).have_pieces if had)


def show_payload(tmp_path: Path) -> tuple[Path, TorrentFile, Path]:
    payload = make_payload(
        tmp_path / "seed", {"Show/ep1.mkv": 8 * MIB, "Show/sample/sample.mkv": 256 * 1024}
    )
    torrent = make_torrent(payload, kind="v1", piece_length=PIECE)
    torrent_file = tmp_path / "show.torrent"
    torrent_file.write_bytes(torrent.data)
    return payload, torrent, torrent_file


def wanted_bytes_on_disk(torrent: TorrentFile, downloads: Path) -> int:
    """Bytes of ``Show/ep1.mkv`` (the wanted file) inside pieces complete and valid on disk."""
    ti = lt.load_torrent_buffer(torrent.data).ti
    assert ti is not None
    layout = ti.layout()
    wanted_end = torrent.files[0][1]  # ep1.mkv comes first, the sample after it
    data = bytearray()
    for index in range(layout.num_files()):
        path = downloads / layout.file_path(index)
        size = layout.file_size(index)
        chunk = path.read_bytes()[:size] if path.exists() else b""
        data += chunk + b"\0" * (size - len(chunk))
    found = 0
    for piece in range(ti.num_pieces()):
        start = piece * ti.piece_length()
        block = bytes(data[start : start + ti.piece_size(piece)])
        if hashlib.sha1(block).digest() == ti.hash_for_piece(piece):
            found += max(0, min(start + len(block), wanted_end) - start)
    return found


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_kills_during_a_download_never_fetch_again_what_was_on_disk(
    tmp_path: Path, processes: list[EngineProcess], seed: int
) -> None:
    rng = random.Random(seed)
    payload, torrent, torrent_file = show_payload(tmp_path)
    root = tmp_path / "engine"
    downloads = root / "downloads"
    wanted = torrent.files[0][1]
    with Seeder() as seeder:
        seeder.seed(torrent, payload.parent)
        kept = 0
        for low, high in ((0.1, 0.4), (0.5, 0.8)):
            p = EngineProcess(root, torrent_file, seeder, cap=2 * MIB)
            processes.append(p)
            p.until(restored_line)
            threshold = rng.uniform(low, high)
            # New progress in this run, so that each kill has something unsaved to lose.
            goal = max(threshold * wanted, kept + MIB)

            def reached(d: Doc, goal: float = goal) -> bool:
                return kind("progress")(d) and d["data"]["bytes_done"] >= goal

            p.until(reached)
            time.sleep(rng.uniform(0, 0.3))  # a random moment, not a synchronisation
            p.kill()
            on_disk = wanted_bytes_on_disk(torrent, downloads)
            after = EngineProcess(root, torrent_file, seeder, cap=2 * MIB)
            processes.append(after)
            state = after.until(restored_line)["restored"]
            assert len(state) == 1, after.log()
            kept = state[0]["total_done"]
            ratio = kept / on_disk if on_disk else 1.0
            print(
                f"seed={seed} kill at {threshold:.2f}: on disk {on_disk}, kept {kept}, {ratio=:.3f}"
            )
            assert kept >= on_disk, f"{on_disk - kept} bytes on disk would be fetched again"
            assert "checking_files" not in state[0]["states"], state  # no full recheck
            assert state[0]["sequential"] is True
            assert state[0]["limits"] == [2 * MIB, None]
            assert state[0]["priorities"][1] == 0  # the excluded sample stays excluded
            after.kill()
        last = EngineProcess(root, torrent_file, seeder, cap=0)
        processes.append(last)
        missing = wanted - last.until(restored_line)["restored"][0]["total_done"]
        last.until(kind("completed"))
        assert (downloads / "Show" / "ep1.mkv").read_bytes() == (payload / "ep1.mkv").read_bytes()
        last.until(lambda d: kind("progress")(d) and d["data"]["bytes_done"] == wanted)
        last.until(lambda d: "received" in d, after=len(last.lines))  # reported after that
        # The last run is the only one not killed between its reports: its count is exact.
        # It fetched what was missing, and at most the piece it shares with the sample.
        ratio = last.received / missing if missing else 1.0
        sent = seeder.uploaded(torrent) / wanted
        print(
            f"seed={seed}: last run received {last.received} for {missing} missing bytes "
            f"({ratio=:.3f}); over all runs the seeder sent {sent:.2f} x the payload, "
            "including what was in flight at each kill"
        )
        assert last.received <= missing + PIECE


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_a_kill_during_an_add_never_leaves_a_half_added_torrent(
    tmp_path: Path, processes: list[EngineProcess], seed: int
) -> None:
    rng = random.Random(seed)
    payload, torrent, torrent_file = show_payload(tmp_path)
    with Seeder() as seeder:
        seeder.seed(torrent, payload.parent)
        for attempt in range(2):
            root = tmp_path / f"engine{attempt}"
            first = EngineProcess(root, torrent_file, seeder, cap=MIB)
            processes.append(first)
            first.until(lambda d: d.get("adding") is True)
            time.sleep(rng.uniform(0, 0.02))  # a random moment of the add
            first.kill()
            second = EngineProcess(root, torrent_file, seeder)
            processes.append(second)
            restored = second.until(restored_line)["restored"]
            if restored:
                assert len(restored) == 1
                second.until(kind("completed"))  # fully restorable
            else:
                # Nothing half added is left (the second process adds its own afterwards).
                stray = [p.name for p in (root / "resume").glob("*") if "corrupt" not in p.name]
                added = second.until(lambda d: "added" in d)["added"]
                assert {name.split(".")[0] for name in stray} <= {added}, stray
            assert "cannot restore" not in second.log()
            second.kill()


@pytest.mark.parametrize("seed", [31, 32])
def test_a_kill_right_after_completed_keeps_every_piece(
    tmp_path: Path, processes: list[EngineProcess], seed: int
) -> None:
    rng = random.Random(seed)
    payload, torrent, torrent_file = show_payload(tmp_path)
    root = tmp_path / "engine"
    with Seeder() as seeder:
        seeder.seed(torrent, payload.parent)
        first = EngineProcess(root, torrent_file, seeder)
        processes.append(first)
        first.until(kind("completed"))
        time.sleep(rng.uniform(0, 0.05))
        first.kill()
        blobs = list((root / "resume").glob("*.fastresume"))
        blob_pieces = [_have(b.read_bytes()) for b in blobs]
        on_disk = wanted_bytes_on_disk(torrent, root / "downloads")

        second = EngineProcess(root, torrent_file, seeder)
        processes.append(second)
        state = second.until(restored_line)["restored"]
        assert state[0]["total_done"] == state[0]["total_wanted"] > 0, (
            f"restored {state}; the blob had {blob_pieces} pieces, {on_disk} bytes were on "
            f"disk; first log: {first.log()[-2000:]}; second log: {second.log()[-2000:]}"
        )  # complete at once
        assert "checking_files" not in state[0]["states"]
        second.until(kind("state_changed", state="seeding"))
        second.until(lambda d: "received" in d)  # reported with its first progress event
        assert second.received == 0  # nothing was fetched again
        assert not [d for d in second.lines if d.get("kind") == "completed"]  # not announced again
