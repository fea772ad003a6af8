"""The pipeline actor: takes completed torrents, runs their jobs, reports health and progress.

It is the only writer of ``fs_jobs`` and of the jobs' ``.revaer.meta`` files. Jobs enter on a
``completed`` event or on request (``POST /v1/torrents/{id}/action {"type": "fsops"}``); each
is written to ``fs_jobs`` before it counts as accepted, so a restart resumes every job that was
queued or running, from its first unfinished stage. At most ``fs_policy.workers`` jobs run at
once (read live). The tools the policy needs are probed at start, before each job, every
``probe_interval`` seconds and on request; a missing one degrades ``fsops`` health with a reason
that names it, and the next probe that finds it makes the component healthy again.
"""

from __future__ import annotations

import contextlib
import shutil
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from revaer.config import ConfigSnapshot
from revaer.db import Database, DatabaseUnavailable, QueryError
from revaer.errors import Conflict, NotFound, RevaerError, ServiceUnavailable
from revaer.events import (
    Completed,
    Event,
    EventBus,
    FsopsCompleted,
    FsopsFailed,
    FsopsProgress,
    FsopsStarted,
    Publisher,
    SubscriberLagged,
    TorrentCatalog,
    TorrentFailed,
    TorrentRemoved,
    TorrentUpdated,
)
from revaer.fsops._confine import Confinement
from revaer.fsops._errors import FsopsFailed as StageFailed
from revaer.fsops._jobs import FsJobStore, JobStatus
from revaer.fsops._layout import Layout, TorrentView
from revaer.fsops._meta import META_NAME, JobMeta, read_meta, write_meta
from revaer.fsops._policy import FsPolicy
from revaer.fsops._stages import STAGE_NAMES, STAGES, Job, Skipped, remove_empty_dirs
from revaer.fsops._tools import Toolbox, probe_tools
from revaer.runtime import HealthRegistry, Watched, bound_request_id, current_request_id
from revaer.telemetry import Metrics

__all__ = ["EngineMoves", "FsPipeline", "PipelineIntake"]

_log = logger.bind(actor="fsops")
_PROGRESS_INTERVAL = 0.5  # at most two progress events a second per job
_MAX_WORKERS = 8
_RECHECK = 30.0  # seconds between looks at the catalog while a move is confirmed
_SAVE_TIMEOUT = 10.0  # one write of a job's state
_EVENT_ATTEMPTS = 3  # tries to act on one event before it is logged and dropped
_ACCEPT_TIMEOUT = 10.0  # a request waits this long for the actor (it may be restarting)


class PipelineIntake:
    """The events the pipeline acts on, taken from the ``Publisher`` as a projection.

    ``apply`` runs synchronously for every event (it never blocks and never misses one, unlike
    a bus subscription that falls behind when thousands of torrents are restored at once); it
    keeps only ``completed`` and ``torrent_removed``, one per torrent's completion or removal.
    """

    def __init__(self) -> None:
        self._pending: deque[Event] = deque()
        self._arrived = trio.Event()

    def apply(self, event: Event) -> None:
        """Keep ``event`` if the pipeline acts on it."""
        if isinstance(event.payload, (Completed, TorrentRemoved)):
            self._pending.append(event)
            self._arrived.set()

    async def next(self) -> Event:
        """The oldest event not yet ``done``."""
        while not self._pending:
            self._arrived = trio.Event()
            await self._arrived.wait()
        return self._pending[0]

    def done(self) -> None:
        """The event ``next`` returned has been acted on."""
        self._pending.popleft()


