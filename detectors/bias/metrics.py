"""Clarify's post-training bias metrics of predicted labels, and the sampling-aware bias-drift test.

Definitions (Clarify, reference §5.1): facet *d* is the sensitive group (rows whose facet value
is `value_or_threshold`), facet *a* every other row; q′_a and q′_d are the shares of positive
predicted labels in each.

- DPPL = q′_a − q′_d (0: parity; undefined when either group is empty);
- DI = q′_d / q′_a (1: parity), with Clarify's division: 0/0 = 0, x/0 = +∞;
- CDDPL: per subgroup i of `group_variable`, D_i − A_i with D_i = n′_d(0)/n′(0) and
  A_i = n′_d(1)/n′(1) inside i (a share with an empty denominator is 0), averaged with the
  subgroups' row counts as weights.

The drift test (docs/bias-drift.md has the reasoning). Model Monitor logs a violation when the
live metric is *worse* than the baseline's, farther from its fair value (DPPL: 0; DI: 1, distance
measured on the log scale, |ln DI|, so that 0.5 and 2 are equally far). A window's metric is a
sample, so here the whole confidence interval of the live metric must lie farther from the fair
value than the baseline allows:

    statistic = the distance from the fair value of the live interval's nearest end (0 when the
                interval holds the fair value)
    threshold = the baseline's distance from the fair value; when the baseline's counts are known
                (our own baselines), the distance of the far end of the baseline's interval
    violation ⇔ statistic > threshold

The intervals are exact: each group's positive share gets a Clopper–Pearson interval, and the
metric's interval is the range of the metric over both shares' intervals (each at α/2, so both
hold together with probability ≥ 1 − α, at any sample size). A false alarm needs the live
interval to miss the live truth or the baseline interval to miss the baseline truth, so its
probability per window and metric is at most α_live + α_baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import special

Metric = Literal["DPPL", "DI"]
#: the metrics monitored live, in Clarify's (alphabetical) order
LIVE_METRICS: tuple[Metric, ...] = ("DI", "DPPL")


def divide(a: float, b: float) -> float:
    """Clarify's division: 0/0 is 0, x/0 is ±infinity."""
    if b == 0:
        return 0.0 if a == 0 else math.copysign(math.inf, a)
    return a / b


@dataclass(frozen=True)
class GroupCounts:
    """Rows and positive predicted labels of facet d (the sensitive group) and facet a (all
    other rows with a facet value), in a baseline or one window."""

    rows_a: int = 0
    positive_a: int = 0
    rows_d: int = 0
    positive_d: int = 0

    def __add__(self, other: GroupCounts) -> GroupCounts:
        return GroupCounts(
            self.rows_a + other.rows_a,
            self.positive_a + other.positive_a,
            self.rows_d + other.rows_d,
            self.positive_d + other.positive_d,
        )

    @property
    def empty_group(self) -> str | None:
        """Clarify's error when a group is empty (DPPL and DI are then undefined), else None."""
        if self.rows_a == 0:
            return "Negative facet set is empty."
        if self.rows_d == 0:
            return "Facet set is empty."
        return None


def metric_value(metric: Metric, counts: GroupCounts) -> float:
    """DPPL or DI of `counts` as Clarify computes it; NaN when a group is empty."""
    if counts.empty_group is not None:
        return math.nan
    q_a = counts.positive_a / counts.rows_a
    q_d = counts.positive_d / counts.rows_d
    return q_a - q_d if metric == "DPPL" else divide(q_d, q_a)


def cddpl(subgroups: Sequence[GroupCounts]) -> float:
    """CDDPL over the subgroups of `group_variable` (module docstring); NaN when no row has a
    positive, or none a negative, predicted label."""
    positive = sum(g.positive_a + g.positive_d for g in subgroups)
    rows = sum(g.rows_a + g.rows_d for g in subgroups)
    if positive in (0, rows):
        return math.nan
    weighted = 0.0
    for g in subgroups:
        pos = g.positive_a + g.positive_d
        neg = g.rows_a + g.rows_d - pos
        accepted = g.positive_d / pos if pos else 0.0
        rejected = (g.rows_d - g.positive_d) / neg if neg else 0.0
        weighted += (g.rows_a + g.rows_d) * (rejected - accepted)
    return divide(weighted, rows)


