"""`baseline DATA --bias-config FILE`: Clarify's post-training bias metrics of DATA's model output,
the bias-drift baseline.

One streaming pass over DATA (read as `profile_rows` reads it: CSV with or without a header, JSON
Lines, or a folder of them) counts, per facet entry, rows by facet value, `group_variable`
subgroup and predicted label. From those counts come the metrics that need neither true labels
nor the model: DPPL and DI of every facet group, and CDDPL when the config names a
`group_variable`. The other post-training metrics Clarify lists (AD, DAR, DCA, DCR, DRR, GE, RD,
SD, TE need true labels; FT needs the model) are reported as not computed.

Written into the baseline folder:
- `analysis.json`: Clarify's file (its post-training section);
- `analysis_config.json`: the config as it was read (the keys bias drift uses; facet and group
  columns given by index replaced by their names), as Model Monitor's bias job keeps its own
  copy of the analysis config; the watcher reads the label rule from it;
- `bias_counts.json`: the counts behind each facet group's metrics (driftstream's own).

How a facet is read, as Clarify reads it: a String column is categorical; a numeric column with
several `value_or_threshold` values is categorical, with one value a threshold when the column
is Fractional or an Integral one with at least 5 % distinct values (Clarify's uniqueness rule),
categorical otherwise; without `value_or_threshold`, every value (at most 120 of them) is a
facet group of its own. Rows whose facet or prediction is missing are left out.
"""

from __future__ import annotations

import functools
import math
import operator
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from driftstream.detectors.baseline.model import PREDICTION, Baseline
from driftstream.detectors.baseline.profile import (
    BATCH_ROWS,
    CARDINALITY_THRESHOLD,
    JSON_SUFFIXES,
    _csv_batches,
    _data_files,
    _json_batches,
)
from driftstream.detectors.bias.analysis import (
    ANALYSIS,
    ANALYSIS_CONFIG,
    COUNTS,
    BiasAnalysis,
    FacetResult,
    MetricResult,
    counts_document,
    write_json,
)
from driftstream.detectors.bias.config import (
    WITHOUT_LABELS,
    AnalysisConfig,
    BiasConfigError,
    FacetConfig,
    load_bias_config,
)
from driftstream.detectors.bias.groups import (
    FloatArray,
    PredictedPositive,
    as_number,
    as_text,
    number_text,
    predicted_positive,
)
from driftstream.detectors.bias.metrics import GroupCounts, cddpl, metric_value

#: Clarify's rule: an Integral column with at least this share of distinct values is continuous
UNIQUENESS_THRESHOLD = 0.05
#: distinct values remembered to apply that rule (beyond it, the column is continuous)
MAX_DISTINCT = 100_000

Mode = Literal["values", "each", "threshold", "undecided"]
Key = Any  # a row's facet key: bool, text, number, or (equal, above) for an undecided facet


@dataclass
class _Tally:
    """The counts of one facet entry: (facet key, subgroup, positive) -> rows."""

    index: int  # position in the config's `facet` list
    column: str
    numeric: bool
    mode: Mode
    values: list[Any] = field(default_factory=list)  # configured value_or_threshold
    counts: Counter[tuple[Key, str, bool]] = field(default_factory=Counter)
    distinct: set[float] = field(default_factory=set)
    present: int = 0
    largest: float = -math.inf

    def keys(self, cells: Sequence[str]) -> tuple[list[Key], np.ndarray]:
        """Each row's key and whether its facet is present."""
        if not self.numeric:
            present = np.asarray([c != "" for c in cells], dtype=np.bool_)
            if self.mode == "values":
                chosen = {as_text(v) for v in self.values}
                return [c in chosen for c in cells], present
            return list(cells), present
        x = _numbers(cells)
        present = ~np.isnan(x)
        if present.any():
            self.largest = max(self.largest, float(np.nanmax(x)))
        if self.mode == "each":
            return x.tolist(), present
        target = as_number(self.values[0])
        assert target is not None  # checked when the tally was made
        if self.mode == "values":
            numbers = [as_number(v) for v in self.values]
            return np.isin(x, np.asarray(numbers, dtype=np.float64)).tolist(), present
        if self.mode == "threshold":
            return (x > target).tolist(), present
        if len(self.distinct) <= MAX_DISTINCT:
            self.distinct.update(np.unique(x[present]).tolist())
        return list(zip((x == target).tolist(), (x > target).tolist(), strict=True)), present


