"""The batched (numba) detectors raise alarms at exactly river's record indices, and report the
same readings. Every stream holds real changes, so every case compares alarms that exist."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from driftstream.detectors.adwin import ADWIN, RiverADWIN
from driftstream.detectors.base import DriftDetector
from driftstream.detectors.page_hinkley import PageHinkley, RiverPageHinkley


def _streams() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(2024)
    standardised = lambda x: np.clip((x - x.mean()) / x.std(), -5, 5)  # noqa: E731
    return [
        (
            "mean_shifts",
            np.concatenate(
                [rng.normal(0, 1, 4000), rng.normal(0.5, 1, 4000), rng.normal(-1, 2, 4000)]
            ),
        ),
        (
            "lognormal_shift",
            standardised(np.concatenate([rng.lognormal(0, 1, 6000), rng.lognormal(0.5, 1, 6000)])),
        ),
        ("poisson_ramp", standardised(rng.poisson(3, 12_000) + np.linspace(0, 2, 12_000))),
        (
            "variance_then_mean",
            np.concatenate(
                [rng.normal(0, 1, 5000), rng.normal(0, 3, 5000), rng.normal(2, 3, 2000)]
            ),
        ),
    ]


STREAMS = _streams()


@pytest.mark.parametrize(("name", "xs"), STREAMS, ids=[s[0] for s in STREAMS])
@pytest.mark.parametrize("delta", [0.002, 0.3, 1e-5])
def test_adwin_matches_river(name: str, xs: np.ndarray, delta: float) -> None:
    ours = ADWIN(delta=delta).update_many(xs).tolist()
    river = RiverADWIN(delta=delta).update_many(xs).tolist()
    assert ours == river
    assert len(ours) > 0, "every stream holds a change: without alarms the test proves nothing"


@pytest.mark.parametrize(("name", "xs"), STREAMS, ids=[s[0] for s in STREAMS])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"delta": 0.25, "threshold": 12.0, "alpha": 1.0},
        {"delta": 0.1, "threshold": 8.0, "mode": "up"},
        {"delta": 0.1, "threshold": 8.0, "mode": "down", "min_instances": 100},
    ],
)
def test_page_hinkley_matches_river(name: str, xs: np.ndarray, params: dict[str, object]) -> None:
    ours = PageHinkley(**params).update_many(xs).tolist()  # type: ignore[arg-type]
    river = RiverPageHinkley(**params).update_many(xs).tolist()  # type: ignore[arg-type]
    assert ours == river
    assert len(ours) > 0


@pytest.mark.parametrize(
    "make", [lambda: ADWIN(delta=0.05), lambda: PageHinkley(delta=0.25, threshold=10.0, alpha=1.0)]
)
def test_batch_boundaries_do_not_change_alarms(make: object) -> None:
    xs = STREAMS[0][1]
    whole = make().update_many(xs).tolist()  # type: ignore[operator]
    det = make()  # type: ignore[operator]
    pieces: list[int] = []
    start = 0
    for size in [1, 7, 500, 31, 4096, 1, 2000] * 10:
        chunk = xs[start : start + size]
        if chunk.size == 0:
            break
        pieces += [start + i for i in det.update_many(chunk).tolist()]
        start += size
    pieces += [start + i for i in det.update_many(xs[start:]).tolist()]
    assert pieces == whole
    assert whole


def test_alarm_statistics_report_what_crossed() -> None:
    xs = STREAMS[0][1]
    ph = PageHinkley(delta=0.25, threshold=10.0, alpha=1.0)
    hits = ph.update_many(xs)
    values, thresholds = ph.alarm_statistics
    assert len(values) == len(hits) > 0
    assert (values > thresholds).all()
    assert (thresholds == 10.0).all()
    ad = ADWIN(delta=0.01)
    hits = ad.update_many(xs)
    values, thresholds = ad.alarm_statistics
    assert len(values) == len(hits) > 0
    assert (values > thresholds).all()


READING_PAIRS = {
    "adwin": (lambda: ADWIN(delta=0.002), lambda: RiverADWIN(delta=0.002)),
    "page_hinkley": (
        lambda: PageHinkley(delta=0.25, threshold=12.0, alpha=1.0),
        lambda: RiverPageHinkley(delta=0.25, threshold=12.0, alpha=1.0),
    ),
    "page_hinkley_up": (
        lambda: PageHinkley(delta=0.1, threshold=8.0, mode="up"),
        lambda: RiverPageHinkley(delta=0.1, threshold=8.0, mode="up"),
    ),
}


@pytest.mark.parametrize("pair", READING_PAIRS.values(), ids=READING_PAIRS.keys())
def test_readings_match_river(
    pair: tuple[Callable[[], DriftDetector], Callable[[], DriftDetector]],
) -> None:
    """Batch by batch, both engines read the same statistic and threshold, alarms included."""
    ours, river = pair[0](), pair[1]()
    xs = STREAMS[0][1]
    alarms = 0
    for start in range(0, xs.shape[0], 250):
        chunk = xs[start : start + 250]
        hits = ours.update_many(chunk).tolist()
        assert river.update_many(chunk).tolist() == hits
        alarms += len(hits)
        assert ours.drift_detected == river.drift_detected
        np.testing.assert_equal(
            (ours.statistic, ours.threshold), (river.statistic, river.threshold)
        )
        if not ours.drift_detected:  # right after an alarm the readings are NaN
            assert np.isfinite([ours.statistic, ours.threshold]).all()
    assert alarms > 0
