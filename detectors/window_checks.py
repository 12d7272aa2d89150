"""Checks evaluated on a sliding window of rows against the baseline.

Every `hop` rows the monitor hands each feature's checks the last `size` rows of the feature, as
one window (NumericWindow: the present values sorted; CategoricalWindow: the category counts),
built once per feature and read by all of its checks. Each check is one class with one `name`,
the detector label of its events and metrics, and follows base.WindowCheck. Two families:

- calibrated drift tests (`distribution`, `completeness_check`): their thresholds come from the
  false-alarm budget (α per evaluation, see detectors/calibration.py): two-sample KS for numeric
  features, Pearson χ² against the baseline frequencies for categorical ones, a binomial test on
  the missing count;
- Model Monitor's constraint checks (`baseline_drift_check`, `data_type_check`,
  `categorical_values_check`) with the thresholds from constraints.json, for compatibility.

A check reports its statistic at every evaluation it can make; the monitor turns a change from
"within" to "breached" into one event and stays quiet while the breach lasts (alarm lifecycle).
`numeric_checks` and `categorical_checks` build a feature's checks in the order their results
are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import repeat
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import special

from driftstream.detectors.base import CheckResult, FloatArray, WindowCheck
from driftstream.detectors.baseline.model import FeatureBaseline, MonitoringConfig
from driftstream.detectors.calibration import ks_critical
from driftstream.detectors.distance import (
    BaselineCdf,
    categorical_linf,
    homogeneity_chi2,
    numeric_linf,
    robust,
    sample_term,
)
from driftstream.detectors.events import EventKind

MIN_PRESENT = 100  # fewer present values than this in a window: distribution tests are skipped
MIN_EXPECTED = 5.0  # χ² cells with a smaller expected count are pooled


@dataclass(frozen=True)
class NumericWindow:
    """One numeric feature's rows in the window under evaluation."""

    present: FloatArray  # the non-missing values, sorted ascending
    missing: int
    # L∞ distances to baseline CDFs already computed for this window: the `distribution` and
    # `baseline_drift_check` checks of a feature measure the same one
    _distances: dict[int, float] = field(default_factory=dict, compare=False, repr=False)

    def linf(self, cdf: BaselineCdf) -> float:
        """Two-sample L∞ distance between these values and the baseline `cdf`, once."""
        key = id(cdf)
        if key not in self._distances:
            self._distances[key] = numeric_linf(self.present, cdf, assume_sorted=True)
        return self._distances[key]


@dataclass(frozen=True)
class CategoricalWindow:
    """One categorical feature's rows in the window under evaluation, counted by code."""

    counts: FloatArray  # per code (CategoryCodes: categories, then `other`); missing left out
    observed: FloatArray  # the baseline's counted categories, then all others pooled
    present: int
    missing: int


class _Check:
    """What every check shares: its feature, and the reading of its last result."""

    name: ClassVar[str]
    kind: ClassVar[EventKind]

    def __init__(self, feature: str) -> None:
        self.feature = feature
        self._statistic = math.nan
        self._threshold = math.nan
        self._samples = 0

    @property
    def statistic(self) -> float:
        return self._statistic

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def samples(self) -> int:
        return self._samples

    def _result(self, breached: bool, value: float, threshold: float, samples: int) -> CheckResult:
        self._statistic, self._threshold, self._samples = value, threshold, samples
        return CheckResult(self.feature, self.name, self.kind, breached, value, threshold)


class CompletenessCheck(_Check):
    """Binomial test: more missing values in the window than the baseline rate allows at α."""

    name = "completeness_check"
    kind = EventKind.VIOLATION

    def __init__(self, feature: FeatureBaseline, window: int, alpha: float) -> None:
        super().__init__(feature.name)
        n_base = 0.0
        if feature.numeric is not None:
            n_base = feature.numeric.num_present + feature.numeric.num_missing
        elif feature.categorical is not None:
            n_base = feature.categorical.num_present + feature.categorical.num_missing
        # a baseline without missing values cannot prove a rate of 0: allow one in n_base + 1
        floor = 1.0 / (n_base + 1.0) if n_base > 0 else 1e-4
        self.p0 = max(1.0 - feature.completeness, floor)
        self.window = window
        self.max_missing = _binomial_upper(window, self.p0, alpha)

    def evaluate(self, window: NumericWindow | CategoricalWindow) -> CheckResult:
        """The share of present values in the window's `window` rows."""
        return self._result(
            window.missing > self.max_missing,
            1.0 - window.missing / self.window,
            1.0 - self.max_missing / self.window,
            self.window,
        )


