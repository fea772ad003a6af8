"""The pipeline's policy, read from the configuration snapshot when a job starts.

``fs_policy`` is applied live: every job reads the snapshot current at its start, so a change
affects the next job (a job already running finishes under the policy it started with).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

from revaer.fsops._confine import Confinement

__all__ = ["ConflictPolicy", "FsPolicy", "Par2Mode", "Route", "TransferMode"]

TransferMode = Literal["hardlink", "copy", "move"]
ConflictPolicy = Literal["skip", "rename", "overwrite"]
Par2Mode = Literal["off", "verify", "repair"]


def _mode(value: Any) -> int | None:
    return None if value in (None, "") else int(str(value), 8)


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where one torrent's payload goes and how."""

    subdir: PurePosixPath | None
    mode: TransferMode


@dataclass(frozen=True, slots=True, kw_only=True)
class FsPolicy:
    """``fs_policy`` as typed values (modes as integers), plus the engine's download root."""

    enabled: bool = True
    library_root: Path | None = None
    download_root: Path | None = None
    extract: bool = True
    par2: Par2Mode = "off"
    flatten: bool = True
    move_mode: TransferMode = "hardlink"
    conflict: ConflictPolicy = "rename"
    checksums: bool = True
    cleanup_keep: tuple[str, ...] = ()
    cleanup_drop: tuple[str, ...] = ()
    chmod_file: int | None = None
    chmod_dir: int | None = None
    owner: str | None = None
    group: str | None = None
    umask: int | None = None
    allow_paths: tuple[Path, ...] = ()
    workers: int = 1
    tag_rules: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, fs_policy: Mapping[str, Any], engine_profile: Mapping[str, Any]) -> FsPolicy:
        """The policy of a snapshot's ``fs_policy`` and ``engine_profile`` documents."""
        p = fs_policy

        def path(value: Any) -> Path | None:
            return Path(value) if value else None

        return cls(
            enabled=bool(p.get("enabled", True)),
            library_root=path(p.get("library_root")),
            download_root=path(engine_profile.get("download_root")),
            extract=bool(p.get("extract", True)),
            par2=cast(Par2Mode, p.get("par2") or "off"),
            flatten=bool(p.get("flatten", True)),
            move_mode=cast(TransferMode, p.get("move_mode") or "hardlink"),
            conflict=cast(ConflictPolicy, p.get("conflict") or "rename"),
            checksums=bool(p.get("checksums", True)),
            cleanup_keep=tuple(p.get("cleanup_keep") or ()),
            cleanup_drop=tuple(p.get("cleanup_drop") or ()),
            chmod_file=_mode(p.get("chmod_file")),
            chmod_dir=_mode(p.get("chmod_dir")),
            owner=p.get("owner") or None,
            group=p.get("group") or None,
            umask=_mode(p.get("umask")),
            allow_paths=tuple(Path(a) for a in p.get("allow_paths") or ()),
            workers=int(p.get("workers") or 1),
            tag_rules=dict(p.get("tag_rules") or {}),
        )

    def route(self, tags: Iterable[str]) -> Route:
        """The library subdirectory and transfer mode for a torrent with ``tags``.

        The first tag (in the torrent's order) that has a rule decides; without one the
        payload goes straight under ``library_root`` with ``move_mode``.
        """
        for tag in tags:
            rule = self.tag_rules.get(tag)
            if rule is not None:
                subdir = rule.get("subdir")
                return Route(
                    subdir=PurePosixPath(subdir) if subdir else None,
                    mode=cast(TransferMode, rule.get("move_mode") or self.move_mode),
                )
        return Route(subdir=None, mode=self.move_mode)

    def confinement(self) -> Confinement:
        """The allowed roots: the library, the download root and ``allow_paths``."""
        roots = [r for r in (self.library_root, self.download_root) if r is not None]
        return Confinement([*roots, *self.allow_paths])

    def needed_tools(self) -> tuple[str, ...]:
        """The tools this policy may call on (probed for health)."""
        tools: list[str] = []
        if self.extract:
            tools += ["7z", "unar"]
        if self.par2 != "off":
            tools.append("par2")
        return tuple(tools)
