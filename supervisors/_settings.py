"""Daemon settings: flags win over environment, which wins over the stored app_profile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DaemonSettings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonSettings:
    """Everything the composition root reads from the outside world, once."""

    data_dir: Path
    bind: str | None
    port: int | None
    database_url: str | None
    migrations_dir: Path
    build_sha: str

    @property
    def secrets_key_file(self) -> Path:
        """The AES key that seals named secrets (kept out of the database)."""
        return self.data_dir / "secrets.key"

    @property
    def pgdata(self) -> Path:
        """The embedded PostgreSQL cluster, when no database URL is given."""
        return self.data_dir / "pg"
