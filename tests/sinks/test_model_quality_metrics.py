"""Model quality's metrics leave by the sinks: each window's metric values to CloudWatch under
Model Monitor's model-quality names, the watcher's counts as Prometheus counters."""

from __future__ import annotations

import datetime as dt
import math

from prometheus_client import CollectorRegistry

from driftstream.detectors.monitor import MonitorView
from driftstream.sinks.cloudwatch import (
    MODEL_METRICS_NAMESPACE,
    CloudWatchSettings,
    CloudWatchSink,
)
from driftstream.sinks.prometheus import PrometheusSink
from driftstream.streamer.runtime.metrics import PartitionDriftCollector
from driftstream.streamer.sources.base import Partition

STAMP = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
CURRENT = {
    ("accuracy", "model_quality"): (0.81, math.nan),
    ("auc", "model_quality"): (math.nan, math.nan),  # one class in the window: not sent
    ("accuracy", "model_quality_check"): (0.05, 0.02),
    ("accuracy", "model_quality_page_hinkley"): (3.0, 25.0),
}
VIEW = MonitorView(
    rows_seen=10,
    current=CURRENT,
    active=frozenset(),
    records=10,
    counts={("model_quality", "labels_matched"): 7, ("model_quality", "predictions_expired"): 2},
)


def test_window_metrics_go_to_model_monitors_model_metrics_namespace() -> None:
    sink = CloudWatchSink(
        CloudWatchSettings(monitoring_schedule="mq"),
        "churn",
        ["age"],
        ["age"],
        client_factory=lambda: None,
        registry=CollectorRegistry(),
        now=lambda: STAMP,
    )
    sink.watch(lambda: [CURRENT])
    sink.observe(VIEW)
    data = [d for d in sink.collect() if d.namespace == MODEL_METRICS_NAMESPACE]
    assert [d.payload["MetricName"] for d in data] == ["accuracy"]
    (accuracy,) = data
    assert accuracy.payload["Value"] == 0.81
    assert accuracy.payload["Dimensions"] == [
        {"Name": "Endpoint", "Value": "churn"},
        {"Name": "MonitoringSchedule", "Value": "mq"},
    ]


def test_watcher_counts_are_prometheus_counters() -> None:
    registry = CollectorRegistry()
    sink = PrometheusSink("churn", registry=registry)
    sink.watch(lambda: VIEW)
    labels = {"endpoint": "churn", "watcher": "model_quality", "outcome": "labels_matched"}
    assert registry.get_sample_value("driftstream_watcher_outcomes_total", labels) == 7.0
    expired = {**labels, "outcome": "predictions_expired"}
    assert registry.get_sample_value("driftstream_watcher_outcomes_total", expired) == 2.0
    live = CollectorRegistry()
    live.register(PartitionDriftCollector("churn", lambda: {Partition("captures", 3): VIEW}))
    where = {**labels, "topic": "captures", "partition": "3"}
    assert live.get_sample_value("driftstream_watcher_outcomes_total", where) == 7.0
    # the check's reading scores above 1 while violated: excess 0.05 past an allowance of 0.02
    check = {"endpoint": "churn", "feature": "accuracy", "detector": "model_quality_check"}
    assert registry.get_sample_value("driftstream_drift_score", check) == 2.5
