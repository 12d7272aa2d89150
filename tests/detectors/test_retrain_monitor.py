"""The retrain policy inside the monitor: it takes model-quality evidence from the watchers'
events of the same batch, in record order with its window evaluations, so its decisions do not
depend on how the stream is cut or where it was checkpointed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from driftstream.detectors.base import RowBatch, Watcher
from driftstream.detectors.baseline import Baseline
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.settings import CalibrationSettings, DetectorSettings, RetrainSettings
from driftstream.detectors.state import StateError
from driftstream.streamer.decode.base import FeatureLayout
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines

N = 12_000
QUALITY_AT = 3_000
DRIFT_AT = 2_000
CHANGES = (
    Change("mean_shift", "age", DRIFT_AT, 1.0),
    Change("mean_shift", "balance", DRIFT_AT, 1.0),
    Change("mean_shift", "score_a", DRIFT_AT, 1.0),
    Change("category_mix", "country", DRIFT_AT, 0.4),
    Change("category_mix", "device", DRIFT_AT, 0.4),
)


class FakeQuality(Watcher):
    """Stands in for the model-quality watcher: one window's accuracy, violated, at record
    `at` (stateless: each record is in exactly one batch)."""

    name: ClassVar[str] = "fake_quality"

    def __init__(self, at: int, accuracy: float) -> None:
        self.at = at
        self.accuracy = accuracy

    def process(self, batch: RowBatch, first_row: int) -> list[Event]:
        records = batch.row_record
        if not len(records) or not records[0] <= self.at <= records[-1]:
            return []
        return [
            Event(
                EventKind.VIOLATION,
                record_index=self.at,
                detector="model_quality_check",
                value=self.accuracy,
                threshold=0.85,
                extra={"metric": "accuracy", "comparison_operator": "LessThanThreshold"},
            )
        ]


def monitor(
    baseline: Baseline, cache: Path, *, with_watcher: bool = True, **retrain: Any
) -> Monitor:
    layout = FeatureLayout.from_baseline(baseline)
    settings = DetectorSettings(
        calibration=CalibrationSettings(samples=300_000, cache_dir=cache),
        retrain=RetrainSettings(**retrain),
    )
    return Monitor(
        baseline,
        layout.numeric,
        layout.categorical,
        settings,
        endpoint="churn",
        watchers=[FakeQuality(QUALITY_AT, 0.7)] if with_watcher else [],
        approval_required=True,
    )


def decisions(
    m: Monitor, baseline: Baseline, lines: list[bytes], batch: int, start: int = 0
) -> list[dict[str, Any]]:
    decoder = CaptureDecoder(baseline)
    out: list[Event] = []
    for at in range(start, len(lines), batch):
        out += m.process(decoder.decode(lines[at : at + batch], at))
    return [e.to_dict() for e in out if e.kind is EventKind.RETRAIN_SIGNAL]


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return list(capture_lines(Scenario("retrain", N, CHANGES)))


def test_a_quality_breach_in_the_watchers_events_comes_first_and_cools_drift_down(
    synthetic_baseline: Baseline, calibration_cache: Path, lines: list[bytes]
) -> None:
    m = monitor(
        synthetic_baseline,
        calibration_cache,
        quality={"thresholds": {"accuracy": {"below": 0.8}}},
    )
    got = decisions(m, synthetic_baseline, lines, 4096)
    signals = [d for d in got if d["decision"] == "retrain"]
    assert [(d["trigger"], d["record_index"]) for d in signals] == [("quality", QUALITY_AT)]
    (signal,) = signals
    assert signal["approval"] == "required"
    assert (
        signal["inference_time"] == json.loads(lines[QUALITY_AT])["eventMetadata"]["inferenceTime"]
    )
    breach = signal["evidence"]["quality_breach"]
    assert (breach["value"], breach["policy_threshold"]) == (0.7, {"below": 0.8, "above": None})
    assert (signal["value"], signal["threshold"]) == (0.7, 0.8)
    lineage = signal["lineage"]
    assert lineage["baseline"]["identity"] == synthetic_baseline.identity
    assert lineage["detectors"]["watchers"] == ["fake_quality"]
    assert {"adwin", "page_hinkley"} <= set(lineage["detectors"]["registered"])
    # the drift that followed was held by the cool-down the quality signal started, and said so
    after = [(d["decision"], d.get("reason")) for d in got if d["record_index"] > QUALITY_AT]
    assert ("deferred", "cooling_down") in after
    assert all(decision == "deferred" for decision, _ in after)


def test_without_the_quality_breach_the_drift_alone_retrains(
    synthetic_baseline: Baseline, calibration_cache: Path, lines: list[bytes]
) -> None:
    got = decisions(
        monitor(synthetic_baseline, calibration_cache, with_watcher=False),
        synthetic_baseline,
        lines,
        4096,
    )
    signals = [d for d in got if d["decision"] == "retrain"]
    assert [d["trigger"] for d in signals] == ["drift"]
    assert signals[0]["record_index"] > DRIFT_AT
    assert {"age", "balance", "country"} <= set(signals[0]["features"])
    first = got[0]
    assert (first["decision"], first["reason"]) == ("deferred", "not_persistent")


def test_decisions_do_not_depend_on_batches_or_checkpoints(
    synthetic_baseline: Baseline, calibration_cache: Path, lines: list[bytes]
) -> None:
    settings: dict[str, Any] = {"quality": {"thresholds": {"accuracy": {"below": 0.8}}}}
    whole = decisions(
        monitor(synthetic_baseline, calibration_cache, **settings), synthetic_baseline, lines, 4096
    )
    assert (
        decisions(
            monitor(synthetic_baseline, calibration_cache, **settings),
            synthetic_baseline,
            lines,
            777,
        )
        == whole
    )
    for cut in (2_900, 3_001, 6_500):
        first = monitor(synthetic_baseline, calibration_cache, **settings)
        part1 = decisions(first, synthetic_baseline, lines[:cut], 1000)
        saved = json.loads(json.dumps(first.state_dict(), allow_nan=False))
        second = monitor(synthetic_baseline, calibration_cache, **settings)
        second.load_state(saved)
        part2 = decisions(second, synthetic_baseline, lines, 1000, start=cut)
        assert part1 + part2 == whole, cut


def test_a_policy_state_naming_another_feature_is_refused(
    synthetic_baseline: Baseline, calibration_cache: Path, lines: list[bytes]
) -> None:
    m = monitor(synthetic_baseline, calibration_cache)
    decisions(m, synthetic_baseline, lines[:3000], 1000)
    saved = json.loads(json.dumps(m.state_dict(), allow_nan=False))
    assert saved["policy"]["drifted"], "the case needs drift evidence in the state"
    saved["policy"]["drifted"][0][0] = "zip"
    before = m.state_dict()
    with pytest.raises(StateError, match=r"policy\.drifted\[0\]: 'zip' is not a feature here"):
        m.load_state(saved)
    assert m.state_dict() == before


class ClosingQuality(FakeQuality):
    """Reports the last window's breach when the stream ends (Watcher.finish)."""

    name: ClassVar[str] = "closing_quality"

    def process(self, batch: RowBatch, first_row: int) -> list[Event]:
        return []

    def finish(self) -> list[Event]:
        return super().process(_Records(self.at), 0)  # type: ignore[arg-type]


