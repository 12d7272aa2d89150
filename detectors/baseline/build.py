"""Build a baseline from training data: profile, write both files, load them back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from driftstream.detectors.baseline.files import load_baseline, write_baseline
from driftstream.detectors.baseline.model import Baseline
from driftstream.detectors.baseline.profile import BaselineWarning, profile_rows


def build_baseline(
    data: Path,
    out_dir: Path,
    *,
    header: bool = True,
    label_column: str | None = None,
    ground_truth_column: str | None = None,
    on_warning: Callable[[BaselineWarning], object] | None = None,
) -> Baseline:
    """Profile `data`, write both baseline files into `out_dir`, and return them loaded back.

    The CLI's `baseline` command calls this. The result is read back from the written files, so
    it is exactly what a later `load_baseline(out_dir)` gives (same `identity` included).
    Raises BaselineError for unusable training data (see `profile_rows`); what is usable but
    questionable (values that are not numbers in a numeric column, too few rows) is handed to
    `on_warning`, one BaselineWarning at a time, before the files are written.
    `ground_truth_column`: the true label's column, left out of the features (model quality:
    detectors/quality/baseline.py).
    """
    profile = profile_rows(
        data, header=header, label_column=label_column, ground_truth_column=ground_truth_column
    )
    if on_warning is not None:
        for warning in profile.warnings:
            on_warning(warning)
    write_baseline(profile, out_dir)
    return load_baseline(out_dir)