class _Mover:
    """Moves a torrent through the engine and waits for its confirmation.

    The engine confirms with ``torrent_updated`` (new location) or a ``failure`` from storage.
    A move of much data takes long, and a session restart in the middle would lose the
    confirming event: every ``_RECHECK`` seconds the catalog's location is looked at too.
    """

    def __init__(self, bus: EventBus, catalog: TorrentCatalog, move: EngineMoves) -> None:
        self._bus = bus
        self._catalog = catalog
        self._move = move

    async def move(self, torrent_id: str, download_dir: Path) -> None:
        events = self._bus.subscribe()
        try:
            await self._move(torrent_id, str(download_dir))
            while True:
                with trio.move_on_after(_RECHECK):
                    try:
                        async for event in events:
                            if self._confirmed(event.payload, torrent_id, download_dir):
                                return
                    except SubscriberLagged:
                        events.close()
                        events = self._bus.subscribe()
                record = self._catalog.get(torrent_id)
                if record is None:
                    raise StageFailed("the torrent was removed while it was being moved")
                if Path(record.save_path) == download_dir:
                    return
        finally:
            events.close()

    @staticmethod
    def _confirmed(payload: object, torrent_id: str, download_dir: Path) -> bool:
        if getattr(payload, "torrent_id", None) != torrent_id:
            return False
        if isinstance(payload, TorrentUpdated):
            return Path(payload.download_dir) == download_dir
        if isinstance(payload, TorrentFailed) and payload.source == "storage":
            raise StageFailed(
                f"the engine could not move the torrent to {download_dir}: {payload.message}",
                path=str(download_dir),
            )
        if isinstance(payload, TorrentRemoved):
            raise StageFailed("the torrent was removed while it was being moved")
        return False


class EngineMoves:
    """The engine's move command, as the pipeline needs it (a seam for tests).

    A job resumed at start-up may get here before the engine has started: the move waits for
    it (each health change is a chance it did) up to ``wait`` seconds, then tries anyway and
    fails the job with the engine's 503 if it is still down.
    """

    def __init__(
        self,
        move: Callable[[str, str], Awaitable[None]],
        *,
        running: Callable[[], bool] = lambda: True,
        changes: Watched[Any] | None = None,
        wait: float = 120.0,
    ) -> None:
        self._move = move
        self._running = running
        self._changes = changes
        self._wait = wait

    async def __call__(self, torrent_id: str, download_dir: str) -> None:
        if self._changes is not None:
            with trio.move_on_after(self._wait):
                while not self._running():
                    await self._changes.wait_newer(self._changes.version)
        await self._move(torrent_id, download_dir)


@dataclass(frozen=True, slots=True)
class _Request:
    torrent_id: str
    request_id: str | None
    fresh: bool
    """Run every stage again (an operator's request) instead of resuming."""


