"""Model Monitor's distribution distances between a window of traffic and the baseline.

Numeric: L∞ between the baseline CDF (rebuilt from the KLL sketch) and the window's empirical CDF,
i.e. the two-sample Kolmogorov-Smirnov D. Categorical: L∞ between per-category frequencies.
"Robust" subtracts 1.8·sqrt((n+m)/(n·m)) and floors at 0 (Deequ's `Distance.scala`).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

from driftstream.detectors.base import FloatArray
from driftstream.detectors.baseline.model import NumericStats

ROBUST_C = 1.8


class BaselineCdf:
    """The baseline's step CDF, ready for repeated evaluation (built once per feature)."""

    def __init__(self, stats: NumericStats) -> None:
        self.items = stats.sketch_items
        cum = np.cumsum(stats.sketch_weights)
        self.total = float(cum[-1]) if cum.size else 0.0
        #: cum[j] = share of baseline weight in the first j items
        self.cum = np.concatenate([[0.0], cum / self.total]) if self.total else np.zeros(1)

    def at(self, x: FloatArray) -> FloatArray:
        """F(x) = share of baseline weight <= x."""
        return np.asarray(self.cum[np.searchsorted(self.items, x, side="right")])

    def below(self, x: FloatArray) -> FloatArray:
        """F(x−) = share of baseline weight < x."""
        return np.asarray(self.cum[np.searchsorted(self.items, x, side="left")])


def numeric_linf(window: FloatArray, base: BaselineCdf, *, assume_sorted: bool = False) -> float:
    """sup_x |F_base(x) − F_window(x)| for the present values in `window` (not NaN, any order).

    Between two distinct window values the window CDF is flat and the baseline CDF monotone, so
    the supremum is reached at a window value or just below one; both sorted sequences are walked
    once (O(n + m)) in compiled code.
    """
    values = window if assume_sorted else np.sort(window)
    if values.shape[0] == 0 or base.total == 0:
        return 0.0
    return float(_linf_sorted(np.ascontiguousarray(values), base.items, base.cum))


@njit(cache=True, nogil=True)
def _linf_sorted(values: np.ndarray, items: np.ndarray, cum: np.ndarray) -> float:
    n = values.shape[0]
    m = items.shape[0]
    d = 0.0
    i = 0
    j = 0
    while i < n:
        x = values[i]
        while j < m and items[j] < x:
            j += 1
        d = max(d, abs(cum[j] - i / n))  # just below x
        k = j
        while k < m and items[k] <= x:
            k += 1
        while i < n and values[i] == x:
            i += 1
        d = max(d, abs(cum[k] - i / n))  # at x
        j = k
    return d


def categorical_linf(observed: npt.NDArray[np.float64], expected: npt.NDArray[np.float64]) -> float:
    """max_c |p_obs(c) − p_exp(c)| over aligned category counts."""
    n, m = observed.sum(), expected.sum()
    if n == 0 or m == 0:
        return 0.0
    return float(np.abs(observed / n - expected / m).max())


@njit(cache=True, nogil=True)
def homogeneity_chi2(
    observed: np.ndarray, baseline: np.ndarray, min_expected: float
) -> tuple[float, int]:
    """Pearson χ² of homogeneity for the 2 × k table (window counts, baseline counts).

    Categories whose expected count (in either row) is below `min_expected` are pooled; a pool
    still below it is folded into the category with the smallest total. Returns (statistic,
    degrees of freedom). Compiled: it runs at every window evaluation of every categorical
    feature, where numpy's per-call overhead on a handful of cells dominated.
    """
    k = observed.shape[0]
    n = observed.sum()
    m = baseline.sum()
    total = n + m
    row_min = min(n, m)
    obs = np.empty(k + 1)
    base = np.empty(k + 1)
    cols = 0
    pool_o = 0.0
    pool_b = 0.0
    pooled = False
    for j in range(k):
        if (observed[j] + baseline[j]) * row_min / total < min_expected:
            pool_o += observed[j]
            pool_b += baseline[j]
            pooled = True
        else:
            obs[cols] = observed[j]
            base[cols] = baseline[j]
            cols += 1
    if pooled:
        if cols > 0 and (pool_o + pool_b) * row_min / total < min_expected:
            smallest = 0
            for j in range(1, cols):
                if obs[j] + base[j] < obs[smallest] + base[smallest]:
                    smallest = j
            obs[smallest] += pool_o
            base[smallest] += pool_b
        else:
            obs[cols] = pool_o
            base[cols] = pool_b
            cols += 1
    statistic = 0.0
    for j in range(cols):
        t = obs[j] + base[j]
        e0 = max(t * n / total, 1e-12)
        e1 = max(t * m / total, 1e-12)
        statistic += (obs[j] - e0) ** 2 / e0 + (base[j] - e1) ** 2 / e1
    return statistic, max(cols - 1, 1)


def sample_term(n: float, m: float) -> float:
    """sqrt((n+m)/(n·m)): the sample-size term of the KS and robust L∞ thresholds."""
    return math.sqrt((n + m) / (n * m))


def robust(distance: float, n: float, m: float) -> float:
    """Model Monitor's "Robust" distance: L∞ minus 1.8·sqrt((n+m)/(n·m)), floored at 0."""
    return max(0.0, distance - ROBUST_C * sample_term(n, m))
