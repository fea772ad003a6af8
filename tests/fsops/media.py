"""A release-like payload for pipeline tests: one archive of each kind, loose files, fluff.

``build_release(root)`` writes ``root/Show.S01/Show.S01.1080p/...`` (a single-folder wrapper,
so flattening has something to lift) and returns the payload path and what the library should
hold afterwards: relative path → bytes.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from tests.fsops import rarmaker

__all__ = ["RELEASE", "build_release", "have_archive_tools"]

RELEASE = "Show.S01"


def have_archive_tools() -> str | None:
    """Why the full release cannot be built here (a missing tool), or None."""
    for exe, package in (("7zz", "7zip"), ("unar", "unar"), ("lsar", "unar")):
        if shutil.which(exe) is None and not (exe == "7zz" and shutil.which("7z")):
            return f"{exe} not installed (apt-get install {package})"
    return None


def _data(name: str, size: int) -> bytes:
    return random.Random(name).randbytes(size)


def build_release(root: Path) -> tuple[Path, dict[str, bytes]]:
    """Write the release under ``root``; (payload dir, expected library content)."""
    top = root / RELEASE
    inner = top / f"{RELEASE}.1080p"
    inner.mkdir(parents=True)
    expected: dict[str, bytes] = {}

    ep = {n: _data(f"ep{n}", 40_000 + n * 1000) for n in range(1, 6)}
    with zipfile.ZipFile(inner / "e01.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Show.S01E01.mkv", ep[1])
    expected["Show.S01E01.mkv"] = ep[1]

    with tarfile.open(inner / "e02.tar.gz", "w:gz") as t:
        info = tarfile.TarInfo("extras/Show.S01E02.mkv")
        info.size = len(ep[2])
        t.addfile(info, io.BytesIO(ep[2]))
    expected["extras/Show.S01E02.mkv"] = ep[2]

    staging = root / "7z-src"
    staging.mkdir()
    (staging / "Show.S01E03.mkv").write_bytes(ep[3])
    seven = shutil.which("7zz") or shutil.which("7z")
    assert seven is not None
    subprocess.run(
        [seven, "a", "-bso0", "-bsp0", str(inner / "e03.7z"), "Show.S01E03.mkv"],
        cwd=staging,
        check=True,
    )
    shutil.rmtree(staging)
    expected["Show.S01E03.mkv"] = ep[3]

    rarmaker.write_rar5(inner, "e04", [rarmaker.file("Show.S01E04.mkv", ep[4])])
    expected["Show.S01E04.mkv"] = ep[4]

    # A zip inside a zip: the inner one is extracted too (one level).
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("Show.S01E05.mkv", ep[5])
    with zipfile.ZipFile(inner / "e05.zip", "w") as z:
        z.writestr("nested/e05-inner.zip", buffer.getvalue())
    expected["nested/Show.S01E05.mkv"] = ep[5]

    notes = b"episode guide\n"
    (inner / "guide.txt").write_bytes(notes)
    expected["guide.txt"] = notes
    # Fluff the policy drops.
    (inner / f"{RELEASE}.nfo").write_bytes(b"release info\n")
    (inner / "Sample").mkdir()
    (inner / "Sample" / "sample.mkv").write_bytes(_data("sample", 5000))
    return top, expected