class FsPipeline:
    """The post-download pipeline under the supervisor."""

    def __init__(
        self,
        db: Database,
        snapshots: Watched[ConfigSnapshot],
        publisher: Publisher,
        catalog: TorrentCatalog,
        events: PipelineIntake,
        move: EngineMoves,
        *,
        health: HealthRegistry,
        metrics: Metrics,
        probe_interval: float = 30.0,
    ) -> None:
        self._store = FsJobStore(db)
        self._snapshots = snapshots
        self._publisher = publisher
        self._catalog = catalog
        self._events = events
        self._mover = _Mover(publisher.bus, catalog, move)
        self._health = health
        self._metrics = metrics
        self._probe_interval = probe_interval
        self._jobs: dict[str, JobStatus] = {}
        self._loaded = False
        self._adopted = False
        self._queue: OrderedDict[str, _Request] = OrderedDict()
        self._queued = trio.Event()
        self._running: dict[str, tuple[trio.CancelScope, trio.Event]] = {}
        self._limiter = trio.CapacityLimiter(1)
        self._probe_now = trio.Event()
        self._intake_send, self._intake = trio.open_memory_channel[tuple[_Request, trio.Event]](64)

    # -- what the API uses ---------------------------------------------------------------------

    def status(self, torrent_id: str) -> JobStatus | None:
        """The job of ``torrent_id``, if it has one."""
        return self._jobs.get(torrent_id)

    async def request(self, torrent_id: str) -> JobStatus:
        """Queue a fresh run of every stage for ``torrent_id``; returns once it is persisted."""
        record = self._catalog.get(torrent_id)
        if record is None:
            raise NotFound(f"no torrent {torrent_id}")
        if record.completed_at is None:
            raise Conflict(f"torrent {torrent_id} has not completed yet: nothing to process")
        if not self._policy().enabled:
            raise Conflict("the pipeline is off (fs_policy.enabled is false)")
        if torrent_id in self._running:
            raise Conflict(f"the pipeline is already running for torrent {torrent_id}")
        self._probe_now.set()
        done = trio.Event()
        try:
            self._intake_send.send_nowait(
                (_Request(torrent_id, current_request_id(), fresh=True), done)
            )
        except trio.WouldBlock:
            raise ServiceUnavailable("the pipeline is busy taking requests; retry") from None
        with trio.move_on_after(_ACCEPT_TIMEOUT) as waited:
            await done.wait()
        if waited.cancelled_caught:
            raise ServiceUnavailable("the pipeline is not taking requests now; retry shortly")
        status = self._jobs.get(torrent_id)
        assert status is not None
        return status

    # -- the actor -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Resume persisted jobs, then take new ones until cancelled."""
        if not self._loaded:
            self._jobs = await self._store.load()
            self._loaded = True
        await self._probe()
        for status in sorted(self._jobs.values(), key=lambda s: s.queued_at):
            if status.state in ("queued", "running"):
                self._enqueue(_Request(status.torrent_id, status.request_id, fresh=False))
        await self._adopt_missed()
        task_status.started()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._follow)
            nursery.start_soon(self._take_requests)
            nursery.start_soon(self._probe_loop)
            await self._dispatch(nursery)

    async def _adopt_missed(self) -> None:
        # A torrent that completed while the daemon was going down (its `completed` event
        # published, its job not yet written) has a completion time but no job; a job whose
        # torrent was removed just before a crash (the removal never reached this actor) has
        # no torrent, and would claim its library folder for ever.
        for record in self._catalog.all():
            if record.completed_at is not None and record.torrent_id not in self._jobs:
                await self._accept(_Request(record.torrent_id, None, fresh=False))
        if not self._adopted:
            self._adopted = True
            for torrent_id in [t for t in self._jobs if self._catalog.get(t) is None]:
                await self._forget(torrent_id)

    async def _follow(self) -> None:
        while True:
            event = await self._events.next()
            for attempt in range(1, _EVENT_ATTEMPTS + 1):
                try:
                    await self._take(event)
                    break
                except Exception as exc:  # noqa: BLE001 -- one event must not stop the actor
                    _log.opt(exception=exc).error(
                        "handling {} (attempt {} of {}) failed",
                        event.kind,
                        attempt,
                        _EVENT_ATTEMPTS,
                    )
                    await trio.sleep(attempt)
            self._events.done()  # taken, or given up on after its attempts

    async def _take(self, event: Event) -> None:
        payload = event.payload
        if isinstance(payload, Completed):
            request = _Request(payload.torrent_id, event.request_id, fresh=False)
            with bound_request_id(event.request_id):
                await self._accept(request)
        elif isinstance(payload, TorrentRemoved):
            await self._forget(payload.torrent_id, deleted_data=payload.deleted_data)

    async def _take_requests(self) -> None:
        async for request, done in self._intake:
            try:
                await self._accept(request)
            finally:
                done.set()

    async def _accept(self, request: _Request) -> None:
        old = self._jobs.get(request.torrent_id)
        if old is not None and not request.fresh and old.state != "failed":
            # A `completed` announced again (after a recheck), or seen again after a restart:
            # a finished job reruns nothing, a queued or running one is already on its way.
            if old.state in ("completed", "skipped") or request.torrent_id in self._queue:
                return
            if request.torrent_id in self._running:
                return
        if not self._policy().enabled and not request.fresh:
            status = JobStatus(torrent_id=request.torrent_id, state="skipped")
            status = status.with_(error="the pipeline is off (fs_policy.enabled is false)")
            await self._save(status)
            return
        status = JobStatus(
            torrent_id=request.torrent_id,
            state="queued",
            stages={} if request.fresh or old is None else old.stages,
            attempts=old.attempts if old is not None else 0,
            meta_path=old.meta_path if old is not None and not request.fresh else None,
            # The library folder stays this torrent's while it waits (a rerun finds it there).
            library_path=old.library_path if old is not None else None,
            request_id=request.request_id,
        )
        await self._save(status)
        self._enqueue(request)

    def _enqueue(self, request: _Request) -> None:
        self._queue[request.torrent_id] = request
        self._metrics.fsops_queue_depth.set(len(self._queue))
        self._queued.set()

    async def _forget(self, torrent_id: str, *, deleted_data: bool = False) -> None:
        self._queue.pop(torrent_id, None)
        self._metrics.fsops_queue_depth.set(len(self._queue))
        running = self._running.get(torrent_id)
        if running is not None:
            scope, finished = running
            scope.cancel()
            await finished.wait()  # its thread stops at the next file or member
        status = self._jobs.pop(torrent_id, None)
        if status is None:
            return
        try:
            await self._store.delete(torrent_id)
        except (DatabaseUnavailable, QueryError) as exc:
            # The row is dropped at the next start (its torrent is gone from the catalog).
            _log.warning("{}: job of a removed torrent not deleted: {}", torrent_id, exc)
        if deleted_data and status.meta_path and status.state != "completed":
            # The torrent's data is gone: so go the job's own files beside it (a finished
            # job's record is in the library, and stays there).
            policy = self._policy()
            await trio.to_thread.run_sync(
                lambda: _remove_leftovers(Path(status.meta_path or ""), policy.confinement())
            )

    async def _dispatch(self, nursery: trio.Nursery) -> None:
        while True:
            while not self._queue:
                self._queued = trio.Event()
                await self._queued.wait()
            self._limiter.total_tokens = max(1, min(_MAX_WORKERS, self._policy().workers))
            slot = object()  # the job's task, not this one, gives the token back
            await self._limiter.acquire_on_behalf_of(slot)
            if not self._queue:
                self._limiter.release_on_behalf_of(slot)
                continue
            _, request = self._queue.popitem(last=False)
            self._metrics.fsops_queue_depth.set(len(self._queue))
            # Marked running before its task starts: no request gets in between.
            running = self._running[request.torrent_id] = (trio.CancelScope(), trio.Event())
            nursery.start_soon(self._run_released, request, slot, running)

    async def _run_released(
        self, request: _Request, slot: object, running: tuple[trio.CancelScope, trio.Event]
    ) -> None:
        scope, finished = running
        try:
            with scope, bound_request_id(request.request_id):
                await self._run_job(request)
        except Exception as exc:  # noqa: BLE001 -- one job's bug must not stop the others
            _log.opt(exception=exc).error("{}: pipeline job crashed", request.torrent_id)
            status = self._jobs.get(request.torrent_id)
            cause: BaseException = exc
            while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
                cause = cause.exceptions[0]  # the nursery around a job wraps what it raised
            if status is not None:
                reason = f"internal error: {type(cause).__name__}: {cause}"
                with contextlib.suppress(Exception):
                    await self._failed(status, status.stage or "validate", reason, None, None)
        finally:
            if self._running.get(request.torrent_id) is running:
                del self._running[request.torrent_id]
            self._limiter.release_on_behalf_of(slot)
            finished.set()

    # -- one job -------------------------------------------------------------------------------

    async def _run_job(self, request: _Request) -> None:
        torrent_id = request.torrent_id
        status = self._jobs.get(torrent_id)
        record = self._catalog.get(torrent_id)
        if status is None or record is None:
            # Not (yet) in the catalog: `torrent_removed` is what forgets a job, never this.
            return
        policy = self._policy()
        if not policy.enabled and not request.fresh:
            off = "the pipeline is off (fs_policy.enabled is false)"
            await self._save(status.with_(state="skipped", error=off))
            return
        toolbox = await self._probe()
        view = TorrentView(
            torrent_id=torrent_id,
            name=record.name,
            save_path=Path(record.save_path),
            files=tuple(f.path for f in record.files if f.priority > 0),
            tags=record.tags,
        )
        layout = Layout.of(view)
        meta_path = Path(status.meta_path) if status.meta_path else layout.meta_path
        if not await trio.to_thread.run_sync(meta_path.exists):
            meta_path = layout.meta_path  # e.g. a crash between moving the record and saying so
        meta = (
            JobMeta(torrent_id=torrent_id)
            if request.fresh
            else await trio.to_thread.run_sync(read_meta, meta_path, torrent_id)
        )
        resumed_from = next((s for s in STAGE_NAMES if not meta.done(s)), None)
        status = status.with_(
            state="running",
            attempts=status.attempts + 1,
            started_at=datetime.now(UTC),
            finished_at=None,
            error=None,
            error_path=None,
            error_member=None,
            meta_path=str(meta_path),
            stages=dict(meta.stages),
            library_path=meta.dest or status.library_path,
        )
        await self._save(status)
        self._emit(
            FsopsStarted(
                torrent_id=torrent_id,
                attempt=status.attempts,
                resumed_from=resumed_from if meta.stages else None,
            )
        )
        _log.info("{}: pipeline started (attempt {})", torrent_id, status.attempts)

        def warn(message: str) -> None:
            _log.warning("{}: {}", torrent_id, message)
            self._emit(
                FsopsProgress(
                    torrent_id=torrent_id,
                    stage=job.stage,
                    bytes_done=job.bytes_done,
                    bytes_total=job.bytes_total,
                    warning=message,
                )
            )

        async def checkpoint() -> None:
            await trio.to_thread.run_sync(write_meta, meta_path, meta)

        job = Job(
            view=view,
            layout=layout,
            policy=policy,
            toolbox=toolbox,
            engine=self._mover,
            meta=meta,
            warn=warn,
            checkpoint=checkpoint,
            taken=lambda dest: self._taken(dest, torrent_id),
            confinement=await trio.to_thread.run_sync(policy.confinement),
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._report_progress, job)
            try:
                status = await self._stages(job, status, meta_path)
            finally:
                nursery.cancel_scope.cancel()

    async def _stages(self, job: Job, status: JobStatus, meta_path: Path) -> JobStatus:
        torrent_id = job.view.torrent_id
        meta = job.meta
        for name in STAGE_NAMES:
            if meta.done(name):
                continue
            job.stage, job.bytes_done, job.bytes_total = name, 0, 0
            status = status.with_(stage=name)
            await self._save(status)
            started = trio.current_time()
            try:
                result = await STAGES[name](job)
                if meta.dest is not None and status.library_path != meta.dest:
                    # Claimed now, with no checkpoint since validate chose it.
                    status = status.with_(library_path=meta.dest)
                    self._jobs[torrent_id] = status
                if isinstance(result, Skipped):
                    meta.finish(name, "skipped", reason=result.reason)
                else:
                    meta.finish(name, "done", **result)
                await trio.to_thread.run_sync(write_meta, meta_path, meta)
            except StageFailed as exc:
                return await self._failed(status, name, exc.detail, exc.member, exc.path)
            except OSError as exc:
                return await self._failed(status, name, f"{exc}", None, exc.filename)
            except RevaerError as exc:
                return await self._failed(status, name, exc.detail, None, None)
            finally:
                self._metrics.fsops_step_duration_seconds.labels(step=name).observe(
                    trio.current_time() - started
                )
                if job.bytes_done:
                    self._metrics.fsops_bytes_total.labels(step=name).inc(job.bytes_done)
            outcome = "skipped" if isinstance(result, Skipped) else "ok"
            self._metrics.fsops_steps_total.labels(step=name, status=outcome).inc()
            # The folder is claimed from validate on: another job never shares it.
            status = status.with_(stages=dict(meta.stages), library_path=meta.dest)
        old_meta = meta_path
        meta_path = await trio.to_thread.run_sync(_settle_meta, meta_path, job)
        if meta_path != old_meta:
            # Said before the old record goes: a crash in between resumes from the new one.
            await self._save(status.with_(meta_path=str(meta_path)))
            conf = job.confinement
            await trio.to_thread.run_sync(_remove_leftovers, old_meta, conf)
        status = status.with_(
            state="completed",
            stage=None,
            stages=dict(meta.stages),
            library_path=meta.dest,
            manifest=meta.manifest,
            meta_path=str(meta_path),
            finished_at=datetime.now(UTC),
        )
        await self._save(status)
        self._emit(
            FsopsCompleted(
                torrent_id=torrent_id,
                library_path=meta.dest or "",
                manifest=meta.manifest,
                files=len(meta.placed),
            )
        )
        _log.info("{}: pipeline completed into {}", torrent_id, meta.dest)
        return status

    async def _failed(
        self, status: JobStatus, stage: str, reason: str, member: str | None, path: str | None
    ) -> JobStatus:
        self._metrics.fsops_steps_total.labels(step=stage, status="failed").inc()
        status = status.with_(
            state="failed",
            stage=stage,
            error=reason,
            error_member=member,
            error_path=path,
            finished_at=datetime.now(UTC),
        )
        await self._save(status)
        self._emit(
            FsopsFailed(
                torrent_id=status.torrent_id, stage=stage, reason=reason, member=member, path=path
            )
        )
        _log.warning("{}: pipeline failed in {}: {}", status.torrent_id, stage, reason)
        await self._probe()  # a failure may be a tool that went away
        return status

    async def _report_progress(self, job: Job) -> None:
        last: tuple[str, int, int] | None = None
        while True:
            await trio.sleep(_PROGRESS_INTERVAL)
            now = (job.stage, job.bytes_done, job.bytes_total)
            if now != last and job.bytes_total:
                last = now
                self._emit(
                    FsopsProgress(
                        torrent_id=job.view.torrent_id,
                        stage=job.stage,
                        bytes_done=min(job.bytes_done, job.bytes_total),
                        bytes_total=job.bytes_total,
                    )
                )

    def _taken(self, dest: Path, torrent_id: str) -> bool:
        """Whether library folder ``dest`` belongs to another torrent's job.

        Claims come from ``fs_jobs`` (set from ``validate`` on), so they hold across restarts
        and while jobs run side by side; a removed torrent's folder is free again (a new
        download of the same release finds its files in place instead of making a copy).
        """
        text = str(dest)
        return any(s.library_path == text and t != torrent_id for t, s in self._jobs.items())

    # -- tools and health ----------------------------------------------------------------------

    async def _probe_loop(self) -> None:
        while True:
            with trio.move_on_after(self._probe_interval):
                await self._probe_now.wait()
            self._probe_now = trio.Event()
            await self._probe()

    def probe(self) -> None:
        """Probe the tools again soon (an operator installed one)."""
        self._probe_now.set()

    async def _probe(self) -> Toolbox:
        policy = self._policy()
        toolbox = await trio.to_thread.run_sync(probe_tools)  # stats along PATH: off the loop
        reason = toolbox.reason(policy.needed_tools()) if policy.enabled else None
        if reason is None:
            self._health.ok("fsops", tools=dict(toolbox.found))
        else:
            self._health.degraded("fsops", reason)
        return toolbox

    # -- plumbing --------------------------------------------------------------------------------

    def _policy(self) -> FsPolicy:
        snapshot = self._snapshots.value
        return FsPolicy.of(snapshot.fs_policy, snapshot.engine_profile)

    async def _save(self, status: JobStatus) -> None:
        # Memory follows the database: what the API shows has been written. While PostgreSQL
        # is away the job waits and retries (it must not crash the actor: the restart budget
        # would take the daemon down with a database outage); shutdown still interrupts it.
        delay = 1.0
        while True:
            try:
                with trio.CancelScope(shield=True), trio.fail_after(_SAVE_TIMEOUT):
                    await self._store.save(status)
                break
            except (DatabaseUnavailable, trio.TooSlowError) as exc:
                _log.warning(
                    "{}: job state not saved ({}); retrying in {:.0f} s",
                    status.torrent_id,
                    getattr(exc, "detail", "no answer in time"),
                    delay,
                )
                await trio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except QueryError as exc:
                # Refused for good (not an outage): the job goes on from memory.
                _log.error("{}: job state refused by PostgreSQL: {}", status.torrent_id, exc)
                break
        self._jobs[status.torrent_id] = status

    def _emit(self, payload: Any) -> None:
        self._publisher.publish(payload, request_id=current_request_id())


