"""The drift gauges: every registered detector's statistic is exported, whatever the engine;
counters start at 0; the breach score reads one way for every check."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import Monitor, MonitorView
from driftstream.sinks.prometheus import PrometheusSink, add_readings, breach_score, drift_gauges
from driftstream.streamer.app.demo import demo_changes
from driftstream.streamer.decode.base import RejectReason
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.runtime.metrics import PartitionDriftCollector
from driftstream.streamer.sources.base import Partition
from driftstream.streamer.sources.synthetic import Scenario, capture_lines
from tests.streamer.live_doubles import small_monitor


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaptureDecoder, Monitor]:
    return small_monitor(tmp_path_factory.mktemp("prometheus"))


def _monitor(parts: tuple[CaptureDecoder, Monitor], engine: str) -> Monitor:
    _, built = parts
    settings = built.settings.model_copy(update={"engine": engine})
    return Monitor(built.baseline, built.numeric_columns, built.categorical_columns, settings)


@pytest.mark.parametrize("engine", ["batched", "river"])
def test_every_detector_statistic_is_a_gauge_after_a_batch(
    parts: tuple[CaptureDecoder, Monitor], engine: str
) -> None:
    decoder, _ = parts
    monitor = _monitor(parts, engine)
    registry = CollectorRegistry()
    sink = PrometheusSink("churn", registry=registry)
    sink.watch(monitor.view)
    # the live service's collector reads the partitions' views (its own registry: same names)
    live = CollectorRegistry()
    live.register(PartitionDriftCollector("churn", lambda: {Partition("captures", 0): view}))

    view = monitor.view()
    assert registry.get_sample_value("driftstream_drift_statistic", _labels("adwin")) is None
    monitor.process(decoder.decode(list(capture_lines(Scenario("p", 3000))), 0))
    view = monitor.view()

    for detector in ("adwin", "page_hinkley", "distribution", "completeness_check"):
        labels = _labels(detector)
        statistic = registry.get_sample_value("driftstream_drift_statistic", labels)
        threshold = registry.get_sample_value("driftstream_drift_threshold", labels)
        assert statistic is not None and math.isfinite(statistic), detector
        assert threshold is not None and math.isfinite(threshold), detector
        assert (statistic, threshold) == monitor.current[("age", detector)]
        where = {**labels, "topic": "captures", "partition": "0"}
        assert live.get_sample_value("driftstream_drift_statistic", where) == statistic
        # the evidence behind it: how many values, and how old the verdict is
        samples = registry.get_sample_value("driftstream_drift_samples", labels)
        assert samples == view.samples[("age", detector)] > 0
        assert live.get_sample_value("driftstream_drift_samples", where) == samples
        age = registry.get_sample_value("driftstream_drift_verdict_age_seconds", labels)
        assert age is not None and 0 <= age < 3600


def _labels(detector: str) -> dict[str, str]:
    return {"endpoint": "churn", "feature": "age", "detector": detector}


def test_counters_exist_at_zero_for_every_label_set_known_at_start_up(
    parts: tuple[CaptureDecoder, Monitor],
) -> None:
    """Before any record, every event label set the monitor can emit and every rejection
    reason has a counter at 0; afterwards, no event of a drifting stream used a label set
    outside them (each first event is an increase from 0, which increase() and rate() see)."""
    decoder, _ = parts
    monitor = _monitor(parts, "batched")
    registry = CollectorRegistry()
    reasons = [r.value for r in RejectReason]
    sink = PrometheusSink(
        "churn", registry=registry, event_labels=monitor.event_labels(), reasons=reasons
    )

    def events(kind: str, feature: str, detector: str) -> float | None:
        labels = {"endpoint": "churn", "kind": kind, "feature": feature, "detector": detector}
        return registry.get_sample_value("driftstream_events_total", labels)

    known = {(k.value, f or "", d or "") for k, f, d in monitor.event_labels()}
    assert {("drift", "age", "adwin"), ("drift", "age", "page_hinkley")} <= known
    assert {
        ("violation", "session_seconds", "completeness_check"),
        ("retrain_signal", "", ""),
    } <= known
    assert all(events(*labels) == 0 for labels in known)
    for reason in reasons:
        where = {"endpoint": "churn", "reason": reason}
        assert registry.get_sample_value("driftstream_records_rejected_total", where) == 0
    for name in ("driftstream_records_read_total", "driftstream_records_used_total"):
        assert registry.get_sample_value(name, {"endpoint": "churn"}) == 0

    lines = list(capture_lines(Scenario("zero", 12_000, demo_changes(4_000), seed=3)))
    emitted: list[Event] = []
    for start in range(0, len(lines), 2_000):
        emitted += monitor.process(decoder.decode(lines[start : start + 2_000], start))
    for event in emitted:
        sink.add(event)
    seen = {(e.kind.value, e.feature or "", e.detector or "") for e in emitted}
    assert {"drift", "violation", "retrain_signal"} <= {kind for kind, _, _ in seen}
    assert seen <= known, seen - known
    first = next(e for e in emitted if e.kind is EventKind.DRIFT)
    assert events("drift", first.feature or "", first.detector or "") >= 1


@pytest.mark.parametrize(
    ("statistic", "threshold", "detector", "score"),
    [
        (0.2, 0.1, "distribution", 2.0),
        (0.05, 0.1, "baseline_drift_check", 0.5),
        (0.1, 0.1, "baseline_drift_check", 1.0),  # equal: within, as the check decides
        (0.97, 0.98, "completeness_check", 1.5),  # 3 % missing where 2 % are allowed
        (0.99, 0.98, "completeness_check", 0.5),
        (0.9, 1.0, "data_type_check", math.inf),  # nothing allowed outside: any is a breach
        (1.0, 1.0, "categorical_values_check", 0.0),
        (3.0, math.inf, "distribution", 0.0),  # a critical value that cannot be reached
        (math.nan, 40.0, "page_hinkley", math.nan),
        (math.nan, math.nan, "adwin", math.nan),
    ],
)
def test_breach_score_reads_one_way_for_every_check(
    statistic: float, threshold: float, detector: str, score: float
) -> None:
    got = breach_score(statistic, threshold, detector)
    assert got == pytest.approx(score, nan_ok=True)


def test_breach_score_is_above_one_exactly_while_a_check_is_breached(
    parts: tuple[CaptureDecoder, Monitor],
) -> None:
    """Through a stream whose drift breaches share checks (completeness: below a minimum) and
    distance checks (above a maximum), every window check's exported score is > 1 exactly when
    the monitor holds it breached."""
    decoder, _ = parts
    monitor = _monitor(parts, "batched")
    registry = CollectorRegistry()
    sink = PrometheusSink("churn", registry=registry)
    sink.watch(monitor.view)
    lines = list(capture_lines(Scenario("score", 12_000, demo_changes(4_000), seed=3)))
    breached_seen: set[str] = set()
    within_seen: set[str] = set()
    for start in range(0, len(lines), 500):
        monitor.process(decoder.decode(lines[start : start + 500], start))
        for (feature, detector), _ in monitor.current.items():
            if detector in ("adwin", "page_hinkley"):
                continue  # sequential detectors: no breached state, they alarm and reset
            labels = {"endpoint": "churn", "feature": feature, "detector": detector}
            score = registry.get_sample_value("driftstream_drift_score", labels)
            active = registry.get_sample_value("driftstream_drift_active", labels)
            assert score is not None and active is not None
            assert (score > 1) == (active == 1), (feature, detector, score)
            (breached_seen if active == 1 else within_seen).add(detector)
    assert {"completeness_check", "distribution", "baseline_drift_check"} <= breached_seen
    assert {"completeness_check", "distribution", "baseline_drift_check"} <= within_seen


def test_the_verdict_age_counts_from_the_batch_that_computed_it() -> None:
    """The age is now minus the view's `evaluated_at` of each reading; readings never computed
    in this run (restored from a checkpoint) have no age series rather than a made-up one."""
    view = MonitorView(
        rows_seen=10,
        current={("x", "adwin"): (0.1, 0.5), ("x", "distribution"): (0.2, 0.3)},
        active=frozenset(),
        samples={("x", "adwin"): 10},
        evaluated_at={("x", "adwin"): 1000.0},
    )
    families = drift_gauges()
    add_readings(families, ["churn"], view, now=1042.5)
    by_name = {f.name: f for f in families}
    ages = by_name["driftstream_drift_verdict_age_seconds"].samples
    assert [(s.labels["detector"], s.value) for s in ages] == [("adwin", 42.5)]
    samples = by_name["driftstream_drift_samples"].samples
    assert [(s.labels["detector"], s.value) for s in samples] == [("adwin", 10.0)]
    assert len(by_name["driftstream_drift_statistic"].samples) == 2