class DataTypeCheck(_Check):
    """Model Monitor's `data_type_check` of an integral feature: the share of whole numbers."""

    name = "data_type_check"
    kind = EventKind.VIOLATION

    def __init__(self, feature: str, monitoring: MonitoringConfig) -> None:
        super().__init__(feature)
        self.minimum = monitoring.datatype_check_threshold

    def evaluate(self, window: NumericWindow) -> CheckResult | None:
        present = window.present
        n = float(present.shape[0])
        if n == 0:
            return None
        share = float(np.count_nonzero(present == np.floor(present))) / n
        return self._result(share < self.minimum, share, self.minimum, int(n))


class KolmogorovSmirnovCheck(_Check):
    """`distribution` drift of a numeric feature: two-sample KS against the baseline sketch."""

    name = "distribution"
    kind = EventKind.DRIFT

    def __init__(self, feature: str, cdf: BaselineCdf, alpha: float) -> None:
        super().__init__(feature)
        self.cdf = cdf
        self.c_alpha = ks_critical(alpha)

    def evaluate(self, window: NumericWindow) -> CheckResult | None:
        n = float(window.present.shape[0])
        if n < MIN_PRESENT or self.cdf.total == 0:
            return None
        d = window.linf(self.cdf)
        threshold = self.c_alpha * sample_term(n, self.cdf.total)
        return self._result(d > threshold, d, threshold, int(n))


class NumericBaselineDriftCheck(_Check):
    """Model Monitor's `baseline_drift_check` of a numeric feature: L∞ (robust or simple)."""

    name = "baseline_drift_check"
    kind = EventKind.VIOLATION

    def __init__(self, feature: str, cdf: BaselineCdf, monitoring: MonitoringConfig) -> None:
        super().__init__(feature)
        self.cdf = cdf
        self.robust = monitoring.comparison_method == "Robust"
        self.maximum = monitoring.comparison_threshold

    def evaluate(self, window: NumericWindow) -> CheckResult | None:
        n = float(window.present.shape[0])
        m = self.cdf.total
        if n < MIN_PRESENT or m == 0:
            return None
        d = window.linf(self.cdf)  # computed once for the `distribution` check too
        value = robust(d, n, m) if self.robust else d
        return self._result(value > self.maximum, value, self.maximum, int(n))


class CategoryCodes:
    """A categorical feature's values as integer codes, and its windows counted.

    Values are encoded once per batch (`encode`): the baseline's categories first, then domain
    values the baseline did not count, then "other"; -1 is missing. A window is then counted
    with one bincount (`window`) instead of hashing every string at every evaluation.
    """

    def __init__(self, feature: FeatureBaseline) -> None:
        counts = feature.categorical.counts if feature.categorical is not None else {}
        self.n_counted = len(counts)
        extra = [d for d in feature.domain or () if d not in counts]
        self.categories = [*counts, *extra]
        lookup: dict[str | None, int] = {c: i for i, c in enumerate(self.categories)}
        lookup[None] = -1
        self._lookup = lookup.get
        self.other = len(self.categories)
        #: baseline counts of the counted categories, then half a count for all others, so an
        #: expected frequency is never 0
        self.expected = np.append(np.asarray(list(counts.values()), dtype=np.float64), 0.5)
        self.domain = np.zeros(self.other + 1, dtype=bool)
        if feature.domain:
            domain = set(feature.domain)
            self.domain[[i for i, c in enumerate(self.categories) if c in domain]] = True

    def encode(self, values: list[str | None]) -> npt.NDArray[np.int64]:
        """Codes for one batch column: category index, `other` for unknown text, -1 missing."""
        return np.fromiter(
            map(self._lookup, values, repeat(self.other)), dtype=np.int64, count=len(values)
        )

    def window(self, codes: npt.NDArray[np.int64]) -> CategoricalWindow:
        """The window's encoded values of this feature (missing ones included), counted."""
        present = codes[codes >= 0]
        counts = np.bincount(present, minlength=self.other + 1).astype(np.float64)
        observed = np.append(counts[: self.n_counted], counts[self.n_counted :].sum())
        n = int(present.shape[0])
        return CategoricalWindow(counts, observed, n, int(codes.shape[0]) - n)


class CategoricalValuesCheck(_Check):
    """Model Monitor's `categorical_values_check`: the share of values inside the domain."""

    name = "categorical_values_check"
    kind = EventKind.VIOLATION

    def __init__(self, feature: str, codes: CategoryCodes, monitoring: MonitoringConfig) -> None:
        super().__init__(feature)
        self.domain = codes.domain
        self.minimum = monitoring.domain_content_threshold

    def evaluate(self, window: CategoricalWindow) -> CheckResult | None:
        if window.present == 0:
            return None
        inside = float(window.counts[self.domain].sum()) / window.present
        return self._result(inside < self.minimum, inside, self.minimum, window.present)


