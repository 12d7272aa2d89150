"""Read and write Model Monitor's baseline files, `statistics.json` and `constraints.json`.

`write_baseline` turns a `DatasetProfile` into the two files as `suggest_baseline` writes them.
`load_baseline` reads ours and real Model Monitor files alike into the frozen `Baseline` model:
numbers may be floats anywhere (`"version" : 0.0`, `"count" : 24.0`), newer keys are optional,
constraints.json is optional, and per-feature overrides are read in both spellings. Anything
unusable raises `BaselineError` with one line naming the file and the key or feature at fault.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from driftstream.detectors.baseline.errors import BaselineError
from driftstream.detectors.baseline.kll import DEFAULT_C, DEFAULT_K, flatten_levels
from driftstream.detectors.baseline.model import (
    NUMERIC_TYPES,
    Baseline,
    CategoricalStats,
    FeatureBaseline,
    InferredType,
    MonitoringConfig,
    NumericStats,
)
from driftstream.detectors.baseline.profile import (
    CARDINALITY_THRESHOLD,
    ColumnProfile,
    DatasetProfile,
)

FloatArray = npt.NDArray[np.float64]
_T = TypeVar("_T")

STATISTICS = "statistics.json"
CONSTRAINTS = "constraints.json"

_INFERRED_TYPES: dict[str, InferredType] = {
    "Integral": "Integral",
    "Fractional": "Fractional",
    "String": "String",
    "Unknown": "Unknown",
}
# the doc table spells the comparison methods linf_simple / linf_robust; the schema, Simple / Robust
_COMPARISON_METHODS: dict[str, Literal["Robust", "Simple"]] = {
    "robust": "Robust",
    "linf_robust": "Robust",
    "simple": "Simple",
    "linf_simple": "Simple",
}
_DRIFT_METHODS: dict[str, Literal["LInfinity", "ChiSquared"]] = {
    "linfinity": "LInfinity",
    "chisquared": "ChiSquared",
}


# --- writing ---------------------------------------------------------------------------------


def write_baseline(
    profile: DatasetProfile, out_dir: Path, *, monitoring: MonitoringConfig | None = None
) -> None:
    """Write `statistics.json` and `constraints.json` for `profile` into `out_dir`.

    Constraints are the ones `suggest_baseline` would suggest: the observed completeness,
    `is_non_negative` for numeric columns, the domain of low-cardinality strings, and
    `monitoring` (Model Monitor's suggested defaults if None). Each file is written to a
    temporary name and renamed, so a reader never sees half a baseline file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    config = monitoring if monitoring is not None else MonitoringConfig()
    _write_json(out_dir / STATISTICS, statistics_document(profile))
    _write_json(out_dir / CONSTRAINTS, _constraints_document(profile, config))


def model_monitor_json(document: object) -> str:
    """`document` as Model Monitor's files look (indented, plain-value arrays on one line),
    ending in a newline: how the baseline files and the report folder's files are written."""
    return _pretty(document) + "\n"


def _write_json(path: Path, document: dict[str, Any]) -> None:
    # a sibling temporary file, then an atomic rename; plain open() keeps the umask's mode
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(model_monitor_json(document), encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _pretty(value: object, depth: int = 0) -> str:
    """Indented JSON like Model Monitor's, with arrays of plain values (sketch levels) on one line.

    One item per line would turn each sketch level into thousands of lines.
    """
    pad = "  " * depth
    if isinstance(value, dict) and value:
        fields = (f"{pad}  {_scalar(k)}: {_pretty(v, depth + 1)}" for k, v in value.items())
        return "{\n" + ",\n".join(fields) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        entries = (f"{pad}  {_pretty(v, depth + 1)}" for v in value)
        return "[\n" + ",\n".join(entries) + f"\n{pad}]"
    return _scalar(value)


def _scalar(value: object) -> str:
    # allow_nan=False: NaN/Infinity are not JSON, and no statistic of ours should ever be one
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def statistics_document(profile: DatasetProfile) -> dict[str, Any]:
    """The `statistics.json` of `profile` (also a monitored window's: detectors/constraints)."""
    return {
        "version": 0.0,
        "dataset": {"item_count": profile.item_count},
        "features": [_statistics_feature(column) for column in profile.columns],
    }


def _statistics_feature(column: ColumnProfile) -> dict[str, Any]:
    common = {"num_present": column.num_present, "num_missing": column.num_missing}
    if column.numeric is not None:
        n = column.numeric
        numerical: dict[str, Any] = {
            "common": common,
            "mean": n.mean,
            "sum": n.sum,
            "std_dev": n.std_dev,
            "min": n.min,
            "max": n.max,
            "approximate_num_distinct_values": n.approximate_num_distinct_values,
            "completeness": column.completeness,
            "distribution": {
                "kll": {
                    "buckets": [
                        {
                            "lower_bound": b.lower_bound,
                            "upper_bound": b.upper_bound,
                            "count": b.count,
                        }
                        for b in n.buckets
                    ],
                    "sketch": {
                        # Model Monitor writes k as a double too ("k" : 2048.0)
                        "parameters": {"c": n.sketch_c, "k": float(n.sketch_k)},
                        "data": [list(level) for level in n.sketch_levels],
                    },
                }
            },
        }
        return {
            "name": column.name,
            "inferred_type": column.inferred_type,
            "numerical_statistics": numerical,
        }
    strings: dict[str, Any] = {
        "common": common,
        "distinct_count": float(column.string.distinct_count if column.string else 0),
        "completeness": column.completeness,
    }
    if column.string is not None and column.string.counts is not None:
        ranked = sorted(column.string.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        strings["distribution"] = {
            "categorical": {"buckets": [{"value": v, "count": c} for v, c in ranked]}
        }
    return {
        "name": column.name,
        "inferred_type": column.inferred_type,
        "string_statistics": strings,
    }


def _constraints_document(profile: DatasetProfile, config: MonitoringConfig) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for column in profile.columns:
        entry: dict[str, Any] = {
            "name": column.name,
            "inferred_type": column.inferred_type,
            "completeness": column.completeness,
        }
        if column.numeric is not None:
            entry["num_constraints"] = {"is_non_negative": column.numeric.min >= 0.0}
        elif column.string is not None and column.string.counts is not None:
            entry["string_constraints"] = {"domains": sorted(column.string.counts)}
        features.append(entry)
    return {"version": 0.0, "features": features, "monitoring_config": _config_document(config)}


def _config_document(config: MonitoringConfig) -> dict[str, Any]:
    return {
        "evaluate_constraints": _enabled(config.evaluate_constraints),
        "emit_metrics": _enabled(config.emit_metrics),
        "datatype_check_threshold": config.datatype_check_threshold,
        "domain_content_threshold": config.domain_content_threshold,
        "distribution_constraints": {
            "perform_comparison": _enabled(config.perform_comparison),
            "comparison_threshold": config.comparison_threshold,
            "comparison_method": config.comparison_method,
            "categorical_comparison_threshold": config.categorical_comparison_threshold,
            "categorical_drift_method": config.categorical_drift_method,
        },
    }


def _enabled(flag: bool) -> str:
    return "Enabled" if flag else "Disabled"


# --- loading ---------------------------------------------------------------------------------


def load_baseline(directory: Path) -> Baseline:
    """Load `statistics.json` (required) and `constraints.json` (optional) from `directory`.

    Called at start-up by the monitor and by `build_baseline`. Features come in
    statistics.json order; constraints entries for features absent from statistics.json are
    ignored. Without a constraints entry (or file), a feature gets the constraints
    `suggest_baseline` would derive from its statistics, and the monitoring config gets Model
    Monitor's defaults. `identity` is the first 16 hex digits of sha256(statistics bytes +
    constraints bytes). Raises BaselineError naming the file and key on any unusable content.
    """
    stats_path = directory / STATISTICS
    constraints_path = directory / CONSTRAINTS
    if not stats_path.is_file():
        raise BaselineError(f"{stats_path}: file not found (expected a baseline folder)")
    stats_bytes = _read_bytes(stats_path)
    stats = _Node.parse(stats_path, stats_bytes)
    constraints: _Node | None = None
    constraints_bytes = b""  # an absent file adds nothing to the identity hash
    if constraints_path.exists():
        constraints_bytes = _read_bytes(constraints_path)
        constraints = _Node.parse(constraints_path, constraints_bytes)

    monitoring = MonitoringConfig()
    constraint_entries: dict[str, _Node] = {}
    if constraints is not None:
        config_node = constraints.get("monitoring_config")
        if config_node is not None:
            monitoring = _monitoring_config(config_node)
        entries = constraints.get("features")
        for entry in entries.items() if entries is not None else []:
            name = entry.require("name").text()
            if name in constraint_entries:
                raise BaselineError(f"{entry.named(name).where}: duplicate feature name {name!r}")
            constraint_entries[name] = entry.named(name)

    features: list[FeatureBaseline] = []
    seen: set[str] = set()
    for unnamed in stats.require("features").items():
        name = unnamed.require("name").text()
        node = unnamed.named(name)
        if name in seen:
            raise BaselineError(f"{node.where}: duplicate feature name {name!r}")
        seen.add(name)
        features.append(_feature(node, name, constraint_entries.get(name), monitoring))

    dataset = stats.get("dataset")
    item_count_node = dataset.get("item_count") if dataset is not None else None
    if item_count_node is not None:
        item_count = item_count_node.count()
    else:
        # older or hand-made files: every feature counts every row as present or missing
        item_count = max((_rows(f) for f in features), default=0.0)

    digest = hashlib.sha256(stats_bytes + constraints_bytes).hexdigest()[:16]
    return Baseline(
        features=tuple(features), monitoring=monitoring, item_count=item_count, identity=digest
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read ({exc.strerror})") from exc


def _rows(feature: FeatureBaseline) -> float:
    stats = feature.numeric or feature.categorical
    return stats.num_present + stats.num_missing if stats is not None else 0.0


def _feature(
    node: _Node, name: str, constraint: _Node | None, monitoring: MonitoringConfig
) -> FeatureBaseline:
    inferred = _inferred_type(node.require("inferred_type"))
    numeric: NumericStats | None = None
    categorical: CategoricalStats | None = None
    completeness_seen = 1.0
    if inferred in NUMERIC_TYPES:
        numeric = _numeric_stats(node.require("numerical_statistics"))
        completeness_seen = _fraction_present(numeric.num_present, numeric.num_missing)
    else:
        # "Unknown" features may carry no statistics at all; String ones always do
        strings = (
            node.require("string_statistics")
            if inferred == "String"
            else node.get("string_statistics")
        )
        if strings is not None:
            categorical = _categorical_stats(strings)
            completeness_seen = _fraction_present(categorical.num_present, categorical.num_missing)

    if constraint is None:
        # no constraints entry: what suggest_baseline would have suggested from the statistics
        return FeatureBaseline(
            name=name,
            inferred_type=inferred,
            numeric=numeric,
            categorical=categorical,
            completeness=completeness_seen,
            domain=_suggested_domain(categorical),
            is_non_negative=(numeric.min >= 0.0) if numeric is not None else None,
            evaluate_constraints=monitoring.evaluate_constraints,
        )

    constrained_type = _inferred_type(constraint.require("inferred_type"))
    if constrained_type != inferred and not (
        constrained_type in NUMERIC_TYPES and inferred in NUMERIC_TYPES
    ):
        raise BaselineError(
            f"{constraint.where}.inferred_type: {constrained_type!r} contradicts "
            f"{inferred!r} in {node.file.name}"
        )
    completeness_node = constraint.get("completeness")
    num_constraints = constraint.get("num_constraints")
    non_negative = num_constraints.get("is_non_negative") if num_constraints is not None else None
    string_constraints = constraint.get("string_constraints")
    domains = string_constraints.get("domains") if string_constraints is not None else None
    return FeatureBaseline(
        name=name,
        # a user may relax Integral to Fractional in constraints.json; that choice wins
        inferred_type=constrained_type,
        numeric=numeric,
        categorical=categorical,
        completeness=completeness_node.fraction()
        if completeness_node is not None
        else completeness_seen,
        domain=tuple(d.text() for d in domains.items()) if domains is not None else None,
        is_non_negative=non_negative.boolean() if non_negative is not None else None,
        evaluate_constraints=_feature_evaluate(constraint, monitoring),
        monitoring=_feature_monitoring(constraint, monitoring),
    )


def _fraction_present(present: float, missing: float) -> float:
    total = present + missing
    return present / total if total else 0.0


def _suggested_domain(categorical: CategoricalStats | None) -> tuple[str, ...] | None:
    if categorical is None or not categorical.counts:
        return None
    if len(categorical.counts) >= CARDINALITY_THRESHOLD:
        return None
    return tuple(sorted(categorical.counts))


def _overrides(constraint: _Node) -> list[_Node]:
    """A feature's monitoring_config overrides: the docs' camelCase object, the SDK's
    snake_case one inside string_constraints, or both."""
    string_constraints = constraint.get("string_constraints")
    snake = (
        string_constraints.get("monitoring_config_overrides")
        if string_constraints is not None
        else None
    )
    camel = constraint.get("monitoringConfigOverrides")
    return [node for node in (camel, snake) if node is not None]


def _feature_monitoring(constraint: _Node, monitoring: MonitoringConfig) -> MonitoringConfig | None:
    """The feature's monitoring config where its overrides change the baseline's (an override
    object takes monitoring_config's keys, in its shape); None where they change nothing."""
    config = monitoring
    for override in _overrides(constraint):
        config = _monitoring_config(override, config)
    return config if config != monitoring else None


def _feature_evaluate(constraint: _Node, monitoring: MonitoringConfig) -> bool:
    """Per-feature evaluate_constraints: the docs' camelCase object or the SDK's snake_case one."""
    found: list[tuple[_Node, bool]] = []
    for override in _overrides(constraint):
        if (flag := override.get("evaluate_constraints")) is not None:
            found.append((flag, flag.enabled()))
    if len(found) == 2 and found[0][1] != found[1][1]:
        raise BaselineError(
            f"{found[1][0].where}: contradicts {found[0][0].path}; set evaluate_constraints once"
        )
    return found[0][1] if found else monitoring.evaluate_constraints


def _inferred_type(node: _Node) -> InferredType:
    try:
        return _INFERRED_TYPES[node.text()]
    except KeyError:
        raise node.error(f"expected one of {', '.join(_INFERRED_TYPES)}") from None


def _numeric_stats(node: _Node) -> NumericStats:
    common = node.require("common")
    present = common.require("num_present").count()
    missing = common.require("num_missing").count()
    values = {key: node.require(key).number() for key in ("mean", "sum", "std_dev", "min", "max")}
    if present > 0:
        for key, value in values.items():
            if not math.isfinite(value):
                raise node.require(key).error("expected a finite number")
    distribution = node.get("distribution")
    kll = distribution.get("kll") if distribution is not None else None
    sketch = kll.get("sketch") if kll is not None else None
    k, c = float(DEFAULT_K), DEFAULT_C
    if sketch is not None:
        parameters = sketch.get("parameters")
        if parameters is not None:
            k_node, c_node = parameters.get("k"), parameters.get("c")
            k = k_node.number() if k_node is not None else k
            c = c_node.number() if c_node is not None else c
        data = sketch.require("data").items()
        levels = [[item.finite() for item in level.items()] for level in data]
        items, weights = flatten_levels(levels)
    elif kll is not None and kll.get("buckets") is not None:
        # older files carry only the 10-bucket histogram: stand each bucket's count at its
        # midpoint, a coarse CDF that is still the right shape at bucket resolution
        items, weights = _bucket_midpoints(kll.require("buckets"))
    elif present > 0:
        # nothing but moments: one item at the mean carrying every value, so the CDF still
        # exists (a step at the mean) and drift checks run, if crudely, instead of crashing
        items = np.array([values["mean"]], dtype=np.float64)
        weights = np.array([present], dtype=np.float64)
    else:
        items = weights = np.empty(0, dtype=np.float64)
    return NumericStats(
        num_present=present,
        num_missing=missing,
        mean=values["mean"],
        sum=values["sum"],
        std_dev=values["std_dev"],
        min=values["min"],
        max=values["max"],
        sketch_items=items,
        sketch_weights=weights,
        sketch_k=k,
        sketch_c=c,
    )


def _bucket_midpoints(buckets: _Node) -> tuple[FloatArray, FloatArray]:
    mids: list[float] = []
    counts: list[float] = []
    for bucket in buckets.items():
        count = bucket.require("count").count()
        if count > 0:
            lower = bucket.require("lower_bound").finite()
            upper = bucket.require("upper_bound").finite()
            mids.append((lower + upper) / 2.0)
            counts.append(count)
    items = np.asarray(mids, dtype=np.float64)
    weights = np.asarray(counts, dtype=np.float64)
    order = np.argsort(items, kind="stable")
    return items[order], weights[order]


def _categorical_stats(node: _Node) -> CategoricalStats:
    common = node.require("common")
    present = common.require("num_present").count()
    missing = common.require("num_missing").count()
    counts: dict[str, float] = {}
    distribution = node.get("distribution")
    categorical = distribution.get("categorical") if distribution is not None else None
    buckets = categorical.get("buckets") if categorical is not None else None
    for bucket in buckets.items() if buckets is not None else []:
        value = bucket.require("value").text()
        counts[value] = counts.get(value, 0.0) + bucket.require("count").count()
    distinct_node = node.get("distinct_count")
    distinct = distinct_node.count() if distinct_node is not None else float(len(counts))
    return CategoricalStats(
        num_present=present, num_missing=missing, distinct_count=distinct, counts=counts
    )


def _monitoring_config(node: _Node, defaults: MonitoringConfig | None = None) -> MonitoringConfig:
    """`node`'s keys over `defaults` (Model Monitor's when None): the baseline's
    monitoring_config, or a feature's overrides over it."""
    defaults = defaults if defaults is not None else MonitoringConfig()

    def flag(parent: _Node | None, key: str, default: bool) -> bool:
        child = parent.get(key) if parent is not None else None
        return child.enabled() if child is not None else default

    def number(parent: _Node | None, key: str, default: float) -> float:
        child = parent.get(key) if parent is not None else None
        return child.threshold() if child is not None else default

    dist = node.get("distribution_constraints")
    # 2019-era files (the SDK's test fixture) say enable_comparisons instead of perform_comparison
    legacy_perform = flag(dist, "enable_comparisons", defaults.perform_comparison)
    comparison_threshold = number(dist, "comparison_threshold", defaults.comparison_threshold)
    method_node = dist.get("comparison_method") if dist is not None else None
    drift_node = dist.get("categorical_drift_method") if dist is not None else None
    return MonitoringConfig(
        evaluate_constraints=flag(node, "evaluate_constraints", defaults.evaluate_constraints),
        emit_metrics=flag(node, "emit_metrics", defaults.emit_metrics),
        datatype_check_threshold=number(
            node, "datatype_check_threshold", defaults.datatype_check_threshold
        ),
        domain_content_threshold=number(
            node, "domain_content_threshold", defaults.domain_content_threshold
        ),
        perform_comparison=flag(dist, "perform_comparison", legacy_perform),
        comparison_threshold=comparison_threshold,
        comparison_method=(
            method_node.choice(_COMPARISON_METHODS)
            if method_node is not None
            else defaults.comparison_method
        ),
        # the docs: categorical_comparison_threshold defaults to comparison_threshold
        categorical_comparison_threshold=number(
            dist,
            "categorical_comparison_threshold",
            comparison_threshold
            if dist is not None and dist.get("comparison_threshold") is not None
            else defaults.categorical_comparison_threshold,
        ),
        categorical_drift_method=(
            drift_node.choice(_DRIFT_METHODS)
            if drift_node is not None
            else defaults.categorical_drift_method
        ),
    )


@dataclass(frozen=True)
class _Node:
    """A JSON value with the file and key path it came from, for one-line error messages."""

    file: Path
    path: str
    value: object

    @classmethod
    def parse(cls, file: Path, raw: bytes) -> _Node:
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BaselineError(f"{file}: not valid JSON ({exc})") from exc
        node = cls(file, "", value)
        node.mapping()
        return node

    @property
    def where(self) -> str:
        return f"{self.file}: {self.path or '<top level>'}"

    def error(self, expected: str) -> BaselineError:
        shown = repr(self.value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return BaselineError(f"{self.where}: {expected}, got {shown}")

    def named(self, name: str) -> _Node:
        """The same node, labelled with its feature name for messages."""
        return _Node(self.file, f"{self.path} ({name!r})", self.value)

    def mapping(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            raise self.error("expected a JSON object")
        return self.value

    def get(self, key: str) -> _Node | None:
        mapping = self.mapping()
        if key not in mapping or mapping[key] is None:
            return None
        return _Node(self.file, f"{self.path}.{key}" if self.path else key, mapping[key])

    def require(self, key: str) -> _Node:
        child = self.get(key)
        if child is None:
            path = f"{self.path}.{key}" if self.path else key
            raise BaselineError(f"{self.file}: {path}: required key is missing")
        return child

    def items(self) -> list[_Node]:
        if not isinstance(self.value, list):
            raise self.error("expected a JSON array")
        return [_Node(self.file, f"{self.path}[{i}]", v) for i, v in enumerate(self.value)]

    def number(self) -> float:
        # bool is an int subclass in Python; true is not a number in these files
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.error("expected a number")
        return float(self.value)

    def finite(self) -> float:
        value = self.number()
        if not math.isfinite(value):
            raise self.error("expected a finite number")
        return value

    def count(self) -> float:
        value = self.finite()
        if value < 0:
            raise self.error("expected a count >= 0")
        return value

    def fraction(self) -> float:
        value = self.finite()
        if not 0.0 <= value <= 1.0:
            raise self.error("expected a fraction between 0 and 1")
        return value

    def threshold(self) -> float:
        value = self.finite()
        if value < 0:
            raise self.error("expected a threshold >= 0")
        return value

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self.error("expected a string")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error("expected true or false")
        return self.value

    def enabled(self) -> bool:
        """Model Monitor's "Enabled" / "Disabled" (any case); JSON booleans as older files use."""
        if isinstance(self.value, bool):
            return self.value
        if isinstance(self.value, str) and self.value.lower() in ("enabled", "disabled"):
            return self.value.lower() == "enabled"
        raise self.error('expected "Enabled" or "Disabled"')

    def choice(self, options: dict[str, _T]) -> _T:
        text = self.text()
        try:
            return options[text.lower()]
        except KeyError:
            raise self.error(f"expected one of {', '.join(sorted(options))}") from None
