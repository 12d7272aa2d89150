"""Model Monitor's model-quality metrics, computed with numpy from (prediction, truth) pairs.

One function per problem type gives every scalar metric Model Monitor's statistics.json names
(reference §5.5): binary classification from a score thresholded at `probability_threshold`,
multiclass classification from predicted labels, regression from predicted values. Conventions
(tests/detectors/quality/test_metrics.py compares them with scikit-learn's):

- binary: predicted positive when the score is *greater* than the threshold (Clarify's reading of
  a probability threshold); precision, recall and F-scores are 0 where their denominator is 0
  (scikit-learn's and Spark's convention); `true_negative_rate` = 1 − `false_positive_rate` and
  `false_negative_rate` = 1 − `recall`, as Model Monitor's documented example computes them;
  `auc` is the area under the ROC curve (ties count half), NaN when one class is absent;
- the `*_best_constant_classifier` metrics of a binary problem are those of the classifier that
  always predicts positive (Model Monitor's documented example: recall 1, precision and accuracy
  the prevalence); of a multiclass problem, those of the classifier that always predicts the
  most frequent true class (Model Monitor's choice is not documented: ours, stated in
  docs/model-quality.md);
- multiclass `weighted_*`: per-class values weighted by each class's share of the true labels,
  over the classes present in the truth or the predictions;
- regression `r2` is 1 − SS_res/SS_tot, and when the truth is constant 1 for a perfect fit,
  else 0 (scikit-learn's convention).

`standard_errors` bootstraps any of these on one window of pairs: what the window check
(detectors/quality/watcher.py) allows for sampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Labels = npt.NDArray[np.object_]


class ProblemType(StrEnum):
    """Model Monitor's problem types (the `problem_type` of a model-quality job)."""

    BINARY = "BinaryClassification"
    MULTICLASS = "MulticlassClassification"
    REGRESSION = "Regression"

    @property
    def key(self) -> str:
        """The prefix of its keys in statistics.json and constraints.json."""
        return {
            ProblemType.BINARY: "binary_classification",
            ProblemType.MULTICLASS: "multiclass_classification",
            ProblemType.REGRESSION: "regression",
        }[self]

    @property
    def is_classification(self) -> bool:
        return self is not ProblemType.REGRESSION


_BETAS = (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0))
_BEST = "_best_constant_classifier"

#: every scalar metric of a problem type, in the order Model Monitor writes them
SCALARS: dict[ProblemType, tuple[str, ...]] = {
    ProblemType.BINARY: (
        "recall",
        "precision",
        "accuracy",
        "recall" + _BEST,
        "precision" + _BEST,
        "accuracy" + _BEST,
        "true_positive_rate",
        "true_negative_rate",
        "false_positive_rate",
        "false_negative_rate",
        "auc",
        "f0_5",
        "f1",
        "f2",
        "f0_5" + _BEST,
        "f1" + _BEST,
        "f2" + _BEST,
    ),
    ProblemType.MULTICLASS: (
        "accuracy",
        "accuracy" + _BEST,
        "weighted_recall",
        "weighted_recall" + _BEST,
        "weighted_precision",
        "weighted_precision" + _BEST,
        "weighted_f0_5",
        "weighted_f0_5" + _BEST,
        "weighted_f1",
        "weighted_f1" + _BEST,
        "weighted_f2",
        "weighted_f2" + _BEST,
    ),
    ProblemType.REGRESSION: ("mae", "mse", "rmse", "r2"),
}

#: metrics where a larger value is worse (their suggested constraint is GreaterThanThreshold)
LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "false_positive_rate", "false_negative_rate"})