def proportion_interval(positive: int, rows: int, alpha: float) -> tuple[float, float]:
    """Clopper–Pearson interval of a binomial share, two-sided level 1 − alpha (exact: covers
    with probability ≥ 1 − alpha for every true share and every `rows`)."""
    if rows <= 0:
        return (0.0, 1.0)
    low = (
        0.0
        if positive == 0
        else float(special.betaincinv(positive, rows - positive + 1, alpha / 2))
    )
    high = (
        1.0
        if positive == rows
        else float(special.betaincinv(positive + 1, rows - positive, 1 - alpha / 2))
    )
    return (low, high)


def metric_interval(metric: Metric, counts: GroupCounts, alpha: float) -> tuple[float, float]:
    """An interval that holds the true DPPL or DI with probability ≥ 1 − alpha: the metric's
    range over both groups' Clopper–Pearson intervals at alpha/2 each."""
    low_a, high_a = proportion_interval(counts.positive_a, counts.rows_a, alpha / 2)
    low_d, high_d = proportion_interval(counts.positive_d, counts.rows_d, alpha / 2)
    if metric == "DPPL":
        return (low_a - high_d, high_a - low_d)
    return (divide(low_d, high_a), divide(high_d, low_a))


def parity_distance(metric: Metric, value: float) -> float:
    """How far `value` is from the metric's fair value: |DPPL|, or |ln DI| (∞ for DI 0 or ∞)."""
    if metric == "DPPL":
        return abs(value)
    if value <= 0 or math.isinf(value):
        return math.inf
    return abs(math.log(value))


def nearest_distance(metric: Metric, interval: tuple[float, float]) -> float:
    """Distance from the fair value of the interval's nearest point (0 if it holds it)."""
    fair = 0.0 if metric == "DPPL" else 1.0
    low, high = interval
    if low <= fair <= high:
        return 0.0
    return min(parity_distance(metric, low), parity_distance(metric, high))


def farthest_distance(metric: Metric, interval: tuple[float, float]) -> float:
    return max(parity_distance(metric, interval[0]), parity_distance(metric, interval[1]))


@dataclass(frozen=True)
class BaselineMetric:
    """One metric of one facet group in the baseline: Clarify's value, and the counts behind it
    when known (analysis.json from `driftstream baseline` has them beside it in bias_counts.json;
    Clarify's own has none, and its value is then taken as exact, as Model Monitor takes it)."""

    value: float
    counts: GroupCounts | None = None


@dataclass(frozen=True)
class Verdict:
    """The bias-drift test of one metric of one facet group in one window (module docstring)."""

    metric: Metric
    value: float  # the window's metric, as Clarify computes it
    baseline: float  # the baseline's metric (Clarify's "baseline constraint requirement")
    interval: tuple[float, float]  # where the window's true metric lies, at the window's α
    statistic: float  # distance from the fair value of the interval's nearest end
    threshold: float  # how far from the fair value the baseline allows

    @property
    def breached(self) -> bool:
        return self.statistic > self.threshold

    @property
    def boundary(self) -> float:
        """The edge of the allowed range on the window value's side, in the metric's units
        (what an event's `threshold` says: DPPL ±threshold, DI e^±threshold)."""
        if self.metric == "DPPL":
            return -self.threshold if self.value < 0 else self.threshold
        if math.isinf(self.threshold):
            return 0.0 if self.value < 1 else math.inf
        return math.exp(-self.threshold if self.value < 1 else self.threshold)


def judge(
    metric: Metric, counts: GroupCounts, baseline: BaselineMetric, alpha: float
) -> Verdict | None:
    """Test one window's `counts` against the baseline at false-alarm probability ≤ alpha; None
    when the window has no row in one of the groups (the metric is then undefined)."""
    if counts.empty_group is not None:
        return None
    live_alpha = alpha / 2 if baseline.counts is not None else alpha
    interval = metric_interval(metric, counts, live_alpha)
    if baseline.counts is not None and baseline.counts.empty_group is None:
        allowed = farthest_distance(metric, metric_interval(metric, baseline.counts, alpha / 2))
    else:
        allowed = parity_distance(metric, baseline.value)
    return Verdict(
        metric=metric,
        value=metric_value(metric, counts),
        baseline=baseline.value,
        interval=interval,
        statistic=nearest_distance(metric, interval),
        threshold=allowed,
    )
