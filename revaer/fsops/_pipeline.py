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

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from revaer.config import ConfigSnapshot
from revaer.db import Database
from revaer.errors import Conflict, NotFound, RevaerError, ServiceUnavailable
from revaer.events import (
    Completed,
    EventBus,
    FsopsCompleted,
    FsopsFailed,
    FsopsProgress,
    FsopsStarted,
    Publisher,
    SubscriberLagged,
    Subscription,
    TorrentCatalog,
    TorrentFailed,
    TorrentRemoved,
    TorrentUpdated,
)
from revaer.fsops._errors import FsopsFailed as StageFailed
from revaer.fsops._jobs import FsJobStore, JobStatus
from revaer.fsops._layout import Layout, TorrentView
from revaer.fsops._meta import META_NAME, JobMeta, read_meta, write_meta
from revaer.fsops._policy import FsPolicy
from revaer.fsops._stages import STAGE_NAMES, STAGES, Job, Skipped
from revaer.fsops._tools import Toolbox, probe_tools
from revaer.runtime import HealthRegistry, Watched, bound_request_id, current_request_id
from revaer.telemetry import Metrics

__all__ = ["EngineMoves", "FsPipeline"]

_log = logger.bind(actor="fsops")
_PROGRESS_INTERVAL = 0.5  # at most two progress events a second per job
_MAX_WORKERS = 8
_QUEUE = 65_536  # events this actor may fall behind by (it only looks at two kinds)
_ACCEPT_TIMEOUT = 10.0  # a request waits this long for the actor (it may be restarting)


