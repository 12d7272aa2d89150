"""Checks evaluated on a sliding window of rows against the baseline.

Every `hop` rows the monitor hands each check the last `size` rows of its feature. Two families:

- calibrated drift tests (`distribution`, `completeness_check`): their thresholds come from the
  false-alarm budget (α per evaluation, see detectors/calibration.py): two-sample KS for numeric
  features, Pearson χ² against the baseline frequencies for categorical ones, a binomial test on
  the missing count;
- Model Monitor's constraint checks (`baseline_drift_check`, `data_type_check`,
  `categorical_values_check`) with the thresholds from constraints.json, for compatibility.

A check reports its statistic at every evaluation; the monitor turns a change from "within" to
"breached" into one event and stays quiet while the breach lasts (alarm lifecycle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt
from scipy import special

from driftstream.detectors.base import FloatArray
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
class CheckResult:
    feature: str
    detector: str
    kind: EventKind
    breached: bool
    value: float
    threshold: float


class CompletenessCheck:
    """Binomial test: more missing values in the window than the baseline rate allows at α."""

    detector = "completeness_check"

    def __init__(self, feature: FeatureBaseline, window: int, alpha: float) -> None:
        self.feature = feature.name
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

    def evaluate(self, n_missing: int) -> CheckResult:
        """`n_missing` of the window's `window` rows are missing."""
        return CheckResult(
            self.feature,
            self.detector,
            EventKind.VIOLATION,
            n_missing > self.max_missing,
            1.0 - n_missing / self.window,
            1.0 - self.max_missing / self.window,
        )


class NumericChecks:
    """KS `distribution` drift, `baseline_drift_check` and `data_type_check` for one feature."""

    def __init__(
        self, feature: FeatureBaseline, monitoring: MonitoringConfig, alpha: float
    ) -> None:
        assert feature.numeric is not None
        self.feature = feature.name
        self.cdf = BaselineCdf(feature.numeric)
        self.c_alpha = ks_critical(alpha)
        self.monitoring = monitoring
        self.integral = feature.inferred_type == "Integral"
        self.evaluate_constraints = monitoring.evaluate_constraints and feature.evaluate_constraints

    def evaluate(self, present: FloatArray) -> list[CheckResult]:
        """`present`: the window's non-missing values of this feature, sorted ascending."""
        out: list[CheckResult] = []
        n = float(present.shape[0])
        if self.integral and self.evaluate_constraints and n > 0:
            share = float(np.count_nonzero(present == np.floor(present))) / n
            threshold = self.monitoring.datatype_check_threshold
            out.append(
                CheckResult(
                    self.feature,
                    "data_type_check",
                    EventKind.VIOLATION,
                    share < threshold,
                    share,
                    threshold,
                )
            )
        if n < MIN_PRESENT or self.cdf.total == 0:
            return out
        m = self.cdf.total
        d = numeric_linf(present, self.cdf, assume_sorted=True)
        ks_threshold = self.c_alpha * sample_term(n, m)
        out.append(
            CheckResult(
                self.feature, "distribution", EventKind.DRIFT, d > ks_threshold, d, ks_threshold
            )
        )
        if self.evaluate_constraints and self.monitoring.perform_comparison:
            threshold = self.monitoring.comparison_threshold
            value = robust(d, n, m) if self.monitoring.comparison_method == "Robust" else d
            out.append(
                CheckResult(
                    self.feature,
                    "baseline_drift_check",
                    EventKind.VIOLATION,
                    value > threshold,
                    value,
                    threshold,
                )
            )
        return out


