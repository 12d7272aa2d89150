"""The service configuration: one frozen, validated tree from a YAML file plus the environment.

Environment overrides use the prefix DRIFTSTREAM__ and double underscores between levels, e.g.
`DRIFTSTREAM__DETECTORS__FALSE_ALARMS_PER_MILLION=2`; values are parsed as YAML scalars. The
environment is read once, in `load_config`. A wrong key or value raises ConfigError with one line
naming it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from driftstream.detectors.anomaly.settings import AnomalySettings
from driftstream.detectors.constraints.window import DEFAULT_WINDOW, WindowSpec
from driftstream.detectors.quality.settings import ModelQualitySettings
from driftstream.detectors.settings import DetectorSettings
from driftstream.sinks.aws import AwsSettings
from driftstream.sinks.cloudwatch import CloudWatchSettings
from driftstream.sinks.report_folder import S3_SCHEME, split_s3
from driftstream.sinks.signals.settings import SignalTarget, check_signal_targets
from driftstream.streamer.sources.kafka.settings import KafkaSourceSettings
from driftstream.streamer.sources.kinesis.settings import KinesisSourceSettings

ENV_PREFIX = "DRIFTSTREAM__"


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line naming the key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DecodeSettings(_Frozen):
    max_record_bytes: int = Field(1_048_576, gt=0)
    output_key: str | None = None
    instance_key: str = "features"
    rejection_excerpts: bool = Field(
        False,
        description="quote up to ~40 characters of the offending text in each rejection's "
        "detail (debugging only: captured data may be personal); by default a detail says "
        "what was wrong and where, never the record's content",
    )


class MetricsSettings(_Frozen):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535, description="0 picks a free port")


class SourcesSettings(_Frozen):
    kafka: KafkaSourceSettings | None = None
    kinesis: KinesisSourceSettings | None = None

    @model_validator(mode="after")
    def _one_live_source(self) -> SourcesSettings:
        set_ = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(set_) > 1:
            raise ValueError(f"set one live source: {' or '.join(f'sources.{n}' for n in set_)}")
        return self


class CheckpointSettings(_Frozen):
    """Where detector state and source positions are checkpointed, and how often."""

    directory: Path = Path("checkpoints")
    kafka_topic: str | None = Field(
        None, min_length=1, description="a compacted topic instead of the directory"
    )
    interval_seconds: float = Field(10.0, gt=0, le=3600)
    every_records: int = Field(100_000, gt=0)


class SinksSettings(_Frozen):
    """Where the live service sends events (the Kafka sinks use sources.kafka's connection)."""

    events_file: Path | None = None
    dead_letter_topic: str | None = Field(None, min_length=1)
    output_topic: str | None = Field(None, min_length=1)
    flush_timeout_seconds: float = Field(10.0, gt=0, le=600)
    cloudwatch: CloudWatchSettings | None = None
    signals: tuple[SignalTarget, ...] = ()
    signal_outbox: Path = Field(Path("signal-outbox"), description="durable retrain signals")
    signal_approval: Literal["none", "required"] = Field(
        "none",
        description="required: signals wait in the outbox for `driftstream signals approve` "
        "(docs/signals.md)",
    )

    @model_validator(mode="after")
    def _signal_names(self) -> SinksSettings:
        check_signal_targets(self.signals)
        if self.signal_approval == "required" and not self.signals:
            raise ValueError(
                "sinks.signal_approval: required needs sinks.signals (where approved signals go)"
            )
        return self


class ReportsSettings(_Frozen):
    """Model Monitor's reports per window (docs/model-monitor-reports.md): `replay
    --violations-out DIR --violations-window W`."""

    violations_out: str | None = Field(
        None,
        min_length=1,
        description="a folder or s3://bucket/prefix: each window's constraint_violations.json "
        "and statistics.json under yyyy/mm/dd/hh/mm/ (None: no reports)",
    )
    violations_window: str = Field(
        DEFAULT_WINDOW, description="a duration of inferenceTime (30s, 5m, 1h) or records (10000r)"
    )

    @field_validator("violations_window")
    @classmethod
    def _window(cls, value: str) -> str:
        WindowSpec.parse(value)
        return value

    @field_validator("violations_out")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(S3_SCHEME):
            split_s3(value)
        return value


class Config(_Frozen):
    endpoint: str = Field("default", min_length=1, description="names the endpoint in metrics")
    baseline: Path | None = None
    batch_size: int = Field(4096, gt=0, le=1_000_000)
    decode: DecodeSettings = DecodeSettings()
    detectors: DetectorSettings = DetectorSettings()
    metrics: MetricsSettings = MetricsSettings()
    sources: SourcesSettings = SourcesSettings()
    checkpoint: CheckpointSettings = CheckpointSettings()
    sinks: SinksSettings = SinksSettings()
    aws: AwsSettings = AwsSettings()
    reports: ReportsSettings = ReportsSettings()
    model_quality: ModelQualitySettings = ModelQualitySettings()
    anomaly: AnomalySettings = AnomalySettings()
    monitor_process: bool = Field(
        True,
        description="`run`: decode and monitor in a child process, beside the consumer (false: "
        "in the consumer's process, for one core or debugging)",
    )

    @model_validator(mode="after")
    def _kafka_sinks_need_kafka(self) -> Config:
        if self.sources.kafka is None:
            for key in ("dead_letter_topic", "output_topic"):
                if getattr(self.sinks, key) is not None:
                    raise ValueError(f"sinks.{key} needs sources.kafka (its connection is used)")
            if self.checkpoint.kafka_topic is not None:
                raise ValueError("checkpoint.kafka_topic needs sources.kafka")
        return self

    def identity(self) -> str:
        """Short hash of the detection settings (names the config in retrain signals).

        Where records come from and where events go do not change what is detected, so
        `sources`, `checkpoint`, `sinks` and `aws` are left out, as are metrics, batch size and
        where monitoring runs; so is the baseline's path (signals carry the baseline's own
        content identity, and the same baseline reached by two spellings of its path is the
        same configuration).
        """
        left_out: dict[str, Any] = dict.fromkeys(
            (
                "metrics",
                "batch_size",
                "sources",
                "checkpoint",
                "sinks",
                "aws",
                "baseline",
                "monitor_process",
            ),
            True,
        )
        # where reports go; their window stays in (model quality and bias drift use it)
        left_out["reports"] = {"violations_out"}
        if not self.anomaly.enabled:  # off, it detects nothing (and identities stay as before)
            left_out["anomaly"] = True
        text = self.model_dump_json(exclude=left_out)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"environment override {'.'.join(path)}: {part} is not a section")
        node = child
    node[path[-1]] = value


