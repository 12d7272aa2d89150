"""Detector settings: one frozen, validated tree (part of the service config)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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


class RetrainSettings(_Frozen):
    min_feature_share: float = Field(0.3, gt=0, le=1)
    persistence_rows: int = Field(2000, ge=0)
    cooldown_rows: int = Field(100_000, ge=0)


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
