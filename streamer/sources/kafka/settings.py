"""`sources.kafka`: a consumer group over one or more topics, and how to reach its cluster
(docs/kafka.md describes every key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurity(_Frozen):
    """How to reach a secured cluster. Secrets are SecretStr: masked in dumps, reprs and logs."""

    protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr | None = None
    ssl_check_hostname: bool = True

    @field_validator("sasl_username", "sasl_password", "ssl_password", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # environment overrides are parsed as YAML: a password of digits arrives as a number
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        sasl = self.protocol.startswith("SASL_")
        if sasl and self.sasl_mechanism is None:
            raise ValueError(f"sasl_mechanism is required with protocol {self.protocol}")
        if sasl and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(f"sasl_username and sasl_password are required with {self.protocol}")
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError("sasl_mechanism needs protocol SASL_PLAINTEXT or SASL_SSL")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {path} is not a file")
        return self


class RetrySettings(_Frozen):
    """Back-off for an unreachable broker: doubles from `initial_seconds` up to `max_seconds`."""

    initial_seconds: float = Field(0.5, gt=0, le=60)
    max_seconds: float = Field(10.0, gt=0, le=600)

    @model_validator(mode="after")
    def _ordered(self) -> RetrySettings:
        if self.max_seconds < self.initial_seconds:
            raise ValueError("max_seconds must be >= initial_seconds")
        return self


class KafkaSourceSettings(_Frozen):
    """A consumer group over one or more topics (see docs/kafka.md)."""

    bootstrap_servers: tuple[str, ...] = Field(min_length=1)
    topics: tuple[str, ...] = Field(min_length=1)
    group_id: str = Field("driftstream", min_length=1)
    group_instance_id: str | None = Field(None, min_length=1, description="static membership")
    client_id: str = Field("driftstream", min_length=1)
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    poll_timeout_ms: int = Field(500, ge=0, le=60_000)
    max_poll_records: int = Field(5000, gt=0, le=1_000_000)
    max_partition_fetch_bytes: int = Field(8 * 1_048_576, gt=0)
    fetch_max_bytes: int = Field(50 * 1_048_576, gt=0)
    session_timeout_ms: int = Field(10_000, ge=1000, le=300_000)
    heartbeat_interval_ms: int | None = Field(None, gt=0, description="None: a third of session")
    max_poll_interval_ms: int = Field(300_000, ge=1000)
    request_timeout_ms: int = Field(30_000, ge=1000)
    ground_truth_topic: str | None = Field(
        None,
        min_length=1,
        description="Model Monitor ground-truth records, partitioned like the capture topic "
        "(docs/model-quality.md); None: no live model quality",
    )
    security: KafkaSecurity = KafkaSecurity()
    retry: RetrySettings = RetrySettings()

    @field_validator("bootstrap_servers", "topics", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # "a:9092,b:9092" (handy in environment overrides) is the same as a list
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for server in value:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _timeouts(self) -> KafkaSourceSettings:
        if self.heartbeat_interval_ms is not None and (
            self.heartbeat_interval_ms >= self.session_timeout_ms
        ):
            raise ValueError("heartbeat_interval_ms must be below session_timeout_ms")
        if self.request_timeout_ms <= self.poll_timeout_ms:
            raise ValueError("request_timeout_ms must be above poll_timeout_ms")
        return self

    @model_validator(mode="after")
    def _co_partitioned(self) -> KafkaSourceSettings:
        # ground-truth partition i goes with capture partition i: of one capture topic only
        if self.ground_truth_topic is not None:
            if len(self.topics) != 1:
                raise ValueError("ground_truth_topic needs exactly one capture topic in topics")
            if self.ground_truth_topic in self.topics:
                raise ValueError("ground_truth_topic must not be the capture topic")
        return self
