"""Where a torrent's payload is, where its job keeps its files, and where it goes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from revaer.fsops._meta import META_NAME
from revaer.fsops._policy import Route

__all__ = ["Layout", "TorrentView", "flatten"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TorrentView:
    """What the pipeline needs to know of a torrent (from the catalog)."""

    torrent_id: str
    name: str
    save_path: Path
    files: tuple[str, ...]
    """The wanted files (priority > 0), relative to ``save_path``, in torrent order."""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    """A payload's root and files, and the job's own places beside it.

    A multi-file torrent's files share its top directory: that directory is the root, and the
    job's record and staging area live inside it. A single file's root is its save path; its
    record and staging area are hidden files named after it.
    """

    root: Path
    files: tuple[PurePosixPath, ...]
    """Payload files relative to ``root``."""
    folder: str
    """The name of the payload's folder in the library."""
    multi: bool
    meta_path: Path
    staging: Path

    @classmethod
    def of(cls, view: TorrentView) -> Layout:
        """The layout of ``view``'s payload where it is now."""
        files = [PurePosixPath(f) for f in view.files]
        top = files[0].parts[0] if files and len(files[0].parts) > 1 else None
        if top is not None and all(len(f.parts) > 1 and f.parts[0] == top for f in files):
            root = view.save_path / top
            return cls(
                root=root,
                files=tuple(PurePosixPath(*f.parts[1:]) for f in files),
                folder=top,
                multi=True,
                meta_path=root / META_NAME,
                staging=root / ".revaer.staging",
            )
        name = files[0].name if len(files) == 1 else view.name
        folder = name.split(".")[0] if name.startswith(".") else Path(name).stem
        return cls(
            root=view.save_path,
            files=tuple(files),
            folder=folder or view.torrent_id,
            multi=False,
            meta_path=view.save_path / f".{name}{META_NAME}",
            staging=view.save_path / f".{name}.revaer.staging",
        )

    def destination(self, library_root: Path, route: Route) -> Path:
        """The payload's folder in the library."""
        base = library_root / route.subdir if route.subdir is not None else library_root
        return base / self.folder


def flatten(paths: Sequence[PurePosixPath]) -> tuple[list[PurePosixPath], int]:
    """Lift single top-level directories: ``a/b/x, a/b/y`` → ``x, y``; returns (paths, levels)."""
    current = list(paths)
    levels = 0
    while current and all(len(p.parts) > 1 for p in current):
        top = current[0].parts[0]
        if any(p.parts[0] != top for p in current):
            break
        current = [PurePosixPath(*p.parts[1:]) for p in current]
        levels += 1
    return current, levels
