"""Profile training data into Model Monitor's per-feature statistics, in one streaming pass.

Called by `build_baseline` (the CLI's `baseline` command) before `write_baseline`. Reads a CSV file
(header row by default; without one, columns are named `_c0`, `_c1`, ... as Spark names them), a
JSON Lines file of flat objects, or a folder of such files (`.csv`, `.jsonl`, `.json`, sorted by
path), `batch_rows` rows at a time, so memory stays bounded whatever the file size: per column a
KLL sketch, a distinct-value counter and at most 119 category counts.

The statistics follow what Model Monitor (Deequ 2.0.2) writes: missing is an empty CSV cell, a
JSON null or an absent JSON key; a column is Integral if every present value parses as an integer,
Fractional if every present value parses as a float, String otherwise; `std_dev` is the population
standard deviation; the numeric histogram has 10 equal-width buckets counted from the sketch;
categorical buckets exist only for columns with fewer than 120 distinct values.

One departure, so that a stray `NaN` or `n/a` among 20,000 numbers does not turn a numeric column
categorical (where its drift would go unseen): a column stays Integral or Fractional when at most
MAX_UNPARSABLE_SHARE of its present values are not numbers. Those values are what Model Monitor's
`data_type_check` counts as mismatches; here they are counted as missing (the statistics are those
of the numbers) and reported as a `BaselineWarning` naming the column and the count. Training data
with fewer than MIN_TRAINING_ROWS rows is reported too: the baseline is written, but it is too
small a sample to calibrate the detectors from.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import Field, StrictBool, StrictInt, StrictStr

from driftstream.detectors.baseline.errors import BaselineError
from driftstream.detectors.baseline.kll import DEFAULT_C, DEFAULT_K, KLLSketch, weighted_rank
from driftstream.detectors.baseline.model import PREDICTION, InferredType
from driftstream.detectors.state import (
    Finite,
    StateError,
    StateModel,
    pack,
    parse,
    unpack,
)

CARDINALITY_THRESHOLD = 120  # Deequ's DEFAULT_CARDINALITY_THRESHOLD for categorical histograms
HISTOGRAM_BUCKETS = 10  # Model Monitor's fixed numeric histogram size
BATCH_ROWS = 65_536
# at most this share of a numeric column's present values may fail to parse as numbers; they are
# then counted as missing (a larger share makes the column String, as Deequ would)
MAX_UNPARSABLE_SHARE = 0.01
# One default monitoring window (detectors' `window.size`): the window tests compare windows of
# this many rows with the baseline, calibration simulates streams drawn from it, and every value
# is standardised with its mean and σ, which n rows estimate to about ±1/sqrt(2n) (1.6 % here).
# A smaller training set is a smaller sample than what it is compared with; one row has no
# spread at all, so no sequential detector would run on any feature.
MIN_TRAINING_ROWS = 2_000
CSV_SUFFIXES = frozenset({".csv"})
JSON_SUFFIXES = frozenset({".jsonl", ".json"})

FloatArray = npt.NDArray[np.float64]
HashArray = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class HistogramBucket:
    """One equal-width bucket of `distribution.kll.buckets`; the last includes its upper bound."""

    lower_bound: float
    upper_bound: float
    count: float


@dataclass(frozen=True)
class NumericProfile:
    """`numerical_statistics` of one Integral or Fractional column."""

    mean: float
    sum: float
    std_dev: float  # population standard deviation (divides by num_present)
    min: float
    max: float
    approximate_num_distinct_values: int
    buckets: tuple[HistogramBucket, ...]
    sketch_levels: tuple[tuple[float, ...], ...]  # Deequ compactor buffers, level 0 first
    sketch_k: int = DEFAULT_K
    sketch_c: float = DEFAULT_C


@dataclass(frozen=True)
class StringProfile:
    """`string_statistics` of one String column."""

    distinct_count: int
    counts: dict[str, int] | None  # category -> rows, only below CARDINALITY_THRESHOLD distinct


@dataclass(frozen=True)
class ColumnProfile:
    """Everything measured about one column; exactly one of `numeric` / `string` is set.

    `num_unparsable`: present values of a numeric column that are not numbers; they are counted
    in `num_missing`, not `num_present` (see the module docstring).
    """

    name: str
    inferred_type: InferredType
    num_present: int
    num_missing: int
    numeric: NumericProfile | None = None
    string: StringProfile | None = None
    num_unparsable: int = 0

    @property
    def completeness(self) -> float:
        """Fraction of rows where the column is present."""
        total = self.num_present + self.num_missing
        return self.num_present / total if total else 0.0


@dataclass(frozen=True)
class BaselineWarning:
    """Something about the training data that the user should know; the baseline is still valid.

    `message` is one line for people; `column` names the training data's column (None for the
    data set as a whole); `count` is what the message counts (values not numbers, or rows).
    """

    message: str
    column: str | None = None
    count: int = 0


@dataclass(frozen=True)
class DatasetProfile:
    """The whole data set: row count and columns in statistics.json order (outputs first)."""

    item_count: int
    columns: tuple[ColumnProfile, ...]
    warnings: tuple[BaselineWarning, ...] = ()


def profile_rows(
    data: Path,
    *,
    header: bool = True,
    label_column: str | None = None,
    ground_truth_column: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> DatasetProfile:
    """Profile a CSV / JSON Lines file or a folder of them in one bounded-memory pass.

    `header` applies to CSV only. `label_column` names the model-output column: it is renamed
    `prediction` and placed first, as Model Monitor expects output columns first; the other
    columns keep their order (JSON columns in order of first appearance). `ground_truth_column`
    names the true label's column, which is not a feature: it is left out (model quality reads
    it: detectors/quality/baseline.py).
    Raises BaselineError naming the file and line for a row with the wrong number of columns,
    invalid or nested JSON, or undecodable text; and for an empty data set or an unknown label.
    `warnings`: numeric columns with values that are not numbers (kept numeric, or made String
    by too many of them), and fewer than MIN_TRAINING_ROWS rows.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows!r}")
    files = _data_files(data)
    if files[0].suffix.lower() in JSON_SUFFIXES:
        batches = _json_batches(files, batch_rows)
    else:
        batches = _csv_batches(files, header=header, batch_rows=batch_rows)
    columns: list[_ColumnAccumulator] = []
    rows = 0
    for names, cells in batches:
        # JSON may reveal new keys late; those columns were missing from every earlier row
        columns.extend(_ColumnAccumulator(name, missing=rows) for name in names[len(columns) :])
        for column, values in zip(columns, cells, strict=True):
            column.add(values)
        rows += len(cells[0]) if cells else 0
    if rows == 0:
        raise BaselineError(f"{data}: no data rows to profile")
    try:
        profiles = [column.result() for column in columns]
    except BaselineError as exc:
        raise BaselineError(f"{data}: {exc}") from None
    if ground_truth_column is not None:
        names = [p.name for p in profiles]
        if ground_truth_column not in names:
            raise BaselineError(
                f"{data}: ground-truth column {ground_truth_column!r} not found; columns are "
                f"{', '.join(names)}"
            )
        if ground_truth_column == label_column:
            raise BaselineError(f"{data}: {label_column!r} cannot be both label and ground truth")
        profiles = [p for p in profiles if p.name != ground_truth_column]
        columns = [c for c in columns if c.name != ground_truth_column]
    warnings = [w for w in (column.warning() for column in columns) if w is not None]
    if rows < MIN_TRAINING_ROWS:
        warnings.append(
            BaselineWarning(
                f"the training data has {rows:,} row{'' if rows == 1 else 's'}; calibrating "
                f"the detectors needs at least {MIN_TRAINING_ROWS:,} (one monitoring window), "
                "so false alarms will not keep to the configured budget",
                count=rows,
            )
        )
    return DatasetProfile(
        item_count=rows,
        columns=_outputs_first(profiles, label_column, data),
        warnings=tuple(warnings),
    )


