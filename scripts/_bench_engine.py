"""Benchmark Revaer's torrent engine against a bare pair of libtorrent sessions on loopback.

Run through ``scripts/bench-engine``. Three phases, all in this one process:

1. Many torrents: a fresh engine gets ``--torrents`` generated payload-less torrents, added
   paused; then the process's resident memory and its idle CPU use are measured.
2. Config apply latency: on that same engine, ``--changes`` times a new config snapshot with
   a different ``max_download_bps`` is published and the live libtorrent session is polled
   until it reports the new ``download_rate_limit``.
3. Throughput: one ``--size-mib`` payload is downloaded from the harness's loopback seeder,
   alternately by a bare libtorrent leecher and by Revaer's engine subtree, each into a fresh
   directory, each verified byte for byte.

The many-torrents phase runs first so its memory figure is not inflated by the seeder or by
freed download buffers. Figures go to stdout as ``name=value`` lines (``#`` lines explain
them); logs go to stderr. Benchmarks are not tests: nothing here asserts on the figures.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

# The loopback harness and the engine test helpers live under tests/, importable from the
# repository root only.
_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import libtorrent as lt  # noqa: E402
import trio  # noqa: E402
from _bench_common import at_least, note  # noqa: E402

from revaer.db import Database, EmbeddedPostgres, migrate, open_asyncio_loop  # noqa: E402
from revaer.events import TorrentCatalog, TorrentState  # noqa: E402
from revaer.telemetry import configure_logging  # noqa: E402
from revaer.torrent import MAX_BULK_ADD, AddedTorrent, AddTorrent, EngineTuning  # noqa: E402
from tests.harness import (  # noqa: E402
    Seeder,
    TorrentFile,
    bare_download_in_thread,
    make_payload,
    make_torrent,
    open_seeder,
    same_tree,
)
from tests.torrent.engine_harness import (  # noqa: E402
    TEST_SETTINGS,
    RunningEngine,
    change_profile,
    running_engine,
    wait_until,
)

MIB = 1 << 20

# Both leechers get the same settings on top of the loopback set (TCP only, no DHT/LSD/UPnP/
# NAT-PMP, 127.0.0.1): the engine's profile sets those itself, TEST_SETTINGS adds the rest.
# The 100 ms tick matters: the engine dials the seeder with connect_peer, which waits for the
# next tick, while the bare leecher dials it as soon as the torrent is added.
_ENGINE_TUNING = EngineTuning(extra_settings=TEST_SETTINGS)
_BARE_SETTINGS: lt.settings_pack = {"tick_interval": TEST_SETTINGS["tick_interval"]}
# No global caps, like the bare pair (the engine logs a guard-rail warning about it).
_UNCAPPED: dict[str, Any] = {"max_download_bps": None, "max_upload_bps": None}

_MIGRATIONS = _REPO / "sql"
# Adds timed one command at a time (the rest go in bulk).
_SINGLE_ADDS = 200
# Time after the last add for per-add work (resume files, state events) to die down, so the
# idle window measures an idle engine rather than the tail of the adds.
_SETTLE_S = 2.0
# Gap between two config changes, so each is applied and measured on its own.
_CHANGE_GAP_S = 0.02
_CHANGE_TIMEOUT_S = 10.0

Leecher = Literal["bare", "revaer"]


def emit(name: str, value: object) -> None:
    """Write one ``name=value`` figure to stdout, as given (these figures are rounded by
    their callers, unlike ``_bench_common.emit``'s three decimals)."""
    sys.stdout.write(f"{name}={value}\n")
    sys.stdout.flush()


def rss_mib() -> float:
    """This process's resident set size in MiB (VmRSS from /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def tiny_torrents(count: int) -> list[bytes]:
    """``count`` distinct single-piece .torrent files, made without any payload on disk.

    Each has one 16 KiB file and random bytes for its piece hash: added paused, libtorrent
    never reads the (missing) data, so the hash need not match anything.
    """
    metainfos = []
    for index in range(count):
        metainfo: dict[bytes, Any] = {
            b"info": {
                b"name": f"bench-{index:05d}.bin".encode(),
                b"piece length": 16 * 1024,
                b"length": 16 * 1024,
                b"pieces": os.urandom(20),
            }
        }
        metainfos.append(lt.bencode(metainfo))
    return metainfos


def percentile(samples: Sequence[float], pct: int) -> float:
    """The ``pct``-th percentile, interpolated between the closest samples."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


# -- phase 1 and 2: many torrents, config apply latency -----------------------------------------


async def config_apply_ms(run: RunningEngine, changes: int) -> list[float]:
    """Milliseconds from publishing a snapshot to libtorrent reporting its download cap."""
    samples = []
    for index in range(changes):
        # A distinct value each time, so every snapshot really changes a setting.
        wanted = 10 * MIB + index * 1024
        with trio.fail_after(_CHANGE_TIMEOUT_S):
            start = time.perf_counter()
            change_profile(run.snapshots, max_download_bps=wanted)
            while True:
                session = run.engine.state.session
                if session is not None:
                    applied = await trio.to_thread.run_sync(session.get_settings)
                    if applied["download_rate_limit"] == wanted:
                        break
                else:
                    await trio.sleep(0.001)  # the session actor is restarting
            samples.append((time.perf_counter() - start) * 1000)
        await trio.sleep(_CHANGE_GAP_S)
    return samples


async def many_torrents(args: argparse.Namespace, work: Path) -> int:
    """Phases 1 and 2 (and the restart); returns the engines' restart count."""
    count: int = args.torrents
    label = size_label(count)
    metainfos = tiny_torrents(count)
    single = tiny_torrents(_SINGLE_ADDS)
    root = work / "many"
    emit("rss_mib_baseline", f"{rss_mib():.1f}")
    embedded = EmbeddedPostgres(work / "pg")
    dsn = await trio.to_thread.run_sync(embedded.start)
    try:
        async with open_asyncio_loop(), Database.open(dsn) as db:
            await migrate(db, _MIGRATIONS)
            restarts = await _fill_and_stop(args, root, db, metainfos, single, label)
            emit(
                f"resume_saved_{label}",
                str(await trio.to_thread.run_sync(all_saved, root, count + _SINGLE_ADDS)).lower(),
            )
            restarts += await _restart(root, db, count + _SINGLE_ADDS, label)
    finally:
        await trio.to_thread.run_sync(embedded.stop)
    return restarts


async def _fill_and_stop(
    args: argparse.Namespace,
    root: Path,
    db: Database,
    metainfos: list[bytes],
    single: list[bytes],
    label: str,
) -> int:
    count = len(metainfos)
    catalog = TorrentCatalog()
    async with trio.open_nursery() as writer:
        await writer.start(catalog.run, db)
        async with running_engine(
            root, tuning=_ENGINE_TUNING, catalog=catalog, log=False, **_UNCAPPED
        ) as run:
            emit("rss_mib_engine_empty", f"{rss_mib():.1f}")
            handle = run.engine.handle
            # Start from a disk with nothing of earlier runs left to write back.
            await trio.to_thread.run_sync(os.sync)
            start = time.monotonic()
            for data in single:
                await handle.add(AddTorrent(metainfo=data, paused=True))
            note(f"add_rps_single: {len(single)} adds, one command at a time, each durable")
            emit("add_rps_single", f"{len(single) / (time.monotonic() - start):.0f}")
            start = time.monotonic()
            for chunk in range(0, count, MAX_BULK_ADD):
                results = await handle.add_many(
                    [
                        AddTorrent(metainfo=m, paused=True)
                        for m in metainfos[chunk : chunk + MAX_BULK_ADD]
                    ]
                )
                failed = [r for r in results if not isinstance(r, AddedTorrent)]
                if failed:
                    raise RuntimeError(f"bulk add failed: {failed[:3]}")
            note(f"add_rps_bulk: {count} adds in commands of {MAX_BULK_ADD}, each durable")
            emit("add_rps_bulk", f"{count / (time.monotonic() - start):.0f}")
            await trio.sleep(_SETTLE_S)
            # process_time counts every thread of the process: trio's, libtorrent's, the workers'.
            cpu_start, wall_start = time.process_time(), time.monotonic()
            await trio.sleep(args.idle_seconds)
            cpu = time.process_time() - cpu_start
            wall = time.monotonic() - wall_start
            note(f"idle CPU over {wall:.1f} s with {count} paused torrents, all threads")
            emit(f"idle_cpu_pct_{label}", f"{cpu / wall * 100:.2f}")
            emit(f"rss_mib_{label}", f"{rss_mib():.1f}")

            samples = await config_apply_ms(run, args.changes)
            note(
                f"config_apply: new snapshot on the Watched -> libtorrent get_settings() shows "
                f"it, {len(samples)} changes of max_download_bps with {count} torrents loaded; "
                f"the watcher's NOTIFY -> snapshot part is measured by the config tests"
            )
            emit("config_apply_ms_p50", f"{percentile(samples, 50):.2f}")
            emit("config_apply_ms_p99", f"{percentile(samples, 99):.2f}")
            emit("config_apply_ms_max", f"{max(samples):.2f}")
            restarts = len(run.restarts)
            stop_start = time.monotonic()
        # The final save: resume data of every torrent that changed, then the session closes.
        note(f"shutdown: engine stop with {count} paused torrents, final resume save included")
        emit(f"shutdown_{label}_s", f"{time.monotonic() - stop_start:.2f}")
        writer.cancel_scope.cancel()
    return restarts


async def _restart(root: Path, db: Database, count: int, label: str) -> int:
    """A new engine on the same resume directory: until every torrent is back and the catalog
    (in memory and in PostgreSQL) agrees with the session."""
    start = time.monotonic()
    catalog = await TorrentCatalog.load(db)
    async with trio.open_nursery() as writer:
        await writer.start(catalog.run, db)
        async with running_engine(
            root, tuning=_ENGINE_TUNING, catalog=catalog, log=False, **_UNCAPPED
        ) as run:
            entries = run.engine.state.entries

            def settled() -> bool:
                return (
                    len(entries) == count
                    and all(r.state is TorrentState.PAUSED for r in catalog.all())
                    and len(catalog) == count
                )

            await wait_until(settled, timeout=120, what="restored and consistent")
            with trio.fail_after(60):
                await catalog.wait_persisted(run.bus.last_id)
            elapsed = time.monotonic() - start
            rows = await db.fetch("SELECT torrent_id::text AS id, state FROM torrents")
            consistent = {r["id"] for r in rows} == set(entries) == {
                r.torrent_id for r in catalog.all()
            } and all(r["state"] == "paused" for r in rows)
            note(
                f"restart: engine start -> all {count} torrents restored, every catalog record "
                "paused in memory and written to PostgreSQL"
            )
            emit(f"restart_{label}_s", f"{elapsed:.2f}")
            emit(f"catalog_consistent_{label}", str(consistent).lower())
            restarts = len(run.restarts)
        writer.cancel_scope.cancel()
    return restarts


def all_saved(root: Path, count: int) -> bool:
    """After a clean stop: every torrent has metadata and resume data that libtorrent reads."""
    resume = root / "resume"
    metas = list(resume.glob("*.meta.json"))
    if len(metas) != count or not (resume / "clean-shutdown").exists():
        return False
    for meta in metas:
        blob = meta.with_name(meta.name.removesuffix(".meta.json") + ".fastresume")
        try:
            lt.read_resume_data(blob.read_bytes())
        except (OSError, RuntimeError):
            return False
    return True


def size_label(count: int) -> str:
    """``10k`` for 10,000; figures are named after the torrent count."""
    return f"{count // 1000}k" if count >= 1000 and count % 1000 == 0 else str(count)


# -- phase 3: throughput -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Download:
    """One measured download."""

    leecher: Leecher
    seconds: float
    cpu_seconds: float
    verified: bool
    restarts: int = 0


async def revaer_download(
    torrent: TorrentFile, root: Path, dest: Path, seeder: Seeder
) -> tuple[float, float, int]:
    """Download through a fresh engine: wall and CPU seconds from the add to ``completed``.

    Engine start-up and shutdown are excluded, as session start and shutdown are for the bare
    leecher; the add (metadata persisted first) and the peer dial are Revaer's to pay.
    """
    async with running_engine(root, tuning=_ENGINE_TUNING, **_UNCAPPED) as run:
        handle = run.engine.handle
        start, cpu_start = time.monotonic(), time.process_time()
        added = await handle.add(AddTorrent(metainfo=torrent.data, download_dir=str(dest)))
        await handle.connect_peer(added.torrent_id, *seeder.endpoint)
        await run.log.wait_for("completed", added.torrent_id, timeout=math.inf)
        return (
            time.monotonic() - start,
            time.process_time() - cpu_start,
            len(run.restarts),
        )


async def one_download(
    leecher: Leecher,
    label: str,
    torrent: TorrentFile,
    payload: Path,
    seeder: Seeder,
    work: Path,
    args: argparse.Namespace,
) -> Download:
    """Download the payload into a fresh directory with ``leecher`` and verify it."""
    root = work / label
    dest = root / "downloads"
    restarts = 0
    if leecher == "bare":
        # The CPU window includes the bare session's start and shutdown (bare_download times
        # only the transfer); both are cheap next to moving and hashing the payload.
        cpu_start = time.process_time()
        seconds = await bare_download_in_thread(
            torrent, dest, seeder, timeout=args.timeout, settings=_BARE_SETTINGS
        )
        cpu = time.process_time() - cpu_start
    else:
        with trio.fail_after(args.timeout):
            seconds, cpu, restarts = await revaer_download(torrent, root, dest, seeder)
    verified = await trio.to_thread.run_sync(same_tree, payload, dest / payload.name)
    if not args.keep:
        # Deleting the copy discards its dirty pages, so the next download does not compete
        # with their write-back.
        await trio.to_thread.run_sync(shutil.rmtree, root)
    rate = args.size_mib / seconds
    note(
        f"{label}: {seconds:.2f} s, {rate:.1f} MiB/s, CPU {cpu:.2f} s, "
        f"verified={str(verified).lower()}"
    )
    return Download(leecher, seconds, cpu, verified, restarts)


async def throughput(args: argparse.Namespace, work: Path) -> tuple[bool, int]:
    """Phase 3; returns whether every download verified and the engines' restart count."""
    size = args.size_mib * MIB
    seed_root = work / "seed"
    payload = await trio.to_thread.run_sync(make_payload, seed_root, {"bench/data.bin": size})
    torrent = await trio.to_thread.run_sync(
        partial(make_torrent, payload, kind="v1", piece_length=args.piece_kib * 1024)
    )
    downloads: list[Download] = []
    async with open_seeder() as seeder:
        await trio.to_thread.run_sync(seeder.seed, torrent, seed_root)
        # Unmeasured: the seeder verifies each piece the first time it sends it (seed mode),
        # and the payload is read into the page cache; no measured round should pay for that.
        warmup = await one_download("bare", "warmup-bare", torrent, payload, seeder, work, args)
        for index in range(args.rounds):
            # ABBA order, so a drift over the run (page cache, write-back) hits both alike.
            order: tuple[Leecher, Leecher] = (
                ("bare", "revaer") if index % 2 == 0 else ("revaer", "bare")
            )
            for leecher in order:
                label = f"round{index + 1}-{leecher}"
                downloads.append(
                    await one_download(leecher, label, torrent, payload, seeder, work, args)
                )

    bare = [args.size_mib / d.seconds for d in downloads if d.leecher == "bare"]
    revaer = [args.size_mib / d.seconds for d in downloads if d.leecher == "revaer"]
    note(
        f"throughput: {args.rounds} rounds each, alternating bare/revaer (ABBA) after one "
        f"unmeasured bare warm-up; *_mib_s and throughput_ratio use the median round of each "
        f"(single loopback downloads vary by tens of percent on a shared host), *_best the best"
    )
    emit("size_mib", args.size_mib)
    emit("piece_kib", torrent.piece_length // 1024)
    emit("bare_mib_s", f"{statistics.median(bare):.1f}")
    emit("revaer_mib_s", f"{statistics.median(revaer):.1f}")
    emit("throughput_ratio", f"{statistics.median(revaer) / statistics.median(bare):.3f}")
    emit("bare_mib_s_best", f"{max(bare):.1f}")
    emit("revaer_mib_s_best", f"{max(revaer):.1f}")
    emit("throughput_ratio_best", f"{max(revaer) / max(bare):.3f}")
    note(
        "cpu_s: CPU seconds of this whole process (seeder included, all threads) per "
        "download, median; the difference is what the engine costs on top of libtorrent"
    )
    bare_cpu = statistics.median(d.cpu_seconds for d in downloads if d.leecher == "bare")
    revaer_cpu = statistics.median(d.cpu_seconds for d in downloads if d.leecher == "revaer")
    emit("bare_cpu_s", f"{bare_cpu:.2f}")
    emit("revaer_cpu_s", f"{revaer_cpu:.2f}")
    verified = warmup.verified and all(d.verified for d in downloads)
    emit("verified", str(verified).lower())
    return verified, sum(d.restarts for d in downloads)


async def bench(args: argparse.Namespace, work: Path) -> bool:
    """Every phase in order; returns whether every download verified."""
    restarts = await many_torrents(args, work)
    # What the first phase wrote (PostgreSQL, 20,000 resume files) must not be written back
    # to disk while the downloads are timed.
    await trio.to_thread.run_sync(os.sync)
    verified, download_restarts = await throughput(args, work)
    # A supervisor restart mid-run would distort the figures; it should stay 0.
    emit("engine_restarts", restarts + download_restarts)
    return verified


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="scripts/bench-engine",
        description="Benchmark Revaer's torrent engine against bare libtorrent on loopback; "
        "prints name=value figures on stdout.",
    )
    positive = partial(at_least, 1)
    parser.add_argument("--size-mib", type=positive, default=512, help="payload size (512)")
    parser.add_argument("--torrents", type=positive, default=1000, help="torrents added (1000)")
    parser.add_argument(
        "--rounds", type=positive, default=5, help="measured downloads per leecher (5)"
    )
    parser.add_argument("--changes", type=positive, default=50, help="config changes (50)")
    parser.add_argument(
        "--idle-seconds", type=float, default=10.0, help="idle CPU window in seconds (10)"
    )
    parser.add_argument(
        "--piece-kib",
        type=partial(at_least, 0),
        default=0,
        help="piece size in KiB, a power of two ≥ 16 (0: libtorrent chooses)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="give up on one download after (300 s)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="a fresh revaer-bench-* directory is made in here (the system temp dir)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory and every download"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a download did not match the payload."""
    args = parse_args(argv)
    if args.piece_kib and (args.piece_kib < 16 or not math.log2(args.piece_kib).is_integer()):
        raise SystemExit("--piece-kib must be 0 or a power of two of at least 16")
    configure_logging(level="WARNING", json=False)
    args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="revaer-bench-", dir=args.workdir))
    try:
        verified = trio.run(bench, args, work)
    finally:
        if args.keep:
            note(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
