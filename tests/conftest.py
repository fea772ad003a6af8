"""Shared fixtures: one PostgreSQL per session, a migrated template, one database per test."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest
import trio
from loguru import logger

from revaer.db import Database, EmbeddedPostgres, migrate, open_asyncio_loop

if TYPE_CHECKING:
    from loguru import Message, Record

pytest_plugins = ["tests.harness.fixtures"]

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "sql"


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def _admin(url: str, *statements: str) -> None:
    async with open_asyncio_loop(), Database.open(url, min_size=1, max_size=1) as db:
        for statement in statements:
            await db.execute(statement)


async def _prepare_template(admin_url: str, template: str) -> None:
    await _admin(
        admin_url, f'DROP DATABASE IF EXISTS "{template}"', f'CREATE DATABASE "{template}"'
    )
    async with open_asyncio_loop(), Database.open(with_database(admin_url, template)) as db:
        await migrate(db, MIGRATIONS)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server for the whole session: DATABASE_URL, or an embedded one."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    # Not under pytest's tmp_path: its rotation may delete a live cluster of a parallel session.
    base = Path(tempfile.mkdtemp(prefix="revaer-pg-"))
    embedded = EmbeddedPostgres(base / "data")
    url = embedded.start()
    yield url
    embedded.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> str:
    """Name of a database with every migration applied, cloned by each test."""
    name = f"revaer_template_{os.getpid()}"
    trio.run(_prepare_template, pg_admin_url, name)
    return name


@pytest.fixture
def db_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for one test; dropped afterwards."""
    name = f"revaer_test_{uuid.uuid4().hex[:12]}"
    trio.run(_admin, pg_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield with_database(pg_admin_url, name)
    trio.run(_admin, pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def aio_loop() -> AsyncIterator[None]:
    """The trio-asyncio loop database code needs, around the test."""
    async with open_asyncio_loop():
        yield


@pytest.fixture
async def db(aio_loop: None, db_url: str) -> AsyncIterator[Database]:
    """A pool on the test's own database."""
    async with Database.open(db_url, max_size=4) as database:
        yield database


@pytest.fixture(autouse=True)
def _unfreeze_heap() -> Iterator[None]:
    """Daemons under test freeze the heap (``settle_heap``); give the suite's objects back to
    the collector after each test, so one test's garbage does not outlive it."""
    yield
    gc.unfreeze()


@pytest.fixture
def log_records() -> Iterator[list[Record]]:
    """Every loguru record emitted during the test."""
    records: list[Record] = []

    def sink(message: Message) -> None:
        records.append(message.record)

    handler_id = logger.add(sink, level="DEBUG")
    yield records
    logger.remove(handler_id)
