"""The CloudWatch sink's own logic: what it publishes and how it cuts PutMetricData calls."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import urllib.parse
from typing import Any

import botocore.exceptions
import numpy as np
from prometheus_client import CollectorRegistry

from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import MonitorView, ValueSummary, summarise_values
from driftstream.sinks.cloudwatch import (
    MAX_VALUE,
    MODEL_MONITOR_NAMESPACE,
    SEND_ROUND,
    CloudWatchMetrics,
    CloudWatchSettings,
    CloudWatchSink,
    Datum,
    FeatureValues,
    MetricQueue,
    MetricSender,
    coalesce,
    encoded_size,
    metric_name,
    metric_value,
    plan_calls,
)
from driftstream.sinks.retry import Backoff

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


def test_calls_are_filled_per_namespace_whatever_the_interleaving() -> None:
    """Each publish queues Model Monitor's data and driftstream's own, interleaved: the calls
    are cut per namespace, not at every change of namespace (which sent ~36 data a call)."""
    publishes = [
        [_datum("mm", f"m{p}.{i}") for i in range(36)]
        + [_datum("own", f"o{p}.{i}") for i in range(8)]
        for p in range(50)
    ]
    data = [d for publish in publishes for d in publish]
    calls = plan_calls(data)
    assert [(ns, len(batch)) for ns, batch in calls] == [("mm", 1000), ("mm", 800), ("own", 400)]
    assert [d for _, batch in calls if _ == "mm" for d in batch] == [
        d for d in data if d.namespace == "mm"
    ]


def test_encoded_size_is_the_query_protocol_length() -> None:
    """The size counted without building the request equals urlencode's, escapes included."""
    rng = random.Random(5)
    alphabet = "abcXYZ09 _.-~/é€&=+%:\n"

    def text(n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, n)))

    for i in range(300):
        payload: dict[str, Any] = {
            "MetricName": text(30),
            "Dimensions": [{"Name": text(10), "Value": text(40)} for _ in range(i % 31)],
            "Timestamp": STAMP + dt.timedelta(microseconds=rng.randint(0, 10**9)),
            "Unit": "Count",
            "StorageResolution": 60,
        }
        if i % 2:
            payload["StatisticValues"] = {"SampleCount": 3.0, "Sum": rng.uniform(-1e9, 1e9)}
        else:
            payload["Value"] = rng.uniform(-1e300, 1e300)
        assert encoded_size(Datum("ns", payload)) == _urlencoded_size(payload)