class ChiSquareCheck(_Check):
    """`distribution` drift of a categorical feature: χ² of homogeneity with the baseline.

    Two-sample, not goodness-of-fit: the baseline frequencies are themselves estimated from a
    finite sample, and treating them as exact inflates the statistic.
    """

    name = "distribution"
    kind = EventKind.DRIFT

    def __init__(self, feature: str, codes: CategoryCodes, alpha: float) -> None:
        super().__init__(feature)
        self.expected = codes.expected
        self.alpha = alpha
        self._criticals: dict[int, float] = {}

    def evaluate(self, window: CategoricalWindow) -> CheckResult | None:
        if window.present < MIN_PRESENT:
            return None
        statistic, dof = homogeneity_chi2(window.observed, self.expected, MIN_EXPECTED)
        critical = self._critical(dof)
        return self._result(statistic > critical, statistic, critical, window.present)

    def _critical(self, dof: int) -> float:
        critical = self._criticals.get(dof)
        if critical is None:
            critical = float(special.chdtri(dof, self.alpha))
            self._criticals[dof] = critical if not math.isnan(critical) else math.inf
        return self._criticals[dof]


class CategoricalBaselineDriftCheck(_Check):
    """Model Monitor's `baseline_drift_check` of a categorical feature: L∞ between frequencies."""

    name = "baseline_drift_check"
    kind = EventKind.VIOLATION

    def __init__(self, feature: str, codes: CategoryCodes, monitoring: MonitoringConfig) -> None:
        super().__init__(feature)
        self.expected = codes.expected
        self.robust = monitoring.comparison_method == "Robust"
        self.maximum = monitoring.categorical_comparison_threshold

    def evaluate(self, window: CategoricalWindow) -> CheckResult | None:
        n = window.present
        if n < MIN_PRESENT:
            return None
        d = categorical_linf(window.observed, self.expected)
        m = float(self.expected.sum())
        value = robust(d, n, m) if self.robust else d
        return self._result(value > self.maximum, value, self.maximum, n)


#: checks whose statistic is a share that breaches *below* its threshold (the minimum share of
#: present, whole-number or in-domain values); every other check and every sequential detector
#: breaches when its statistic is above its threshold
LOWER_BOUND_CHECKS = frozenset(
    {CompletenessCheck.name, DataTypeCheck.name, CategoricalValuesCheck.name}
)


def numeric_checks(
    feature: FeatureBaseline, monitoring: MonitoringConfig, alpha: float, window: int
) -> list[WindowCheck[NumericWindow]]:
    """A numeric feature's checks: completeness, and with a baseline sketch `data_type_check`
    (integral features), `distribution` and `baseline_drift_check` as constraints.json asks."""
    checks: list[WindowCheck[NumericWindow]] = [CompletenessCheck(feature, window, alpha)]
    if feature.numeric is None:
        return checks
    constraints = monitoring.evaluate_constraints and feature.evaluate_constraints
    cdf = BaselineCdf(feature.numeric)
    if feature.inferred_type == "Integral" and constraints:
        checks.append(DataTypeCheck(feature.name, monitoring))
    checks.append(KolmogorovSmirnovCheck(feature.name, cdf, alpha))
    if constraints and monitoring.perform_comparison:
        checks.append(NumericBaselineDriftCheck(feature.name, cdf, monitoring))
    return checks


def categorical_checks(
    feature: FeatureBaseline, monitoring: MonitoringConfig, alpha: float, window: int
) -> tuple[CategoryCodes, list[WindowCheck[CategoricalWindow]]]:
    """A categorical feature's codes and checks: completeness, `categorical_values_check` (with
    a domain), `distribution` and `baseline_drift_check` (with baseline counts)."""
    codes = CategoryCodes(feature)
    checks: list[WindowCheck[CategoricalWindow]] = [CompletenessCheck(feature, window, alpha)]
    constraints = monitoring.evaluate_constraints and feature.evaluate_constraints
    if feature.domain and constraints:
        checks.append(CategoricalValuesCheck(feature.name, codes, monitoring))
    if codes.n_counted:
        checks.append(ChiSquareCheck(feature.name, codes, alpha))
        if constraints and monitoring.perform_comparison:
            checks.append(CategoricalBaselineDriftCheck(feature.name, codes, monitoring))
    return codes, checks


def _binomial_upper(n: int, p: float, alpha: float) -> int:
    """Smallest k with P(K > k) <= alpha for K ~ Binomial(n, p) (scipy.stats' binom.isf)."""
    k = int(n * p)
    while k < n and special.bdtrc(k, n, p) > alpha:
        k += 1
    return k
