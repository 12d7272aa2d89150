"""Prometheus metrics of consuming partitioned sources (and of the loop that checkpoints them),
beside the record and event counters of PrometheusSink.

Labels stay bounded: `endpoint` (one per config), `topic` and `partition` (the partitions this
process is assigned, bounded by the topics' partition counts; for Kinesis, the stream and the
shard's number), `operation` (OPERATIONS), `change`, `trigger` and `outcome` (fixed sets).

Every metric, with its type, labels, unit and meaning: docs/metrics.md.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge

from driftstream.streamer.sources.base import Lag, Partition

OPERATIONS = ("connect", "poll", "commit", "produce", "checkpoint", "restore")


class LiveMetrics:
    """Counters and gauges of the live service; every component takes this one object."""

    def __init__(self, endpoint: str, registry: CollectorRegistry | None = None) -> None:
        self.endpoint = endpoint
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.lag_records = Gauge(
            "driftstream_consumer_lag_records",
            "Records after the last one processed, at the last checkpoint (Kafka)",
            ["endpoint", "topic", "partition"],
            registry=r,
        )
        self.lag_seconds = Gauge(
            "driftstream_consumer_lag_seconds",
            "Seconds the last record processed is behind the stream's newest, at the last "
            "checkpoint",
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

    def set_lag(self, partition: Partition, lag: Lag) -> None:
        """Export what the source knows of `partition`'s lag; an unknown figure has no series
        (a stale one would read as current)."""
        where = (self.endpoint, partition.topic, str(partition.partition))
        for gauge, value in ((self.lag_records, lag.records), (self.lag_seconds, lag.seconds)):
            if value is not None:
                gauge.labels(*where).set(value)
            else:
                with contextlib.suppress(KeyError):
                    gauge.remove(*where)

    def forget(self, partition: Partition) -> None:
        """Drop the series of a partition this process no longer holds."""
        where = (self.endpoint, partition.topic, str(partition.partition))
        for gauge in (self.lag_records, self.lag_seconds):
            with contextlib.suppress(KeyError):
                gauge.remove(*where)
