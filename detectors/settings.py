"""Detector settings: one frozen, validated tree (part of the service config)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AdwinSettings(_Frozen):
    delta: float | None = Field(None, gt=0, lt=1, description="None: calibrated")
    clock: int = Field(32, gt=0)
    max_buckets: int = Field(5, gt=0)
    min_window_length: int = Field(5, gt=0)
    grace_period: int = Field(10, ge=0)


class PageHinkleySettings(_Frozen):
    threshold: float | None = Field(None, gt=0, description="λ in σ units; None: calibrated")
    delta: float = Field(0.25, ge=0, description="allowance in σ units; half the smallest shift")
    alpha: float = Field(1.0, gt=0, le=1, description="1 = classic Page-Hinkley (calibratable)")
    min_instances: int = Field(30, ge=0)
    mode: Literal["up", "down", "both"] = "both"


class WindowSettings(_Frozen):
    size: int = Field(2000, gt=0, description="rows in each distribution / quality window")
    hop: int = Field(500, gt=0, description="rows between window evaluations")

    @model_validator(mode="after")
    def _hop_fits(self) -> WindowSettings:
        if self.hop > self.size:
            raise ValueError("window.hop must be <= window.size")
        return self


class CalibrationSettings(_Frozen):
    samples: int = Field(600_000, ge=10_000, description="simulated stationary values per feature")
    seed: int = 0
    cache_dir: Path | None = None


class QualityThreshold(_Frozen):
    """ "Retrain when the metric falls below / rises above this" (one of the two)."""

    below: float | None = Field(None, allow_inf_nan=False)
    above: float | None = Field(None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_bound(self) -> QualityThreshold:
        if (self.below is None) == (self.above is None):
            raise ValueError("give one of below or above")
        return self

    def breached(self, value: float) -> bool:
        if self.below is not None:
            return value < self.below
        assert self.above is not None
        return value > self.above

    @property
    def threshold(self) -> float:
        return self.below if self.below is not None else self.above  # type: ignore[return-value]


class QualitySettings(_Frozen):
    """Model-quality evidence (labels): it takes precedence over drift (docs/detection.md)."""

    thresholds: dict[str, QualityThreshold] = Field(
        default_factory=dict,
        description="per metric (accuracy, f1, mae, ...): retrain when a window's value is past it",
    )
    alarms: bool = Field(
        True,
        description="a model-quality alarm of a metric without a threshold here is a breach",
    )


class RetrainSettings(_Frozen):
    """The retrain policy (detectors/retrain.py, docs/detection.md). The defaults are the first
    policy's: any breach is material, every feature weighs 1, no time conditions, no budget."""

    min_feature_share: float = Field(0.3, gt=0, le=1, description="of the features' weights")
    weights: dict[str, float] = Field(
        default_factory=dict, description="per feature (e.g. importance); unlisted features: 1"
    )
    min_effect_size: float = Field(
        1.0,
        ge=1.0,
        allow_inf_nan=False,
        description="statistic / threshold of a feature's strongest drift evidence, at least",
    )
    persistence_rows: int = Field(2000, ge=0)
    persistence_seconds: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="of inferenceTime, as well as the rows"
    )
    cooldown_rows: int = Field(100_000, ge=0)
    cooldown_seconds: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="of inferenceTime, as well as the rows"
    )
    max_signals_per_day: int | None = Field(
        None,
        gt=0,
        le=100_000,
        description="in any 24 hours of inferenceTime (wall clock without it)",
    )
    quality: QualitySettings = QualitySettings()

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not (weight >= 0 and math.isfinite(weight)):
                raise ValueError(f"weight of {name!r} must be a finite number >= 0")
        return value


class DetectorSettings(_Frozen):
    false_alarms_per_million: float = Field(
        1.0, gt=0, le=1e5, description="expected false alarms per 10⁶ records, whole endpoint"
    )
    engine: Literal["batched", "river"] = "batched"
    clip_sigma: float = Field(5.0, gt=0, description="standardised values are clipped to ±this")
    adwin: AdwinSettings = AdwinSettings()
    page_hinkley: PageHinkleySettings = PageHinkleySettings()
    window: WindowSettings = WindowSettings()
    calibration: CalibrationSettings = CalibrationSettings()
    retrain: RetrainSettings = RetrainSettings()
    trace_points: int = Field(
        256,
        ge=0,
        le=100_000,
        description="points kept per feature and check for the report's plots (0: none)",
    )
