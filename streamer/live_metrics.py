"""Prometheus metrics of the live service, beside the record and event counters of PrometheusSink.

Labels stay bounded: `endpoint` (one per config), `topic` and `partition` (the partitions this
process is assigned, bounded by the topics' partition counts), `operation` (the fixed set below),
`trigger` and `outcome` (fixed sets).

Metrics (full table with meanings in docs/kafka.md):

- driftstream_kafka_consumer_lag{endpoint, topic, partition}: records after the last one
  processed, from the partition's last known end offset, updated at each checkpoint;
- driftstream_kafka_partitions_assigned{endpoint}: partitions this process holds;
- driftstream_kafka_rebalances_total{endpoint, change}: partitions assigned, revoked or lost;
- driftstream_broker_errors_total{endpoint, operation}: failed broker operations (connect, poll,
  commit, produce, checkpoint, restore), each retried after back-off;
- driftstream_checkpoints_total{endpoint, trigger}: partition checkpoints written (interval,
  revoke, shutdown);
- driftstream_offset_commits_total{endpoint, outcome}: offset commits, ok or failed;
- driftstream_dead_letters_total{endpoint, outcome}: rejected records produced to the dead-letter
  topic, or dropped because the broker refused them as too large;
- driftstream_drift_statistic / _threshold / _active{endpoint, feature, detector, topic,
  partition}: PrometheusSink's drift gauges, one series per partition's monitor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from detectors.monitor import MonitorView
from streamer.base import Partition

OPERATIONS = ("connect", "poll", "commit", "produce", "checkpoint", "restore")
MonitorsReader = Callable[[], Mapping[Partition, MonitorView]]


class LiveMetrics:
    """Counters and gauges of the live service; every component takes this one object."""

    def __init__(self, endpoint: str, registry: CollectorRegistry | None = None) -> None:
        self.endpoint = endpoint
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.lag = Gauge(
            "driftstream_kafka_consumer_lag",
            "Records not yet processed",
            ["endpoint", "topic", "partition"],
            registry=r,
        )
        self.assigned = Gauge(
            "driftstream_kafka_partitions_assigned",
            "Partitions held by this process",
            ["endpoint"],
            registry=r,
        )
        self.rebalances = Counter(
            "driftstream_kafka_rebalances", "Partition changes", ["endpoint", "change"], registry=r
        )
        self.broker_errors = Counter(
            "driftstream_broker_errors",
            "Failed broker operations, retried after back-off",
            ["endpoint", "operation"],
            registry=r,
        )
        self.checkpoints = Counter(
            "driftstream_checkpoints",
            "Partition checkpoints written",
            ["endpoint", "trigger"],
            registry=r,
        )
        self.commits = Counter(
            "driftstream_offset_commits", "Offset commits", ["endpoint", "outcome"], registry=r
        )
        self.dead_letters = Counter(
            "driftstream_dead_letters",
            "Rejected records sent on",
            ["endpoint", "outcome"],
            registry=r,
        )
        for op in OPERATIONS:  # present from the start, so rate() works from the first error
            self.broker_errors.labels(endpoint, op)

    def broker_error(self, operation: str) -> None:
        self.broker_errors.labels(self.endpoint, operation).inc()

    def set_lag(self, partition: Partition, lag: int) -> None:
        self.lag.labels(self.endpoint, partition.topic, str(partition.partition)).set(lag)

    def forget(self, partition: Partition) -> None:
        """Drop the series of a partition this process no longer holds."""
        with contextlib.suppress(KeyError):
            self.lag.remove(self.endpoint, partition.topic, str(partition.partition))


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