class _Mover:
    """Moves a torrent through the engine and waits for its confirmation on the bus."""

    def __init__(self, bus: EventBus, move: EngineMoves) -> None:
        self._bus = bus
        self._move = move

    async def move(self, torrent_id: str, download_dir: Path) -> None:
        with self._bus.subscribe() as events:
            await self._move(torrent_id, str(download_dir))
            async for event in events:
                p = event.payload
                if isinstance(p, TorrentUpdated) and p.torrent_id == torrent_id:
                    if Path(p.download_dir) == download_dir:
                        return
                elif isinstance(p, TorrentFailed) and p.torrent_id == torrent_id:
                    if p.source == "storage":
                        raise StageFailed(
                            f"the engine could not move the torrent to {download_dir}: {p.message}",
                            path=str(download_dir),
                        )
                elif isinstance(p, TorrentRemoved) and p.torrent_id == torrent_id:
                    raise StageFailed("the torrent was removed while it was being moved")


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
        self._mover = _Mover(publisher.bus, move)
        self._health = health
        self._metrics = metrics
        self._probe_interval = probe_interval
        self._jobs: dict[str, JobStatus] = {}
        self._loaded = False
        self._queue: OrderedDict[str, _Request] = OrderedDict()
        self._queued = trio.Event()
        self._running: dict[str, trio.CancelScope] = {}
        self._limiter = trio.CapacityLimiter(1)
        self._probe_now = trio.Event()
        self._toolbox: Toolbox | None = None
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
        with self._publisher.bus.subscribe(queue_size=_QUEUE) as events:
            if not self._loaded:
                self._jobs = await self._store.load()
                self._loaded = True
            self._probe()
            for status in sorted(self._jobs.values(), key=lambda s: s.queued_at):
                if status.state in ("queued", "running"):
                    self._enqueue(_Request(status.torrent_id, status.request_id, fresh=False))
            await self._adopt_missed()
            task_status.started()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow, events)
                nursery.start_soon(self._take_requests)
                nursery.start_soon(self._probe_loop)
                await self._dispatch(nursery)

    async def _adopt_missed(self) -> None:
        # A torrent that completed while the daemon was going down (its `completed` event
        # published, its job not yet written) has a completion time but no job.
        for record in self._catalog.all():
            if record.completed_at is not None and record.torrent_id not in self._jobs:
                await self._accept(_Request(record.torrent_id, None, fresh=False))

    async def _follow(self, events: Subscription) -> None:
        while True:
            try:
                async for event in events:
                    payload = event.payload
                    if isinstance(payload, Completed):
                        request = _Request(payload.torrent_id, event.request_id, fresh=False)
                        with bound_request_id(event.request_id):
                            await self._accept(request)
                    elif isinstance(payload, TorrentRemoved):
                        await self._forget(payload.torrent_id)
            except SubscriberLagged:
                # A burst (thousands of torrents restored at once) outran this queue: what
                # was missed is found again in the catalog, which never misses an event.
                _log.warning("fell behind the event bus; catching up from the catalog")
                events.close()
                events = self._publisher.bus.subscribe(queue_size=_QUEUE)
                await self._adopt_missed()
            else:
                return  # the bus closed: the daemon is stopping

    async def _take_requests(self) -> None:
        async for request, done in self._intake:
            try:
                await self._accept(request)
            finally:
                done.set()

    async def _accept(self, request: _Request) -> None:
        policy = self._policy()
        if not policy.enabled and not request.fresh:
            status = JobStatus(torrent_id=request.torrent_id, state="skipped")
            status = status.with_(error="the pipeline is off (fs_policy.enabled is false)")
            await self._save(status)
            return
        old = self._jobs.get(request.torrent_id)
        if old is not None and not request.fresh and old.state in ("completed", "skipped"):
            return  # a `completed` announced again (e.g. after a recheck) reruns nothing
        status = JobStatus(
            torrent_id=request.torrent_id,
            state="queued",
            stages={} if request.fresh or old is None else old.stages,
            attempts=old.attempts if old is not None else 0,
            meta_path=old.meta_path if old is not None and not request.fresh else None,
            request_id=request.request_id,
        )
        await self._save(status)
        self._enqueue(request)

    def _enqueue(self, request: _Request) -> None:
        self._queue[request.torrent_id] = request
        self._metrics.fsops_queue_depth.set(len(self._queue))
        self._queued.set()

    async def _forget(self, torrent_id: str) -> None:
        self._queue.pop(torrent_id, None)
        self._metrics.fsops_queue_depth.set(len(self._queue))
        scope = self._running.get(torrent_id)
        if scope is not None:
            scope.cancel()
        if self._jobs.pop(torrent_id, None) is not None:
            await self._store.delete(torrent_id)

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
            nursery.start_soon(self._run_released, request, slot)

    async def _run_released(self, request: _Request, slot: object) -> None:
        try:
            with trio.CancelScope() as scope:
                self._running[request.torrent_id] = scope
                with bound_request_id(request.request_id):
                    await self._run_job(request)
        finally:
            self._running.pop(request.torrent_id, None)
            self._limiter.release_on_behalf_of(slot)

    # -- one job -------------------------------------------------------------------------------

    async def _run_job(self, request: _Request) -> None:
        torrent_id = request.torrent_id
        status = self._jobs.get(torrent_id)
        record = self._catalog.get(torrent_id)
        if status is None or record is None:
            # Not (yet) in the catalog: `torrent_removed` is what forgets a job, never this.
            return
        policy = self._policy()
        toolbox = self._probe()
        view = TorrentView(
            torrent_id=torrent_id,
            name=record.name,
            save_path=Path(record.save_path),
            files=tuple(f.path for f in record.files if f.priority > 0),
            tags=record.tags,
        )
        layout = Layout.of(view)
        meta_path = Path(status.meta_path) if status.meta_path else layout.meta_path
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
            status = status.with_(stages=dict(meta.stages))
        if meta.mode == "move":
            meta_path = await trio.to_thread.run_sync(_settle_meta, meta_path, job)
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
        self._probe()  # a failure may be a tool that went away
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

    # -- tools and health ----------------------------------------------------------------------

    async def _probe_loop(self) -> None:
        while True:
            with trio.move_on_after(self._probe_interval):
                await self._probe_now.wait()
            self._probe_now = trio.Event()
            self._probe()

    def probe(self) -> None:
        """Probe the tools again soon (an operator installed one)."""
        self._probe_now.set()

    def _probe(self) -> Toolbox:
        policy = self._policy()
        toolbox = probe_tools()
        self._toolbox = toolbox
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
        # Memory follows the database: what the API shows has been written.
        with trio.CancelScope(shield=True):
            await self._store.save(status)
        self._jobs[status.torrent_id] = status

    def _emit(self, payload: Any) -> None:
        self._publisher.publish(payload, request_id=current_request_id())


def _settle_meta(meta_path: Path, job: Job) -> Path:
    """After a move, the record joins the payload in the library; the old folder goes if empty."""
    target = job.dest / META_NAME if job.layout.multi else job.dest / f".{job.view.name}{META_NAME}"
    if meta_path == target:
        return meta_path
    write_meta(target, job.meta)
    meta_path.unlink(missing_ok=True)
    try:
        if job.layout.multi:
            meta_path.parent.rmdir()
    except OSError:
        pass  # something else is still there: leave it
    return target
