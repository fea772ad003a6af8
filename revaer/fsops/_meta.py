"""``.revaer.meta``: a job's record beside its payload, written atomically after each stage.

It holds each finished stage and what the later stages need (the destination, the extracted
files, the transfer plan), so a run after a crash continues from the first unfinished stage
with the same plan, and a file placed before the crash is recognised instead of copied again.
The same record is mirrored into ``fs_jobs`` for the API; the file is what a rerun trusts,
because it is written before the database is told.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from revaer.runtime import write_atomically

__all__ = ["META_NAME", "JobMeta", "read_meta", "write_meta"]

META_NAME = ".revaer.meta"
_VERSION = 1


@dataclass(slots=True, kw_only=True)
class JobMeta:
    """The persisted state of one torrent's job."""

    torrent_id: str
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """stage → {"status": "done"|"skipped", "at": ISO time, ...details}."""
    dest: str | None = None
    mode: str | None = None
    extracted: list[dict[str, Any]] = field(default_factory=list)
    """One entry per archive: {"archive", "staging", "base", "files": [relative paths]}."""
    plan: list[list[str]] = field(default_factory=list)
    """[destination path relative to ``dest``, absolute source path] per file."""
    placed: list[str] = field(default_factory=list)
    manifest: str | None = None
    staging: str | None = None
    """The staging area, fixed by ``validate`` (it stays put when a move moves the payload)."""

    def done(self, stage: str) -> bool:
        """Whether ``stage`` finished (done or skipped) in an earlier run."""
        return stage in self.stages

    def finish(self, stage: str, status: str = "done", **details: Any) -> None:
        """Record ``stage`` as finished."""
        self.stages[stage] = {"status": status, "at": datetime.now(UTC).isoformat()} | details

    def to_json(self) -> dict[str, Any]:
        """The document written to disk."""
        return {
            "version": _VERSION,
            "torrent_id": self.torrent_id,
            "stages": self.stages,
            "dest": self.dest,
            "mode": self.mode,
            "extracted": self.extracted,
            "plan": self.plan,
            "placed": self.placed,
            "manifest": self.manifest,
            "staging": self.staging,
        }


def read_meta(path: Path, torrent_id: str) -> JobMeta:
    """The record at ``path``; a fresh one if absent, unreadable or of another torrent."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return JobMeta(torrent_id=torrent_id)
    if not isinstance(doc, dict) or doc.get("torrent_id") != torrent_id:
        return JobMeta(torrent_id=torrent_id)
    return JobMeta(
        torrent_id=torrent_id,
        stages=dict(doc.get("stages") or {}),
        dest=doc.get("dest"),
        mode=doc.get("mode"),
        extracted=list(doc.get("extracted") or []),
        plan=[list(p) for p in doc.get("plan") or []],
        placed=list(doc.get("placed") or []),
        manifest=doc.get("manifest"),
        staging=doc.get("staging"),
    )


def write_meta(path: Path, meta: JobMeta) -> None:
    """Persist ``meta`` at ``path`` atomically."""
    write_atomically(path, json.dumps(meta.to_json(), indent=1, sort_keys=True).encode())
