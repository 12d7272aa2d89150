"""The monitor on generated traffic with changes at known positions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import numpy as np
import pytest

from driftstream.detectors import registry
from driftstream.detectors.baseline import Baseline
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import Monitor
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines

ALARMS = (EventKind.DRIFT, EventKind.VIOLATION)


def run(
    monitor: Monitor, baseline: Baseline, lines: Iterable[bytes], batch: int = 4096
) -> list[Event]:
    decoder = CaptureDecoder(baseline)
    buf = list(lines)
    events: list[Event] = []
    for start in range(0, len(buf), batch):
        decoded = decoder.decode(buf[start : start + batch], start)
        assert not decoded.rejections
        events += monitor.process(decoded)
    return events


def first_alarm(events: list[Event], feature: str) -> Event:
    hits = [e for e in events if e.kind in ALARMS and e.feature == feature]
    assert hits, f"no alarm on {feature}"
    return hits[0]


def test_stationary_traffic_raises_nothing(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    events = run(make_monitor(), synthetic_baseline, capture_lines(Scenario("s", 100_000)))
    assert [e for e in events if e.kind in ALARMS] == []


def test_mean_shift_is_detected_on_its_feature_only(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    scenario = Scenario("m", 30_000, (Change("mean_shift", "balance", 20_000, 0.5),))
    events = run(make_monitor(), synthetic_baseline, capture_lines(scenario))
    alarms = [e for e in events if e.kind in ALARMS]
    assert {e.feature for e in alarms} == {"balance"}
    first = first_alarm(events, "balance")
    assert 20_000 <= first.record_index < 20_500  # type: ignore[operator]
    assert first.detector in ("adwin", "page_hinkley")
    assert first.value is not None and first.threshold is not None
    assert first.value > first.threshold
    assert first.event_id == f"{7:08x}-0000-4000-8000-{first.record_index:012x}"
    # one alarm per sequential detector for a change that persists
    seq = [e for e in alarms if e.detector in ("adwin", "page_hinkley")]
    assert sorted(e.detector for e in seq) == ["adwin", "page_hinkley"]


def test_batch_size_does_not_change_events(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    scenario = Scenario(
        "b",
        12_000,
        (Change("mean_shift", "age", 6000, 0.7), Change("category_mix", "plan", 6000, 0.3)),
    )
    lines = list(capture_lines(scenario))
    big = run(make_monitor(), synthetic_baseline, lines, batch=4096)
    small = run(make_monitor(), synthetic_baseline, lines, batch=97)
    assert [e.to_dict() for e in big] == [e.to_dict() for e in small]
    assert len(big) >= 3


def test_river_engine_gives_the_same_events(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    scenario = Scenario("r", 8000, (Change("mean_shift", "score_a", 4000, 0.6),))
    lines = list(capture_lines(scenario))
    batched = run(make_monitor(), synthetic_baseline, lines)
    river = run(make_monitor(engine="river"), synthetic_baseline, lines)

    def key(e: Event) -> tuple[object, ...]:
        # river's ADWIN does not expose the cut statistic; Page-Hinkley's must match exactly
        stat = (e.value, e.threshold) if e.detector != "adwin" else ()
        return (e.kind, e.record_index, e.feature, e.detector, *stat)

    assert [key(e) for e in batched] == [key(e) for e in river]
    assert any(e.feature == "score_a" for e in batched)


@pytest.mark.parametrize(
    ("change", "detector"),
    [
        (Change("missing", "income", 10_000, 0.2), "completeness_check"),
        (Change("missing", "device", 10_000, 0.2), "completeness_check"),
        (Change("category_mix", "country", 10_000, 0.2), "distribution"),
        (Change("variance", "score_b", 10_000, 2.0), "distribution"),
    ],
)
def test_window_checks_catch_quality_and_mix_changes(
    make_monitor: Callable[..., Monitor],
    synthetic_baseline: Baseline,
    change: Change,
    detector: str,
) -> None:
    events = run(
        make_monitor(), synthetic_baseline, capture_lines(Scenario("w", 16_000, (change,)))
    )
    hits = [e for e in events if e.kind in ALARMS and e.feature == change.feature]
    assert hits and hits[0].detector == detector
    assert 10_000 <= hits[0].record_index < 12_000  # type: ignore[operator]
    assert all(e.record_index >= 10_000 for e in events if e.kind in ALARMS)  # type: ignore[operator]


def test_retrain_signal_is_decided_once_with_a_stable_key(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    changes = (
        *(Change("mean_shift", f, 10_000, 0.8) for f in ("age", "balance", "score_a", "score_b")),
        Change("category_mix", "country", 10_000, 0.3),
    )
    lines = list(capture_lines(Scenario("t", 20_000, changes)))
    first = [
        e
        for e in run(make_monitor(), synthetic_baseline, lines)
        if e.kind is EventKind.RETRAIN_SIGNAL and e.extra["decision"] == "retrain"
    ]
    again = [
        e
        for e in run(make_monitor(), synthetic_baseline, lines)
        if e.kind is EventKind.RETRAIN_SIGNAL and e.extra["decision"] == "retrain"
    ]
    assert len(first) == 1
    signal = first[0]
    assert signal.extra["idempotency_key"] == again[0].extra["idempotency_key"]
    assert {"age", "balance", "score_a", "country"} <= set(signal.extra["features"])
    evidence = signal.extra["evidence"]
    assert evidence["baseline"] == synthetic_baseline.identity
    start, end = evidence["record_range"]
    assert 10_000 <= start <= end == signal.record_index
    for item in evidence["features"].values():
        assert item["value"] > item["threshold"]


def test_state_round_trip_continues_exactly(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    """Checkpoint mid-stream, restore into a fresh monitor: the same events as no break."""
    changes = (Change("mean_shift", "age", 7000, 0.7), Change("missing", "plan", 7000, 0.2))
    lines = list(capture_lines(Scenario("c", 14_000, changes)))
    whole = run(make_monitor(), synthetic_baseline, lines)
    for cut in (3000, 7300, 9001):
        first = make_monitor()
        part1 = run(first, synthetic_baseline, lines[:cut])
        saved = json.loads(json.dumps(first.state_dict(), allow_nan=False))
        second = make_monitor()
        second.load_state(saved)
        decoder = CaptureDecoder(synthetic_baseline)
        part2 = second.process(decoder.decode(lines[cut:], cut))
        assert [e.to_dict() for e in part1 + part2] == [e.to_dict() for e in whole]
    assert any(e.feature == "age" for e in whole)
    assert any(e.feature == "plan" for e in whole)


def test_the_view_carries_every_reading_and_the_batch_values(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    """Per batch, the view holds (statistic, threshold) of every registered detector on every
    feature with spread, the same with either engine, and the batch's values per feature."""
    decoder = CaptureDecoder(synthetic_baseline)
    lines = list(capture_lines(Scenario("v", 3000, (Change("missing", "income", 0, 0.2),))))
    batch = decoder.decode(lines, 0)
    views = []
    for engine in ("batched", "river"):
        monitor = make_monitor(engine=engine)
        monitor.process(batch)
        views.append(monitor.view())
    batched, river = views
    np.testing.assert_equal(river.current, batched.current)
    spread = [n for n in decoder.layout.numeric if _spread(synthetic_baseline, n)]
    assert spread
    for feature in spread:
        for detector in registry.names():
            statistic, threshold = batched.current[(feature, detector)]
            assert np.isfinite([statistic, threshold]).all(), (feature, detector)
    assert ("income", "completeness_check") in batched.current

    assert batched.records == 3000
    for j, name in enumerate(decoder.layout.numeric):
        column = batch.numeric[:, j][~np.isnan(batch.numeric[:, j])]
        summary = batched.values[name]
        assert (summary.count, summary.minimum, summary.maximum) == (
            column.size,
            column.min(),
            column.max(),
        )
        assert summary.total == pytest.approx(column.sum(), rel=1e-12)
    assert batched.values["income"].count < 2700  # a fifth of its values are missing

    # a batch without rows (every record rejected) is a batch with no values, not the last one's
    empty = decoder.decode([b"not json"] * 2, 3000)
    monitor.process(empty)
    assert (monitor.view().records, monitor.view().values) == (2, {})


def _spread(baseline: Baseline, feature: str) -> bool:
    stats = baseline.feature(feature).numeric
    return stats is not None and stats.std_dev > 0


def test_a_detector_registered_after_a_checkpoint_starts_fresh(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    lines = list(capture_lines(Scenario("f", 3000)))
    first = make_monitor()
    run(first, synthetic_baseline, lines)
    saved = json.loads(json.dumps(first.state_dict(), allow_nan=False))
    for detectors in saved["sequential"].values():
        del detectors["page_hinkley"]  # as if Page-Hinkley had been registered since
    second = make_monitor()
    second.load_state(saved)
    assert second.current[("age", "adwin")] == first.current[("age", "adwin")]
    assert np.isnan(second.current[("age", "page_hinkley")][0])
