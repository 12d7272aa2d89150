"""Model-quality settings: the `model_quality:` section of the service config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftstream.detectors.constraints.window import WindowSpec


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JoinSettings(_Frozen):
    """The bounded buffer that joins labels to predictions (docs/model-quality.md)."""

    max_pending_predictions: int = Field(
        200_000, gt=0, description="predictions waiting for a label; beyond it the oldest expire"
    )
    max_pending_labels: int = Field(
        100_000, gt=0, description="labels waiting for a prediction; beyond it the oldest go"
    )
    ttl_seconds: float | None = Field(
        2 * 86_400.0,
        gt=0,
        description="of inferenceTime: a prediction (or a label) waiting longer expires; None: "
        "no limit",
    )
    ttl_records: int | None = Field(
        None, gt=0, description="captured records: one waiting longer expires; None: no limit"
    )


class ModelQualitySettings(_Frozen):
    """Model quality from delayed ground truth (`replay --ground-truth GT`)."""

    ground_truth: str | None = Field(
        None,
        min_length=1,
        description="replay: Model Monitor ground-truth records, a file, a folder or "
        "s3://bucket/prefix (None: model quality is not monitored)",
    )
    window: str | None = Field(
        None,
        description="a duration of inferenceTime (1h) or records (10000r); None: "
        "reports.violations_window",
    )
    min_pairs: int = Field(
        200, gt=0, description="matched pairs a window needs to be judged; fewer carry over"
    )
    max_window_pairs: int = Field(
        200_000, gt=0, description="a window is judged early once it holds this many pairs"
    )
    sampling_aware: bool = Field(
        True,
        description="allow for a window's sampling error when comparing with the constraints "
        "(false: Model Monitor's plain comparison)",
    )
    bootstrap_resamples: int = Field(64, ge=8, le=10_000)
    join: JoinSettings = JoinSettings()

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            WindowSpec.parse(value)
        return value
