"""Helpers of the constraint-report tests: real Model Monitor baselines from tests/data, and
windows of rows checked against them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt

from driftstream.detectors.baseline import Baseline, load_baseline
from driftstream.detectors.constraints import ColumnCounts, Violation, evaluate
from driftstream.detectors.constraints.profile import WindowProfile

DATA = Path(__file__).resolve().parents[2] / "data" / "model_monitor"


def sample_baseline(tmp: Path, statistics: str, constraints: str | None) -> Baseline:
    """A baseline folder of the sample files `statistics` (and `constraints`), loaded."""
    folder = tmp / f"{statistics}-{constraints}"
    folder.mkdir()
    shutil.copyfile(DATA / statistics, folder / "statistics.json")
    if constraints is not None:
        shutil.copyfile(DATA / constraints, folder / "constraints.json")
    return load_baseline(folder)


def pipeline_baseline(tmp: Path) -> Baseline:
    """The SDK pipeline's genuine-looking statistics (`_c0`..`_c5`, 100 rows, all numeric)
    with its suggested (good-case) constraints."""
    return sample_baseline(
        tmp,
        "sdk_pipeline_quality_check_step_data_quality_statistics.json",
        "sdk_pipeline_quality_check_step_data_quality_good_cases_constraints.json",
    )


def window_of(
    baseline: Baseline,
    numeric: npt.NDArray[np.float64] | None = None,
    categorical: list[list[str | None]] | None = None,
) -> WindowProfile:
    """A window profile of these rows (columns in the baseline's layout order)."""
    names_num = [f.name for f in baseline.features if f.is_numeric]
    names_cat = [f.name for f in baseline.features if not f.is_numeric]
    window = WindowProfile(baseline.features, names_num, names_cat)
    rows = numeric.shape[0] if numeric is not None else len(categorical or [])
    num = numeric if numeric is not None else np.empty((rows, 0))
    cat = np.empty((rows, len(names_cat)), dtype=object)
    for i, row in enumerate(categorical or []):
        cat[i, :] = row
    window.add(num, cat)
    return window


def check(
    baseline: Baseline, window: WindowProfile, counts: ColumnCounts | None = None
) -> list[Violation]:
    if counts is None:
        counts = ColumnCounts(records=window.rows)
    return evaluate(baseline, window, window.profile(), counts)