_SECRET_KEYS = frozenset({"sasl_password", "ssl_password"})
_FILE_RELATIVE: tuple[tuple[str, ...], ...] = (
    ("baseline",),
    ("checkpoint", "directory"),
    ("sinks", "events_file"),
    ("sinks", "signal_outbox"),
    ("reports", "violations_out"),
    ("model_quality", "ground_truth"),
    ("sources", "kafka", "security", "ssl_cafile"),
    ("sources", "kafka", "security", "ssl_certfile"),
    ("sources", "kafka", "security", "ssl_keyfile"),
)


def _resolve_path(tree: dict[str, Any], keys: tuple[str, ...], base: Path) -> None:
    node: Any = tree
    for key in keys[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    value = node.get(keys[-1]) if isinstance(node, dict) else None
    if value and not isinstance(value, dict | list) and "://" not in str(value):
        node[keys[-1]] = str((base / str(value)).resolve())


def _resolve_signal_paths(tree: dict[str, Any], base: Path) -> None:
    """`path` of each `sinks.signals` item (the file target) is relative to the file too."""
    sinks = tree.get("sinks")
    targets = sinks.get("signals") if isinstance(sinks, dict) else None
    for target in targets if isinstance(targets, list) else []:
        if isinstance(target, dict):
            _resolve_path(target, ("path",), base)


def _format_error(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
        if not first["loc"]:
            return f"{origin}: {msg}"  # the message names its keys
    return f"{origin}: {key}: {msg}"


def load_config(
    path: Path | None, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Config:
    """Read YAML (if given), apply DRIFTSTREAM__ environment overrides, then `overrides`."""
    tree: dict[str, Any] = {}
    origin = str(path) if path else "config"
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}:{where} is not valid YAML") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys")
        tree = loaded or {}
        # a relative path written in a file is relative to that file
        for relative in _FILE_RELATIVE:
            _resolve_path(tree, relative, path.parent)
        _resolve_signal_paths(tree, path.parent)
    env = os.environ if environ is None else environ
    for name, raw in sorted(env.items()):
        if name.startswith(ENV_PREFIX):
            keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
            if keys:
                # a secret is taken as written: YAML would read 0123 as the number 83
                secret = keys[-1] in _SECRET_KEYS
                _set_path(tree, keys, raw if secret else yaml.safe_load(raw) if raw else None)
    for key, value in overrides.items():
        if value is not None:
            _set_path(tree, key.split("."), value)
    try:
        return Config.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_format_error(err, origin)) from None
