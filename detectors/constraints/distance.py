"""Model Monitor's baseline-drift distances between two profiles, as Deequ computes them.

Model Monitor's analyzer is built on Deequ (reference §3.2), whose `Distance.scala` compares two
*profiles*, not a profile and raw values:

- numeric: the L∞ distance between the CDFs the two KLL sketches stand for, evaluated at every
  item of either sketch (`numericalDistance`); "Robust" subtracts 1.8·sqrt((n+m)/(n·m)) and
  floors at 0, n and m being the sketches' total weights (detectors/distance.py: `robust`);
- categorical `LInfinity`: the largest difference between the two frequency tables over the
  union of their categories (`categoricalLInfinityDistance`), robust alike;
- categorical `ChiSquared`: Pearson's goodness-of-fit p-value of the window's counts against
  the baseline's scaled to them, after Deequ's regrouping of small expected counts
  (`categoricalChiSquareTest`).

Written from the definitions (Deequ is Apache-2.0; no code is copied).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import special

from driftstream.detectors.base import FloatArray
from driftstream.detectors.baseline.kll import weighted_rank

#: Deequ's thresholds for regrouping expected counts: Cochran's for two categories (every one
#: at least 10), Yates's above (at most 20 % of them below 5)
COCHRAN_MIN = 10.0
YATES_MIN = 5.0
YATES_SHARE = 0.2


def sketch_linf(
    items_a: FloatArray, weights_a: FloatArray, items_b: FloatArray, weights_b: FloatArray
) -> float:
    """max over x in either sketch of |F_a(x) − F_b(x)|, F(x) = weight of items <= x over the
    total weight; 0 when either sketch is empty. Items sorted ascending, weights aligned."""
    n, m = float(weights_a.sum()), float(weights_b.sum())
    if n == 0 or m == 0:
        return 0.0
    keys = np.union1d(items_a, items_b)
    cdf_a = weighted_rank(items_a, weights_a, keys) / n
    cdf_b = weighted_rank(items_b, weights_b, keys) / m
    return float(np.abs(cdf_a - cdf_b).max())


def categorical_linf(window: Mapping[str, float], baseline: Mapping[str, float]) -> float:
    """max over the categories of either table of |p_window(c) − p_baseline(c)|; 0 when either
    is empty."""
    n, m = float(sum(window.values())), float(sum(baseline.values()))
    if n == 0 or m == 0:
        return 0.0
    return max(abs(window.get(c, 0.0) / n - baseline.get(c, 0.0) / m) for c in {*window, *baseline})


def chi_squared_p_value(window: Mapping[str, float], baseline: Mapping[str, float]) -> float:
    """Deequ's ChiSquared drift value: the p-value of the window's counts of the baseline's
    categories against the baseline's counts scaled to the same total; NaN when fewer than two
    categories are left after regrouping (no test).

    Values the baseline never saw are left out, as Deequ leaves them. Regrouping, Deequ's: while
    too many expected counts are small (two categories: any below COCHRAN_MIN; more: over
    YATES_SHARE of them below YATES_MIN), the smallest category is merged into the next
    smallest (ties: the first in the baseline's order; Deequ's map order is unspecified).
    """
    baseline = {c: count for c, count in baseline.items() if count > 0}
    sample = float(sum(window.get(c, 0.0) for c in baseline))
    total = float(sum(baseline.values()))
    if total == 0:
        return math.nan
    expected = {c: count / total * sample for c, count in baseline.items()}
    observed = {c: float(window.get(c, 0.0)) for c in baseline}
    while len(expected) >= 2:
        if len(expected) == 2:
            minimum, allowed = COCHRAN_MIN, 0
        else:
            minimum, allowed = YATES_MIN, int(YATES_SHARE * len(expected))
        if sum(e < minimum for e in expected.values()) <= allowed:
            break
        smallest = min(expected, key=expected.__getitem__)
        moved_expected, moved_observed = expected.pop(smallest), observed.pop(smallest)
        into = min(expected, key=expected.__getitem__)
        expected[into] += moved_expected
        observed[into] += moved_observed
    if len(expected) < 2:
        return math.nan
    e = np.fromiter(expected.values(), dtype=np.float64)
    o = np.fromiter((observed[c] for c in expected), dtype=np.float64)
    statistic = float(np.sum((o - e) ** 2 / e))
    return float(special.chdtrc(len(e) - 1, statistic))
