"""Settings of the AWS integrations and of retrain-signal delivery (parts of the config tree).

streamer/config.py includes them as `aws`, `sources.kinesis`, `sinks.cloudwatch`,
`sinks.signals` and `sinks.signal_outbox`; docs/aws.md describes every key. This module does not
import streamer/config.py, so the tree stays acyclic.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

#: keys of the signal document (sinks/signals/base.py), for SageMaker parameter mappings
SIGNAL_FIELDS = frozenset(
    {
        "idempotency_key",
        "endpoint",
        "decision",
        "features",
        "record_index",
        "inference_time",
        "value",
        "threshold",
        "evidence",
        "decided_at",
    }
)
CLOUDWATCH_MAX_DIMENSIONS = 30
# driftstream's own metrics carry Endpoint and at most one more (Kind or Reason)
_OWN_DIMENSIONS = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BackoffSettings(_Frozen):
    """Back-off after a failure: doubles from `initial_seconds` up to `max_seconds`."""

    initial_seconds: float = Field(0.5, gt=0, le=60)
    max_seconds: float = Field(10.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _ordered(self) -> BackoffSettings:
        if self.max_seconds < self.initial_seconds:
            raise ValueError("max_seconds must be >= initial_seconds")
        return self


class AwsSettings(_Frozen):
    """How boto3 clients are made. Credentials always come from boto3's own chain (environment,
    shared files, SSO, container or instance role); these keys only add to it."""

    region: str | None = Field(None, min_length=1, description="None: boto3's chain")
    endpoint_url: str | None = Field(None, description="a VPC endpoint, LocalStack, moto...")
    profile: str | None = Field(None, min_length=1, description="a named profile of ~/.aws")
    connect_timeout_seconds: float = Field(5.0, gt=0, le=300)
    read_timeout_seconds: float = Field(30.0, gt=0, le=900)
    max_attempts: int = Field(3, ge=1, le=20, description="botocore's retries within one call")

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value


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
    retry: BackoffSettings = BackoffSettings()


class CloudWatchSettings(_Frozen):
    """Model Monitor's per-feature metrics and driftstream's own (see docs/aws.md)."""

    monitoring_schedule: str = Field(
        min_length=1, max_length=1024, description="the MonitoringSchedule dimension value"
    )
    namespace: str = Field(
        "driftstream", min_length=1, max_length=255, description="driftstream's own metrics"
    )
    dimensions: dict[str, str] = Field(
        default_factory=dict, description="extra dimensions on driftstream's own metrics"
    )
    interval_seconds: float = Field(60.0, ge=0, le=3600, description="0: at every flush")
    max_buffered: int = Field(100_000, ge=1, le=10_000_000, description="metric data points")
    storage_resolution: Literal[1, 60] = 60
    close_timeout_seconds: float = Field(10.0, ge=0, le=600)
    retry: BackoffSettings = BackoffSettings(initial_seconds=1.0, max_seconds=60.0)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if value.startswith(("AWS/", ":")):
            raise ValueError("a custom namespace cannot start with 'AWS/' or ':'")
        return value

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, value: dict[str, str]) -> dict[str, str]:
        room = CLOUDWATCH_MAX_DIMENSIONS - _OWN_DIMENSIONS
        if len(value) > room:
            raise ValueError(
                f"at most {room} extra dimensions (CloudWatch allows "
                f"{CLOUDWATCH_MAX_DIMENSIONS} per metric, driftstream uses {_OWN_DIMENSIONS})"
            )
        for name, dim_value in value.items():
            if not 1 <= len(name) <= 255 or not 1 <= len(dim_value) <= 1024:
                raise ValueError(f"dimension {name!r}: names 1-255, values 1-1024 characters")
            if name in ("Endpoint", "Kind", "Reason"):
                raise ValueError(f"dimension {name!r} is set by driftstream")
        return value


# -- retrain-signal delivery ----------------------------------------------------------------


class _Target(_Frozen):
    name: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:/@+=-]+$",
        description="records deliveries in the outbox; default: type and destination",
    )
    retry: BackoffSettings = BackoffSettings(initial_seconds=1.0, max_seconds=60.0)

    def destination(self) -> str:
        """Where this target delivers, for its default name (no secrets)."""
        raise NotImplementedError

    def target_name(self) -> str:
        type_: str = getattr(self, "type")  # noqa: B009 - every subclass declares it
        return self.name or f"{type_}:{self.destination()}"


class SnsTarget(_Target):
    type: Literal["sns"]
    topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:")
    subject: str = Field("driftstream retrain signal", min_length=1, max_length=100)

    def destination(self) -> str:
        return self.topic_arn


class EventBridgeTarget(_Target):
    type: Literal["eventbridge"]
    event_bus: str = Field("default", min_length=1, max_length=1600)
    source: str = Field("driftstream", min_length=1, max_length=256)
    detail_type: str = Field("driftstream.retrain_signal", min_length=1, max_length=128)

    def destination(self) -> str:
        return self.event_bus


class SageMakerPipelineTarget(_Target):
    type: Literal["sagemaker_pipeline"]
    pipeline_name: str = Field(min_length=1, max_length=256)
    #: pipeline parameter name → signal field, dotted for evidence keys ("evidence.baseline")
    parameters: dict[str, str] = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for parameter, path in value.items():
            if path.split(".", 1)[0] not in SIGNAL_FIELDS:
                raise ValueError(
                    f"parameter {parameter!r}: {path!r} is not a signal field (one of "
                    + ", ".join(sorted(SIGNAL_FIELDS))
                    + ")"
                )
        return value

    def destination(self) -> str:
        return self.pipeline_name


class KafkaTarget(_Target):
    type: Literal["kafka"]
    topic: str = Field(min_length=1, max_length=249)
    bootstrap_servers: tuple[str, ...] | None = Field(
        None, min_length=1, description="None: the connection (and security) of sources.kafka"
    )
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    def destination(self) -> str:
        return self.topic


class WebhookTarget(_Target):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://[^/\s]+")
    timeout_seconds: float = Field(5.0, gt=0, le=300)
    secret: SecretStr | None = Field(None, description="signs the body with HMAC-SHA256")
    signature_header: str = Field("X-Driftstream-Signature", min_length=1)
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="e.g. Authorization")

    @field_validator("secret", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    def destination(self) -> str:
        # scheme, host and path only: a query string may carry a token
        return self.url.split("?", 1)[0].split("#", 1)[0]


class FileTarget(_Target):
    type: Literal["file"]
    path: Path

    def destination(self) -> str:
        return str(self.path)


SignalTarget = Annotated[
    SnsTarget
    | EventBridgeTarget
    | SageMakerPipelineTarget
    | KafkaTarget
    | WebhookTarget
    | FileTarget,
    Field(discriminator="type"),
]


def check_signal_targets(targets: tuple[SignalTarget, ...]) -> None:
    """Target names must be unique: the outbox records deliveries by name."""
    seen: set[str] = set()
    for target in targets:
        name = target.target_name()
        if name in seen:
            raise ValueError(f"two signal targets are named {name!r}; give one a `name`")
        seen.add(name)
