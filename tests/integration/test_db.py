"""The database layer and migrations on real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from revaer.db import Database, DatabaseUnavailable, QueryError, load_migrations, migrate
from revaer.errors import FatalError
from tests.conftest import MIGRATIONS


async def test_migrations_are_recorded_and_idempotent(db: Database) -> None:
    assert await migrate(db, MIGRATIONS) == []  # the template already applied them
    rows = await db.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == [m.version for m in load_migrations(MIGRATIONS)]


async def test_two_concurrent_migrators_apply_each_migration_once(
    db: Database, tmp_path: Path
) -> None:
    existing = load_migrations(MIGRATIONS)
    for migration in existing:
        name = f"{migration.version:04d}_{migration.name}.sql"
        (tmp_path / name).write_text((MIGRATIONS / name).read_text())
    extra = existing[-1].version + 1
    (tmp_path / f"{extra:04d}_extra.sql").write_text(
        "CREATE TABLE extra_once (id int PRIMARY KEY);"
    )
    results: list[list[int]] = []

    async def run() -> None:
        results.append(await migrate(db, tmp_path))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        nursery.start_soon(run)
    assert sorted(results) == [[], [extra]]


async def test_edited_or_unknown_migrations_are_fatal(db: Database, tmp_path: Path) -> None:
    (tmp_path / "0001_control_plane.sql").write_text("-- edited\n")
    with pytest.raises(FatalError, match="edited"):
        await migrate(db, tmp_path)
    (tmp_path / "0001_control_plane.sql").unlink()
    with pytest.raises(FatalError, match="newer Revaer"):
        await migrate(db, tmp_path)


def test_misnamed_migration_is_fatal(tmp_path: Path) -> None:
    (tmp_path / "1_bad.sql").write_text("SELECT 1;")
    with pytest.raises(FatalError, match="NNNN_name"):
        load_migrations(tmp_path)
    with pytest.raises(FatalError, match="does not exist"):
        load_migrations(tmp_path / "missing")


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("UPDATE app_profile SET instance_name = 'changed'")
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT instance_name FROM app_profile") == "revaer"


async def test_errors_are_translated(db: Database, aio_loop: None) -> None:
    with pytest.raises(QueryError) as info:
        await db.execute("SELECT * FROM no_such_table")
    assert info.value.sqlstate == "42P01"
    with pytest.raises(DatabaseUnavailable):
        async with Database.open("postgresql://nobody@127.0.0.1:1/none", connect_timeout=2):
            pass


async def test_jsonb_round_trips_as_python_values(db: Database) -> None:
    assert await db.fetchval("SELECT immutable_keys FROM app_profile") == []
    assert await db.ping() > 0
