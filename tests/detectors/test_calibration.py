"""Calibration lands the measured false-alarm rate at or below the target."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftstream.detectors.adwin import ADWIN
from driftstream.detectors.calibration import (
    adwin_delta,
    fit_adwin,
    fit_page_hinkley,
    ks_critical,
    page_hinkley_threshold,
    per_source_rate,
)
from driftstream.detectors.page_hinkley import PageHinkley


def test_budget_split_over_sources() -> None:
    beta = per_source_rate(1.0, 50)
    # 1 − (1 − β)^50 = 1e-6
    assert math.isclose(-math.expm1(50 * math.log1p(-beta)), 1e-6, rel_tol=1e-9)
    assert math.isclose(beta, 2e-8, rel_tol=1e-3)
    with pytest.raises(ValueError, match="false_alarms_per_million"):
        per_source_rate(0, 3)


def test_ks_critical_value_matches_the_textbook() -> None:
    # c(0.05) = 1.358, c(0.001) = 1.949 (two-sample KS table)
    assert ks_critical(0.05) == pytest.approx(1.358, abs=1e-3)
    assert ks_critical(0.001) == pytest.approx(1.949, abs=1e-3)


@pytest.mark.parametrize("dist", ["normal", "lognormal", "poisson"])
def test_page_hinkley_threshold_meets_target(dist: str) -> None:
    rng = np.random.default_rng(5)

    def draw(n: int) -> np.ndarray:
        x = {
            "normal": lambda: rng.normal(0, 1, n),
            "lognormal": lambda: rng.lognormal(0, 1, n),
            "poisson": lambda: rng.poisson(2, n).astype(float),
        }[dist]()
        return np.clip((x - x.mean()) / x.std(), -5, 5)

    proto = PageHinkley(delta=0.25, alpha=1.0)
    fit = fit_page_hinkley(draw(600_000), proto)
    target = 50_000.0
    lam = page_hinkley_threshold(fit, target)
    fresh = draw(4_000_000)
    alarms = len(proto.clone(threshold=lam).update_many(fresh))
    measured = fresh.shape[0] / max(alarms, 1)
    assert measured >= target, f"ARL0 {measured:.0f} below the target {target:.0f}"
    # and not absurdly conservative: the threshold stays near the target's
    assert alarms >= 5


def test_adwin_delta_meets_target() -> None:
    rng = np.random.default_rng(9)
    proto = ADWIN()
    fit = fit_adwin(rng.normal(0, 1, 600_000), proto)
    target = 100_000.0
    delta = adwin_delta(fit, target)
    assert 1e-6 < delta < 0.1
    fresh = rng.normal(0, 1, 4_000_000)
    alarms = len(proto.clone(delta=delta).update_many(fresh))
    assert fresh.shape[0] / max(alarms, 1) >= target
