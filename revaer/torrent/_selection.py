"""File selection: include/exclude globs and the skip_fluff preset, mapped onto priorities.

Deterministic: the same files and rules always give the same priorities. Globs match
case-insensitively against the whole path inside the torrent and against the file name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from revaer.events import FileInfo

__all__ = [
    "FLUFF_GLOBS",
    "PRIORITY_NAMES",
    "Selection",
    "compute_priorities",
    "is_fluff",
    "with_priorities",
]

SKIP, LOW, NORMAL, HIGH = 0, 1, 4, 7
PRIORITY_NAMES = {"skip": SKIP, "low": LOW, "normal": NORMAL, "high": HIGH}

#: What ``skip_fluff`` leaves out: samples, extras, proofs, screenshots, text fluff.
FLUFF_GLOBS: tuple[str, ...] = (
    "*sample*",
    "*/extras/*",
    "extras/*",
    "*/featurettes/*",
    "*proof*",
    "*/screens/*",
    "*/screenshots/*",
    "screens/*",
    "*.nfo",
    "*.txt",
    "*.url",
    "*.sfv",
    "*.md5",
    "*.exe",
    "*.lnk",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which files to download."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    skip_fluff: bool = False

    @property
    def is_default(self) -> bool:
        """True when every file is wanted."""
        return not (self.include or self.exclude or self.skip_fluff)


def _matches(path: str, globs: Sequence[str]) -> bool:
    lowered = path.lower()
    name = PurePosixPath(lowered).name
    return any(fnmatchcase(lowered, g.lower()) or fnmatchcase(name, g.lower()) for g in globs)


def is_fluff(path: str) -> bool:
    """Whether ``skip_fluff`` drops this path."""
    return _matches(path, FLUFF_GLOBS)


def with_priorities(files: Sequence[FileInfo], priorities: Sequence[int]) -> tuple[FileInfo, ...]:
    """``files`` carrying the priorities just applied (no need to ask libtorrent again)."""
    return tuple(replace(f, priority=priorities[f.index]) for f in files)


def compute_priorities(
    files: Sequence[FileInfo],
    selection: Selection,
    overrides: Mapping[int, int] | None = None,
) -> tuple[int, ...]:
    """One priority per file index (pad files included, as skip) for ``prioritize_files``."""
    count = max((f.index for f in files), default=-1) + 1
    priorities = [SKIP] * count
    for f in files:
        wanted = (not selection.include or _matches(f.path, selection.include)) and not (
            _matches(f.path, selection.exclude) or (selection.skip_fluff and is_fluff(f.path))
        )
        priorities[f.index] = NORMAL if wanted else SKIP
    for index, priority in (overrides or {}).items():
        if 0 <= index < count:
            priorities[index] = priority
    return tuple(priorities)