class _Records:
    """Just enough of a batch for FakeQuality: the one record it reports at."""

    def __init__(self, at: int) -> None:
        self.row_record = np.array([at])


def test_a_breach_reported_at_the_end_of_the_stream_is_decided_too(
    synthetic_baseline: Baseline, calibration_cache: Path, lines: list[bytes]
) -> None:
    layout = FeatureLayout.from_baseline(synthetic_baseline)
    m = Monitor(
        synthetic_baseline,
        layout.numeric,
        layout.categorical,
        DetectorSettings(
            calibration=CalibrationSettings(samples=300_000, cache_dir=calibration_cache)
        ),
        endpoint="churn",
        watchers=[ClosingQuality(1_500, 0.6)],
    )
    assert not [
        d
        for d in decisions(m, synthetic_baseline, lines[:1_600], 800)
        if d["decision"] == "retrain"
    ]
    (signal,) = [e for e in m.finish() if e.kind is EventKind.RETRAIN_SIGNAL]
    assert (signal.extra["decision"], signal.extra["trigger"], signal.record_index) == (
        "retrain",
        "quality",
        1_500,
    )


class MeasuredQuality(Watcher):
    """Stands in for the model-quality watcher whose window found accuracy `accuracy` at
    record `at` without violating its model-quality constraint (no event of the run): only a
    measurement for the policy (Watcher.observations)."""

    name: ClassVar[str] = "measured_quality"

    def __init__(self, at: int, accuracy: float) -> None:
        self.at = at
        self.accuracy = accuracy
        self._measured: list[Event] = []

    def process(self, batch: RowBatch, first_row: int) -> list[Event]:
        records = batch.row_record
        if len(records) and records[0] <= self.at <= records[-1]:
            self._measured.append(
                Event(
                    EventKind.VIOLATION,
                    record_index=self.at,
                    detector="model_quality",
                    value=self.accuracy,
                    extra={"metric": "accuracy", "pairs": 500},
                )
            )
        return []

    def observations(self) -> list[Event]:
        measured, self._measured = self._measured, []
        return measured


@pytest.mark.parametrize(("accuracy", "signalled"), [(0.75, True), (0.9, False)])
def test_the_policys_own_quality_threshold_judges_every_measured_window(
    synthetic_baseline: Baseline, calibration_cache: Path, accuracy: float, signalled: bool
) -> None:
    """ "Retrain when accuracy falls below 0.8" holds whatever the model-quality constraints
    say: a window measured at 0.75 retrains (no drift at all), one at 0.9 says nothing (a
    measurement within the threshold is no event)."""
    layout = FeatureLayout.from_baseline(synthetic_baseline)
    settings = DetectorSettings(
        calibration=CalibrationSettings(samples=300_000, cache_dir=calibration_cache),
        retrain=RetrainSettings(quality={"thresholds": {"accuracy": {"below": 0.8}}}),
    )
    m = Monitor(
        synthetic_baseline,
        layout.numeric,
        layout.categorical,
        settings,
        endpoint="churn",
        watchers=[MeasuredQuality(QUALITY_AT, accuracy)],
    )
    quiet = list(capture_lines(Scenario("measured", 6000)))
    got = decisions(m, synthetic_baseline, quiet, 1000)
    if signalled:
        (signal,) = got
        assert (signal["decision"], signal["trigger"]) == ("retrain", "quality")
        assert (signal["record_index"], signal["value"], signal["threshold"]) == (
            QUALITY_AT,
            0.75,
            0.8,
        )
    else:
        assert [d for d in got if d.get("trigger") == "quality"] == []
