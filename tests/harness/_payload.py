"""Deterministic payload files to put into torrents, and a byte-for-byte tree comparison."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType

__all__ = ["DEFAULT_LAYOUT", "make_payload", "same_tree"]

KIB = 1 << 10
MIB = 1 << 20

DEFAULT_LAYOUT: Mapping[str, int] = MappingProxyType(
    {
        "Show/ep1.mkv": 3 * MIB,
        "Show/ep2.mkv": 2 * MIB,
        "Show/sample/sample.mkv": 300 * KIB,
        "Show/info.nfo": 2 * KIB,
    }
)
"""A small multi-file layout (≈5.3 MiB) with the fluff a real release carries."""

# Mersenne Twister's randbytes runs at ~450 MiB/s here: fully random content costs no more than
# repeating a block would, and no two pieces or blocks are alike (a misplaced piece shows up).
_CHUNK = MIB


def _parts(relative: str) -> tuple[str, ...]:
    path = PurePosixPath(relative)
    if path.is_absolute() or not path.parts or any(p in {"", ".", ".."} for p in path.parts):
        raise ValueError(f"payload path {relative!r} must be relative, without '.' or '..'")
    return path.parts


def make_payload(root: Path, files: Mapping[str, int] | None = None, *, seed: int = 0) -> Path:
    """Write pseudo-random files under ``root`` and return the path to put into a torrent.

    ``files`` maps POSIX paths relative to ``root`` to sizes in bytes (default
    ``DEFAULT_LAYOUT``). All paths must share one top-level entry: ``{"a.bin": n}`` makes a
    single-file payload and returns ``root / "a.bin"``; ``{"Show/x": n, "Show/y": m}`` returns
    ``root / "Show"``. Content depends only on ``seed`` and each file's path, so the same call
    writes the same bytes, and different files differ.
    """
    layout = DEFAULT_LAYOUT if files is None else files
    if not layout:
        raise ValueError("a payload needs at least one file")
    parts = {relative: _parts(relative) for relative in layout}
    tops = {p[0] for p in parts.values()}
    if len(tops) != 1:
        raise ValueError(f"payload paths must share one top-level entry, got {sorted(tops)}")
    for relative, size in sorted(layout.items()):
        if size < 0:
            raise ValueError(f"payload file {relative!r} has a negative size")
        target = root.joinpath(*parts[relative])
        target.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(f"{seed}/{relative}")
        with target.open("wb") as out:
            remaining = size
            while remaining:
                chunk = min(remaining, _CHUNK)
                out.write(rng.randbytes(chunk))
                remaining -= chunk
    return root / tops.pop()


def _digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _files(top: Path) -> dict[str, Path]:
    if top.is_file():
        return {"": top}
    return {p.relative_to(top).as_posix(): p for p in top.rglob("*") if p.is_file()}


def same_tree(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` hold the same files with the same bytes.

    Both may be single files or directories; directories match when they contain the same
    relative file paths (empty directories are ignored) with equal sizes and SHA-256 digests.
    A missing path never matches.
    """
    if not (a.exists() and b.exists()) or a.is_file() != b.is_file():
        return False
    left, right = _files(a), _files(b)
    if left.keys() != right.keys():
        return False
    return all(
        left[k].stat().st_size == right[k].stat().st_size and _digest(left[k]) == _digest(right[k])
        for k in sorted(left)
    )
