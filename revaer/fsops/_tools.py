"""The external tools some stages need, found on ``PATH`` when asked (never cached for good).

``7z`` extracts 7z archives (Debian's ``7zip`` gives ``7zz``, ``p7zip-full`` gives ``7z``),
``unar`` (with its ``lsar``) extracts RAR in every variant, ``par2`` verifies and repairs.
A missing tool degrades ``fsops`` health with a reason naming it and its package; the health
recovers on the next probe that finds it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["TOOLS", "ToolSpec", "Toolbox", "probe_tools"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """A tool by the name operators know it, the executables that provide it, where to get it."""

    name: str
    executables: tuple[str, ...]
    """Tried in order; the first found is used."""
    companions: tuple[str, ...] = ()
    """Further executables the tool needs (all must be found)."""
    needed_for: str
    install: str


TOOLS: Mapping[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            name="7z",
            executables=("7zz", "7z"),
            needed_for="extracting 7z archives",
            install="apt-get install 7zip (or p7zip-full)",
        ),
        ToolSpec(
            name="unar",
            executables=("unar",),
            companions=("lsar",),
            needed_for="extracting RAR archives",
            install="apt-get install unar",
        ),
        ToolSpec(
            name="par2",
            executables=("par2",),
            needed_for="verifying and repairing with PAR2 files",
            install="apt-get install par2",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Toolbox:
    """The result of one probe: tool name → executable path (and companions by their name)."""

    found: Mapping[str, str]
    """Tool name and each companion name → absolute path of the executable."""
    missing: tuple[str, ...]

    def path(self, name: str) -> str | None:
        """The executable for tool or companion ``name``, if found."""
        return self.found.get(name)

    def reason(self, names: Iterable[str] | None = None) -> str | None:
        """A health reason naming every missing tool of ``names`` (all tools if None)."""
        wanted = set(TOOLS) if names is None else set(names)
        gone = [name for name in self.missing if name in wanted]
        if not gone:
            return None
        return "; ".join(
            f"{name} not found on PATH ({TOOLS[name].needed_for}): {TOOLS[name].install}"
            for name in gone
        )


def probe_tools(path: str | None = None, names: Iterable[str] = TOOLS) -> Toolbox:
    """Look each tool up on ``path`` (the process's ``PATH`` when None)."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in names:
        spec = TOOLS[name]
        exe = next((p for e in spec.executables if (p := shutil.which(e, path=path))), None)
        companions = {c: shutil.which(c, path=path) for c in spec.companions}
        if exe is None or any(p is None for p in companions.values()):
            missing.append(name)
            continue
        found[name] = exe
        found.update({c: p for c, p in companions.items() if p is not None})
    return Toolbox(found=found, missing=tuple(missing))