def suggested(problem: ProblemType) -> tuple[str, ...]:
    """The metrics a baseline suggests constraints for: every scalar metric but the best
    constant classifier's, which describe the labels rather than the model."""
    return tuple(name for name in SCALARS[problem] if not name.endswith(_BEST))


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f_beta(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    return _ratio((1 + b2) * precision * recall, b2 * precision + recall)


def predicted_positive(score: FloatArray, probability_threshold: float) -> npt.NDArray[np.bool_]:
    return np.asarray(score > probability_threshold)


def auc(truth: npt.NDArray[np.bool_], score: FloatArray) -> float:
    """Area under the ROC curve (Mann-Whitney with ties counted half); NaN with one class."""
    n_pos = int(truth.sum())
    n_neg = int(truth.shape[0]) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(score, kind="mergesort")
    sorted_scores = score[order]
    ranks = np.empty(score.shape[0], dtype=np.float64)
    # average ranks over runs of equal scores
    starts = np.flatnonzero(np.concatenate(([True], sorted_scores[1:] != sorted_scores[:-1])))
    ends = np.concatenate((starts[1:], [score.shape[0]]))
    average = (starts + ends + 1) / 2.0  # 1-based ranks starts+1 .. ends, averaged
    ranks[order] = np.repeat(average, ends - starts)
    rank_sum = float(ranks[truth].sum())
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(
    truth: npt.NDArray[np.bool_], score: FloatArray, probability_threshold: float
) -> dict[str, float]:
    """Every scalar binary-classification metric (see the module docstring)."""
    predicted = predicted_positive(score, probability_threshold)
    n = truth.shape[0]
    tp = float(np.count_nonzero(truth & predicted))
    fp = float(np.count_nonzero(~truth & predicted))
    fn = float(np.count_nonzero(truth & ~predicted))
    tn = float(n) - tp - fp - fn
    recall = _ratio(tp, tp + fn)
    precision = _ratio(tp, tp + fp)
    fpr = _ratio(fp, fp + tn)
    prevalence = _ratio(tp + fn, float(n))
    best_recall = 1.0 if prevalence > 0 else 0.0
    out = {
        "recall": recall,
        "precision": precision,
        "accuracy": _ratio(tp + tn, float(n)),
        "recall" + _BEST: best_recall,
        "precision" + _BEST: prevalence,
        "accuracy" + _BEST: prevalence,
        "true_positive_rate": recall,
        "true_negative_rate": 1.0 - fpr,
        "false_positive_rate": fpr,
        "false_negative_rate": 1.0 - recall,
        "auc": auc(truth, score),
    }
    for name, beta in _BETAS:
        out[name] = _f_beta(precision, recall, beta)
    for name, beta in _BETAS:
        out[name + _BEST] = _f_beta(prevalence, best_recall, beta)
    return {name: out[name] for name in SCALARS[ProblemType.BINARY]}


def multiclass_metrics(truth: Labels, predicted: Labels) -> dict[str, float]:
    """Every scalar multiclass-classification metric (see the module docstring)."""
    n = truth.shape[0]
    classes, codes = np.unique(np.concatenate((truth, predicted)).astype(str), return_inverse=True)
    k = classes.shape[0]
    t, p = codes[:n], codes[n:]
    support = np.bincount(t, minlength=k).astype(np.float64)
    hits = np.bincount(t[t == p], minlength=k).astype(np.float64)
    called = np.bincount(p, minlength=k).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, hits / support, 0.0)
        precision = np.where(called > 0, hits / called, 0.0)
    weights = support / n if n else support
    share = float(support.max() / n) if n else 0.0  # the most frequent true class's share
    out = {
        "accuracy": _ratio(float(hits.sum()), float(n)),
        "accuracy" + _BEST: share,
        "weighted_recall": float(weights @ recall),
        "weighted_recall" + _BEST: share,
        "weighted_precision": float(weights @ precision),
        "weighted_precision" + _BEST: share * share,
    }
    for name, beta in _BETAS:
        b2 = beta * beta
        with np.errstate(divide="ignore", invalid="ignore"):
            denominator = b2 * precision + recall
            per_class = np.where(denominator > 0, (1 + b2) * precision * recall / denominator, 0.0)
        out["weighted_" + name] = float(weights @ per_class)
        out["weighted_" + name + _BEST] = share * _f_beta(share, 1.0, beta)
    return {name: out[name] for name in SCALARS[ProblemType.MULTICLASS]}


def regression_metrics(truth: FloatArray, predicted: FloatArray) -> dict[str, float]:
    """mae, mse, rmse and r2 (see the module docstring)."""
    error = predicted - truth
    n = truth.shape[0]
    if n == 0:
        return dict.fromkeys(SCALARS[ProblemType.REGRESSION], math.nan)
    mse = float(np.mean(error * error))
    residual = float(np.sum(error * error))
    total = float(np.sum((truth - truth.mean()) ** 2))
    perfect = 1.0 if residual == 0 else 0.0  # a constant truth: scikit-learn's convention
    r2 = 1.0 - residual / total if total > 0 else perfect
    return {
        "mae": float(np.mean(np.abs(error))),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "r2": r2,
    }


class Pairs:
    """Matched (truth, prediction) pairs of one problem type, typed for its metrics.

    `truth` and `prediction` hold text labels (multiclass) or floats (binary: the truth as 0/1
    and the prediction a score; regression: values)."""

    def __init__(
        self,
        problem: ProblemType,
        truth: npt.NDArray[Any],
        prediction: npt.NDArray[Any],
        probability_threshold: float = 0.5,
    ) -> None:
        if truth.shape != prediction.shape:
            raise ValueError("truth and prediction must have the same length")
        self.problem = problem
        self.truth = truth
        self.prediction = prediction
        self.probability_threshold = probability_threshold

    def __len__(self) -> int:
        return int(self.truth.shape[0])

    def metrics(self, index: npt.NDArray[np.int64] | None = None) -> dict[str, float]:
        """Every scalar metric of the pairs (of those at `index`, when given)."""
        truth = self.truth if index is None else self.truth[index]
        prediction = self.prediction if index is None else self.prediction[index]
        if self.problem is ProblemType.BINARY:
            return binary_metrics(truth > 0.5, prediction, self.probability_threshold)
        if self.problem is ProblemType.MULTICLASS:
            return multiclass_metrics(truth, prediction)
        return regression_metrics(truth, prediction)

    def errors(self) -> FloatArray:
        """One error per pair, in order: 0/1 misclassification, or the absolute error."""
        if self.problem is ProblemType.BINARY:
            called = predicted_positive(self.prediction, self.probability_threshold)
            return np.asarray(called != (self.truth > 0.5), dtype=np.float64)
        if self.problem is ProblemType.MULTICLASS:
            return np.asarray(self.truth != self.prediction, dtype=np.float64)
        return np.asarray(np.abs(self.prediction - self.truth), dtype=np.float64)