def _outputs_first(
    profiles: list[ColumnProfile], label_column: str | None, data: Path
) -> tuple[ColumnProfile, ...]:
    if label_column is None:
        return tuple(profiles)
    names = [p.name for p in profiles]
    if label_column not in names:
        raise BaselineError(
            f"{data}: label column {label_column!r} not found; columns are {', '.join(names)}"
        )
    if label_column != PREDICTION and PREDICTION in names:
        raise BaselineError(
            f"{data}: cannot rename label column {label_column!r} to {PREDICTION!r}: "
            f"a column named {PREDICTION!r} already exists"
        )
    label = next(p for p in profiles if p.name == label_column)
    return (replace(label, name=PREDICTION), *(p for p in profiles if p is not label))


def read_columns(
    data: Path, names: Sequence[str], *, header: bool = True, batch_rows: int = BATCH_ROWS
) -> list[list[str]]:
    """Every row's cells of the columns `names`, as text, in the order `profile_rows` reads
    the rows (missing: ""). Model quality reads its two columns whole: its metrics rank every
    pair. BaselineError for a column the data does not have."""
    files = _data_files(data)
    if files[0].suffix.lower() in JSON_SUFFIXES:
        batches = _json_batches(files, batch_rows)
    else:
        batches = _csv_batches(files, header=header, batch_rows=batch_rows)
    out: list[list[str]] = [[] for _ in names]
    seen: list[str] = []
    for columns, cells in batches:
        seen = columns
        for j, name in enumerate(names):
            if name in columns:
                out[j].extend(cells[columns.index(name)])
            else:  # a JSON key not seen yet: missing so far
                out[j].extend([""] * (len(cells[0]) if cells else 0))
    for name in names:
        if name not in seen:
            raise BaselineError(f"{data}: column {name!r} not found; columns are {', '.join(seen)}")
    return out


