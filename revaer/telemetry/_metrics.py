"""Prometheus metrics, one ``CollectorRegistry`` per app instance (never the global one).

Names follow the Prometheus conventions: a ``revaer_`` prefix, base units in the name
(``_seconds``, ``_bytes``), ``_total`` on counters. ``docs/operations.md`` lists every name
and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metrics"]

_NS = "revaer"


class _TorrentStates(Collector):
    """``revaer_active_torrents{state}``: torrents in the session per state, read at scrape."""

    def __init__(self) -> None:
        self.counts: Callable[[], Mapping[str, int]] = dict

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for state, count in sorted(self.counts().items()):
            family.add_metric([state], count)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{_NS}_active_torrents", "Torrents in the session, by state", labels=["state"]
        )


# ``*_created`` series double every counter and histogram and no dashboard reads them. The
# switch is process-wide in prometheus_client; Revaer exports only from its own registries.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Every metric Revaer exports, registered on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # revaer_process_*: resident memory, CPU seconds, open fds, start time.
        ProcessCollector(namespace=_NS, registry=r)
        self.http_requests_total = Counter(
            "http_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "code"],
            namespace=_NS,
            registry=r,
        )
        self.http_request_seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP request handling time (until the response starts)",
            ["route", "method"],
            namespace=_NS,
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.config_watch_latency_seconds = Histogram(
            "config_watch_latency_seconds",
            "Time from a settings NOTIFY to the new snapshot being published",
            namespace=_NS,
            registry=r,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
        )
        self.config_update_failures_total = Counter(
            "config_update_failures_total",
            "Failures while watching or reloading configuration",
            namespace=_NS,
            registry=r,
        )
        self.config_revision = Gauge(
            "config_revision",
            "Configuration revision currently in effect",
            namespace=_NS,
            registry=r,
        )
        self.events_emitted_total = Counter(
            "events_emitted_total",
            "Events published on the bus, by kind",
            ["kind"],
            namespace=_NS,
            registry=r,
        )
        self.sse_subscribers = Gauge(
            "sse_subscribers",
            "Event stream subscribers (internal consumers are fed directly, not counted)",
            namespace=_NS,
            registry=r,
        )
        self.event_queue_depth = Gauge(
            "event_queue_depth",
            "Events waiting in the fullest subscriber queue, at the last publish",
            namespace=_NS,
            registry=r,
        )
        self._torrent_states = _TorrentStates()
        r.register(self._torrent_states)
        self.engine_payload_bytes_total = Counter(
            "engine_payload_bytes_total",
            "Payload bytes moved by the engine, by direction (download, upload)",
            ["direction"],
            namespace=_NS,
            registry=r,
        )
        self.guardrail_violations_total = Counter(
            "guardrail_violations_total",
            "Guard-rail violations by kind",
            ["kind"],
            namespace=_NS,
            registry=r,
        )
        self.actor_restarts_total = Counter(
            "actor_restarts_total",
            "Supervised actor restarts",
            ["actor"],
            namespace=_NS,
            registry=r,
        )
        self.api_rate_limit_throttled_total = Counter(
            "api_rate_limit_throttled_total",
            "Requests refused with 429 because the key's token bucket was empty, by key",
            ["key_id"],
            namespace=_NS,
            registry=r,
        )
        self.api_auth_failures_total = Counter(
            "api_auth_failures_total",
            "Refused authentications by reason (missing, malformed, invalid, throttled, busy)",
            ["reason"],
            namespace=_NS,
            registry=r,
        )
        self.api_key_verifications_total = Counter(
            "api_key_verifications_total",
            "API key verifications by result (ok, invalid) and whether the cache answered "
            "(cached=false: argon2 ran)",
            ["result", "cached"],
            namespace=_NS,
            registry=r,
        )
        self.fsops_steps_total = Counter(
            "fsops_steps_total",
            "Pipeline stages run, by stage and outcome (ok, skipped, failed)",
            ["step", "status"],
            namespace=_NS,
            registry=r,
        )
        self.fsops_step_duration_seconds = Histogram(
            "fsops_step_duration_seconds",
            "Time a pipeline stage took",
            ["step"],
            namespace=_NS,
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
        )
        self.fsops_bytes_total = Counter(
            "fsops_bytes_total",
            "Bytes the pipeline read or wrote, by stage (extract, transfer, checksum)",
            ["step"],
            namespace=_NS,
            registry=r,
        )
        self.fsops_queue_depth = Gauge(
            "fsops_queue_depth",
            "Pipeline jobs waiting to run",
            namespace=_NS,
            registry=r,
        )
        # Both directions exist from the start, so a dashboard's rate() has a series at 0.
        self.downloaded_bytes = self.engine_payload_bytes_total.labels(direction="download")
        self.uploaded_bytes = self.engine_payload_bytes_total.labels(direction="upload")

    def count_torrents_by(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Where ``revaer_active_torrents{state}`` is read from, at each scrape."""
        self._torrent_states.counts = counts

    def render(self) -> bytes:
        """The text exposition format for ``GET /metrics``."""
        return generate_latest(self.registry)
