"""Clarify's files: `analysis.json` (bias metrics: the bias-drift baseline, and each window's
analysis) and the bias-drift `constraint_violations.json` (reference §5.2, §5.3).

`BiasAnalysis` is the post-training section of an analysis.json; `read_analysis` takes real
Clarify output (values may be numbers, the strings "Infinity"/"-Infinity", or null beside an
`error`; a file may hold only pre-training metrics) and ours alike. `bias_counts.json` is
driftstream's own file beside a baseline's analysis.json: the row counts behind each facet
group's metrics, which make the drift test account for the baseline's own sampling error.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from driftstream.detectors.bias.config import POST_TRAINING_METRICS, BiasConfigError
from driftstream.detectors.bias.metrics import GroupCounts

ANALYSIS = "analysis.json"
ANALYSIS_CONFIG = "analysis_config.json"
COUNTS = "bias_counts.json"
VIOLATIONS = "constraint_violations.json"
CHECK_TYPE = "bias_drift_check"
VERSION = "1.0"


@dataclass(frozen=True)
class MetricResult:
    """One metric of one facet group; `value` NaN with `error` set when Clarify could not
    compute it (an empty group)."""

    name: str
    value: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": POST_TRAINING_METRICS.get(self.name, self.name),
            "value": json_number(self.value),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class FacetResult:
    """The metrics of one facet group: `facet` (the column) at `value_or_threshold`."""

    facet: str
    value_or_threshold: str
    metrics: tuple[MetricResult, ...]

    def metric(self, name: str) -> MetricResult | None:
        return next((m for m in self.metrics if m.name == name), None)


@dataclass(frozen=True)
class BiasAnalysis:
    """`post_training_bias_metrics` of an analysis.json."""

    label: str
    label_value_or_threshold: str
    facets: tuple[FacetResult, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """The whole analysis.json, keys in the order of Clarify's own files."""
        facets: dict[str, list[dict[str, Any]]] = {}
        for result in self.facets:
            facets.setdefault(result.facet, []).append(
                {
                    "value_or_threshold": result.value_or_threshold,
                    "metrics": [m.to_json() for m in result.metrics],
                }
            )
        return {
            "version": VERSION,
            "post_training_bias_metrics": {
                "label": self.label,
                "facets": facets,
                "label_value_or_threshold": self.label_value_or_threshold,
            },
        }


def json_number(value: float) -> float | str | None:
    """A metric value as Clarify writes it: infinities as the strings "Infinity"/"-Infinity"
    (JSON has no infinity), an undefined value as null."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def format_value(value: float) -> str:
    """A number in a violation's description, as the real files show them (`Infinity`)."""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def violation(
    facet: str, facet_value: str, metric: str, value: float, baseline: float
) -> dict[str, str]:
    """One entry of a bias-drift constraint_violations.json (2024 wording, reference §5.3)."""
    return {
        "facet": facet,
        "facet_value": facet_value,
        "metric_name": metric,
        "constraint_check_type": CHECK_TYPE,
        "description": f"Metric value {format_value(value)} doesn't meet the baseline "
        f"constraint requirement {format_value(baseline)}",
    }


def violations_document(violations: list[dict[str, str]]) -> dict[str, Any]:
    return {"version": VERSION, "violations": violations}


# --- reading -----------------------------------------------------------------------------------


class _Metric(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    value: float | str | None = None
    error: str | None = None


class _FacetEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    value_or_threshold: str | int | float
    metrics: list[_Metric] = Field(default_factory=list)


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: str | int | None = None
    facets: dict[str, list[_FacetEntry]]
    label_value_or_threshold: str | int | float | None = None


class _Analysis(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str | float | None = None
    post_training_bias_metrics: _Section | None = None
    pre_training_bias_metrics: _Section | None = None


def _value(raw: float | str | None, where: str) -> float:
    if raw is None:
        return math.nan
    if isinstance(raw, str):
        named = {"infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}
        if raw.strip().lower() not in named:
            raise BiasConfigError(f"{where}: value {raw!r} is not a number")
        return named[raw.strip().lower()]
    return float(raw)


def _problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BiasConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BiasConfigError(f"{path}: not a JSON document") from None


def parse_analysis(raw: object, origin: str) -> BiasAnalysis:
    """The post-training section of an analysis.json document; BiasConfigError naming `origin`
    and the key when it has none or it is malformed."""
    try:
        doc = _Analysis.model_validate(raw)
    except ValidationError as exc:
        raise BiasConfigError(f"{origin}: {_problem(exc)}") from None
    section = doc.post_training_bias_metrics
    if section is None:
        has_pre = doc.pre_training_bias_metrics is not None
        raise BiasConfigError(
            f"{origin}: no post_training_bias_metrics"
            + (" (only pre-training metrics, which need true labels)" if has_pre else "")
            + "; bias drift compares post-training metrics of the model's predictions"
        )
    facets: list[FacetResult] = []
    for name, entries in section.facets.items():
        for i, entry in enumerate(entries):
            where = f"{origin}: post_training_bias_metrics.facets.{name}[{i}]"
            metrics = tuple(
                MetricResult(m.name, _value(m.value, f"{where}.{m.name}"), m.error)
                for m in entry.metrics
            )
            facets.append(FacetResult(name, str(entry.value_or_threshold), metrics))
    label = section.label_value_or_threshold
    return BiasAnalysis(
        label="" if section.label is None else str(section.label),
        label_value_or_threshold="" if label is None else str(label),
        facets=tuple(facets),
    )


def read_analysis(path: Path) -> BiasAnalysis:
    return parse_analysis(_load_json(path), str(path))


class _CountsEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    value_or_threshold: str
    rows: int = Field(ge=0)
    positive: int = Field(ge=0)
    other_rows: int = Field(ge=0)
    other_positive: int = Field(ge=0)


class _Counts(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    version: int
    facets: dict[str, list[_CountsEntry]]


def counts_document(counts: dict[tuple[str, str], GroupCounts]) -> dict[str, Any]:
    """bias_counts.json: per facet group (column, value_or_threshold), facet d's rows and
    positive predicted labels (`rows`, `positive`) and facet a's (`other_rows`, ...)."""
    facets: dict[str, list[dict[str, Any]]] = {}
    for (facet, value), c in counts.items():
        facets.setdefault(facet, []).append(
            {
                "value_or_threshold": value,
                "rows": c.rows_d,
                "positive": c.positive_d,
                "other_rows": c.rows_a,
                "other_positive": c.positive_a,
            }
        )
    return {"version": 1, "facets": facets}


def read_counts(path: Path) -> dict[tuple[str, str], GroupCounts]:
    try:
        doc = _Counts.model_validate(_load_json(path))
    except ValidationError as exc:
        raise BiasConfigError(f"{path}: {_problem(exc)}") from None
    out: dict[tuple[str, str], GroupCounts] = {}
    for facet, entries in doc.facets.items():
        for e in entries:
            if e.positive > e.rows or e.other_positive > e.other_rows:
                raise BiasConfigError(
                    f"{path}: {facet}={e.value_or_threshold}: more positive than rows"
                )
            out[(facet, e.value_or_threshold)] = GroupCounts(
                e.other_rows, e.other_positive, e.rows, e.positive
            )
    return out


def write_json(path: Path, document: Any) -> None:
    """Indented JSON as Clarify writes it, to a temporary name then renamed (a reader never sees
    half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(document, indent=4, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