def _urlencoded_size(payload: dict[str, Any]) -> int:
    fields: list[tuple[str, str]] = []

    def walk(path: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{path}{k}.", v)
        elif isinstance(value, list):
            for i, v in enumerate(value, 1):
                walk(f"{path}member.{i}.", v)
        else:
            fields.append((path.rstrip("."), str(value)))

    walk("MetricData.member.1000.", payload)
    return len(urllib.parse.urlencode(fields)) + 1


def test_the_queue_drops_the_oldest_datum_whatever_its_namespace() -> None:
    queue = MetricQueue()
    queue.extend([_datum("a", "a0"), _datum("a", "a1"), _datum("b", "b0")], now=0.0)
    queue.extend([_datum("a", "a2"), _datum("b", "b1")], now=1.0)
    queue.drop_oldest(3)
    assert len(queue) == 2
    due, _ = queue.next_due(now=5.0, linger=1.0, full=1000)
    assert due is not None
    assert [q.datum.payload["MetricName"] for q in queue.take(due, 10)] == ["a2"]


class _Client:
    """PutMetricData calls recorded; the first `failures` calls fail as a network error."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.failures = failures

    def put_metric_data(self, **request: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://cw")
        self.calls.append((request["Namespace"], [d["MetricName"] for d in request["MetricData"]]))


def _sender(client: _Client, linger: float) -> tuple[MetricSender, CollectorRegistry]:
    registry = CollectorRegistry()
    sender = MetricSender(
        client,
        max_buffered=100_000,
        backoff=Backoff(0.01, 0.05),
        metrics=CloudWatchMetrics("churn", registry),
        linger=linger,
    )
    return sender, registry


def test_the_sender_fills_each_call_and_sends_everything_at_close() -> None:
    """50 interleaved publishes of distinct metrics queued while the sender lingers: at close,
    the oldest namespace first, calls filled to 1,000 data, every datum once and in order,
    nothing dropped."""
    client = _Client()
    sender, registry = _sender(client, linger=3600)
    data = [
        d
        for p in range(50)
        for d in [_datum("mm", f"m{p}.{i}") for i in range(36)]
        + [_datum("own", f"o{p}.{i}") for i in range(8)]
    ]
    sender.put(data)
    sender.start()
    sender.close(timeout=30)
    assert [(ns, len(names)) for ns, names in client.calls] == [
        ("mm", 1000),
        ("mm", 800),
        ("own", 400),
    ]
    sent = {
        ns: [n for c_ns, names in client.calls if c_ns == ns for n in names] for ns in ("mm", "own")
    }
    assert sent == {
        ns: [d.payload["MetricName"] for d in data if d.namespace == ns] for ns in ("mm", "own")
    }
    assert registry.get_sample_value(
        "driftstream_cloudwatch_metrics_sent_total", {"endpoint": "churn"}
    ) == len(data)
    for reason in ("overflow", "refused", "shutdown"):
        labels = {"endpoint": "churn", "reason": reason}
        assert (
            registry.get_sample_value("driftstream_cloudwatch_metrics_dropped_total", labels) == 0
        )


def test_a_round_goes_at_once_the_rest_waits_for_more() -> None:
    """SEND_ROUND data waiting go without waiting out the linger, in full calls; five more
    wait (for the linger, or for close), then go in one call, after a failed attempt."""
    client = _Client()
    sender, _ = _sender(client, linger=3600)
    sender.start()
    sender.put([_datum("mm", f"m{i}") for i in range(SEND_ROUND)])
    assert sender.wait_idle(60)
    assert [len(names) for _, names in client.calls] == [1000] * (SEND_ROUND // 1000)
    client.calls.clear()
    client.failures = 1
    sender.put([_datum("mm", f"late{i}") for i in range(5)])
    assert not sender.wait_idle(0.5)  # lingering, not lost
    sender.close(timeout=30)
    assert client.calls == [("mm", [f"late{i}" for i in range(5)])]


def _stamped(name: str, value: float, seconds: float, **extra: Any) -> Datum:
    payload = {
        "MetricName": name,
        "Dimensions": [{"Name": "Endpoint", "Value": "churn"}, *extra.pop("dims", [])],
        "Timestamp": STAMP + dt.timedelta(seconds=seconds),
        "Unit": "None",
        "StorageResolution": extra.pop("resolution", 60),
    }
    if "stats" in extra:
        payload["StatisticValues"] = extra["stats"]
    else:
        payload["Value"] = value
    return Datum("mm", payload)


def test_coalesce_merges_a_metric_within_its_storage_period() -> None:
    """Values of one metric in one minute become one datum with Values and Counts, statistic
    sets are added up; another minute, other dimensions or another resolution stay apart."""
    data = [
        _stamped("drift", 0.5, 1),
        _stamped("drift", 0.7, 2),
        _stamped("drift", 0.5, 59),
        _stamped("drift", 0.5, 61),  # the next minute
        _stamped("drift", 0.5, 3, dims=[{"Name": "Kind", "Value": "x"}]),
        _stamped("drift", 0.5, 4, resolution=1),
        _stamped(
            "data", 0, 5, stats={"SampleCount": 2.0, "Sum": 3.0, "Minimum": 1.0, "Maximum": 2.0}
        ),
        _stamped(
            "data", 0, 6, stats={"SampleCount": 1.0, "Sum": -4.0, "Minimum": -4.0, "Maximum": -4.0}
        ),
    ]
    before = [dict(d.payload) for d in data]
    merged = coalesce(data)
    assert [positions for _, positions in merged] == [[0, 1, 2], [3], [4], [5], [6, 7]]
    first = merged[0][0].payload
    assert (first["Values"], first["Counts"], "Value" in first) == ([0.5, 0.7], [2.0, 1.0], False)
    assert first["Timestamp"] == data[0].payload["Timestamp"]
    assert merged[1][0] is data[3]  # alone: sent as it was queued
    assert merged[4][0].payload["StatisticValues"] == {
        "SampleCount": 3.0,
        "Sum": -1.0,
        "Minimum": -4.0,
        "Maximum": 2.0,
    }
    assert [d.payload for d in data] == before  # the queued data are left as they were


def test_coalesce_keeps_at_most_150_distinct_values_a_datum() -> None:
    distinct = coalesce([_stamped("drift", float(i), 1) for i in range(160)])
    assert [len(d.payload["Values"]) for d, _ in distinct] == [150, 10]
    repeated = coalesce([_stamped("drift", float(i % 10), 1) for i in range(320)])
    assert [(d.payload["Values"], d.payload["Counts"]) for d, _ in repeated] == [
        ([float(v) for v in range(10)], [32.0] * 10)
    ]


def test_the_sender_sends_a_metric_published_every_batch_as_one_datum() -> None:
    """600 publishes of the same three metrics in one minute: one call of three data, and the
    sent counter counts the 1,800 data queued."""
    client = _Client()
    sender, registry = _sender(client, linger=3600)
    for batch in range(600):
        sender.put([_stamped(name, float(batch % 7), 1) for name in ("a", "b", "c")])
    sender.start()
    sender.close(timeout=30)
    assert client.calls == [("mm", ["a", "b", "c"])]
    assert (
        registry.get_sample_value(
            "driftstream_cloudwatch_metrics_sent_total", {"endpoint": "churn"}
        )
        == 1800
    )
