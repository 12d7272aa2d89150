"""Build a baseline from training data: profile, write both files, load them back."""

from __future__ import annotations

from pathlib import Path

from driftstream.detectors.baseline.files import load_baseline, write_baseline
from driftstream.detectors.baseline.model import Baseline
from driftstream.detectors.baseline.profile import profile_rows


def build_baseline(
    data: Path, out_dir: Path, *, header: bool = True, label_column: str | None = None
) -> Baseline:
    """Profile `data`, write both baseline files into `out_dir`, and return them loaded back.

    The CLI's `baseline` command calls this. The result is read back from the written files, so
    it is exactly what a later `load_baseline(out_dir)` gives (same `identity` included).
    Raises BaselineError for unusable training data (see `profile_rows`).
    """
    profile = profile_rows(data, header=header, label_column=label_column)
    write_baseline(profile, out_dir)
    return load_baseline(out_dir)
