"""`driftstream baseline` through the installed command: what it tells the user about the data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from driftstream.detectors.baseline.profile import MIN_TRAINING_ROWS

DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")


def baseline(data: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DRIFTSTREAM, "baseline", str(data), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_baseline_warns_about_a_value_that_is_not_a_number_and_keeps_the_column(
    tmp_path: Path,
) -> None:
    """Issue 13: one `NaN` text among 20,000 numbers made the column categorical, silently."""
    values = np.random.default_rng(5).normal(40.0, 8.0, 20_000).round(3).tolist()
    rows = [f"{v},{i % 3}" for i, v in enumerate(values)]
    rows[123] = "NaN,0"
    (tmp_path / "training.csv").write_text("age,group\n" + "\n".join(rows) + "\n")
    done = baseline(tmp_path / "training.csv", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    warnings = done.stderr.splitlines()
    assert len(warnings) == 1
    assert warnings[0].startswith("driftstream: warning: column 'age': 1 of its 20,000 values")
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    age = next(f for f in statistics["features"] if f["name"] == "age")
    assert age["inferred_type"] == "Fractional"
    assert age["numerical_statistics"]["common"] == {"num_present": 19_999, "num_missing": 1}


def test_baseline_warns_that_one_row_is_too_few_to_calibrate_from(tmp_path: Path) -> None:
    (tmp_path / "training.csv").write_text("age,plan\n31,basic\n")
    done = baseline(tmp_path / "training.csv", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    (warning,) = done.stderr.splitlines()
    assert warning.startswith("driftstream: warning: the training data has 1 row;")
    assert f"at least {MIN_TRAINING_ROWS:,}" in warning
    assert "1 rows" in done.stdout  # the baseline was still written
