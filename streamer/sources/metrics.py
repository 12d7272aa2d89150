"""Prometheus metrics of consuming partitioned sources (and of the loop that checkpoints them),
beside the record and event counters of PrometheusSink.

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
- driftstream_drift_statistic / _threshold / _score / _active{endpoint, feature, detector,
  topic, partition}: PrometheusSink's drift gauges, one series per partition's monitor.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge

from driftstream.streamer.checkpoint.base import Partition

OPERATIONS = ("connect", "poll", "commit", "produce", "checkpoint", "restore")


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