# --- reading ---------------------------------------------------------------------------------

_Batch = tuple[list[str], list[Sequence[str]]]  # column names so far, cells per column


def _data_files(data: Path) -> list[Path]:
    if data.is_file():
        return [data]
    if not data.is_dir():
        raise BaselineError(f"{data}: no such file or folder")
    # Spark skips files whose names start with "." or "_" (_SUCCESS, .crc); so do we
    files = sorted(
        p
        for p in data.rglob("*")
        if p.is_file()
        and p.suffix.lower() in CSV_SUFFIXES | JSON_SUFFIXES
        and not any(part.startswith((".", "_")) for part in p.relative_to(data).parts)
    )
    if not files:
        raise BaselineError(f"{data}: no .csv, .jsonl or .json files in folder")
    kinds = {p.suffix.lower() in JSON_SUFFIXES for p in files}
    if len(kinds) > 1:
        raise BaselineError(f"{data}: folder mixes CSV and JSON files; profile them separately")
    return files


def _csv_batches(files: list[Path], *, header: bool, batch_rows: int) -> Iterator[_Batch]:
    names: list[str] | None = None
    for path in files:
        batch: list[list[str]] = []
        first_row = True
        for line_no, row in _csv_rows(path):
            if first_row:
                first_row = False
                if names is None:
                    names = _csv_names(row, header=header, path=path)
                    if header:
                        continue
                elif header:
                    if _csv_names(row, header=True, path=path) != names:
                        raise BaselineError(
                            f"{path}:{line_no}: header differs from the first file's header"
                        )
                    continue
            assert names is not None  # set from the first row
            if len(row) != len(names):
                raise BaselineError(
                    f"{path}:{line_no}: expected {len(names)} columns, found {len(row)}"
                )
            batch.append(row)
            if len(batch) >= batch_rows:
                yield names, list(zip(*batch, strict=True))
                batch = []
        if batch and names is not None:
            yield names, list(zip(*batch, strict=True))


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows of one CSV file with the line number where each ends."""
    try:
        # utf-8-sig: spreadsheet exports start with a byte-order mark
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            try:
                for row in reader:
                    if row:  # Spark skips blank lines too
                        yield reader.line_num, row
            except csv.Error as exc:
                raise BaselineError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read ({exc.strerror})") from exc


def _csv_names(row: list[str], *, header: bool, path: Path) -> list[str]:
    if not header:
        return [f"_c{i}" for i in range(len(row))]
    # Spark names an empty header cell by its position
    names = [cell.strip() or f"_c{i}" for i, cell in enumerate(row)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BaselineError(f"{path}:1: duplicate column names {', '.join(duplicates)}")
    return names


def _json_batches(files: list[Path], batch_rows: int) -> Iterator[_Batch]:
    names: dict[str, None] = {}  # insertion-ordered set: column order is first appearance
    batch: list[dict[str, str]] = []
    for path in files:
        try:
            with path.open("rb") as fh:
                for line_no, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    row = _json_row(line, path, line_no)
                    names.update(dict.fromkeys(row))
                    batch.append(row)
                    if len(batch) >= batch_rows:
                        yield _json_columns(names, batch)
                        batch = []
        except OSError as exc:
            raise BaselineError(f"{path}: cannot read ({exc.strerror})") from exc
    if batch:
        yield _json_columns(names, batch)


def _json_row(line: bytes, path: Path, line_no: int) -> dict[str, str]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{line_no}: invalid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise BaselineError(f"{path}:{line_no}: expected a JSON object per line")
    row: dict[str, str] = {}
    for key, value in obj.items():
        # cells become text so CSV and JSON share one inference path: 3 -> Integral,
        # 3.0 -> Fractional ("3.0" has a decimal point), true -> String, null -> missing
        if value is None:
            row[key] = ""
        elif isinstance(value, bool):
            row[key] = "true" if value else "false"
        elif isinstance(value, int | str):
            row[key] = str(value)
        elif isinstance(value, float):
            row[key] = repr(value)
        else:
            raise BaselineError(
                f"{path}:{line_no}: key {key!r} holds a nested {type(value).__name__}; "
                "only flat JSON objects are supported"
            )
    return row


def _json_columns(names: dict[str, None], batch: list[dict[str, str]]) -> _Batch:
    return list(names), [[row.get(name, "") for row in batch] for name in names]


# --- per-column accumulation -----------------------------------------------------------------


class _ColumnAccumulator:
    """Running statistics of one column, numeric and categorical at once until the end decides.

    Numbers are accumulated from every batch, and values that are not numbers counted beside
    them, because whether a column is numeric depends on the whole data set's share of them.
    """

    def __init__(self, name: str, *, missing: int = 0) -> None:
        self.name = name
        self._present = 0
        self._missing = missing
        self._unparsable = 0
        self._first_unparsable = ""
        self._numeric = NumericAccumulator()
        self._counts: Counter[str] | None = Counter()
        # distinct numbers and distinct other values apart: a numeric column counts only the
        # former, a String column both (their union)
        self._distinct_numbers = DistinctCounter()
        self._distinct_others = DistinctCounter()

    def add(self, cells: Sequence[str]) -> None:
        missing = cells.count("")
        present = [c for c in cells if c] if missing else list(cells)
        self._missing += missing
        self._present += len(present)
        if not present:
            return
        if self._counts is not None:
            self._counts.update(present)
            if len(self._counts) >= CARDINALITY_THRESHOLD:
                self._counts = None  # high cardinality: no categorical buckets, free the memory
        values, integral, numbers, others = _sort_cells(present)
        if numbers:
            self._distinct_numbers.add(hash_strings(numbers))
            self._numeric.add(values, integral)
        if others:
            self._distinct_others.add(hash_strings(others))
            if not self._unparsable:
                self._first_unparsable = others[0]
            self._unparsable += len(others)

    @property
    def _is_numeric(self) -> bool:
        numbers = self._present - self._unparsable
        return numbers > 0 and self._unparsable <= MAX_UNPARSABLE_SHARE * self._present

    def result(self) -> ColumnProfile:
        if self._is_numeric:
            if self._numeric.overflows:
                raise BaselineError(
                    f"column {self.name!r}: values as large as {self._numeric.largest:.3g} "
                    "overflow a float's sums; rescale the column"
                )
            numeric = self._numeric.result(self._distinct_numbers.estimate())
            kind: InferredType = "Integral" if self._numeric.integral else "Fractional"
            return ColumnProfile(
                self.name,
                kind,
                self._present - self._unparsable,
                self._missing + self._unparsable,
                numeric=numeric,
                num_unparsable=self._unparsable,
            )
        distinct = self._distinct_numbers.union(self._distinct_others).estimate()
        if self._counts is not None:
            string = StringProfile(len(self._counts), dict(self._counts))
        else:
            # the exact counter stopped at the threshold; keep the estimate consistent with that
            string = StringProfile(max(distinct, CARDINALITY_THRESHOLD), None)
        # a column with no present value at all is String: there is nothing to sketch
        return ColumnProfile(self.name, "String", self._present, self._missing, string=string)

    def warning(self) -> BaselineWarning | None:
        """Values that are not numbers in a numeric column, or in a String column that is
        mostly numbers (so the user sees why it is not numeric); None otherwise."""
        bad, present = self._unparsable, self._present
        if not bad or (not self._is_numeric and 2 * bad >= present):
            return None
        first = self._first_unparsable
        shown = repr(first if len(first) <= 20 else first[:20] + "...")
        verb = "is not a number" if bad == 1 else "are not numbers"
        counted = f"{bad:,} of its {present:,} values {verb} (the first: {shown})"
        if self._is_numeric:
            kind = "Integral" if self._numeric.integral else "Fractional"
            message = (
                f"column {self.name!r}: {counted}; counted as missing, the column stays {kind} "
                f"(up to {MAX_UNPARSABLE_SHARE:.0%} is tolerated)"
            )
        else:
            message = (
                f"column {self.name!r} is String: {counted}, more than the "
                f"{MAX_UNPARSABLE_SHARE:.0%} a numeric column tolerates"
            )
        return BaselineWarning(message, column=self.name, count=bad)


def _sort_cells(present: list[str]) -> tuple[FloatArray, bool, list[str], list[str]]:
    """The present cells of one batch sorted out: (their numbers' values, whether those are
    all integers, the cells that are numbers, the cells that are not), in batch order."""
    parsed = _parse_numbers(present)
    if parsed is not None:  # the usual case, in one numpy call
        return parsed[0], parsed[1], present, []
    number = {cell: _parse_number(cell) for cell in set(present)}
    numbers = [c for c in present if number[c] is not None]
    others = [c for c in present if number[c] is None]
    values = np.array([number[c] for c in numbers], dtype=np.float64)
    integral = not any(ch in c for c, v in number.items() if v is not None for ch in ".eE")
    return values, integral, numbers, others


def _parse_numbers(present: list[str]) -> tuple[FloatArray, bool] | None:
    """Parse cells as floats; None if any is not a finite plain-ASCII decimal number.

    float() also accepts "nan", "inf", "1_000" and non-ASCII digits; Spark's CSV reader does not,
    and a NaN would poison every statistic, so those are not numbers here.
    """
    text = "\x1f".join(present)
    if "_" in text or not text.isascii():
        return None
    try:
        values = np.array(present, dtype=np.float64)
    except ValueError:
        return None
    if not np.isfinite(values).all():
        return None
    integral = not any(ch in text for ch in ".eE")
    return values, integral


_NUMBER_START = frozenset("0123456789+-. \t\n\r\x0b\x0c")


def _parse_number(cell: str) -> float | None:
    """One cell as `_parse_numbers` reads a batch: its value, or None if it is not a number."""
    # text that cannot start a number is most of a String column: skip float()'s exception
    if cell[0] not in _NUMBER_START or "_" in cell or not cell.isascii():
        return None
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class NumericAccumulator:
    """Count, exact sum, mean and M2 (Chan et al. batch merge), min, max and the KLL sketch."""

    def __init__(self) -> None:
        self.integral = True
        self._n = 0
        self._sum = 0.0
        self._mean = 0.0
        self._m2 = 0.0
        self._min = math.inf
        self._max = -math.inf
        self._sketch = KLLSketch()

    @property
    def count(self) -> int:
        """Values added."""
        return self._n

    def state_dict(self) -> dict[str, Any]:
        """The running statistics as JSON-compatible data (checkpoints of a window's
        statistics); min and max are null before the first value."""
        empty = self._n == 0
        return {
            "integral": self.integral,
            "n": self._n,
            "sum": self._sum,
            "mean": self._mean,
            "m2": self._m2,
            "min": None if empty else self._min,
            "max": None if empty else self._max,
            "sketch": self._sketch.state_dict(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], what: str) -> NumericAccumulator:
        """Restore `state_dict()` output; StateError naming `what` for a state that cannot be."""
        doc = parse(_NumericState, state, what)
        sketch = KLLSketch.from_state(doc.sketch, f"{what}.sketch")
        if sketch.count != doc.n:
            raise StateError(f"{what}: n {doc.n} differs from the sketch's {sketch.count} values")
        if (doc.min is None) != (doc.n == 0) or (doc.max is None) != (doc.n == 0):
            raise StateError(f"{what}: min and max are null exactly when n is 0")
        accumulator = cls()
        accumulator.integral = doc.integral
        accumulator._n = doc.n
        accumulator._sum, accumulator._mean, accumulator._m2 = doc.sum, doc.mean, doc.m2
        if doc.min is not None and doc.max is not None:
            accumulator._min, accumulator._max = doc.min, doc.max
        accumulator._sketch = sketch
        return accumulator

    def add(self, values: FloatArray, integral: bool) -> None:
        self.integral = self.integral and integral
        nb = values.size
        try:
            batch_sum = math.fsum(values.tolist())  # correctly rounded: small sums are exact
        except OverflowError:
            batch_sum = math.inf  # then `overflows` says so, whatever the batches
        with np.errstate(over="ignore", invalid="ignore"):
            batch_mean = batch_sum / nb
            deviations = values - batch_mean
            batch_m2 = float(np.dot(deviations, deviations))
            total = self._n + nb
            delta = batch_mean - self._mean
            self._mean += delta * nb / total
            self._m2 += batch_m2 + delta * delta * self._n * nb / total
        self._n = total
        self._sum += batch_sum
        self._min = min(self._min, float(values.min()))
        self._max = max(self._max, float(values.max()))
        self._sketch.update_many(values)

    @property
    def largest(self) -> float:
        """The largest magnitude seen."""
        return max(abs(self._min), abs(self._max))

    @property
    def overflows(self) -> bool:
        """Whether sums of these values could overflow a float in any batching, judged from
        their count and range alone; then no statistic of them is a number."""
        spread = self._max - self._min
        return not (
            math.isfinite(self.largest * self._n) and math.isfinite(spread * spread * self._n)
        )

    def result(self, distinct: int) -> NumericProfile:
        return NumericProfile(
            mean=self._sum / self._n,
            sum=self._sum,
            std_dev=math.sqrt(max(self._m2, 0.0) / self._n),
            min=self._min,
            max=self._max,
            approximate_num_distinct_values=distinct,
            buckets=_histogram(self._sketch, self._min, self._max),
            sketch_levels=tuple(tuple(level) for level in self._sketch.levels()),
            sketch_k=self._sketch.k,
            sketch_c=self._sketch.c,
        )


def _histogram(sketch: KLLSketch, lo: float, hi: float) -> tuple[HistogramBucket, ...]:
    """Deequ's KLL buckets: rank_exclusive(upper) - rank_exclusive(lower); the last is inclusive."""
    bounds = [lo + (hi - lo) * i / HISTOGRAM_BUCKETS for i in range(HISTOGRAM_BUCKETS + 1)]
    # lo + (hi - lo) * 10 / 10 can round below hi, which would drop the max from every bucket
    bounds[0], bounds[-1] = lo, hi
    items, weights = sketch.items_and_weights()
    below = weighted_rank(items, weights, bounds, inclusive=False)
    counts = np.diff(below)
    counts[-1] = weighted_rank(items, weights, [hi], inclusive=True)[0] - below[-2]
    return tuple(
        HistogramBucket(bounds[i], bounds[i + 1], float(counts[i]))
        for i in range(HISTOGRAM_BUCKETS)
    )


