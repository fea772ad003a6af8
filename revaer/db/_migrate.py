"""Forward-only SQL migrations: ``NNNN_name.sql`` files applied in order at start-up."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from revaer.db._database import Database
from revaer.errors import FatalError

__all__ = ["Migration", "load_migrations", "migrate"]

_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
# Serialises concurrent start-ups (two daemons, or tests) so each migration applies once.
_LOCK_KEY = 0x52455641  # "REVA"


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """sha256 of the SQL text; an applied migration must never change."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    """Read and order the migrations in ``directory``; misnamed or duplicate files are fatal."""
    if not directory.is_dir():
        raise FatalError(f"migrations directory {directory} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise FatalError(f"migration {path.name} is not named NNNN_name.sql")
        version = int(match["version"])
        if version in found:
            raise FatalError(f"two migrations share version {version:04d}")
        found[version] = Migration(version=version, name=match["name"], sql=path.read_text())
    return [found[v] for v in sorted(found)]


async def _apply(conn: asyncpg.Connection, migrations: list[Migration]) -> list[int]:
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {r["version"]: r for r in rows}
        newly: list[int] = []
        for migration in migrations:
            row = applied.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise FatalError(
                        f"migration {migration.version:04d}_{migration.name} was edited after "
                        "it was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            newly.append(migration.version)
        unknown = sorted(set(applied) - {m.version for m in migrations})
        if unknown:
            raise FatalError(
                f"the database has migrations this build does not know ({unknown}); "
                "it was written by a newer Revaer"
            )
        return newly
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def migrate(db: Database, directory: Path) -> list[int]:
    """Apply every pending migration; returns the versions applied now (empty when current)."""
    migrations = load_migrations(directory)
    return await db.run(lambda conn: _apply(conn, migrations))
