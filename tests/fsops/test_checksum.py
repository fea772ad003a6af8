"""sha256_file and the .revaer.sha256 manifest, checked against coreutils' sha256sum."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from revaer.fsops._checksum import (
    MANIFEST_NAME,
    read_manifest,
    sha256_file,
    verify_manifest,
    write_manifest,
)
from revaer.fsops._errors import FsopsFailed, FsopsRefused

NAMES = [
    "plain.txt",
    "with space/and more spaces.mkv",
    "ünïcødé/日本語.srt",
    "back\\slash.txt",
    "new\nline.txt",
]


def fill(directory: Path, names: list[str]) -> dict[str, str]:
    digests: dict[str, str] = {}
    for number, name in enumerate(names):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"file {number}: {name}\n".encode() * (number + 1)
        path.write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def test_sha256_file_matches_hashlib_and_reports_progress(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    path = tmp_path / "a.bin"
    path.write_bytes(data)
    seen: list[int] = []

    digest = sha256_file(path, progress=seen.append)

    assert digest == hashlib.sha256(data).hexdigest()
    assert sum(seen) == len(data)


def test_sha256_file_stops_when_check_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * (3 * 1024 * 1024))
    seen: list[int] = []

    def check() -> None:
        if seen:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sha256_file(path, check=check, progress=seen.append)

    assert seen == [1024 * 1024]


def test_sha256_file_names_an_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(FsopsFailed, match=r"cannot read .*missing") as failed:
        sha256_file(tmp_path / "missing")

    assert failed.value.path == str(tmp_path / "missing")


def test_manifest_round_trip(tmp_path: Path) -> None:
    digests = fill(tmp_path, NAMES)

    path = write_manifest(tmp_path, digests)

    assert path == tmp_path / MANIFEST_NAME
    assert read_manifest(tmp_path) == digests
    assert verify_manifest(tmp_path) == []
    assert not list(tmp_path.glob("*.revaer-part"))


def test_manifest_lines_are_sorted_and_escaped_like_sha256sum(tmp_path: Path) -> None:
    digests = fill(tmp_path, NAMES)

    lines = write_manifest(tmp_path, digests).read_text().splitlines()

    shown = [line.split("  ", 1)[1] for line in lines]
    assert shown == [
        "back\\\\slash.txt",
        "new\\nline.txt",
        "plain.txt",
        "with space/and more spaces.mkv",
        "ünïcødé/日本語.srt",
    ]
    assert [line.startswith("\\") for line in lines] == [True, True, False, False, False]


def test_sha256sum_accepts_the_manifest(tmp_path: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")
    write_manifest(tmp_path, fill(tmp_path, NAMES))

    result = subprocess.run(
        ["sha256sum", "--check", "--strict", MANIFEST_NAME],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(NAMES)


def test_reads_what_sha256sum_writes(tmp_path: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")
    digests = fill(tmp_path, NAMES)
    written = subprocess.run(
        ["sha256sum", "--", *NAMES], cwd=tmp_path, capture_output=True, check=True
    ).stdout
    binary = subprocess.run(
        ["sha256sum", "--binary", "--", "plain.txt"], cwd=tmp_path, capture_output=True, check=True
    ).stdout
    (tmp_path / MANIFEST_NAME).write_bytes(written + binary)

    assert read_manifest(tmp_path) == digests


def test_verify_finds_a_changed_byte_and_a_missing_file(tmp_path: Path) -> None:
    write_manifest(tmp_path, fill(tmp_path, NAMES))
    changed = tmp_path / "ünïcødé/日本語.srt"
    data = bytearray(changed.read_bytes())
    data[3] ^= 1
    changed.write_bytes(bytes(data))
    (tmp_path / "with space/and more spaces.mkv").unlink()

    bad = verify_manifest(tmp_path)

    assert bad == ["with space/and more spaces.mkv", "ünïcødé/日本語.srt"]


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/./b", "a//b", "", "a/"])
def test_paths_outside_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(FsopsRefused):
        write_manifest(tmp_path, {name: "0" * 64})

    (tmp_path / MANIFEST_NAME).write_text(f"{'0' * 64}  {name}\n")
    with pytest.raises(FsopsFailed):  # refused, or (empty name) malformed
        read_manifest(tmp_path)


def test_a_digest_that_is_not_sha256_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FsopsFailed, match="not a SHA-256"):
        write_manifest(tmp_path, {"a.txt": "abc"})


def test_malformed_and_missing_manifests_fail(tmp_path: Path) -> None:
    with pytest.raises(FsopsFailed, match="cannot read"):
        read_manifest(tmp_path)

    (tmp_path / MANIFEST_NAME).write_text("not a checksum line\n")
    with pytest.raises(FsopsFailed, match=":1: not a sha256sum line"):
        read_manifest(tmp_path)
