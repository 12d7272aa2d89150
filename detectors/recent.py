"""The last window's values of a feature beside the baseline's distribution, binned alike.

What the report draws as "baseline versus recent" (the `distributions` of the run's summary).
Numeric features: BINS equal bins over the baseline's [min, max], the baseline's share of each
from its sketch (NumericStats.cdf), the window's counts in each, and the window's values below
and above that range counted apart (a shifted feature shows up there). Without a baseline
distribution the bins span the window's own values and the baseline side is null.
Categorical features: the baseline's categories, then the domain's, then "(other)".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from driftstream.detectors.baseline.model import FeatureBaseline
from driftstream.detectors.window_checks import CategoryCodes

BINS = 30
OTHER = "(other)"


def numeric(feature: FeatureBaseline, values: npt.NDArray[np.float64]) -> dict[str, Any] | None:
    """`values` (the window's, NaN for missing) binned against the baseline; None when there
    is nothing to draw (no baseline range and no present value)."""
    present = values[~np.isnan(values)]
    stats = feature.numeric
    baseline: list[float] | None = None
    if stats is not None and stats.max > stats.min:
        edges = np.linspace(stats.min, stats.max, BINS + 1)
        cdf = stats.cdf(edges)
        cdf[0] = 0.0  # the first bin holds the baseline's minimum
        baseline = np.clip(np.diff(cdf), 0.0, 1.0).tolist()
    elif present.shape[0]:
        low, high = float(present.min()), float(present.max())
        if low == high:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, BINS + 1)
    else:
        return None
    counts, _ = np.histogram(present, bins=edges)
    return {
        "feature": feature.name,
        "kind": "numeric",
        "edges": edges.tolist(),
        "baseline": baseline,
        "recent": counts.tolist(),
        "below": int(np.count_nonzero(present < edges[0])),
        "above": int(np.count_nonzero(present > edges[-1])),
        "missing": int(values.shape[0] - present.shape[0]),
    }


def categorical(
    feature: FeatureBaseline, codes: CategoryCodes, window: npt.NDArray[np.int64]
) -> dict[str, Any]:
    """The window's category codes (-1 for missing) counted against the baseline's shares."""
    present = window[window >= 0]
    counts = np.bincount(present, minlength=codes.other + 1)
    counted = codes.expected[: codes.n_counted]
    baseline: list[float] | None = None
    if counted.sum() > 0:
        shares = np.zeros(codes.other + 1)
        shares[: codes.n_counted] = counted / counted.sum()
        baseline = shares.tolist()
    return {
        "feature": feature.name,
        "kind": "categorical",
        "categories": [*codes.categories, OTHER],
        "baseline": baseline,
        "recent": counts.tolist(),
        "missing": int(window.shape[0] - present.shape[0]),
    }