def _numbers(cells: Sequence[str]) -> FloatArray:
    out = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        number = as_number(cell) if cell else None
        if number is not None:
            out[i] = number
    return out


@dataclass(frozen=True)
class BiasBaseline:
    """What `build_bias_baseline` wrote: the analysis, the metrics it could not compute, and
    the counts of every facet group."""

    analysis: BiasAnalysis
    skipped: tuple[str, ...]
    counts: dict[tuple[str, str], GroupCounts]


def build_bias_baseline(
    data: Path,
    out_dir: Path,
    config_path: Path,
    baseline: Baseline,
    *,
    header: bool = True,
    label_column: str | None = None,
    on_warning: Callable[[str], object] | None = None,
) -> BiasBaseline:
    """Compute the post-training bias metrics of `data` (module docstring) and write the three
    files into `out_dir`. `baseline` is the data-quality baseline just built from `data` (the
    columns' types come from it); `label_column` names the model output (as `--label-column`).
    BiasConfigError (exit 2) for a config that does not fit the data."""
    config = load_bias_config(config_path)
    origin = f"bias config {config_path}"
    warn = on_warning or (lambda _: None)
    computed, skipped = _metrics(config, origin)

    files = _data_files(data)
    if files[0].suffix.lower() in JSON_SUFFIXES:
        batches: Iterator[tuple[list[str], list[Sequence[str]]]] = _json_batches(files, BATCH_ROWS)
    else:
        batches = _csv_batches(files, header=header, batch_rows=BATCH_ROWS)
    first = next(batches, None)
    if first is None:
        raise BiasConfigError(f"{data}: no data rows")
    names = first[0]
    output = label_column or PREDICTION
    if output not in names:
        raise BiasConfigError(
            f"--bias-config needs the model output: {data} has no column {output!r} "
            "(name it with --label-column)"
        )
    rule = _predicted_positive(config, baseline, origin)
    tallies = [
        _tally(i, f, config, names, output, baseline, origin) for i, f in enumerate(config.facet)
    ]
    group_column = (
        None
        if config.group_variable is None
        else _column(config.group_variable, config, names, origin, "group_variable")
    )

    positives = rows = 0
    largest_output = -math.inf
    output_numeric = baseline.feature(PREDICTION).is_numeric
    for columns, cells in _with_first(first, batches):
        n = len(cells[0]) if cells else 0
        pred_cells = _cells(columns, cells, output, n)
        if output_numeric:
            x = _numbers(pred_cells)
            positive, pred_present = rule.numeric(x)
            if pred_present.any():
                largest_output = max(largest_output, float(np.nanmax(x)))
        else:
            positive, pred_present = rule.strings(np.asarray(pred_cells, dtype=object))
        subgroups = _cells(columns, cells, group_column, n) if group_column else [""] * n
        rows += int(pred_present.sum())
        positives += int(positive.sum())
        pos_list = positive.tolist()
        for tally in tallies:
            keys, facet_present = tally.keys(_cells(columns, cells, tally.column, n))
            use = (facet_present & pred_present).tolist()
            tally.present += sum(use)
            tally.counts.update(
                (k, s, p) for k, s, p, u in zip(keys, subgroups, pos_list, use, strict=True) if u
            )
            if (
                tally.mode == "each"
                and len({k for k, _, _ in tally.counts}) > CARDINALITY_THRESHOLD
            ):
                raise BiasConfigError(
                    f"{origin}: facet[{tally.index}]: column {tally.column!r} has more than "
                    f"{CARDINALITY_THRESHOLD} values; give value_or_threshold (a threshold for a "
                    "continuous facet)"
                )
    if positives == 0:
        raise BiasConfigError(
            f"{origin}: label_values_or_threshold {list(rule.labels)}"
            + (
                f" with probability_threshold {rule.probability_threshold}"
                if rule.probability_threshold is not None
                else ""
            )
            + f": none of the {rows} predictions in {data} is a positive predicted label"
            + (
                ""
                if rule.probability_threshold is not None
                else " (for a score output, set probability_threshold)"
            )
        )

    results: list[FacetResult] = []
    counts: dict[tuple[str, str], GroupCounts] = {}
    for tally in tallies:
        for value_or_threshold, by_subgroup in _groups(tally, origin):
            if (tally.column, value_or_threshold) in counts:
                continue  # the same group named twice (`c0` and `c0=a`): one entry
            total = sum(by_subgroup.values(), GroupCounts())
            label = f"{tally.column}={value_or_threshold}"
            if total.rows_d == 0:
                raise BiasConfigError(f"{origin}: facet {label}: no row of {data} is in it")
            if total.rows_a == 0:
                raise BiasConfigError(
                    f"{origin}: facet {label}: every row of {data} is in it, so there is "
                    "nothing to compare it with"
                )
            metrics = tuple(_metric(m, total, list(by_subgroup.values())) for m in computed)
            results.append(FacetResult(tally.column, value_or_threshold, metrics))
            counts[(tally.column, value_or_threshold)] = total

    label_text = rule.describe()
    if rule.label_threshold is not None:
        label_text = f"({as_text(config.label_values_or_threshold[0])}, "
        label_text += f"{number_text(largest_output)}]"
    analysis = BiasAnalysis(
        label=_label_name(config, names, label_column),
        label_value_or_threshold=label_text,
        facets=tuple(results),
    )
    if "CDDPL" in skipped:
        warn("CDDPL is not computed: it needs a group_variable")
    others = [m for m in skipped if m != "CDDPL"]
    if others:
        warn(
            f"post-training metrics {', '.join(others)} are not computed: they need true labels "
            "or the model itself (FT); analysis.json has " + ", ".join(computed)
        )
    if config.methods.pre_training_bias is not None:
        warn("pre_training_bias is not computed: bias drift compares post-training metrics")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / ANALYSIS, analysis.to_json())
    write_json(out_dir / ANALYSIS_CONFIG, _config_document(config, tallies, group_column))
    write_json(out_dir / COUNTS, counts_document(counts))
    return BiasBaseline(analysis, skipped, counts)


