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
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from detectors.settings import DetectorSettings

ENV_PREFIX = "DRIFTSTREAM__"


class ConfigError(ValueError):
    """The configuration is invalid; the message is one line naming the key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DecodeSettings(_Frozen):
    max_record_bytes: int = Field(1_048_576, gt=0)
    output_key: str | None = None
    instance_key: str = "features"


class MetricsSettings(_Frozen):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535, description="0 picks a free port")


class Config(_Frozen):
    endpoint: str = Field("default", min_length=1, description="names the endpoint in metrics")
    baseline: Path | None = None
    batch_size: int = Field(4096, gt=0, le=1_000_000)
    decode: DecodeSettings = DecodeSettings()
    detectors: DetectorSettings = DetectorSettings()
    metrics: MetricsSettings = MetricsSettings()

    def identity(self) -> str:
        """Short hash of the effective settings (names the config in retrain signals)."""
        text = self.model_dump_json(exclude={"metrics", "batch_size"})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"environment override {'.'.join(path)}: {part} is not a section")
        node = child
    node[path[-1]] = value


def _format_error(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
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
        if tree.get("baseline"):
            # a relative baseline path in a file is relative to that file
            tree["baseline"] = str((path.parent / str(tree["baseline"])).resolve())
    env = os.environ if environ is None else environ
    for name, raw in sorted(env.items()):
        if name.startswith(ENV_PREFIX):
            keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
            if keys:
                _set_path(tree, keys, yaml.safe_load(raw) if raw else None)
    for key, value in overrides.items():
        if value is not None:
            _set_path(tree, key.split("."), value)
    try:
        return Config.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_format_error(err, origin)) from None
