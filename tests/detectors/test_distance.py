"""Distances and test statistics of the window checks, against references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from driftstream.detectors.baseline.model import NumericStats
from driftstream.detectors.distance import BaselineCdf, homogeneity_chi2, numeric_linf


def _reference(table: np.ndarray) -> tuple[float, int]:
    stat, _, dof, _ = chi2_contingency(table, correction=False)
    return float(stat), int(dof)


def test_chi2_matches_scipy_when_no_cell_is_small() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        k = int(rng.integers(2, 9))
        observed = rng.integers(20, 500, k).astype(float)
        baseline = rng.integers(200, 5000, k).astype(float)
        stat, dof = homogeneity_chi2(observed, baseline, 5.0)
        ref_stat, ref_dof = _reference(np.vstack([observed, baseline]))
        assert stat == pytest.approx(ref_stat, rel=1e-9)
        assert dof == ref_dof


def test_a_lone_small_cell_is_folded_into_the_smallest_category() -> None:
    observed = np.array([500.0, 300.0, 150.0, 50.0, 0.0])  # last: unseen categories
    baseline = np.array([10_000.0, 6000.0, 3000.0, 1000.0, 0.5])
    stat, dof = homogeneity_chi2(observed, baseline, 5.0)
    folded = np.array([[500.0, 300.0, 150.0, 50.0], [10_000.0, 6000.0, 3000.0, 1000.5]])
    assert (stat, dof) == pytest.approx(_reference(folded), rel=1e-9)


def test_small_cells_with_enough_mass_together_become_one_category() -> None:
    observed = np.array([600.0, 380.0, 3.0, 4.0, 3.0, 10.0])
    baseline = np.array([12_000.0, 7500.0, 60.0, 80.0, 60.0, 300.0])
    stat, dof = homogeneity_chi2(observed, baseline, 5.0)
    pooled = np.array([[600.0, 380.0, 10.0, 10.0], [12_000.0, 7500.0, 300.0, 200.0]])
    assert (stat, dof) == pytest.approx(_reference(pooled), rel=1e-9)


def test_numeric_linf_is_the_supremum_over_all_points() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        items = np.sort(rng.integers(0, 20, rng.integers(1, 50)).astype(float))
        weights = np.full(items.shape, float(rng.integers(1, 4)))
        cdf = BaselineCdf(NumericStats(1, 0, 0, 0, 1, 0, 1, items, weights))
        window = rng.integers(-2, 22, rng.integers(1, 40)).astype(float)
        grid = np.arange(-3, 23, 0.25)  # every jump point and the gaps between them
        f_base = np.array([weights[items <= g].sum() / weights.sum() for g in grid])
        f_window = np.array([(window <= g).mean() for g in grid])
        assert numeric_linf(window, cdf) == pytest.approx(np.abs(f_base - f_window).max())
