"""The drift gauges of every partition's monitor (metric names: streamer/sources/metrics.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftstream.detectors.monitor import MonitorView
from driftstream.streamer.sources.base import Partition

MonitorsReader = Callable[[], Mapping[Partition, MonitorView]]


class PartitionDriftCollector(Collector):
    """The drift gauges of every held partition's monitor, read when Prometheus scrapes."""

    def __init__(self, endpoint: str, monitors: MonitorsReader) -> None:
        self.endpoint = endpoint
        self._monitors = monitors

    def collect(self) -> Iterable[Metric]:
        labels = ["endpoint", "feature", "detector", "topic", "partition"]
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
        for part, view in sorted(dict(self._monitors()).items()):
            current, breached = view.current, view.active  # copies, never changed
            where = [part.topic, str(part.partition)]
            for (feature, detector), (v, t) in sorted(current.items()):
                names = [self.endpoint, feature, detector, *where]
                value.add_metric(names, v)
                threshold.add_metric(names, t)
                active.add_metric(names, 1.0 if (feature, detector) in breached else 0.0)
        return [value, threshold, active]
