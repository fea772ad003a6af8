"""Benchmark FsOps' file work against the coreutils doing the same job, in the same run.

Run through ``scripts/bench-fsops``. Four pairs, each measured ``--rounds`` times with the two
sides interleaved (the order alternates per round) and the best round of each reported:

- ``copy_mib_s``: ``place(mode="copy")`` of one ``--size-mib`` file of random bytes, against
  ``cp`` of the same file followed by an fsync (``cp_mib_s``): place() syncs what it copied
  before renaming it into place, so the fair baseline syncs too. ``cp_nosync_mib_s`` is bare
  ``cp``, which leaves the data to the kernel's writeback.
- ``hardlink_<n>_files_s``: ``place(mode="hardlink")`` of ``--files`` small files into a fresh
  tree, one call per file as the pipeline does, against ``cp -al`` of the tree (``ln_*``).
- ``extract_zip_mib_s``: extracting a ``--zip-mib`` zip (half random bytes stored, half text
  deflated), against ``unzip`` (``unzip_mib_s``); MiB of extracted output per second.
- ``checksum_mib_s``: ``sha256_file`` of the copy's source, against ``sha256sum``.

Every side starts from a warm page cache (the same source, read before) and an empty
destination, after an ``os.sync()`` so one side's writeback does not land in the other's time.
Figures go to stdout as ``name=value`` lines; ``#`` lines give every round. Benchmarks are not
tests: nothing here asserts on the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from _bench_common import at_least, emit, note

from revaer.fsops._archives import extract, find_archives
from revaer.fsops._checksum import sha256_file
from revaer.fsops._tools import probe_tools
from revaer.fsops._transfer import place

_REPO = Path(__file__).resolve().parent.parent
_MIB = 1 << 20
_MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs"})


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding ``path``, from /proc/self/mountinfo."""
    real = str(path.resolve())
    best, kind = "", "unknown"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return kind
    for line in lines:
        fields = line.split(" ")
        mount = fields[4].replace("\\040", " ")
        fstype = fields[fields.index("-") + 1]
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, fstype
    return kind


def default_workdir() -> Path:
    """The first of /var/tmp, the temp dir and the repository that is on a disk, not memory."""
    candidates = [Path("/var/tmp"), Path(tempfile.gettempdir()), _REPO]  # noqa: S108 -- a parent for mkdtemp
    for candidate in candidates:
        if candidate.is_dir() and filesystem_type(candidate) not in _MEMORY_FILESYSTEMS:
            return candidate
    return candidates[-1]


def timed(run: Callable[[], object]) -> float:
    """Seconds ``run`` took, started after dirty pages are written out."""
    os.sync()
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def interleaved(rounds: int, sides: dict[str, Callable[[int], float]]) -> dict[str, list[float]]:
    """Run each side once per round, rotating the order; every side's samples by name."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(sides[name](number))
    return samples


def report(unit: str, samples: dict[str, list[float]]) -> dict[str, float]:
    """Emit the best round of each side (``<name>_<unit>``); the best values by name."""
    best: dict[str, float] = {}
    for name, values in samples.items():
        note(f"{name}_{unit} rounds: " + " ".join(f"{v:.1f}" for v in values))
        best[name] = max(values)
        emit(f"{name}_{unit}", best[name])
    return best


def write_random(path: Path, size: int) -> None:
    """``size`` random bytes at ``path`` (random data: nothing below can shortcut it)."""
    with path.open("wb") as file:
        left = size
        while left:
            step = min(left, 8 * _MIB)
            file.write(os.urandom(step))
            left -= step


def run(argv: Sequence[str]) -> None:
    """Run a command, failing loudly (a baseline that did nothing would flatter us)."""
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # noqa: S603 -- fixed coreutils argv


def fsync_path(path: Path) -> None:
    """fsync the file at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def bench_copy(work: Path, size_mib: int, rounds: int) -> Path:
    """copy_mib_s against cp (+ fsync) and bare cp; returns the source for the checksum pair."""
    source = work / "copy-source.bin"
    size = size_mib * _MIB
    write_random(source, size)
    expected = sha256_file(source)  # also warms the page cache for every side
    out = work / "copy-out"
    out.mkdir()
    # The first write to blocks this (virtual) disk never held ran at a tenth of the speed of
    # later ones; one untimed copy takes that cost out of whichever side would go first.
    run(["cp", str(source), str(out / "warm-up.bin")])
    (out / "warm-up.bin").unlink()

    def side(name: str, copy: Callable[[Path], object]) -> Callable[[int], float]:
        def measure(number: int) -> float:
            dest = out / f"{name}-{number}.bin"
            seconds = timed(lambda: copy(dest))
            if number == 0 and sha256_file(dest) != expected:
                raise RuntimeError(f"{name} wrote something else to {dest}")
            dest.unlink()
            return size_mib / seconds

        return measure

    def cp_synced(dest: Path) -> None:
        run(["cp", str(source), str(dest)])
        fsync_path(dest)

    samples = interleaved(
        rounds,
        {
            "copy": side("copy", lambda dest: place(source, dest, mode="copy")),
            "cp": side("cp", cp_synced),
            "cp_nosync": side("cp_nosync", lambda dest: run(["cp", str(source), str(dest)])),
        },
    )
    best = report("mib_s", samples)
    emit("copy_ratio", best["copy"] / best["cp"])
    emit("copy_ratio_nosync", best["copy"] / best["cp_nosync"])
    return source


