"""Model Monitor's model-quality metrics against scikit-learn's on the same pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as sk

from driftstream.detectors.quality.labels import class_label, truth_value
from driftstream.detectors.quality.metrics import (
    SCALARS,
    Pairs,
    ProblemType,
    binary_metrics,
    confusion_matrix,
    multiclass_metrics,
    regression_metrics,
    roc_curve,
    standard_errors,
)


def _binary(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.random(n).round(2)  # ties, as real scores have
    truth = rng.random(n) < score * 0.8 + 0.1
    return truth, score


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_binary_metrics_equal_scikit_learns(seed: int, threshold: float) -> None:
    truth, score = _binary(seed)
    got = binary_metrics(truth, score, threshold)
    called = score > threshold
    assert list(got) == list(SCALARS[ProblemType.BINARY])
    expected = {
        "recall": sk.recall_score(truth, called),
        "precision": sk.precision_score(truth, called),
        "accuracy": sk.accuracy_score(truth, called),
        "true_positive_rate": sk.recall_score(truth, called),
        "true_negative_rate": sk.recall_score(~truth, ~called),
        "false_positive_rate": 1 - sk.recall_score(~truth, ~called),
        "false_negative_rate": 1 - sk.recall_score(truth, called),
        "auc": sk.roc_auc_score(truth, score),
        "f0_5": sk.fbeta_score(truth, called, beta=0.5),
        "f1": sk.f1_score(truth, called),
        "f2": sk.fbeta_score(truth, called, beta=2.0),
    }
    always = np.ones_like(truth)
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        expected[f"{name}_best_constant_classifier"] = sk.fbeta_score(truth, always, beta=beta)
    expected["recall_best_constant_classifier"] = sk.recall_score(truth, always)
    expected["precision_best_constant_classifier"] = sk.precision_score(truth, always)
    expected["accuracy_best_constant_classifier"] = sk.accuracy_score(truth, always)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def test_binary_matches_model_monitors_documented_example() -> None:
    """The example of the Model Monitor docs: confusion matrix {"0": {"0": 1, "1": 2},
    "1": {"0": 0, "1": 1}}, recall 1, precision 1/3, accuracy 0.5, best constant classifier
    recall 1, precision and accuracy 0.25, true negative rate 0.33333333333333337."""
    truth = np.array([0.0, 0.0, 0.0, 1.0])
    score = np.array([0.1, 0.9, 0.8, 0.7])
    pairs = Pairs(ProblemType.BINARY, truth, score)
    got = pairs.metrics()
    assert confusion_matrix(pairs) == {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}
    assert got["recall"] == 1.0
    assert got["precision"] == pytest.approx(1 / 3)
    assert got["accuracy"] == 0.5
    assert got["recall_best_constant_classifier"] == 1.0
    assert got["precision_best_constant_classifier"] == 0.25
    assert got["accuracy_best_constant_classifier"] == 0.25
    assert got["true_negative_rate"] == 0.33333333333333337
    assert got["false_positive_rate"] == 0.6666666666666666
    assert got["false_negative_rate"] == 0.0


def test_auc_with_one_class_is_nan_and_the_curve_ends_at_one() -> None:
    truth = np.ones(10, dtype=bool)
    assert math.isnan(binary_metrics(truth, np.linspace(0, 1, 10), 0.5)["auc"])
    t, s = _binary(4)
    curve = roc_curve(Pairs(ProblemType.BINARY, t.astype(float), s))
    fpr, tpr = curve["false_positive_rates"], curve["true_positive_rates"]
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(sk.roc_auc_score(t, s), abs=0.01)


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_weighted_metrics_equal_scikit_learns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = np.array(["a", "b", "c", "d"], dtype=object)
    truth = classes[rng.choice(4, 2000, p=[0.5, 0.3, 0.15, 0.05])]
    predicted = np.where(rng.random(2000) < 0.7, truth, classes[rng.integers(0, 3, 2000)])
    got = multiclass_metrics(truth, predicted)
    assert list(got) == list(SCALARS[ProblemType.MULTICLASS])
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted))
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        expected = sk.fbeta_score(truth, predicted, beta=beta, average="weighted")
        assert got[f"weighted_{name}"] == pytest.approx(expected, rel=1e-12)
    recall = sk.recall_score(truth, predicted, average="weighted")
    precision = sk.precision_score(truth, predicted, average="weighted")
    assert got["weighted_recall"] == pytest.approx(recall, rel=1e-12)
    assert got["weighted_precision"] == pytest.approx(precision, rel=1e-12)
    # the best constant classifier always predicts the most frequent true class
    majority = np.full(2000, "a", dtype=object)
    assert got["accuracy_best_constant_classifier"] == pytest.approx(
        sk.accuracy_score(truth, majority)
    )
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        expected = sk.fbeta_score(truth, majority, beta=beta, average="weighted", zero_division=0.0)
        assert got[f"weighted_{name}_best_constant_classifier"] == pytest.approx(expected)
    expected_precision = sk.precision_score(truth, majority, average="weighted", zero_division=0.0)
    assert got["weighted_precision_best_constant_classifier"] == pytest.approx(expected_precision)


def test_regression_metrics_equal_scikit_learns() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(10, 3, 1000)
    predicted = truth + rng.normal(0.5, 1.0, 1000)
    got = regression_metrics(truth, predicted)
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(truth, predicted), rel=1e-12)
    assert got["mse"] == pytest.approx(sk.mean_squared_error(truth, predicted), rel=1e-12)
    assert got["rmse"] == pytest.approx(sk.root_mean_squared_error(truth, predicted), rel=1e-12)
    assert got["r2"] == pytest.approx(sk.r2_score(truth, predicted), rel=1e-12)
    constant = np.full(5, 2.0)
    assert regression_metrics(constant, constant)["r2"] == sk.r2_score(constant, constant)
    assert regression_metrics(constant, constant + 1)["r2"] == sk.r2_score(constant, constant + 1)


def test_bootstrap_standard_error_of_accuracy_is_the_binomial_one() -> None:
    truth, score = _binary(5, n=4000)
    pairs = Pairs(ProblemType.BINARY, truth.astype(float), score)
    se = standard_errors(pairs, ["accuracy"], np.random.default_rng(0), resamples=400)
    p = pairs.metrics()["accuracy"]
    assert se["accuracy"] == pytest.approx(math.sqrt(p * (1 - p) / 4000), rel=0.15)


def test_labels_read_alike_from_text_and_numbers() -> None:
    assert class_label("1.0") == class_label(1) == class_label(" 1 ") == "1"
    assert class_label("cat") == "cat"
    assert class_label(None) is None
    assert class_label("") is None
    assert truth_value(ProblemType.BINARY, "true") == 1.0
    assert truth_value(ProblemType.BINARY, "0.0") == 0.0
    assert truth_value(ProblemType.BINARY, "2") is None
    assert truth_value(ProblemType.REGRESSION, "2.5") == 2.5
    assert truth_value(ProblemType.REGRESSION, "nan") is None
