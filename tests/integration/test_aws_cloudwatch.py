"""CloudWatch on a moto server: Model Monitor's metric names, namespace and dimensions read back
with get_metric_statistics, driftstream's own metrics, and PutMetricData limits kept by us."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftstream.detectors.events import Event
from driftstream.detectors.monitor import MonitorView
from driftstream.detectors.retrain import is_deferral
from driftstream.sinks.base import BatchingSink
from driftstream.sinks.cloudwatch import (
    MODEL_MONITOR_NAMESPACE,
    CloudWatchMetrics,
    CloudWatchSink,
    Datum,
    MetricSender,
)
from driftstream.sinks.retry import Backoff
from driftstream.streamer.app.build import build_decoder, build_replay, load_configured_baseline
from driftstream.streamer.app.config import load_config
from driftstream.streamer.sources.memory import IterSource
from tests.integration import aws_support as s
from tests.services import MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _dummy_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    s.use_dummy_keys(monkeypatch)


class _Collect(BatchingSink):
    """The events, and the monitor's readings after the last batch (the service forgets its
    partitions' views when it stops)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []
        self.view: MonitorView | None = None

    def write(self, batch: list[Event]) -> None:
        self.events.extend(batch)

    def observe(self, view: MonitorView) -> None:
        self.view = view


def _statistics(cw: Any, namespace: str, name: str, dims: dict[str, str]) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    answer = cw.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(minutes=15),
        EndTime=now + dt.timedelta(minutes=5),
        Period=3600,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum"],
    )
    points: list[dict[str, Any]] = answer["Datapoints"]
    return points


def test_model_monitor_metrics_read_back(moto_server: MotoServer, tmp_path: Path) -> None:
    endpoint = s.unique("churn")
    tree = s.base_config(
        moto_server.endpoint_url,
        endpoint=endpoint,
        metrics={"enabled": False},
        sinks={"cloudwatch": {"monitoring_schedule": "hourly-dq", "interval_seconds": 3600}},
    )
    config = load_config(s.write_config(tmp_path / "c.yaml", tree))
    collect = _Collect()
    lines = s.traffic()
    run = build_replay(
        config,
        IterSource(lines),
        [collect],
        checkpoint_dir=tmp_path / "checkpoint",
        metrics_required=False,
    )
    (sink,) = (x for x in run.sinks if isinstance(x, CloudWatchSink))
    run.service.run()
    assert collect.view is not None
    current = collect.view.current
    run.close()  # the CloudWatch sink publishes once: the interval is an hour
    assert sink.metrics.sent.labels(endpoint)._value.get() > 0

    cw = s.client(moto_server.endpoint_url, "cloudwatch")
    dims = {"Endpoint": endpoint, "MonitoringSchedule": "hourly-dq"}
    drift_checked = sorted(f for f, d in current if d == "baseline_drift_check")
    assert {"age", "balance", "country"} <= set(drift_checked)
    for feature in drift_checked:
        (point,) = _statistics(
            cw, MODEL_MONITOR_NAMESPACE, f"feature_baseline_drift_{feature}", dims
        )
        assert point["SampleCount"] == 1
        assert point["Sum"] == pytest.approx(current[(feature, "baseline_drift_check")][0])
    (point,) = _statistics(cw, MODEL_MONITOR_NAMESPACE, "feature_non_null_session_seconds", dims)
    assert point["Sum"] == pytest.approx(current[("session_seconds", "completeness_check")][0])
    assert point["Sum"] < 0.95  # 20 % of its values go missing after the change

    # feature_data_*: every value seen, as statistic sets
    decoder = build_decoder(config, load_configured_baseline(config))
    numeric = decoder.decode(list(lines), 0).numeric
    for j, feature in enumerate(decoder.layout.numeric):
        column = numeric[:, j]
        present = column[~np.isnan(column)]
        (point,) = _statistics(cw, MODEL_MONITOR_NAMESPACE, f"feature_data_{feature}", dims)
        assert point["SampleCount"] == present.size
        assert point["Sum"] == pytest.approx(present.sum())
        assert point["Minimum"] == pytest.approx(present.min())
        assert point["Maximum"] == pytest.approx(present.max())

    # driftstream's own metrics
    own = {"Endpoint": endpoint}
    assert _statistics(cw, "driftstream", "RecordsRead", own)[0]["Sum"] == len(lines)
    assert _statistics(cw, "driftstream", "Started", own)[0]["Sum"] == 1
    kinds: dict[str, int] = {}
    for e in collect.events:
        if is_deferral(e):
            continue  # "not now" decisions are events, not signals: CloudWatch counts signals
        kinds[e.kind.value] = kinds.get(e.kind.value, 0) + 1
    for kind in ("drift", "violation", "retrain_signal"):
        (point,) = _statistics(cw, "driftstream", "Events", {**own, "Kind": kind})
        assert point["Sum"] == kinds[kind]
    assert _statistics(cw, "driftstream", "RecordsPerSecond", own)[0]["Sum"] > 0


