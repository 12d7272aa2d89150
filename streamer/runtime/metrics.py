"""The drift gauges of every partition's monitor (sinks/prometheus.py: drift_gauges), labelled
with the partition's topic and number; every metric: docs/metrics.md."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from driftstream.detectors.monitor import MonitorView
from driftstream.sinks.prometheus import add_counts, add_readings, drift_gauges, watcher_counters
from driftstream.streamer.sources.base import Partition

MonitorsReader = Callable[[], Mapping[Partition, MonitorView]]


class PartitionDriftCollector(Collector):
    """The drift gauges of every held partition's monitor, read when Prometheus scrapes."""

    def __init__(self, endpoint: str, monitors: MonitorsReader) -> None:
        self.endpoint = endpoint
        self._monitors = monitors

    def collect(self) -> Iterable[Metric]:
        families = drift_gauges(["topic", "partition"])
        counts = watcher_counters(["topic", "partition"])
        for part, view in sorted(dict(self._monitors()).items()):
            # view.current and view.active are copies, never changed
            where = [part.topic, str(part.partition)]
            add_readings(families, [self.endpoint], view, where)
            add_counts(counts, [self.endpoint], view, where)
        return (*families, counts)
