"""Unauthenticated system routes: health probes, metrics, the configuration snapshot."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

import trio
from quart import Blueprint, Response, current_app

from revaer.api import _examples as ex
from revaer.api._deps import ApiDeps
from revaer.api._openapi import documented
from revaer.api._problem import json_response
from revaer.api.models import HealthDoc, HealthFullDoc, PublicSnapshotDoc
from revaer.errors import RevaerError
from revaer.runtime import HealthState

__all__ = ["system_blueprint"]

_PING_TIMEOUT = 1.0


def system_blueprint(deps: ApiDeps) -> Blueprint:
    """``/health``, ``/health/full``, ``/metrics``, ``/.well-known/revaer.json``."""
    bp = Blueprint("system", __name__)

    def _database_ok() -> bool:
        db = deps.health.get("database")
        return db is None or db.state is HealthState.OK

    @bp.get("/health")
    @documented(
        responses={200: HealthDoc, 503: HealthDoc}, auth="none", response_examples={200: ex.HEALTH}
    )
    async def health() -> Response:
        """Readiness: cheap, no I/O; 503 while the database is unreachable."""
        # Readiness: cheap, no I/O. 503 when the database is down so orchestrators notice.
        snap = deps.snapshots.value
        degraded = deps.health.snapshot().degraded
        database_ok = _database_ok()
        body = {
            "status": "ok" if not degraded else "degraded",
            "mode": snap.mode,
            "revision": int(snap.revision),
            "database": "ok" if database_ok else "unavailable",
            "degraded": list(degraded),
        }
        return json_response(body, 200 if database_ok else 503)

    @bp.get("/health/full")
    @documented(
        responses={200: HealthFullDoc}, auth="none", response_examples={200: ex.HEALTH_FULL}
    )
    async def health_full() -> Response:
        """Everything the daemon knows about its health: components, engine, journal, streams."""
        snap = deps.snapshots.value
        health = deps.health.snapshot()
        database: dict[str, Any] = {"status": "ok"}
        with trio.move_on_after(_PING_TIMEOUT) as scope:
            try:
                database["latency_ms"] = round(await deps.config.db.ping(), 3)
            except RevaerError as exc:
                database = {"status": "unavailable", "error": exc.detail}
        if scope.cancelled_caught:
            database = {"status": "unavailable", "error": f"no answer in {_PING_TIMEOUT}s"}
        components = {c.name: c.to_json() for c in health.components}
        watcher = components.get("config_watcher", {})
        body = {
            "status": "ok" if not health.degraded and database["status"] == "ok" else "degraded",
            "mode": snap.mode,
            "revision": int(snap.revision),
            "build_sha": deps.build_sha,
            "version": deps.version,
            "uptime_seconds": round(time.time() - deps.started_at, 3),
            "degraded": list(health.degraded),
            "database": database,
            "config_watcher": watcher,
            "engine": _engine(deps),
            "journal": asdict(deps.journal.statistics()),
            "sse": _streams(deps),
            "components": components,
            "actor_restarts": {c.name: c.restarts for c in health.components},
            "metrics": _counters(deps),
        }
        return json_response(body)

    @bp.get("/metrics")
    @documented(responses={200: None}, auth="loopback_or_api_key", role="read", text=True)
    async def metrics() -> Response:
        """Prometheus metrics (docs/operations.md); they name key ids: off-host needs a key."""
        return Response(
            deps.metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @bp.get("/.well-known/revaer.json")
    @documented(
        responses={200: PublicSnapshotDoc},
        auth="none",
        response_examples={200: ex.PUBLIC_SNAPSHOT},
    )
    async def well_known() -> Response:
        """The configuration snapshot and its revision (no secrets, no API keys)."""
        return json_response(deps.snapshots.value.to_json(with_keys=False))

    document: list[bytes] = []

    @bp.get("/docs/openapi.json")
    @documented(responses={200: None}, auth="none")
    async def openapi() -> Response:
        """This API's OpenAPI 3.1 document (also checked in as docs/api/openapi.json)."""
        if not document:
            schema = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
            document.append(json.dumps(schema, indent=2, sort_keys=False).encode())
        return Response(document[0], content_type="application/json")

    return bp


def _engine(deps: ApiDeps) -> dict[str, Any]:
    stats = deps.engine.statistics()
    return {
        "running": stats.running,
        "torrents": stats.torrents,
        "by_state": stats.by_state,
        "command_queue": stats.queued,
        "catalog": asdict(deps.catalog.statistics()),
    }


def _streams(deps: ApiDeps) -> dict[str, Any]:
    bus = deps.bus.statistics()
    return {
        "subscribers": bus.subscribers,
        "open_streams": deps.streams.open_streams,
        "dropped_subscribers": bus.dropped_subscribers,
        "last_event_id": bus.last_id,
    }


def _counters(deps: ApiDeps) -> dict[str, float]:
    wanted = {
        "revaer_config_update_failures_total",
        "revaer_actor_restarts_total",
        "revaer_config_watch_latency_seconds_count",
        "revaer_config_watch_latency_seconds_sum",
    }
    totals: dict[str, float] = {}
    for family in deps.metrics.registry.collect():
        for sample in family.samples:
            if sample.name in wanted:
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals
