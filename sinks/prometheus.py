"""Prometheus metrics: counters fed by the processing loop, drift statistics read at scrape time.

Every metric carries the label `endpoint`; the others are bounded by construction: `feature`
(names from the baseline), `detector` (the registered sequential detectors of
detectors/registry.py and the window checks), `kind` (event kinds) and `reason` (the rejection
reasons of streamer.decode.base.RejectReason).

Every metric with its type, labels, unit and meaning: docs/metrics.md (one table, checked
against what /metrics serves by tests/integration/test_metrics_table.py). Served here: records
read, used and rejected by reason; events; batch processing time; and per (feature, detector)
the drift gauges: statistic, threshold, breach score, active, the samples behind the statistic
(`driftstream_drift_samples`) and the age of the verdict (`driftstream_drift_verdict_age_seconds`:
seconds since the batch that last computed it; no series for a reading restored from a
checkpoint and not computed since).

Counters exist from start-up at 0 for every label set known then: every rejection reason, and
every (kind, feature, detector) the monitor can emit (Monitor.event_labels: drift per sequential
detector and numeric feature, each window check with its kind, the retrain signal with empty
feature and detector). Prometheus's `increase()` and `rate()` need a sample before the first
increment; a counter born at 1 would hide the first drift of a run from every alert.

Statistic and threshold are exported as the events carry them (`value`, `threshold`), so a gauge
can be matched with an event. Most checks breach when the statistic is above the threshold; the
share checks (`completeness_check`, `data_type_check`, `categorical_values_check`:
detectors/window_checks.py LOWER_BOUND_CHECKS) breach when their share of present, whole-number
or in-domain values falls below a minimum. `driftstream_drift_score` reads one way for all, so
one alert rule fits every check: `driftstream_drift_score > 1`.

- above-threshold checks and detectors: statistic / threshold;
- share checks: the share outside (missing, not whole, out of domain) over the share the
  threshold allows outside, (1 - statistic) / (1 - threshold): 2 means twice the allowed share;
- when nothing is allowed (a threshold of 0; a minimum share of 1, as Model Monitor's default
  `datatype_check_threshold`), +Inf on a breach and 0 otherwise; an infinite threshold gives 0;
  NaN while the statistic or the threshold is undefined.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import MonitorView
from driftstream.detectors.retrain import is_deferral
from driftstream.detectors.window_checks import LOWER_BOUND_CHECKS
from driftstream.sinks.base import Sink

ViewReader = Callable[[], MonitorView]
#: (kind, feature, detector) of the events a monitor can emit (Monitor.event_labels)
EventLabels = Iterable[tuple[EventKind, str | None, str | None]]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def breach_score(statistic: float, threshold: float, detector: str) -> float:
    """One reading of `detector` (a check or sequential detector name) as a number above 1
    exactly when `statistic` is on the breaching side of `threshold` (see the docstring)."""
    lower_bound = detector in LOWER_BOUND_CHECKS
    if lower_bound:
        high, low, breached = 1.0 - statistic, 1.0 - threshold, statistic < threshold
    else:
        high, low, breached = statistic, threshold, statistic > threshold
    if math.isnan(high) or math.isnan(low):
        return math.nan
    if not 0.0 < low < math.inf:
        return math.inf if breached else 0.0
    score = high / low
    # 1 - x may round two close shares together: the verdict decides the side of 1
    if breached:
        return max(score, math.nextafter(1.0, math.inf))
    return min(score, 1.0)


def drift_gauges(extra_labels: Sequence[str] = ()) -> tuple[GaugeMetricFamily, ...]:
    """Empty statistic, threshold, score and active gauge families, labelled endpoint,
    feature, detector and then `extra_labels` (the live service adds topic and partition)."""
    labels = ["endpoint", "feature", "detector", *extra_labels]
    return (
        GaugeMetricFamily(
            "driftstream_drift_statistic", "Latest drift or quality statistic", labels=labels
        ),
        GaugeMetricFamily(
            "driftstream_drift_threshold", "Threshold the statistic is compared with", labels=labels
        ),
        GaugeMetricFamily(
            "driftstream_drift_score",
            "Statistic against threshold, above 1 exactly while breached, for every check",
            labels=labels,
        ),
        GaugeMetricFamily(
            "driftstream_drift_active", "1 while a window check is breached", labels=labels
        ),
        GaugeMetricFamily(
            "driftstream_drift_samples",
            "Values the statistic rests on (ADWIN's window, Page-Hinkley's since its reset, "
            "a window check's present values)",
            labels=labels,
        ),
        GaugeMetricFamily(
            "driftstream_drift_verdict_age_seconds",
            "Seconds since the statistic was last computed",
            labels=labels,
        ),
    )


def add_readings(
    families: tuple[GaugeMetricFamily, ...],
    prefix: Sequence[str],
    view: MonitorView,
    suffix: Sequence[str] = (),
    *,
    now: float | None = None,
) -> None:
    """One sample per reading of `view` in each of `drift_gauges`' families, labelled
    prefix + (feature, detector) + suffix (`view` is a copy: the loop never changes it)."""
    value, threshold, score, active, samples, age = families
    now = time.time() if now is None else now
    for key, (v, t) in sorted(view.current.items()):
        feature, detector = key
        labels = [*prefix, feature, detector, *suffix]
        value.add_metric(labels, v)
        threshold.add_metric(labels, t)
        score.add_metric(labels, breach_score(v, t, detector))
        active.add_metric(labels, 1.0 if key in view.active else 0.0)
        if key in view.samples:
            samples.add_metric(labels, float(view.samples[key]))
        if key in view.evaluated_at:
            age.add_metric(labels, max(0.0, now - view.evaluated_at[key]))


def watcher_counters(extra_labels: Sequence[str] = ()) -> CounterMetricFamily:
    """The empty family of the watchers' running totals (Watcher.counts: model quality's
    labels and predictions), labelled endpoint, watcher, outcome, then `extra_labels`."""
    return CounterMetricFamily(
        "driftstream_watcher_outcomes",
        "What the watchers counted: model quality's ground-truth labels and predictions",
        labels=["endpoint", "watcher", "outcome", *extra_labels],
    )


def add_counts(
    family: CounterMetricFamily,
    prefix: Sequence[str],
    view: MonitorView,
    suffix: Sequence[str] = (),
) -> None:
    """One sample per watcher total of `view`, labelled prefix + (watcher, outcome) + suffix."""
    for (watcher, outcome), total in sorted(view.counts.items()):
        family.add_metric([*prefix, watcher, outcome, *suffix], float(total))


class DriftCollector(Collector):
    """Reads the monitor's latest view when Prometheus scrapes (no copies kept here)."""

    def __init__(self, endpoint: str, view: ViewReader) -> None:
        self.endpoint = endpoint
        self._view = view

    def collect(self) -> Iterable[Metric]:
        view = self._view()
        families = drift_gauges()
        add_readings(families, [self.endpoint], view)
        counts = watcher_counters()
        add_counts(counts, [self.endpoint], view)
        return (*families, counts)


class PrometheusSink(Sink):
    """Counts records and events, times batches, and serves /metrics over HTTP.

    `event_labels` and `reasons`: the label sets whose counters exist at 0 from the start (see
    the module docstring); events and reasons outside them are still counted, from their first.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        registry: CollectorRegistry | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        event_labels: EventLabels = (),
        reasons: Iterable[str] = (),
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
        self._start_at_zero(event_labels, reasons)

    def _start_at_zero(self, event_labels: EventLabels, reasons: Iterable[str]) -> None:
        for metric in (self.read, self.used, self.batch_seconds):
            metric.labels(self.endpoint)
        for kind, feature, detector in event_labels:
            self.events.labels(self.endpoint, kind.value, feature or "", detector or "")
        for reason in reasons:
            self.rejected.labels(self.endpoint, reason)

    def watch(self, view: ViewReader) -> None:
        """Expose the monitor's live readings (called once the monitor exists)."""
        self.registry.register(DriftCollector(self.endpoint, view))

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
        if event.kind in (EventKind.SUMMARY, EventKind.REJECTED) or is_deferral(event):
            return  # rejections are counted by reason in observe_batch; "not now" is no signal
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