class CategoricalChecks:
    """χ² `distribution` drift, L∞ `baseline_drift_check` and `categorical_values_check`.

    Values are encoded once per batch (`encode`) into integer codes: the baseline's categories
    first, then domain values the baseline did not count, then "other"; -1 is missing. A window
    is then counted with one bincount instead of hashing every string at every evaluation.
    """

    def __init__(
        self, feature: FeatureBaseline, monitoring: MonitoringConfig, alpha: float
    ) -> None:
        self.feature = feature.name
        self.alpha = alpha
        self.monitoring = monitoring
        counts = feature.categorical.counts if feature.categorical is not None else {}
        self.n_counted = len(counts)
        extra = [d for d in feature.domain or () if d not in counts]
        self.categories = [*counts, *extra]
        self.codes = {c: i for i, c in enumerate(self.categories)}
        lookup: dict[str | None, int] = dict(self.codes.items())
        lookup[None] = -1
        self._lookup = lookup.get
        self.other = len(self.categories)
        self.expected = np.asarray(list(counts.values()), dtype=np.float64)
        self.in_domain = np.zeros(self.other + 1, dtype=bool)
        if feature.domain:
            domain = set(feature.domain)
            self.in_domain[[i for i, c in enumerate(self.categories) if c in domain]] = True
        self.has_domain = bool(feature.domain)
        self._criticals: dict[int, float] = {}
        self.evaluate_constraints = monitoring.evaluate_constraints and feature.evaluate_constraints

    def encode(self, values: list[str | None]) -> npt.NDArray[np.int64]:
        """Codes for one batch column: category index, `other` for unknown text, -1 missing."""
        return np.fromiter(
            map(self._lookup, values, repeat(self.other)), dtype=np.int64, count=len(values)
        )

    def evaluate(self, codes: npt.NDArray[np.int64]) -> list[CheckResult]:
        """`codes`: the window's encoded values of this feature (missing ones included)."""
        out: list[CheckResult] = []
        present = codes[codes >= 0]
        n = int(present.shape[0])
        if n == 0:
            return out
        counts = np.bincount(present, minlength=self.other + 1).astype(np.float64)
        if self.has_domain and self.evaluate_constraints:
            inside = float(counts[self.in_domain].sum()) / n
            threshold = self.monitoring.domain_content_threshold
            out.append(
                CheckResult(
                    self.feature,
                    "categorical_values_check",
                    EventKind.VIOLATION,
                    inside < threshold,
                    inside,
                    threshold,
                )
            )
        if n < MIN_PRESENT or not self.n_counted:
            return out
        observed = np.append(counts[: self.n_counted], counts[self.n_counted :].sum())
        # unseen categories get half a baseline count, so an expected frequency is never 0
        expected = np.append(self.expected, 0.5)
        out.append(self._chi_square(observed, expected))
        if self.evaluate_constraints and self.monitoring.perform_comparison:
            d = categorical_linf(observed, expected)
            m = float(expected.sum())
            value = robust(d, n, m) if self.monitoring.comparison_method == "Robust" else d
            threshold = self.monitoring.categorical_comparison_threshold
            out.append(
                CheckResult(
                    self.feature,
                    "baseline_drift_check",
                    EventKind.VIOLATION,
                    value > threshold,
                    value,
                    threshold,
                )
            )
        return out

    def _chi_square(
        self, observed: npt.NDArray[np.float64], baseline: npt.NDArray[np.float64]
    ) -> CheckResult:
        """χ² test of homogeneity between the window's and the baseline's category counts.

        Two-sample, not goodness-of-fit: the baseline frequencies are themselves estimated from
        a finite sample, and treating them as exact inflates the statistic.
        """
        statistic, dof = homogeneity_chi2(observed, baseline, MIN_EXPECTED)
        critical = self._critical(dof)
        return CheckResult(
            self.feature,
            "distribution",
            EventKind.DRIFT,
            statistic > critical,
            statistic,
            critical,
        )

    def _critical(self, dof: int) -> float:
        critical = self._criticals.get(dof)
        if critical is None:
            critical = float(special.chdtri(dof, self.alpha))
            self._criticals[dof] = critical if not math.isnan(critical) else math.inf
        return self._criticals[dof]


def _binomial_upper(n: int, p: float, alpha: float) -> int:
    """Smallest k with P(K > k) <= alpha for K ~ Binomial(n, p) (scipy.stats' binom.isf)."""
    k = int(n * p)
    while k < n and special.bdtrc(k, n, p) > alpha:
        k += 1
    return k