# --- distinct counting -----------------------------------------------------------------------

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_SHORT_TEXT = 64  # code points; longer cells are hashed one by one to bound the array width


def hash_strings(values: Sequence[str]) -> HashArray:
    """Stable 64-bit hashes of cell texts (the same in every process, unlike hash()).

    Short cells, the usual case, are hashed together in numpy (FNV-1a over code points, then a
    SplitMix64 finaliser); long ones one by one with BLAKE2b, so that no array is ever as wide
    as the longest cell times the batch. Which of the two applies depends only on the cell's
    own length, so a value always gets the same hash. (numpy drops trailing NUL characters, so
    "a" and "a\\x00" count as one value.)
    """
    if max(map(len, values)) <= _SHORT_TEXT:
        return _fnv_hash(values)
    hashes = np.empty(len(values), dtype=np.uint64)
    short = [i for i, v in enumerate(values) if len(v) <= _SHORT_TEXT]
    hashes[short] = _fnv_hash([values[i] for i in short])
    for i in sorted(set(range(len(values))).difference(short)):
        digest = hashlib.blake2b(values[i].encode("utf-8", "surrogatepass"), digest_size=8)
        hashes[i] = int.from_bytes(digest.digest(), "little")
    return hashes


def hash_numbers(values: FloatArray) -> HashArray:
    """Stable 64-bit hashes of numbers by value (0.0 and -0.0 alike): the bits of each, mixed
    by SplitMix64. For values that come as numbers, not text (a window's decoded rows)."""
    bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)
    return _splitmix64(bits)


