"""The per-record anomaly score: a clipped, standardised distance from the baseline.

Per scored feature a term, summed over the record:

- numeric input with a spread: z² with z = (x − mean) / std_dev from the baseline's statistics,
  capped at clip_sigma²;
- categorical input with baseline counts: the z² of a normal tail as rare as the category,
  q(p)² with q = Φ⁻¹(1 − p/2) and p its baseline share (a category seen half the time adds 0.45,
  one seen 1 % of the time 6.6); a category the baseline never saw adds clip_sigma²;
- a missing value adds 0: it neither raises the score nor hides the other features' terms.

The model's outputs are not scored: they are functions of the inputs, so an input anomaly would
count twice, and the threshold's calibration treats the scored features as independent.

The threshold is the (1 − rate) quantile of the score on records drawn from the baseline: each
feature independently from its own sketch (numeric: `NumericStats.sample`; categorical: its
counts), missing at the baseline's missing share. So on traffic like the baseline a share `rate`
of records is flagged, whatever the features' shapes (a lognormal's long tail raises the
threshold, it does not raise the false flags). What it assumes: independent inputs; correlated
inputs change the score's spread, and the live flag rate with it (docs/anomaly.md).

All of it is numpy over the batch: a table lookup per categorical value is the only per-value
Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from driftstream.detectors.baseline.model import Baseline, CategoricalStats, FeatureBaseline

FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]

#: a term at least this large (3σ) names its feature among those most responsible
RESPONSIBLE = 9.0
#: at most this many features are named per anomaly
MOST_RESPONSIBLE = 3


def _numeric(feature: FeatureBaseline) -> bool:
    stats = feature.numeric
    return (
        stats is not None
        and not feature.is_output
        and math.isfinite(stats.mean)
        and math.isfinite(stats.std_dev)
        and stats.std_dev > 0
    )


def _categorical(feature: FeatureBaseline) -> bool:
    stats = feature.categorical
    return stats is not None and not feature.is_output and sum(stats.counts.values()) > 0


def _missing_share(present: float, missing: float) -> float:
    total = present + missing
    return missing / total if total > 0 else 0.0


def category_terms(stats: CategoricalStats, cap: float) -> dict[str, float]:
    """Each baseline category's term: q(p)², q the normal quantile as rare as its share p."""
    total = sum(stats.counts.values())
    normal = NormalDist()
    terms: dict[str, float] = {}
    for category, count in stats.counts.items():
        p = count / total
        q = normal.inv_cdf(1.0 - p / 2.0) if p < 1.0 else 0.0
        terms[category] = min(q * q, cap)
    return terms


class RecordScorer:
    """Scores records against one baseline (see the module docstring)."""

    def __init__(
        self,
        baseline: Baseline,
        numeric: Sequence[str],
        categorical: Sequence[str],
        clip_sigma: float,
    ) -> None:
        """`numeric`, `categorical`: the decoded batch's column names, in its order."""
        self.clip_sigma = clip_sigma
        self._cap = clip_sigma * clip_sigma
        by_name = {f.name: f for f in baseline.features}
        scored_numeric = [
            (j, by_name[n]) for j, n in enumerate(numeric) if n in by_name and _numeric(by_name[n])
        ]
        scored_categorical = [
            (j, by_name[n])
            for j, n in enumerate(categorical)
            if n in by_name and _categorical(by_name[n])
        ]
        self._numeric_columns = np.asarray([j for j, _ in scored_numeric], dtype=np.int64)
        self._numeric = [f for _, f in scored_numeric]
        self._mean = np.asarray([f.numeric.mean for f in self._numeric if f.numeric])
        self._scale = np.asarray([f.numeric.std_dev for f in self._numeric if f.numeric])
        self._categorical_columns = [j for j, _ in scored_categorical]
        self._categorical = [f for _, f in scored_categorical]
        self._lookups = [
            category_terms(f.categorical, self._cap) for f in self._categorical if f.categorical
        ]
        #: the scored features, in the order of `terms`' columns
        self.features: tuple[str, ...] = tuple(f.name for f in (*self._numeric, *self._categorical))

    def terms(self, numeric: FloatArray, categorical: ObjectArray) -> FloatArray:
        """Rows × scored features: each feature's term per row (the score is their sum)."""
        z = (numeric[:, self._numeric_columns] - self._mean) / self._scale
        numeric_terms = np.nan_to_num(np.minimum(z * z, self._cap), nan=0.0)
        rows = numeric.shape[0]
        categorical_terms = np.empty((rows, len(self._lookups)))
        for k, (column, lookup) in enumerate(
            zip(self._categorical_columns, self._lookups, strict=True)
        ):
            values = categorical[:, column].tolist()
            categorical_terms[:, k] = [
                0.0 if v is None else lookup.get(v, self._cap) for v in values
            ]
        return np.concatenate([numeric_terms, categorical_terms], axis=1)

    def responsible(self, terms: FloatArray) -> list[str]:
        """The features of one row's terms most responsible for its score, largest first."""
        order = np.argsort(-terms, kind="stable")[:MOST_RESPONSIBLE]
        return [self.features[k] for k in order.tolist() if terms[k] >= RESPONSIBLE]

    def null_scores(self, n: int, rng: np.random.Generator) -> FloatArray:
        """Scores of n records drawn from the baseline, each feature independently."""
        total = np.zeros(n)
        for feature, mean, scale in zip(self._numeric, self._mean, self._scale, strict=True):
            stats = feature.numeric
            assert stats is not None
            z = (stats.sample(n, rng) - mean) / scale
            term = np.minimum(z * z, self._cap)
            missing = rng.random(n) < _missing_share(stats.num_present, stats.num_missing)
            total += np.where(missing, 0.0, term)
        for feature, lookup in zip(self._categorical, self._lookups, strict=True):
            stats_c = feature.categorical
            assert stats_c is not None
            counts = np.asarray(list(stats_c.counts.values()), dtype=np.float64)
            values = np.asarray([lookup[c] for c in stats_c.counts])
            term = rng.choice(values, size=n, p=counts / counts.sum())
            missing = rng.random(n) < _missing_share(stats_c.num_present, stats_c.num_missing)
            total += np.where(missing, 0.0, term)
        return total

    def threshold(self, rate: float, n: int, seed: int = 0) -> float:
        """The score flagged at `rate` on baseline-like records: the (1 − rate) quantile of
        `null_scores` (seeded: the same baseline and settings give the same threshold)."""
        scores = self.null_scores(n, np.random.default_rng(seed))
        return float(np.quantile(scores, 1.0 - rate, method="higher"))