def _settle_meta(meta_path: Path, job: Job) -> Path:
    """A finished job's record joins its payload in the library folder.

    Nothing of the pipeline's stays in the download then: removing the torrent with its data
    leaves no folder behind, and a moved torrent's old folder goes.
    """
    target = job.dest / META_NAME
    if meta_path != target:
        job.dest.mkdir(parents=True, exist_ok=True)  # nothing placed: the folder may not exist
        write_meta(target, job.meta)
    return target


def _remove_leftovers(meta_path: Path, confinement: Confinement) -> None:
    """Delete a job's record and staging area beside a payload, and its folder if now empty."""
    if not confinement.contains(meta_path.parent):
        return  # never delete outside the allowed roots, whatever fs_jobs says
    try:
        _remove_inside(meta_path)
    except OSError as exc:
        _log.warning("could not remove the pipeline's files beside {}: {}", meta_path.parent, exc)


def _remove_inside(meta_path: Path) -> None:
    name = meta_path.name
    if name == META_NAME:  # a multi-file torrent's folder
        staging, folder = meta_path.parent / ".revaer.staging", meta_path.parent
    else:  # `.<file>.revaer.meta` beside a single file
        staging, folder = (
            meta_path.with_name(name.removesuffix(META_NAME) + ".revaer.staging"),
            None,
        )
    shutil.rmtree(staging, ignore_errors=True)
    meta_path.unlink(missing_ok=True)
    if folder is not None:
        # Folders the torrent's files left empty (libtorrent removes only what it made).
        remove_empty_dirs(folder, keep_top=False)
