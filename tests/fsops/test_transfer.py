"""place(): hardlink, copy and move, conflicts, and reruns after a crash finding the work done."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from revaer.fsops._errors import FsopsFailed, FsopsRefused
from revaer.fsops._transfer import (
    PART_SUFFIX,
    TransferMode,
    _stream,
    place,
    remove_stale_parts,
    same_content,
)

MODES: tuple[TransferMode, ...] = ("hardlink", "copy", "move")


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Path]:
    """A directory on another filesystem than ``tmp_path`` (/dev/shm is usually tmpfs)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem: /dev/shm is missing or on tmp_path's filesystem")
    directory = Path(tempfile.mkdtemp(dir=shm, prefix="revaer-test-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def write(path: Path, data: bytes, *, mtime: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(f"*{PART_SUFFIX}"))


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_hardlink_shares_the_inode(tmp_path: Path) -> None:
    source = write(tmp_path / "in" / "a.mkv", b"payload")
    dest = tmp_path / "lib" / "show" / "a.mkv"

    placed = place(source, dest, mode="hardlink")

    assert placed.how == "hardlink"
    assert placed.dest == dest
    assert not placed.fell_back
    assert placed.bytes == 0
    assert os.stat(dest).st_ino == os.stat(source).st_ino


def test_hardlink_across_filesystems_copies(tmp_path: Path, other_fs: Path) -> None:
    source = write(tmp_path / "a.bin", b"x" * 5000, mtime=1_600_000_000)
    dest = other_fs / "lib" / "a.bin"

    placed = place(source, dest, mode="hardlink")

    assert (placed.how, placed.fell_back, placed.bytes) == ("copy", True, 5000)
    assert dest.read_bytes() == source.read_bytes()
    assert os.stat(dest).st_mtime == 1_600_000_000
    assert leftovers(other_fs) == []


def test_copy_keeps_bytes_mtime_and_mode(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = write(tmp_path / "in" / "a.bin", data, mtime=1_500_000_000)
    source.chmod(0o640)
    dest = tmp_path / "lib" / "a.bin"
    seen: list[int] = []

    placed = place(source, dest, mode="copy", progress=seen.append)

    assert (placed.how, placed.bytes) == ("copy", len(data))
    assert dest.read_bytes() == data
    assert os.stat(dest).st_mtime == 1_500_000_000
    assert os.stat(dest).st_mode & 0o777 == 0o640
    assert os.stat(dest).st_ino != os.stat(source).st_ino
    assert sum(seen) == len(data)
    assert leftovers(tmp_path) == []


def test_copy_takes_the_file_mode_asked(tmp_path: Path) -> None:
    source = write(tmp_path / "a.bin", b"abc")
    source.chmod(0o600)

    place(source, tmp_path / "lib" / "a.bin", mode="copy", file_mode=0o664)

    assert os.stat(tmp_path / "lib" / "a.bin").st_mode & 0o777 == 0o664


def test_move_renames_on_one_filesystem(tmp_path: Path) -> None:
    source = write(tmp_path / "in" / "a.bin", b"abc")
    inode = os.stat(source).st_ino
    dest = tmp_path / "lib" / "a.bin"

    placed = place(source, dest, mode="move", file_mode=0o644)

    assert (placed.how, placed.bytes) == ("move", 0)
    assert not source.exists()
    assert os.stat(dest).st_ino == inode
    assert os.stat(dest).st_mode & 0o777 == 0o644


def test_move_across_filesystems_copies_then_removes(tmp_path: Path, other_fs: Path) -> None:
    source = write(tmp_path / "a.bin", b"abc" * 1000, mtime=1_400_000_000)
    dest = other_fs / "a.bin"

    placed = place(source, dest, mode="move")

    assert (placed.how, placed.bytes) == ("move", 3000)
    assert not source.exists()
    assert dest.read_bytes() == b"abc" * 1000
    assert os.stat(dest).st_mtime == 1_400_000_000


@pytest.mark.parametrize("mode", MODES)
def test_skip_leaves_other_content(tmp_path: Path, mode: TransferMode) -> None:
    source = write(tmp_path / "in" / "a.txt", b"new")
    dest = write(tmp_path / "lib" / "a.txt", b"old")

    placed = place(source, dest, mode=mode, conflict="skip")

    assert (placed.how, placed.dest) == ("skipped", dest)
    assert dest.read_bytes() == b"old"
    assert source.read_bytes() == b"new"
    assert names(dest.parent) == ["a.txt"]


@pytest.mark.parametrize("mode", MODES)
def test_overwrite_replaces_other_content(tmp_path: Path, mode: TransferMode) -> None:
    source = write(tmp_path / "in" / "a.txt", b"new")
    dest = write(tmp_path / "lib" / "a.txt", b"old")

    placed = place(source, dest, mode=mode, conflict="overwrite")

    assert (placed.how, placed.dest) == (mode, dest)
    assert dest.read_bytes() == b"new"
    assert names(dest.parent) == ["a.txt"]


@pytest.mark.parametrize("mode", MODES)
def test_rename_picks_the_next_free_name(tmp_path: Path, mode: TransferMode) -> None:
    lib = tmp_path / "lib"
    write(lib / "a.tar.gz", b"zero")
    first = write(tmp_path / "in" / "1" / "a.tar.gz", b"one")
    second = write(tmp_path / "in" / "2" / "a.tar.gz", b"two")

    placed_first = place(first, lib / "a.tar.gz", mode=mode)
    placed_second = place(second, lib / "a.tar.gz", mode=mode)

    assert (placed_first.how, placed_first.dest) == (mode, lib / "a.tar (1).gz")
    assert (placed_second.how, placed_second.dest) == (mode, lib / "a.tar (2).gz")
    assert (lib / "a.tar (1).gz").read_bytes() == b"one"
    assert (lib / "a.tar (2).gz").read_bytes() == b"two"


def test_rename_rerun_finds_its_earlier_copy(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write(lib / "a.txt", b"zero")
    write(lib / "a (1).txt", b"one")
    source = write(tmp_path / "in" / "a.txt", b"two")

    placed = place(source, lib / "a.txt", mode="copy")
    again = place(source, lib / "a.txt", mode="copy")

    assert (placed.how, placed.dest) == ("copy", lib / "a (2).txt")
    assert (again.how, again.dest) == ("already", lib / "a (2).txt")
    assert names(lib) == ["a (1).txt", "a (2).txt", "a.txt"]


def test_rename_finds_the_content_past_a_gap(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write(lib / "a.txt", b"zero")
    write(lib / "a (2).txt", b"two")
    source = write(tmp_path / "in" / "a.txt", b"two")

    placed = place(source, lib / "a.txt", mode="copy")

    assert (placed.how, placed.dest) == ("already", lib / "a (2).txt")
    assert names(lib) == ["a (2).txt", "a.txt"]


@pytest.mark.parametrize("mode", MODES)
def test_rerun_finds_the_file_placed(tmp_path: Path, mode: TransferMode) -> None:
    source = write(tmp_path / "in" / "a.bin", b"content")
    dest = tmp_path / "lib" / "a.bin"

    first = place(source, dest, mode=mode)
    second = place(source, dest, mode=mode)
    third = place(source, dest, mode=mode)

    assert first.how == mode
    assert (second.how, second.dest) == ("already", dest)
    assert (third.how, third.dest) == ("already", dest)
    assert names(dest.parent) == ["a.bin"]
    assert dest.read_bytes() == b"content"


@pytest.mark.parametrize("mode", MODES)
def test_same_content_elsewhere_is_already_there(tmp_path: Path, mode: TransferMode) -> None:
    source = write(tmp_path / "in" / "a.bin", b"content")
    dest = write(tmp_path / "lib" / "a.bin", b"content")
    inode = os.stat(dest).st_ino

    placed = place(source, dest, mode=mode, conflict="overwrite")

    assert (placed.how, placed.bytes) == ("already", 0)
    assert os.stat(dest).st_ino == inode
    assert names(dest.parent) == ["a.bin"]
    # A move that finds its content placed finishes the move: the source goes.
    assert source.exists() == (mode != "move")


def test_move_onto_itself_keeps_the_file(tmp_path: Path) -> None:
    source = write(tmp_path / "a.bin", b"content")

    placed = place(source, tmp_path / "." / "a.bin", mode="move")

    assert placed.how == "already"
    assert source.read_bytes() == b"content"


def test_move_rerun_with_rename_reports_where_it_went(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write(lib / "a.txt", b"zero")
    source = write(tmp_path / "in" / "a.txt", b"one")

    placed = place(source, lib / "a.txt", mode="move")
    again = place(source, lib / "a.txt", mode="move")

    assert (placed.how, placed.dest) == ("move", lib / "a (1).txt")
    assert (again.how, again.dest) == ("already", lib / "a (1).txt")


def test_stale_part_from_a_crash_is_replaced(tmp_path: Path) -> None:
    source = write(tmp_path / "in" / "a.bin", b"complete content")
    stale = write(tmp_path / "lib" / f".a.bin{PART_SUFFIX}", b"compl")
    stale.chmod(0o400)

    placed = place(source, tmp_path / "lib" / "a.bin", mode="copy")

    assert placed.how == "copy"
    assert (tmp_path / "lib" / "a.bin").read_bytes() == b"complete content"
    assert names(tmp_path / "lib") == ["a.bin"]


_KILLED_MID_COPY = """
import os, signal, sys
from pathlib import Path
from revaer.fsops._transfer import place

calls = 0

def check():
    global calls
    calls += 1
    if calls == 2:  # after the first 8 MiB reached the temp file
        os.kill(os.getpid(), signal.SIGKILL)

place(Path(sys.argv[1]), Path(sys.argv[2]), mode="copy", check=check)
"""


def test_rerun_after_sigkill_mid_copy_ends_with_one_copy(tmp_path: Path) -> None:
    data = os.urandom(9 * 1024 * 1024)
    source = write(tmp_path / "in" / "a.bin", data)
    lib = tmp_path / "lib"
    write(lib / "a.bin", b"other content")

    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_COPY, str(source), str(lib / "a.bin")], check=False
    )
    assert killed.returncode == -signal.SIGKILL
    assert names(lib) == [f".a (1).bin{PART_SUFFIX}", "a.bin"]

    rerun = place(source, lib / "a.bin", mode="copy")
    again = place(source, lib / "a.bin", mode="copy")

    assert (rerun.how, rerun.dest) == ("copy", lib / "a (1).bin")
    assert (again.how, again.dest) == ("already", lib / "a (1).bin")
    assert names(lib) == ["a (1).bin", "a.bin"]
    assert (lib / "a (1).bin").read_bytes() == data


def test_check_raising_mid_copy_leaves_nothing(tmp_path: Path) -> None:
    # Larger than one kernel copy step (8 MiB), so the check fails after bytes were written.
    source = write(tmp_path / "in" / "a.bin", os.urandom(9 * 1024 * 1024))
    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        place(source, tmp_path / "lib" / "a.bin", mode="copy", check=check)

    assert calls == 2
    assert names(tmp_path / "lib") == []


def test_symlink_at_dest_is_never_written_through(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "victim.txt", b"precious")
    source = write(tmp_path / "in" / "a.txt", b"new")
    dest = tmp_path / "lib" / "a.txt"
    dest.parent.mkdir()
    dest.symlink_to(outside)

    placed = place(source, dest, mode="copy", conflict="overwrite")

    assert placed.how == "copy"
    assert outside.read_bytes() == b"precious"
    assert not dest.is_symlink()
    assert dest.read_bytes() == b"new"


def test_symlink_to_the_same_content_is_still_other_content(tmp_path: Path) -> None:
    source = write(tmp_path / "in" / "a.txt", b"same")
    dest = tmp_path / "lib" / "a.txt"
    dest.parent.mkdir()
    dest.symlink_to(source)

    skipped = place(source, dest, mode="hardlink", conflict="skip")
    renamed = place(source, dest, mode="hardlink", conflict="rename")

    assert skipped.how == "skipped"
    assert (renamed.how, renamed.dest) == ("hardlink", dest.with_name("a (1).txt"))
    assert dest.is_symlink()
    assert not same_content(source, dest)


@pytest.mark.parametrize("mode", MODES)
def test_source_that_is_not_a_regular_file_is_refused(tmp_path: Path, mode: TransferMode) -> None:
    real = write(tmp_path / "real.txt", b"x")
    link = tmp_path / "link.txt"
    link.symlink_to(real)

    with pytest.raises(FsopsRefused, match="symbolic link") as refused:
        place(link, tmp_path / "lib" / "link.txt", mode=mode)
    with pytest.raises(FsopsRefused, match="directory"):
        place(tmp_path, tmp_path / "lib" / "dir", mode=mode)

    assert refused.value.path == str(link)
    assert not (tmp_path / "lib" / "link.txt").exists()


def test_os_error_names_the_path(tmp_path: Path) -> None:
    source = write(tmp_path / "a.txt", b"x")
    blocker = write(tmp_path / "lib", b"a file where a directory should be")

    with pytest.raises(FsopsFailed, match=re.escape(str(blocker))) as failed:
        place(source, blocker / "sub" / "a.txt", mode="copy")

    assert "Not a directory" in str(failed.value)


def test_read_loop_copies_what_kernel_copies_cannot(tmp_path: Path) -> None:
    # Neither copy_file_range nor sendfile reads a pipe: the plain read loop must copy it all.
    data = os.urandom(3 * 1024 * 1024 + 1)
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    out = tmp_path / "out.bin"
    fd_out = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
    seen: list[int] = []
    try:
        copied = _stream(read_end, fd_out, (Path("pipe"), out), lambda: None, seen.append)
    finally:
        os.close(fd_out)
        os.close(read_end)
        feeder.join()

    assert copied == len(data) == sum(seen)
    assert out.read_bytes() == data


def test_full_disk_is_reported_as_a_write_error(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    source = write(tmp_path / "a.bin", b"x" * 1000)
    fd_in = os.open(source, os.O_RDONLY)
    fd_out = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(FsopsFailed) as failed:
            _stream(fd_in, fd_out, (source, Path("/lib/x")), lambda: None, lambda n: None)
    finally:
        os.close(fd_in)
        os.close(fd_out)

    assert str(failed.value) == "cannot write /lib/x: No space left on device"
    assert failed.value.path == "/lib/x"


def test_missing_source_fails(tmp_path: Path) -> None:
    with pytest.raises(FsopsFailed, match="No such file"):
        place(tmp_path / "gone.txt", tmp_path / "lib" / "gone.txt", mode="copy")


def test_name_at_the_length_limit_is_copied(tmp_path: Path) -> None:
    name = "é" * 120 + ".mkv"  # 244 bytes: its part name needs shortening to fit 255
    source = write(tmp_path / "in" / name, b"x" * 100)

    placed = place(source, tmp_path / "lib" / name, mode="copy")

    assert placed.how == "copy"
    assert names(tmp_path / "lib") == [name]


def test_same_content_compares_bytes(tmp_path: Path) -> None:
    a = write(tmp_path / "a", b"abcd")
    b = write(tmp_path / "b", b"abcd")
    c = write(tmp_path / "c", b"abce")
    d = write(tmp_path / "d", b"abc")

    assert same_content(a, b)
    assert same_content(a, a)
    assert not same_content(a, c)
    assert not same_content(a, d)
    assert not same_content(a, tmp_path / "missing")


def test_remove_stale_parts_sweeps_the_tree(tmp_path: Path) -> None:
    write(tmp_path / f".a.mkv{PART_SUFFIX}", b"x")
    write(tmp_path / "deep" / "er" / f".b.srt{PART_SUFFIX}", b"x")
    write(tmp_path / "deep" / "keep.mkv", b"x")
    write(tmp_path / f"visible{PART_SUFFIX}", b"x")  # not hidden: not one of ours
    (tmp_path / f".dir{PART_SUFFIX}").mkdir()

    removed = remove_stale_parts(tmp_path)

    assert removed == 2
    assert leftovers(tmp_path) == [f".dir{PART_SUFFIX}", f"visible{PART_SUFFIX}"]
    assert (tmp_path / "deep" / "keep.mkv").exists()
    assert remove_stale_parts(tmp_path / "missing") == 0