def _fnv_hash(values: Sequence[str]) -> HashArray:
    if not values:
        return np.empty(0, dtype=np.uint64)
    text = np.array(values, dtype=np.str_)
    lengths = np.char.str_len(text)
    width = text.dtype.itemsize // 4
    codes = text.view(np.uint32).reshape(len(values), width).astype(np.uint64)
    h = np.full(len(values), _FNV_OFFSET, dtype=np.uint64)
    for j in range(width):
        # positions past a cell's end are padding; skipping them keeps the hash independent
        # of the other cells in the batch
        h = np.where(lengths > j, (h ^ codes[:, j]) * _FNV_PRIME, h)
    return _splitmix64(h)


def _splitmix64(z: HashArray) -> HashArray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(z ^ (z >> np.uint64(31)), dtype=np.uint64)


class DistinctCounter:
    """Distinct values: exact up to EXACT_LIMIT, then HyperLogLog (p=14, about 0.8 % error).

    Deequ's `approximate_num_distinct_values` / `distinct_count` are HyperLogLog estimates too;
    counting exactly while the set is small keeps small baselines exact and reproducible.
    """

    P = 14
    EXACT_LIMIT = 16_384

    def __init__(self) -> None:
        self._registers = np.zeros(1 << self.P, dtype=np.uint8)
        self._exact: HashArray | None = np.empty(0, dtype=np.uint64)

    def add(self, hashes: HashArray) -> None:
        bucket = (hashes >> np.uint64(64 - self.P)).astype(np.intp)
        rest = hashes & np.uint64((1 << (64 - self.P)) - 1)
        # rest < 2**50 is exact as a float64, so frexp's exponent is its bit length (0 for 0)
        _, bit_length = np.frexp(rest.astype(np.float64))
        rho = (64 - self.P) - bit_length + 1  # position of the first 1-bit in the remainder
        np.maximum.at(self._registers, bucket, rho.astype(np.uint8))
        if self._exact is not None:
            self._exact = np.union1d(self._exact, hashes)
            if self._exact.size > self.EXACT_LIMIT:
                self._exact = None

    def state_dict(self) -> dict[str, Any]:
        """The counter as JSON-compatible data: registers, and the exact set while it lasts."""
        return {
            "registers": pack(self._registers),
            "exact": pack(self._exact) if self._exact is not None else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], what: str) -> DistinctCounter:
        """Restore `state_dict()` output; StateError naming `what` for a state that cannot be."""
        doc = parse(_DistinctState, state, what)
        registers = unpack(doc.registers, np.uint8, f"{what}.registers")
        if registers.size != 1 << cls.P or int(registers.max()) > 64 - cls.P + 1:
            raise StateError(f"{what}.registers: expected {1 << cls.P} registers <= {65 - cls.P}")
        counter = cls()
        counter._registers = registers.copy()
        if doc.exact is None:
            counter._exact = None
        else:
            exact = unpack(doc.exact, np.uint64, f"{what}.exact")
            if exact.size > cls.EXACT_LIMIT or (np.diff(exact) <= 0).any():
                raise StateError(
                    f"{what}.exact: expected at most {cls.EXACT_LIMIT} increasing hashes"
                )
            counter._exact = exact.copy()
        return counter

    def union(self, other: DistinctCounter) -> DistinctCounter:
        """A counter of the values either counter has seen, as if one had seen them all."""
        both = DistinctCounter()
        both._registers = np.maximum(self._registers, other._registers)
        if self._exact is None or other._exact is None:
            both._exact = None
        else:
            both._exact = np.union1d(self._exact, other._exact)
            if both._exact.size > self.EXACT_LIMIT:
                both._exact = None
        return both

    def estimate(self) -> int:
        if self._exact is not None:
            return int(self._exact.size)
        m = float(self._registers.size)
        alpha = 0.7213 / (1.0 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.exp2(-self._registers.astype(np.float64))))
        zeros = int(np.count_nonzero(self._registers == 0))
        if raw <= 2.5 * m and zeros:
            return round(m * math.log(m / zeros))  # linear counting for small cardinalities
        return round(raw)


class _NumericState(StateModel):
    """What `NumericAccumulator.state_dict()` writes."""

    integral: StrictBool
    n: Annotated[StrictInt, Field(ge=0, le=1 << 62)]
    sum: Finite
    mean: Finite
    m2: Annotated[Finite, Field(ge=0.0)]
    min: Finite | None
    max: Finite | None
    sketch: dict[StrictStr, Any]


class _DistinctState(StateModel):
    """What `DistinctCounter.state_dict()` writes."""

    registers: StrictStr
    exact: StrictStr | None
