"""The supervisor tree: database → config watcher → HTTP server, wired from settings."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import trio
from loguru import logger
from quart_trio import QuartTrio

import revaer
from revaer.api.server import (
    ApiDeps,
    ApiKeyVerifier,
    Endpoint,
    KeyUsage,
    RateLimiter,
    StreamHub,
    close_revoked_streams,
    create_app,
    serve_http,
)
from revaer.auth import SecretBox
from revaer.config import ConfigService, ConfigSnapshot, ConfigWatcher, SetupService
from revaer.db import (
    Database,
    DatabaseUnavailable,
    EmbeddedPostgres,
    QueryError,
    describe_dsn,
    migrate,
)
from revaer.errors import FatalError
from revaer.events import (
    EventBus,
    EventJournal,
    JournalPolicy,
    Publisher,
    TorrentCatalog,
    publish_health_changes,
    publish_settings_changes,
)
from revaer.fsops import EngineMoves, FsPipeline, PipelineIntake
from revaer.runtime import ChildSpec, HealthRegistry, Supervisor, Watched, settle_heap
from revaer.telemetry import Metrics
from revaer.torrent import Engine, EngineTuning
from supervisors._settings import DaemonSettings

__all__ = ["Daemon", "OpenDatabase", "open_database", "run_daemon"]

_log = logger.bind(actor="root")
_db_log = logger.bind(actor="database")
_DB_PING_INTERVAL = 5.0
_DB_RETRY_INTERVAL = 1.0  # while it is down: notice its return quickly


@dataclass(frozen=True, slots=True)
class OpenDatabase:
    """The pool, and the embedded server behind it (None with ``DATABASE_URL``)."""

    db: Database
    embedded: EmbeddedPostgres | None


@asynccontextmanager
async def open_database(settings: DaemonSettings) -> AsyncIterator[OpenDatabase]:
    """Embedded PostgreSQL (unless a URL is given), a pool, and every migration applied."""
    embedded: EmbeddedPostgres | None = None
    dsn = settings.database_url
    if dsn is None:
        embedded = EmbeddedPostgres(settings.pgdata)
        _log.info("database: starting embedded PostgreSQL in {}", settings.pgdata)
        where = f"the embedded PostgreSQL in {settings.pgdata}"
    else:
        try:
            where = describe_dsn(dsn)
        except ValueError as exc:
            raise FatalError(
                f"DATABASE_URL is not a valid PostgreSQL URL: {exc}; fix it, or unset it to use "
                "the embedded PostgreSQL"
            ) from None
        _log.info("database: {} (DATABASE_URL)", where)
    try:
        if embedded is not None:
            dsn = await trio.to_thread.run_sync(embedded.start)
        assert dsn is not None
        async with _open_pool(dsn, where, from_env=embedded is None) as db:
            applied = await migrate(db, settings.migrations_dir)
            if applied:
                _log.info("applied migrations {}", applied)
            yield OpenDatabase(db=db, embedded=embedded)
    finally:
        if embedded is not None:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(embedded.stop)


@asynccontextmanager
async def _open_pool(dsn: str, where: str, *, from_env: bool) -> AsyncIterator[Database]:
    """The pool, or a fatal error that says what failed and what to do about it."""
    try:
        opened = Database.open(dsn)
        db = await opened.__aenter__()
    except (DatabaseUnavailable, QueryError, ValueError) as exc:
        hint = (
            "check that the server runs, the host and port are right and the user may log in"
            if from_env
            else "see the log above; the data directory may be damaged"
        )
        raise FatalError(f"cannot connect to {where}: {_reason(exc)}; {hint}") from exc
    try:
        yield db
    except BaseException as exc:
        if not await opened.__aexit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        await opened.__aexit__(None, None, None)


def _reason(exc: BaseException) -> str:
    """What the driver said, without our wrapping (``asyncpg``'s own words are the clue)."""
    cause = exc.__cause__ or exc
    if isinstance(cause, TimeoutError):
        return "no answer within 10 s"
    return str(cause) or type(cause).__name__


@dataclass(slots=True)
class Daemon:
    """The running daemon's shared state (for the entry point and in-process tests)."""

    settings: DaemonSettings
    db: Database
    config: ConfigService
    snapshots: Watched[ConfigSnapshot]
    health: HealthRegistry
    metrics: Metrics
    app: QuartTrio
    bus: EventBus
    catalog: TorrentCatalog
    journal: EventJournal
    engine: Engine
    fsops: FsPipeline
    streams: StreamHub
    urls: list[str]


async def _database_monitor(
    db: Database,
    health: HealthRegistry,
    embedded: EmbeddedPostgres | None,
    *,
    task_status: trio.TaskStatus[None],
) -> None:
    # The pool reconnects by itself; this child reports whether PostgreSQL answers *and* can
    # still write (a read keeps working when the data directory is gone or the disk is full).
    task_status.started()
    lost_at: float | None = None  # when the current outage began (trio clock)
    while True:
        problem: str | None = None
        details: dict[str, object] = {}
        if embedded is not None and not embedded.data_present:
            problem = (
                f"the embedded PostgreSQL data directory {embedded.pgdata} is gone: "
                "stop revaer, restore it from a backup, and start again"
            )
        else:
            try:
                details["latency_ms"] = round(await db.ping(), 3)
                details["write_ms"] = round(await db.probe_write(), 3)
            except DatabaseUnavailable as exc:
                problem = exc.detail
        if problem is None:
            if lost_at is not None:
                _db_log.info(
                    "database back after {:.1f} s", trio.current_time() - lost_at, **details
                )
                lost_at = None
            health.ok("database", **details)
        else:
            if lost_at is None:
                _db_log.warning("database unavailable: {}", problem)
                lost_at = trio.current_time()
            health.degraded("database", problem)
        await trio.sleep(_DB_PING_INTERVAL if lost_at is None else _DB_RETRY_INTERVAL)


def build_tree(
    settings: DaemonSettings,
    config: ConfigService,
    snapshot: ConfigSnapshot,
    catalog: TorrentCatalog,
    journal: EventJournal,
    on_ready: Callable[[Daemon], None],
    tuning: EngineTuning | None = None,
    embedded: EmbeddedPostgres | None = None,
) -> tuple[Supervisor, Daemon]:
    """Wire every actor; ``on_ready`` sees the daemon once HTTP is bound."""
    db = config.db
    health = HealthRegistry()
    metrics = Metrics()
    snapshots = Watched(snapshot)
    bus = EventBus(start_id=journal.start_id, metrics=metrics)
    fsops_events = PipelineIntake()
    publisher = Publisher(
        bus, [catalog, fsops_events], recorders=[journal], state_of=catalog.state_of
    )

    def restarted(name: str) -> None:
        metrics.actor_restarts_total.labels(actor=name).inc()

    engine = Engine(
        snapshots=snapshots,
        bus=bus,
        health=health,
        on_restart=restarted,
        on_guardrail=lambda kind: metrics.guardrail_violations_total.labels(kind=kind).inc(),
        tuning=tuning,
        metrics=metrics,
        catalog=catalog,
        publisher=publisher,
    )
    metrics.config_revision.set(int(snapshot.revision))
    metrics.count_torrents_by(lambda: engine.handle.statistics().by_state)
    watcher = ConfigWatcher(config, snapshots, health=health, metrics=metrics)
    limiter = RateLimiter(snapshots, health=health, metrics=metrics)
    fsops = FsPipeline(
        db,
        snapshots,
        publisher,
        catalog,
        fsops_events,
        EngineMoves(
            engine.handle.move, running=lambda: engine.handle.running, changes=health.changes
        ),
        health=health,
        metrics=metrics,
    )
    usage = KeyUsage(db)
    deps = ApiDeps(
        config=config,
        setup=SetupService(config),
        snapshots=snapshots,
        health=health,
        metrics=metrics,
        verifier=ApiKeyVerifier(snapshots, metrics=metrics),
        limiter=limiter,
        usage=usage,
        bus=bus,
        journal=journal,
        catalog=catalog,
        engine=engine.handle,
        fsops=fsops,
        build_sha=settings.build_sha,
        version=revaer.__version__,
        started_at=time.time(),
    )
    app = create_app(deps)
    daemon = Daemon(
        settings=settings,
        db=db,
        config=config,
        snapshots=snapshots,
        health=health,
        metrics=metrics,
        app=app,
        bus=bus,
        catalog=catalog,
        journal=journal,
        engine=engine,
        fsops=fsops,
        streams=deps.streams,
        urls=[],
    )

    def bound(urls: list[str]) -> None:
        daemon.urls = urls
        settle_heap()  # start-up is over: keep full collections off the request path
        on_ready(daemon)

    endpoint = Endpoint(host=settings.bind, port=settings.port)
    children = [
        ChildSpec(name="database", start=partial(_database_monitor, db, health, embedded)),
        ChildSpec(name="config_watcher", start=watcher.run),
        ChildSpec(name="catalog", start=partial(catalog.run, db)),
        ChildSpec(
            name="journal",
            start=partial(
                journal.run,
                db,
                lambda: JournalPolicy.from_settings(snapshots.value.app_profile.get("events")),
            ),
        ),
        ChildSpec(
            name="settings_events", start=partial(publish_settings_changes, snapshots, publisher)
        ),
        ChildSpec(name="health_events", start=partial(publish_health_changes, health, publisher)),
        ChildSpec(name="rate_limiter", start=limiter.run),
        ChildSpec(
            name="event_streams", start=partial(close_revoked_streams, snapshots, deps.streams)
        ),
        ChildSpec(name="key_usage", start=usage.run),
        # Ready at once; the engine itself starts when setup is complete.
        ChildSpec(name="engine", start=engine.run_when_active, shutdown_timeout=30),
        ChildSpec(name="fsops", start=fsops.run, shutdown_timeout=10),
        ChildSpec(
            name="http",
            start=partial(
                serve_http,
                app,
                snapshots,
                endpoint,
                health=health,
                on_bound=bound,
                first_bind=lambda: not daemon.urls,
                before_stop=deps.streams.close_all,
            ),
        ),
    ]
    tree = Supervisor(
        "revaer",
        children,
        health=health,
        on_restart=restarted,
    )
    return tree, daemon


async def run_daemon(
    settings: DaemonSettings,
    *,
    on_ready: Callable[[Daemon], None] = lambda _daemon: None,
    tuning: EngineTuning | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until cancelled. The caller holds the data-dir lock and the asyncio loop."""
    async with open_database(settings) as opened:
        db = opened.db
        config = ConfigService(db, SecretBox.from_key_file(settings.secrets_key_file))
        # Loaded outside their actors: they survive the actors' restarts.
        catalog = await TorrentCatalog.load(db)
        journal = await EventJournal.load(db)
        tree, _daemon = build_tree(
            settings,
            config,
            await config.load(),
            catalog,
            journal,
            on_ready,
            tuning,
            opened.embedded,
        )
        await tree.run(task_status=task_status)