def _with_first(
    first: tuple[list[str], list[Sequence[str]]],
    rest: Iterator[tuple[list[str], list[Sequence[str]]]],
) -> Iterator[tuple[list[str], list[Sequence[str]]]]:
    yield first
    yield from rest


def _cells(columns: list[str], cells: list[Sequence[str]], name: str, n: int) -> Sequence[str]:
    # a JSON key that has not appeared yet is missing in every row so far
    return cells[columns.index(name)] if name in columns else [""] * n


def _metrics(config: AnalysisConfig, origin: str) -> tuple[list[str], tuple[str, ...]]:
    """(the metrics computed, those asked for that need true labels or the model)."""
    requested = config.requested_metrics()
    computed = [
        m
        for m in requested
        if m in WITHOUT_LABELS and (m != "CDDPL" or config.group_variable is not None)
    ]
    skipped = tuple(m for m in requested if m not in computed)
    if not computed:
        raise BiasConfigError(
            f"{origin}: methods.post_training_bias.methods {list(requested)}: none can be "
            "computed from predictions alone; driftstream computes DPPL, DI, and CDDPL with a "
            "group_variable"
        )
    return computed, skipped


def _metric(name: str, total: GroupCounts, subgroups: list[GroupCounts]) -> MetricResult:
    if name == "CDDPL":
        value = cddpl(subgroups)
        error = None if not math.isnan(value) else "No positive or no negative labels in set"
        return MetricResult(name, value, error)
    value = metric_value("DPPL" if name == "DPPL" else "DI", total)
    return MetricResult(name, value)


def _column(ref: str | int, config: AnalysisConfig, names: list[str], origin: str, key: str) -> str:
    """The column a config names by name or 0-based index (or by a name of `headers`)."""
    if isinstance(ref, int):
        if ref >= len(names):
            raise BiasConfigError(
                f"{origin}: {key}: index {ref} is beyond DATA's {len(names)} columns"
            )
        return names[ref]
    if ref in names:
        return ref
    if config.headers and ref in config.headers and config.headers.index(ref) < len(names):
        return names[config.headers.index(ref)]
    raise BiasConfigError(
        f"{origin}: {key}: {ref!r} is not a column of DATA (columns: {', '.join(names)})"
    )


