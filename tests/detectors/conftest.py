"""Shared fixtures: a baseline built from generated training data, and a monitor factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from driftstream.detectors.baseline import Baseline, build_baseline
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.settings import CalibrationSettings, DetectorSettings
from driftstream.streamer.decode.base import FeatureLayout
from driftstream.streamer.sources.synthetic import training_csv


@pytest.fixture(scope="session")
def synthetic_baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    root = tmp_path_factory.mktemp("baseline")
    data = root / "training.csv"
    data.write_text(training_csv(20_000, seed=1))
    return build_baseline(data, root / "out", label_column="prediction")


@pytest.fixture(scope="session")
def calibration_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("calibration")


@pytest.fixture
def make_monitor(synthetic_baseline: Baseline, calibration_cache: Path) -> Callable[..., Monitor]:
    def make(**settings: object) -> Monitor:
        base = DetectorSettings(
            calibration=CalibrationSettings(samples=300_000, cache_dir=calibration_cache)
        )
        layout = FeatureLayout.from_baseline(synthetic_baseline)
        return Monitor(
            synthetic_baseline,
            layout.numeric,
            layout.categorical,
            base.model_copy(update=settings),
            endpoint="test",
        )

    return make
