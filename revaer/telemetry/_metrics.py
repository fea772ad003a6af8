"""Prometheus metrics, one ``CollectorRegistry`` per app instance (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    """Every metric Revaer exports, registered on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests_total = Counter(
            "http_requests_total",
            "HTTP requests by route and status",
            ["route", "code"],
            registry=r,
        )
        self.http_request_seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.config_watch_latency_ms = Histogram(
            "config_watch_latency_ms",
            "Time from a settings NOTIFY to the new snapshot being published (ms)",
            registry=r,
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000),
        )
        self.config_update_failures_total = Counter(
            "config_update_failures_total",
            "Failures while watching or reloading configuration",
            registry=r,
        )
        self.config_revision = Gauge(
            "config_revision", "Configuration revision currently in effect", registry=r
        )
        self.events_emitted_total = Counter(
            "events_emitted_total", "Events published on the bus", ["type"], registry=r
        )
        self.sse_subscribers = Gauge("sse_subscribers", "Event bus subscribers", registry=r)
        self.event_queue_depth = Gauge(
            "event_queue_depth", "Deepest subscriber queue at the last publish", registry=r
        )
        self.active_torrents = Gauge(
            "active_torrents",
            "Torrents checking, fetching metadata, downloading or seeding",
            registry=r,
        )
        self.engine_bytes_in = Counter(
            "engine_bytes_in", "Payload bytes downloaded by the engine", registry=r
        )
        self.engine_bytes_out = Counter(
            "engine_bytes_out", "Payload bytes uploaded by the engine", registry=r
        )
        self.guardrail_violations_total = Counter(
            "guardrail_violations_total", "Guard-rail violations by kind", ["kind"], registry=r
        )
        self.actor_restarts_total = Counter(
            "actor_restarts_total", "Supervised actor restarts", ["actor"], registry=r
        )

    def render(self) -> bytes:
        """The text exposition format for ``GET /metrics``."""
        return generate_latest(self.registry)
