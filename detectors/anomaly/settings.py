"""Anomaly settings: the `anomaly:` section of the service config (docs/anomaly.md)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AnomalySettings(BaseModel):
    """Per-record anomaly scores and the drift of their rate; off unless `enabled`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(False, description="score every record (anomaly events, rate drift)")
    rate: float = Field(
        0.001,
        gt=0,
        le=0.1,
        description="share of records from the baseline's distribution flagged as anomalies: "
        "sets the score's threshold",
    )
    clip_sigma: float = Field(
        10.0,
        gt=0,
        description="a feature's standardised distance counts at most this far, so one feature "
        "alone flags only beyond it and several moderately extreme ones flag together",
    )
    rate_tolerance: float = Field(
        2.0,
        ge=1.0,
        description="the rate test's null: flags at up to this multiple of `rate` are no drift "
        "(the baseline's features are calibrated as if independent)",
    )
    rate_alarm_factor: float = Field(
        10.0,
        gt=1.0,
        description="the rate test is tuned to detect a rise to this multiple of `rate`",
    )
    rate_window: int = Field(
        10_000, gt=0, description="records behind the `anomaly_rate` reading (a share)"
    )
    max_events_per_thousand: int = Field(
        10,
        ge=0,
        description="anomaly events per 1,000 records at most (aligned blocks); the rest are "
        "counted (`anomaly_events_suppressed`), not written",
    )
    simulations: int = Field(
        0,
        ge=0,
        description="records drawn from the baseline to set the threshold (0: 500 / rate, "
        "between 100,000 and 2,000,000)",
    )

    @model_validator(mode="after")
    def _alarm_above_tolerance(self) -> Self:
        if self.rate_alarm_factor <= self.rate_tolerance:
            raise ValueError("rate_alarm_factor must be greater than rate_tolerance")
        return self
