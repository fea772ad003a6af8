"""``fs_jobs``: one row per torrent, the job's state as the API shows it and a restart resumes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

from revaer.db import Database, storable
from revaer.fsops._stages import STAGE_NAMES

__all__ = ["FsJobStore", "JobState", "JobStatus"]

JobState = Literal["queued", "running", "completed", "failed", "skipped"]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStatus:
    """One torrent's job."""

    torrent_id: str
    state: JobState
    stage: str | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: int = 0
    error: str | None = None
    error_path: str | None = None
    error_member: str | None = None
    library_path: str | None = None
    manifest: str | None = None
    meta_path: str | None = None
    request_id: str | None = None
    queued_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def with_(self, **changes: Any) -> JobStatus:
        """A copy with ``changes``."""
        return replace(self, **changes)

    def _stage(self, name: str) -> dict[str, Any]:
        entry = self.stages.get(name)
        if entry is not None:
            return {"name": name, "status": entry["status"], "at": entry.get("at"),
                    "detail": entry.get("reason")}  # fmt: skip
        if name == self.stage and self.state in ("running", "failed"):
            detail = self.error if self.state == "failed" else None
            return {"name": name, "status": self.state, "at": None, "detail": detail}
        return {"name": name, "status": "pending", "at": None, "detail": None}

    def to_json(self) -> dict[str, Any]:
        """The API's ``FsopsStatus``."""
        return {
            "state": self.state,
            "step": self.stage,
            "stages": [self._stage(name) for name in STAGE_NAMES],
            "attempts": self.attempts,
            "library_path": self.library_path,
            "manifest": self.manifest,
            "queued_at": _iso(self.queued_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "error": self.error,
            "error_member": self.error_member,
            "error_path": self.error_path,
        }


_COLUMNS = tuple(f.name for f in fields(JobStatus))
_UPSERT = (
    f"INSERT INTO fs_jobs ({', '.join(_COLUMNS)}, updated_at) "  # noqa: S608 -- fixed names
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_COLUMNS) + 1))}, now()) "
    "ON CONFLICT (torrent_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])
    + ", updated_at = now()"
)


class FsJobStore:
    """Reads and writes ``fs_jobs`` (the pipeline actor is its only writer)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self) -> dict[str, JobStatus]:
        """Every job."""
        rows = await self._db.fetch(f"SELECT {', '.join(_COLUMNS)} FROM fs_jobs")  # noqa: S608
        out: dict[str, JobStatus] = {}
        for row in rows:
            values = {c: row[c] for c in _COLUMNS}
            values["torrent_id"] = str(row["torrent_id"])
            stages = values["stages"]
            values["stages"] = json.loads(stages) if isinstance(stages, str) else dict(stages)
            out[values["torrent_id"]] = JobStatus(**values)
        return out

    async def save(self, status: JobStatus) -> None:
        """Insert or replace ``status``."""
        await self._db.execute(_UPSERT, *(storable(getattr(status, c)) for c in _COLUMNS))

    async def delete(self, torrent_id: str) -> None:
        """Forget the job of a removed torrent."""
        await self._db.execute("DELETE FROM fs_jobs WHERE torrent_id = $1", torrent_id)