def standard_errors(
    pairs: Pairs, names: Sequence[str], rng: np.random.Generator, resamples: int = 64
) -> dict[str, float]:
    """Bootstrap standard error of each metric in `names` on `pairs` (NaN where undefined)."""
    n = len(pairs)
    if n < 2:
        return dict.fromkeys(names, math.nan)
    draws = np.empty((resamples, len(names)))
    for b in range(resamples):
        values = pairs.metrics(rng.integers(0, n, n))
        draws[b] = [values[name] for name in names]
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(draws)
        counts = finite.sum(axis=0)
        out = {}
        for j, name in enumerate(names):
            column = draws[finite[:, j], j]
            out[name] = float(np.std(column, ddof=1)) if counts[j] > 1 else math.nan
    return out


def model_monitor_deviations(
    pairs: Pairs, rng: np.random.Generator, *, draws: int = 5, share: float = 0.8
) -> dict[str, float]:
    """Model Monitor's `standard_deviation` of every scalar metric: of the metric on `draws`
    random `share`s of the pairs (without replacement), computed from 200 pairs on, else NaN."""
    names = SCALARS[pairs.problem]
    n = len(pairs)
    if n < 200:
        return dict.fromkeys(names, math.nan)
    size = int(n * share)
    values = np.array(
        [
            [pairs.metrics(rng.choice(n, size, replace=False))[name] for name in names]
            for _ in range(draws)
        ]
    )
    return {
        name: float(np.std(values[:, j], ddof=1)) if np.isfinite(values[:, j]).all() else math.nan
        for j, name in enumerate(names)
    }


def confusion_matrix(pairs: Pairs) -> dict[str, dict[str, int]]:
    """{actual: {predicted: count}} over the classes (Model Monitor's `confusion_matrix`;
    binary: "0" and "1")."""
    if pairs.problem is ProblemType.BINARY:
        truth = np.where(pairs.truth > 0.5, "1", "0")
        called = predicted_positive(pairs.prediction, pairs.probability_threshold)
        predicted = np.where(called, "1", "0")
        classes = ["0", "1"]
    else:
        truth = pairs.truth.astype(str)
        predicted = pairs.prediction.astype(str)
        classes = sorted(set(truth.tolist()) | set(predicted.tolist()))
    return {
        a: {p: int(np.count_nonzero((truth == a) & (predicted == p))) for p in classes}
        for a in classes
    }


def _thin(*curves: FloatArray, points: int) -> list[list[float]]:
    """At most `points` evenly spaced points of curves of equal length, both ends kept."""
    n = curves[0].shape[0]
    keep = np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(np.int64))
    return [c[keep].tolist() for c in curves]


def roc_curve(pairs: Pairs, points: int = 200) -> dict[str, list[float]]:
    """`receiver_operating_characteristic_curve`: false and true positive rates at every
    distinct score taken as threshold, from (0, 0), thinned to `points`."""
    truth = pairs.truth > 0.5
    order = np.argsort(-pairs.prediction, kind="mergesort")
    scores, hits = pairs.prediction[order], truth[order]
    last = np.flatnonzero(np.concatenate((scores[1:] != scores[:-1], [True])))
    tps = np.cumsum(hits)[last].astype(np.float64)
    fps = (last + 1 - tps).astype(np.float64)
    n_pos, n_neg = float(truth.sum()), float((~truth).sum())
    fpr = np.concatenate(([0.0], fps / n_neg if n_neg else fps * 0))
    tpr = np.concatenate(([0.0], tps / n_pos if n_pos else tps * 0))
    fpr_list, tpr_list = _thin(fpr, tpr, points=points)
    return {"false_positive_rates": fpr_list, "true_positive_rates": tpr_list}


def precision_recall_curve(pairs: Pairs, points: int = 200) -> dict[str, list[float]]:
    """`precision_recall_curve`: precision and recall at every distinct score taken as
    threshold, ending at (precision 1, recall 0), thinned to `points`."""
    truth = pairs.truth > 0.5
    order = np.argsort(-pairs.prediction, kind="mergesort")
    scores, hits = pairs.prediction[order], truth[order]
    last = np.flatnonzero(np.concatenate((scores[1:] != scores[:-1], [True])))
    tps = np.cumsum(hits)[last].astype(np.float64)
    called = (last + 1).astype(np.float64)
    n_pos = float(truth.sum())
    precision = np.concatenate((tps / called, [1.0]))[::-1]
    recall = np.concatenate((tps / n_pos if n_pos else tps * 0, [0.0]))[::-1]
    precision_list, recall_list = _thin(precision, recall, points=points)
    return {"precisions": precision_list, "recalls": recall_list}
