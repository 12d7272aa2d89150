"""The report's data from the monitor: the trace of every reading every `hop` rows (bounded,
peaks kept), the recent distributions against the baseline, and the view's samples and verdict
times."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from driftstream.detectors.baseline import Baseline
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.recent import OTHER
from driftstream.detectors.trace import Trace, excess
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines
from tests.detectors.test_monitor import run


def test_a_full_series_halves_and_keeps_the_reading_furthest_past_its_threshold() -> None:
    trace = Trace(8)
    for i in range(100):
        statistic = 5.0 if i == 37 else 0.1 * (i % 3)
        trace.add(("x", "adwin"), i, statistic, 1.0)
        # a share check breaches below its threshold: its extreme is the minimum
        trace.add(("x", "completeness_check"), i, 0.2 if i == 61 else 0.99, 0.9)
    upper, lower = trace.to_json()
    assert upper["lower_bound"] is False and lower["lower_bound"] is True
    for series in (upper, lower):
        records = [p[0] for p in series["points"]]
        assert len(records) <= 9  # capacity, plus the readings since the last stored point
        assert records == sorted(records)
        assert records[-1] >= 96  # the end of the stream is there
    assert [37, 5.0, 1.0] in upper["points"]
    assert [61, 0.2, 0.9] in lower["points"]


def test_an_undefined_reading_is_null_and_loses_to_any_number() -> None:
    trace = Trace(4)
    trace.add(("x", "adwin"), 0, math.nan, math.nan)
    trace.add(("x", "adwin"), 1, 0.5, 1.0)
    for record in (2, 3, 4):
        trace.add(("x", "adwin"), record, math.nan, 1.0)
    (series,) = trace.to_json()
    # the fifth reading halved the four stored: (0, 1) kept 1, (2, 3) kept the later
    assert series["points"] == [[1, 0.5, 1.0], [3, None, 1.0], [4, None, 1.0]]
    assert excess(math.nan, 1.0, lower_bound=False) == -math.inf


def test_capacity_zero_keeps_nothing() -> None:
    trace = Trace(0)
    trace.add(("x", "adwin"), 0, 1.0, 2.0)
    assert not trace.enabled and trace.to_json() == []


def test_the_trace_reads_every_detector_at_every_hop_however_the_stream_is_cut(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    scenario = Scenario("t", 6000, (Change("mean_shift", "balance", 3000, 0.8),))
    lines = list(capture_lines(scenario))
    big, small, off = make_monitor(), make_monitor(), make_monitor(trace_points=0)
    events_big = run(big, synthetic_baseline, lines, batch=4096)
    events_small = run(small, synthetic_baseline, lines, batch=97)
    events_off = run(off, synthetic_baseline, lines, batch=4096)
    # reading the detectors at every hop changes no alarm
    assert [e.to_dict() for e in events_big] == [e.to_dict() for e in events_off]
    assert [e.to_dict() for e in events_big] == [e.to_dict() for e in events_small]
    assert any(e.feature == "balance" for e in events_big)
    assert big.report_data()["trace"] == small.report_data()["trace"]
    assert off.report_data()["trace"] == []

    series = {(s["feature"], s["detector"]): s["points"] for s in big.report_data()["trace"]}
    hop, size = big.hop, big.window
    # sequential detectors from the first hop, window checks once a whole window was seen
    assert [p[0] for p in series[("balance", "adwin")]] == list(range(hop - 1, 6000, hop))
    assert [p[0] for p in series[("balance", "distribution")]] == list(range(size - 1, 6000, hop))
    # the last point is what the view says now
    for key in [("balance", "adwin"), ("balance", "page_hinkley"), ("balance", "distribution")]:
        _, statistic, threshold = series[key][-1]
        np.testing.assert_equal((statistic, threshold), big.view().current[key])
    # after the shift the KS distance is past its threshold on the trace too
    after = [p for p in series[("balance", "distribution")] if p[0] > 3000 + size]
    assert after and all(s > t for _, s, t in after)


def test_recent_distributions_set_the_last_window_against_the_baseline(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    scenario = Scenario(
        "d",
        5000,
        (Change("mean_shift", "balance", 0, 2.0), Change("missing", "income", 0, 0.25)),
    )
    monitor = make_monitor()
    run(monitor, synthetic_baseline, list(capture_lines(scenario)))
    data = monitor.report_data()["distributions"]
    assert data["window"] == monitor.window
    by_name = {d["feature"]: d for d in data["features"]}
    assert set(by_name) == {f.name for f in synthetic_baseline.features}
    for d in by_name.values():
        assert d["baseline"] is None or sum(d["baseline"]) == pytest.approx(1.0)
        outside = d.get("below", 0) + d.get("above", 0)
        assert sum(d["recent"]) + outside + d["missing"] == monitor.window, d["feature"]

    def recent_mean_bin(d: dict[str, list[float]]) -> float:
        return float(np.average(np.arange(len(d["recent"])), weights=d["recent"]))

    def baseline_mean_bin(d: dict[str, list[float]]) -> float:
        return float(np.average(np.arange(len(d["baseline"])), weights=d["baseline"]))

    balance, age = by_name["balance"], by_name["age"]
    # two standard deviations up: the recent values sit far right of the baseline's, or above it
    assert balance["above"] > 0 or recent_mean_bin(balance) > baseline_mean_bin(balance) + 5
    assert abs(recent_mean_bin(age) - baseline_mean_bin(age)) < 3  # unchanged feature
    assert by_name["income"]["missing"] > 0.15 * monitor.window
    categorical = [d for d in data["features"] if d["kind"] == "categorical"]
    assert categorical and all(d["categories"][-1] == OTHER for d in categorical)


def test_the_view_carries_samples_and_when_each_verdict_was_computed(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    decoder = CaptureDecoder(synthetic_baseline)
    lines = list(capture_lines(Scenario("a", 2300)))
    monitor = make_monitor()
    monitor.clock = lambda: 1000.0
    monitor.process(decoder.decode(lines[:2000], 0))  # a whole window: every check evaluated
    view = monitor.view()
    assert set(view.samples) == set(view.current) == set(view.evaluated_at)
    assert set(view.evaluated_at.values()) == {1000.0}
    assert view.samples[("balance", "page_hinkley")] == 2000
    assert view.samples[("balance", "distribution")] == 2000
    monitor.clock = lambda: 1060.0
    monitor.process(decoder.decode(lines[2000:2300], 2000))  # no hop boundary: no window check
    view = monitor.view()
    assert view.evaluated_at[("balance", "adwin")] == 1060.0
    assert view.evaluated_at[("balance", "distribution")] == 1000.0
    assert view.samples[("balance", "page_hinkley")] == 2300
