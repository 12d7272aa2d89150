"""Fixtures of the live-service tests: one baseline and calibration cache for the session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from driftstream.streamer.sources.synthetic import training_csv
from tests.integration.kafka_live import driftstream


@dataclass(frozen=True)
class LiveBaseline:
    baseline: Path
    calibration_cache: Path


@pytest.fixture(scope="session")
def live_baseline(tmp_path_factory: pytest.TempPathFactory) -> LiveBaseline:
    """A baseline built by `driftstream baseline` from generated training data."""
    root = tmp_path_factory.mktemp("live-baseline")
    (root / "training.csv").write_text(training_csv(20_000, seed=1))
    done = driftstream(
        "baseline", "training.csv", "--out", "baseline", "--label-column", "prediction", cwd=root
    )
    assert done.returncode == 0, done.stderr
    return LiveBaseline(root / "baseline", root / "calibration")
