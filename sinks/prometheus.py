"""Prometheus metrics: counters fed by the processing loop, drift statistics read at scrape time.

Every metric carries the label `endpoint`; the others are bounded by construction: `feature`
(names from the baseline), `detector` (the registered sequential detectors of
detectors/registry.py and the window checks), `kind` (event kinds) and `reason` (the rejection
reasons of streamer.decode.base.RejectReason).

| metric | type | labels | meaning |
|---|---|---|---|
| driftstream_records_read_total | counter | endpoint | capture lines read, malformed included |
| driftstream_records_used_total | counter | endpoint | records decoded and monitored |
| driftstream_records_rejected_total | counter | endpoint, reason | malformed records by reason |
| driftstream_events_total | counter | endpoint, kind, feature, detector | events emitted |
| driftstream_drift_statistic | gauge | endpoint, feature, detector | latest statistic (or NaN) |
| driftstream_drift_threshold | gauge | endpoint, feature, detector | its threshold |
| driftstream_drift_active | gauge | endpoint, feature, detector | 1 while a check is breached |
| driftstream_batch_processing_seconds | histogram | endpoint | decode + monitor + sinks per batch |
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftstream.detectors.events import Event, EventKind
from driftstream.sinks.base import Sink

StatReader = Callable[[], Mapping[tuple[str, str], tuple[float, float]]]
ActiveReader = Callable[[], Iterable[tuple[str, str]]]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class DriftCollector(Collector):
    """Reads the monitor's current statistics when Prometheus scrapes (no copies kept here)."""

    def __init__(self, endpoint: str, stats: StatReader, active: ActiveReader) -> None:
        self.endpoint = endpoint
        self._stats = stats
        self._active = active

    def collect(self) -> Iterable[Metric]:
        labels = ["endpoint", "feature", "detector"]
        value = GaugeMetricFamily(
            "driftstream_drift_statistic", "Latest drift or quality statistic", labels=labels
        )
        threshold = GaugeMetricFamily(
            "driftstream_drift_threshold",
            "Threshold the statistic is compared with",
            labels=labels,
        )
        active = GaugeMetricFamily(
            "driftstream_drift_active", "1 while a window check is breached", labels=labels
        )
        current = dict(self._stats())  # copy: the loop thread may add keys meanwhile
        breached = set(self._active())
        for (feature, detector), (v, t) in sorted(current.items()):
            value.add_metric([self.endpoint, feature, detector], v)
            threshold.add_metric([self.endpoint, feature, detector], t)
            active.add_metric(
                [self.endpoint, feature, detector], 1.0 if (feature, detector) in breached else 0.0
            )
        return [value, threshold, active]


class PrometheusSink(Sink):
    """Counts records and events, times batches, and serves /metrics over HTTP."""

    def __init__(
        self,
        endpoint: str,
        *,
        registry: CollectorRegistry | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.endpoint = endpoint
        self.registry = registry if registry is not None else CollectorRegistry()
        self.port = port
        self.host = host
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        r = self.registry
        self.read = Counter(
            "driftstream_records_read", "Capture lines read", ["endpoint"], registry=r
        )
        self.used = Counter(
            "driftstream_records_used", "Records decoded and monitored", ["endpoint"], registry=r
        )
        self.rejected = Counter(
            "driftstream_records_rejected",
            "Malformed records by reason",
            ["endpoint", "reason"],
            registry=r,
        )
        self.events = Counter(
            "driftstream_events",
            "Events emitted",
            ["endpoint", "kind", "feature", "detector"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "driftstream_batch_processing_seconds",
            "Decode + monitor + sinks time per batch",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def watch(self, stats: StatReader, active: ActiveReader) -> None:
        """Expose the monitor's live statistics (called once the monitor exists)."""
        self.registry.register(DriftCollector(self.endpoint, stats, active))

    def setup(self) -> None:
        if self.port is not None and self._server is None:
            self._server, self._thread = start_http_server(
                self.port, addr=self.host, registry=self.registry
            )

    @property
    def bound_port(self) -> int | None:
        """The port actually served (useful with port 0)."""
        return int(self._server.server_port) if self._server is not None else None

    def add(self, event: Event) -> None:
        if event.kind in (EventKind.SUMMARY, EventKind.REJECTED):
            return  # rejections are counted by reason in observe_batch
        self.events.labels(
            self.endpoint, event.kind.value, event.feature or "", event.detector or ""
        ).inc()

    def flush(self) -> None:
        """Counters are live; nothing to write."""

    def observe_batch(
        self, read: int, used: int, rejected: Mapping[str, int], seconds: float
    ) -> None:
        """Called by the loop once per batch, after the sinks flushed."""
        self.read.labels(self.endpoint).inc(read)
        self.used.labels(self.endpoint).inc(used)
        for reason, n in rejected.items():
            self.rejected.labels(self.endpoint, reason).inc(n)
        self.batch_seconds.labels(self.endpoint).observe(seconds)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
