"""Path confinement: every path the pipeline reads or writes stays inside the allowed roots.

A path is resolved (symlinks followed, ``..`` collapsed) before it is compared, so a symlinked
download directory that points elsewhere is judged by where it really points. Archive member
names are checked as names first (:func:`safe_member_name`) and then, joined to their target,
as paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from revaer.fsops._errors import FsopsRefused

__all__ = ["Confinement", "safe_member_name"]


class Confinement:
    """The allowed roots (resolved once) and the checks against them."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]]) -> None:
        resolved: list[Path] = []
        for root in roots:
            try:
                path = _resolve(root, what="allowed root")
            except FsopsRefused:
                continue  # a looping root allows nothing

            if path not in resolved:
                resolved.append(path)
        self.roots: tuple[Path, ...] = tuple(resolved)

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path``, resolved, is one of the roots or inside one."""
        try:
            real = _resolve(path)
        except FsopsRefused:
            return False
        return any(real == root or real.is_relative_to(root) for root in self.roots)

    def check(self, path: str | os.PathLike[str], *, what: str) -> Path:
        """``path`` resolved, or :class:`FsopsRefused` naming ``what`` and where it points."""
        real = _resolve(path, what=what)
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            allowed = ", ".join(str(r) for r in self.roots) or "(none)"
            shown = str(path) if str(real) == str(path) else f"{path} (resolves to {real})"
            raise FsopsRefused(
                f"{what} {shown} is outside the allowed paths ({allowed}); add it to "
                "fs_policy.allow_paths if it is meant to be used",
                path=str(path),
            )
        return real


def _resolve(path: str | os.PathLike[str], *, what: str = "path") -> Path:
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError on Python 3.11)
        raise FsopsRefused(f"{what} {path} cannot be resolved: {exc}", path=str(path)) from None


def safe_member_name(name: str) -> PurePosixPath:
    """An archive member's name as a relative path, or :class:`FsopsRefused`.

    Refused: empty names, NUL bytes, absolute paths (``/x``, ``\\x``, ``C:x``), and any ``..``
    component. Backslashes count as separators (archives made on Windows).
    """
    text = name.replace("\\", "/")
    if not text or "\x00" in text:
        raise FsopsRefused(f"archive member {name!r} has no usable name", member=name)
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise FsopsRefused(f"archive member {name!r} is an absolute path", member=name)
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FsopsRefused(f"archive member {name!r} climbs out with '..'", member=name)
    if not parts:
        raise FsopsRefused(f"archive member {name!r} has no usable name", member=name)
    return PurePosixPath(*parts)