def _tally(
    index: int,
    facet: FacetConfig,
    config: AnalysisConfig,
    names: list[str],
    output: str,
    baseline: Baseline,
    origin: str,
) -> _Tally:
    key = f"facet[{index}].name_or_index"
    column = _column(facet.name_or_index, config, names, origin, key)
    if column == output:
        raise BiasConfigError(f"{origin}: {key}: {column!r} is the model output, not a facet")
    try:
        feature = baseline.feature(column)
    except KeyError:
        raise BiasConfigError(
            f"{origin}: {key}: column {column!r} is not a feature of the baseline "
            "(a facet must be an input that captured records carry)"
        ) from None
    values = facet.value_or_threshold
    if values is None:
        return _Tally(index, column, feature.is_numeric, "each")
    if feature.is_numeric:
        bad = [v for v in values if as_number(v) is None]
        if bad:
            raise BiasConfigError(
                f"{origin}: facet[{index}].value_or_threshold: column {column!r} is numeric; "
                f"{bad[0]!r} is not a number"
            )
    mode: Mode = "values"
    if feature.is_numeric and len(values) == 1:
        mode = "threshold" if feature.inferred_type == "Fractional" else "undecided"
    return _Tally(index, column, feature.is_numeric, mode, list(values))


def _groups(tally: _Tally, origin: str) -> list[tuple[str, dict[str, GroupCounts]]]:
    """Each facet group of the tally: its value_or_threshold, and its counts by subgroup."""
    mode = tally.mode
    if mode == "undecided":
        unique = len(tally.distinct) / tally.present if tally.present else 0.0
        mode = "threshold" if unique >= UNIQUENESS_THRESHOLD else "values"
        part = 1 if mode == "threshold" else 0
        tally.counts = _project(tally.counts, part)
        tally.mode = mode
    if mode == "values":
        text = ",".join(as_text(v) for v in tally.values)
        return [(text, _split(tally.counts, lambda k: k is True))]
    if mode == "threshold":
        if tally.largest == -math.inf:
            raise BiasConfigError(f"{origin}: facet {tally.column!r}: no value in DATA")
        text = f"({as_text(tally.values[0])}, {number_text(tally.largest)}]"
        return [(text, _split(tally.counts, lambda k: k is True))]
    seen = list(dict.fromkeys(k for k, _, _ in tally.counts))
    out = []
    for value in seen:
        text = number_text(value) if tally.numeric else str(value)
        out.append((text, _split(tally.counts, functools.partial(operator.eq, value))))
    return out


def _project(counts: Counter[tuple[Key, str, bool]], part: int) -> Counter[tuple[Key, str, bool]]:
    out: Counter[tuple[Key, str, bool]] = Counter()
    for (key, sub, pos), n in counts.items():
        out[(key[part], sub, pos)] += n
    return out


def _split(
    counts: Counter[tuple[Key, str, bool]], in_facet: Callable[[Key], bool]
) -> dict[str, GroupCounts]:
    """Counts by subgroup of facet d (`in_facet`) against facet a (all other rows)."""
    raw: dict[str, list[int]] = {}
    for (key, sub, pos), n in counts.items():
        c = raw.setdefault(sub, [0, 0, 0, 0])
        if in_facet(key):
            c[2] += n
            c[3] += n if pos else 0
        else:
            c[0] += n
            c[1] += n if pos else 0
    return {sub: GroupCounts(*c) for sub, c in raw.items()}


def _predicted_positive(
    config: AnalysisConfig, baseline: Baseline, origin: str
) -> PredictedPositive:
    try:
        return predicted_positive(
            config.label_values_or_threshold,
            config.probability_threshold,
            baseline.feature(PREDICTION).inferred_type,
        )
    except ValueError as exc:
        raise BiasConfigError(f"{origin}: {exc}") from None


def _label_name(config: AnalysisConfig, names: list[str], label_column: str | None) -> str:
    if isinstance(config.label, str):
        return config.label
    if isinstance(config.label, int) and config.label < len(names):
        return names[config.label]
    return label_column or PREDICTION


def _config_document(
    config: AnalysisConfig, tallies: list[_Tally], group_column: str | None
) -> dict[str, Any]:
    """The config as read, facet and group columns by name."""
    doc = config.model_dump(mode="json", exclude_none=True)
    for tally, facet in zip(tallies, doc["facet"], strict=True):
        facet["name_or_index"] = tally.column
    if group_column is not None:
        doc["group_variable"] = group_column
    return doc
