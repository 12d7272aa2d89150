"""`sinks.signals`: where retrain signals are delivered (docs/aws.md describes every key)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from driftstream.sinks.retry import BackoffSettings

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
        "trigger",
        "lineage",
        "approval",
    }
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
