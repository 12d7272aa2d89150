"""`sources.kinesis`: one Kinesis data stream, every shard of it (docs/aws.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftstream.sinks.retry import BackoffSettings


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KinesisSourceSettings(_Frozen):
    """One Kinesis data stream, every shard of it (see docs/aws.md)."""

    stream_name: str = Field(
        min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9_-][a-zA-Z0-9_.-]*$"
    )
    application: str = Field(
        "driftstream",
        min_length=1,
        max_length=128,
        pattern=r"^[a-zA-Z0-9_-][a-zA-Z0-9_.-]*$",
        description="names checkpoints and positions, like a consumer group",
    )
    initial_position: Literal["trim_horizon", "latest"] = "trim_horizon"
    max_records_per_call: int = Field(10_000, ge=1, le=10_000)
    poll_timeout_seconds: float = Field(0.5, ge=0, le=60)
    idle_poll_seconds: float = Field(
        1.0, ge=0.2, le=60, description="per shard once caught up (5 reads/s/shard at most)"
    )
    shard_refresh_seconds: float = Field(30.0, gt=0, le=3600)
    ground_truth_stream: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[a-zA-Z0-9_-][a-zA-Z0-9_.-]*$",
        description="Model Monitor ground-truth records, sharded like the capture stream and "
        "keyed alike (docs/model-quality.md); None: no live model quality",
    )
    retry: BackoffSettings = BackoffSettings()

    @model_validator(mode="after")
    def _co_sharded(self) -> KinesisSourceSettings:
        if self.ground_truth_stream == self.stream_name:
            raise ValueError("ground_truth_stream must not be the capture stream")
        return self