def test_put_metric_data_limits_are_ours(moto_server: MotoServer) -> None:
    """2,500 metric data go out in calls of at most 1,000; 100 metrics with 30 dimensions of
    1 KiB values (distinct, so not coalesced) go out in calls under 1 MB; everything arrives."""
    cw = s.client(moto_server.endpoint_url, "cloudwatch")
    calls: list[int] = []
    bodies: list[int] = []
    cw.meta.events.register(
        "provide-client-params.cloudwatch.PutMetricData",
        lambda params, **_: calls.append(len(params["MetricData"])),
    )
    cw.meta.events.register(
        "before-send.cloudwatch.PutMetricData",
        lambda request, **_: bodies.append(len(request.body or b"")),
    )
    registry = CollectorRegistry()
    metrics = CloudWatchMetrics("limits", registry)
    sender = MetricSender(cw, max_buffered=10_000, backoff=Backoff(0.1, 0.5), metrics=metrics)
    namespace = s.unique("limits")
    now = dt.datetime.now(dt.UTC)
    many = [
        Datum(namespace, {"MetricName": f"m{i:04d}", "Value": float(i), "Timestamp": now})
        for i in range(2500)
    ]

    def wide_dims(i: int) -> list[dict[str, str]]:
        first = {"Name": "d00", "Value": f"{i:04d}" + "a" * 1020}
        return [
            first,
            *({"Name": f"d{k:02d}", "Value": chr(97 + k % 26) * 1024} for k in range(1, 30)),
        ]

    wide = [
        Datum(
            namespace,
            {"MetricName": "wide", "Dimensions": wide_dims(i), "Value": float(i), "Timestamp": now},
        )
        for i in range(100)
    ]
    sender.start()
    sender.put(many)
    sender.put(wide)
    assert sender.wait_idle(60)
    sender.close(5)

    assert sum(calls) == 2600
    assert max(calls) == 1000
    assert len(calls) >= 3 + 3  # 2,500 in 3 calls; 100 data of ~31 KB need at least 3
    assert max(bodies) <= 1_000_000
    assert (
        registry.get_sample_value(
            "driftstream_cloudwatch_metrics_sent_total", {"endpoint": "limits"}
        )
        == 2600
    )
    names: set[str] = set()
    for page in cw.get_paginator("list_metrics").paginate(Namespace=namespace):
        names.update(m["MetricName"] for m in page["Metrics"])
    assert len(names) == 2501
    (point,) = _statistics(cw, namespace, "wide", {d["Name"]: d["Value"] for d in wide_dims(42)})
    assert (point["SampleCount"], point["Sum"]) == (1, 42)


def test_every_batch_published_reaches_cloudwatch(moto_server: MotoServer, tmp_path: Path) -> None:
    """`interval_seconds: 0` publishes after every one of 600 batches (about 25,000 metric
    data): summed back from CloudWatch, every record's count, every event, every rejection and
    every value arrived, and nothing was dropped, at exit included (default close timeout)."""
    endpoint = s.unique("every-batch")
    tree = s.base_config(
        moto_server.endpoint_url,
        endpoint=endpoint,
        metrics={"enabled": False},
        sinks={"cloudwatch": {"monitoring_schedule": "dq", "interval_seconds": 0}},
    )
    config = load_config(s.write_config(tmp_path / "c.yaml", tree))
    lines = list(s.traffic(seed=13, n_records=60_000))
    for i in range(5_000, 60_000, 10_000):
        lines[i] = b"{not json"
    collect = _Collect()
    run = build_replay(
        config,
        IterSource(lines, batch_size=100),
        [collect],
        checkpoint_dir=tmp_path / "checkpoint",
        metrics_required=False,
    )
    (sink,) = (x for x in run.sinks if isinstance(x, CloudWatchSink))
    run.service.run()
    run.close()

    for reason in ("overflow", "refused", "shutdown"):
        assert sink.metrics.dropped.labels(endpoint, reason)._value.get() == 0, reason
    assert sink.metrics.sent.labels(endpoint)._value.get() > 20_000
    cw = s.client(moto_server.endpoint_url, "cloudwatch")
    own = {"Endpoint": endpoint}
    (read,) = _statistics(cw, "driftstream", "RecordsRead", own)
    assert read["Sum"] == len(lines)
    assert read["SampleCount"] >= len(lines) // 100  # a publish per batch at least
    (rejected,) = _statistics(
        cw, "driftstream", "RecordsRejected", {**own, "Reason": "invalid_json"}
    )
    assert rejected["Sum"] == 6
    kinds: dict[str, int] = {}
    for e in collect.events:
        kinds[e.kind.value] = kinds.get(e.kind.value, 0) + 1
    for kind in ("drift", "violation", "rejected"):
        (point,) = _statistics(cw, "driftstream", "Events", {**own, "Kind": kind})
        assert point["Sum"] == kinds[kind], kind
    decoder = build_decoder(config, load_configured_baseline(config))
    numeric = decoder.decode(lines, 0).numeric
    (age,) = _statistics(
        cw,
        MODEL_MONITOR_NAMESPACE,
        "feature_data_age",
        {"Endpoint": endpoint, "MonitoringSchedule": "dq"},
    )
    assert age["SampleCount"] == np.count_nonzero(
        ~np.isnan(numeric[:, decoder.layout.numeric.index("age")])
    )
