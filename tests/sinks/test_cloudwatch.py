"""The CloudWatch sink's own logic: what it publishes and how it cuts PutMetricData calls."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
from prometheus_client import CollectorRegistry

from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import MonitorView, ValueSummary, summarise_values
from driftstream.sinks.cloudwatch import (
    MAX_VALUE,
    MODEL_MONITOR_NAMESPACE,
    CloudWatchSettings,
    CloudWatchSink,
    Datum,
    FeatureValues,
    encoded_size,
    metric_name,
    metric_value,
    plan_calls,
)

STAMP = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


def _datum(namespace: str = "ns", name: str = "m", dims: int = 0, width: int = 5) -> Datum:
    return Datum(
        namespace,
        {
            "MetricName": name,
            "Dimensions": [{"Name": f"d{i}", "Value": "v" * width} for i in range(dims)],
            "Value": 1.0,
            "Timestamp": STAMP,
        },
    )


def test_calls_hold_at_most_1000_data_of_one_namespace_in_order() -> None:
    data = [_datum(name=f"m{i}") for i in range(2500)] + [_datum("other")] * 3
    calls = plan_calls(data)
    assert [(ns, len(batch)) for ns, batch in calls] == [
        ("ns", 1000),
        ("ns", 1000),
        ("ns", 500),
        ("other", 3),
    ]
    assert [d for _, batch in calls for d in batch] == data


def test_calls_stay_under_the_payload_limit() -> None:
    wide = [_datum(dims=30, width=1024) for _ in range(100)]
    calls = plan_calls(wide, max_bytes=1_000_000)
    assert len(calls) > 3
    for _, batch in calls:
        assert sum(encoded_size(d) for d in batch) <= 1_000_000


def test_encoded_size_bounds_the_json_form() -> None:
    d = _datum(dims=3, width=40)
    as_json = json.dumps({**d.payload, "Timestamp": STAMP.isoformat()})
    assert encoded_size(d) >= len(as_json)


def test_names_and_values_cloudwatch_accepts() -> None:
    assert metric_name("feature_data_", "age") == "feature_data_age"
    assert metric_name("feature_data_", "prix €\n") == "feature_data_prix___"
    assert len(metric_name("feature_non_null_", "x" * 400)) == 255
    assert metric_value(math.nan) is None
    assert metric_value(math.inf) is None
    assert metric_value(1e300) == MAX_VALUE
    assert metric_value(-0.5) == -0.5


def test_the_monitor_summarises_each_feature_of_a_batch() -> None:
    numeric = np.array([[1.0, np.nan, np.nan], [3.0, 5.0, np.nan], [-2.0, 7.0, np.nan]])
    assert summarise_values(numeric, ["a", "b", "c"]) == {
        "a": ValueSummary(3, 2.0, -2.0, 3.0),
        "b": ValueSummary(2, 12.0, 5.0, 7.0),
    }
    assert summarise_values(np.empty((0, 3)), ["a", "b", "c"]) == {}


def test_feature_values_since_the_last_take() -> None:
    values = FeatureValues(["a", "b", "c"])
    values.add(summarise_values(np.array([[1.0, np.nan, np.nan], [3.0, 5.0, np.nan]]), "abc"))
    values.add(summarise_values(np.array([[-2.0, 7.0, np.nan]]), "abc"))
    values.add({"unknown": ValueSummary(1, 9.0, 9.0, 9.0)})  # not a numeric feature here
    assert values.take() == [("a", 3, 2.0, -2.0, 3.0), ("b", 2, 12.0, 5.0, 7.0)]
    assert values.take() == []


def _view(numeric: list[list[float]], n_records: int) -> MonitorView:
    """The view a monitor with one numeric feature, `age`, gives after such a batch."""
    values = summarise_values(np.asarray(numeric, dtype=np.float64), ["age"])
    return MonitorView(len(numeric), {}, frozenset(), n_records, values)


def _sink(**settings: object) -> CloudWatchSink:
    clock = iter(float(i) for i in range(0, 1000, 10))  # 10 s between calls
    return CloudWatchSink(
        CloudWatchSettings(monitoring_schedule="dq", **settings),  # type: ignore[arg-type]
        "churn",
        ["age", "country"],
        ["age"],
        client_factory=lambda: None,
        registry=CollectorRegistry(),
        clock=lambda: next(clock),
        now=lambda: STAMP,
    )


def _by_name(data: list[Datum]) -> dict[tuple[str, str, str], Datum]:
    out = {}
    for d in data:
        extra = [x["Value"] for x in d.payload["Dimensions"] if x["Name"] in ("Kind", "Reason")]
        out[(d.namespace, d.payload["MetricName"], extra[0] if extra else "")] = d
    return out


def test_what_one_publish_holds() -> None:
    sink = _sink(dimensions={"Team": "ml"})
    sink.watch(
        lambda: [
            {
                ("age", "baseline_drift_check"): (0.25, 0.1),
                ("age", "completeness_check"): (0.99, 0.98),
                ("country", "baseline_drift_check"): (math.nan, 0.1),  # not sent
                ("age", "adwin"): (3.0, 5.0),  # not a Model Monitor metric
            }
        ]
    )
    sink.observe(_view([[30.0], [50.0], [math.nan]], n_records=3))
    sink.observe(_view([], n_records=1))  # a batch whose one record was rejected
    sink.add(Event(EventKind.DRIFT, record_index=1, feature="age", detector="adwin"))
    sink.add(Event(EventKind.REJECTED, record_index=3, reason="invalid_json"))
    sink.add(Event(EventKind.SUMMARY))
    data = _by_name(sink.collect())

    mm_dims = [
        {"Name": "Endpoint", "Value": "churn"},
        {"Name": "MonitoringSchedule", "Value": "dq"},
    ]
    drift = data[(MODEL_MONITOR_NAMESPACE, "feature_baseline_drift_age", "")].payload
    assert (drift["Value"], drift["Dimensions"], drift["Unit"]) == (0.25, mm_dims, "None")
    assert data[(MODEL_MONITOR_NAMESPACE, "feature_non_null_age", "")].payload["Value"] == 0.99
    stats = data[(MODEL_MONITOR_NAMESPACE, "feature_data_age", "")].payload["StatisticValues"]
    assert stats == {"SampleCount": 2.0, "Sum": 80.0, "Minimum": 30.0, "Maximum": 50.0}
    assert (MODEL_MONITOR_NAMESPACE, "feature_baseline_drift_country", "") not in data

    own = [{"Name": "Endpoint", "Value": "churn"}, {"Name": "Team", "Value": "ml"}]
    assert data[("driftstream", "RecordsRead", "")].payload["Value"] == 4.0
    assert data[("driftstream", "RecordsRead", "")].payload["Dimensions"] == own
    assert data[("driftstream", "RecordsRejected", "")].payload["Value"] == 1.0
    assert data[("driftstream", "RecordsRejected", "invalid_json")].payload["Value"] == 1.0
    assert data[("driftstream", "Events", "drift")].payload["Value"] == 1.0
    assert data[("driftstream", "Events", "rejected")].payload["Value"] == 1.0
    assert ("driftstream", "Events", "summary") not in data
    assert data[("driftstream", "RecordsPerSecond", "")].payload["Value"] == 0.4

    # nothing seen since: no window metrics, zero counts
    again = _by_name(sink.collect())
    assert not [k for k in again if k[0] == MODEL_MONITOR_NAMESPACE]
    assert again[("driftstream", "RecordsRead", "")].payload["Value"] == 0.0