def bench_hardlinks(work: Path, files: int, rounds: int) -> None:
    """hardlink_<n>_files_s (one place() per file) against ``cp -al`` of the tree."""
    tree = work / "links-source"
    relatives = [Path(f"d{i // 100:04d}", f"episode-{i:06d}.nfo") for i in range(files)]
    for rel in relatives:
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"<episode/>\n")
    pairs = [(tree / rel, rel) for rel in relatives]

    def links(number: int) -> float:
        dest = work / f"links-place-{number}"
        seconds = timed(lambda: [place(s, dest / r, mode="hardlink") for s, r in pairs])
        shutil.rmtree(dest)
        return files / seconds

    def cp_al(number: int) -> float:
        dest = work / f"links-cp-{number}"
        seconds = timed(lambda: run(["cp", "-al", str(tree), str(dest)]))
        shutil.rmtree(dest)
        return files / seconds

    label = "10k" if files == 10_000 else str(files)
    best = report(f"{label}_files_s", interleaved(rounds, {"hardlink": links, "ln": cp_al}))
    emit("hardlink_ratio", best["hardlink"] / best["ln"])


def make_zip(path: Path, size_mib: int) -> int:
    """A zip of ``size_mib`` MiB: random members stored, text members deflated; total bytes."""
    # One 1 MiB block of words, repeated: deflate looks back 32 KiB only, so the repeats
    # compress like fresh text (about 3:1) and the data is made in no time.
    rng = random.Random(11)  # noqa: S311 -- filler text, not secrets
    words = [
        "".join(rng.choices("etaoinshrdlucmfwypvbgkjqxz", k=rng.randint(2, 9))) for _ in range(5000)
    ]
    text = bytearray()
    while len(text) < _MIB:
        text += (" ".join(rng.choices(words, k=12)) + ".\n").encode()
    block = bytes(text[:_MIB])
    members = 8
    each = max(1, size_mib // members)
    total = 0
    with zipfile.ZipFile(path, "w") as archive:
        for number in range(members):
            stored = number % 2 == 0
            name = f"{'random' if stored else 'text'}/part-{number}.{'bin' if stored else 'txt'}"
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                for _ in range(each):
                    member.write(os.urandom(_MIB) if stored else block)
            total += each * _MIB
    return total


def bench_extract(work: Path, size_mib: int, rounds: int) -> None:
    """extract_zip_mib_s against unzip, in MiB of extracted output."""
    zip_path = work / "bench.zip"
    total = make_zip(zip_path, size_mib)
    run(["unzip", "-tq", str(zip_path)])  # warms the cache, and checks the archive is sound
    (archive,) = find_archives([zip_path])
    toolbox = probe_tools()
    mib = total / _MIB

    def side(name: str, unpack: Callable[[Path], object]) -> Callable[[int], float]:
        def measure(number: int) -> float:
            dest = work / f"unpacked-{name}-{number}"
            seconds = timed(lambda: unpack(dest))
            written = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
            if written != total:
                raise RuntimeError(f"{name} wrote {written} bytes, expected {total}")
            shutil.rmtree(dest)
            return mib / seconds

        return measure

    samples = interleaved(
        rounds,
        {
            "extract_zip": side("extract", lambda dest: extract(archive, dest, toolbox=toolbox)),
            "unzip": side(
                "unzip", lambda dest: run(["unzip", "-qo", str(zip_path), "-d", str(dest)])
            ),
        },
    )
    best = report("mib_s", samples)
    emit("extract_ratio", best["extract_zip"] / best["unzip"])


def bench_checksum(source: Path, rounds: int) -> None:
    """checksum_mib_s (sha256_file) against sha256sum, on the (cached) copy source."""
    mib = source.stat().st_size / _MIB

    def ours(_number: int) -> float:
        return mib / timed(lambda: sha256_file(source))

    def coreutils(_number: int) -> float:
        return mib / timed(lambda: run(["sha256sum", str(source)]))

    samples = interleaved(rounds, {"checksum": ours, "sha256sum": coreutils})
    best = report("mib_s", samples)
    emit("checksum_ratio", best["checksum"] / best["sha256sum"])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="scripts/bench-fsops",
        description="Benchmark FsOps copy, hardlink, extract and checksum against cp, cp -al, "
        "unzip and sha256sum; prints name=value figures on stdout.",
    )
    positive = partial(at_least, 1)
    parser.add_argument("--size-mib", type=positive, default=256, help="copied file (256)")
    parser.add_argument("--files", type=positive, default=10_000, help="hardlinked (10000)")
    parser.add_argument("--zip-mib", type=positive, default=64, help="zip content (64)")
    parser.add_argument("--rounds", type=positive, default=3, help="rounds per side (3)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="a fresh revaer-bench-fsops-* directory is made in here "
        "(default: /var/tmp, the temp dir or the repository, the first not in memory)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every pair and print the figures."""
    args = parse_args(argv)
    base: Path = args.workdir or default_workdir()
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="revaer-bench-fsops-", dir=base))
    try:
        emit("workdir", str(work))
        emit("workdir_fs", filesystem_type(work))
        emit("rounds", args.rounds)
        emit("size_mib", args.size_mib)
        source = bench_copy(work, args.size_mib, args.rounds)
        bench_checksum(source, args.rounds)
        emit("files", args.files)
        bench_hardlinks(work, args.files, args.rounds)
        emit("zip_mib", args.zip_mib)
        bench_extract(work, args.zip_mib, args.rounds)
    finally:
        if args.keep:
            note(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
