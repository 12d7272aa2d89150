"""A report window's statistics, accumulated row batch by row batch: Model Monitor's statistics.

Each column of the window is profiled with the baseline's own accumulators (detectors/baseline/
profile.py: count, exact sum, mean and M2, min, max, Deequ's KLL sketch, distinct values;
category counts below the cardinality threshold), so `profile()` is a DatasetProfile that
`statistics_document` writes as `suggest_baseline` writes a baseline's, and that `load_baseline`
reads back. Memory is bounded whatever the window's length (a sketch, a distinct counter and at
most 119 category counts per column), and all of it is checkpointed (`state_dict`).

What differs from profiling training data: a window's columns come decoded, typed by the
baseline (numbers in the baseline's numeric features, text in the others), so a numeric
column's type is Integral when every present value is a whole number, else Fractional (1.0
counts as whole: the decoder keeps numbers, not their text), and a numeric column without any
present value stays numeric, its moments written as 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from pydantic import Field, StrictInt, StrictStr

from driftstream.detectors.base import FloatArray
from driftstream.detectors.baseline.kll import DEFAULT_C, DEFAULT_K
from driftstream.detectors.baseline.model import FeatureBaseline
from driftstream.detectors.baseline.profile import (
    CARDINALITY_THRESHOLD,
    ColumnProfile,
    DatasetProfile,
    DistinctCounter,
    NumericAccumulator,
    NumericProfile,
    StringProfile,
    hash_numbers,
    hash_strings,
)
from driftstream.detectors.state import Index, StateError, StateModel, parse

Count = Annotated[StrictInt, Field(ge=0, le=1 << 62)]


class NumericColumn:
    """One numeric feature's values in the window (NaN: missing)."""

    def __init__(self, feature: FeatureBaseline) -> None:
        self.feature = feature
        self.name = feature.name
        self.missing = 0
        self.whole = 0  # present values that are whole numbers (data_type_check)
        self._values = NumericAccumulator()
        self._distinct = DistinctCounter()

    @property
    def present(self) -> int:
        return self._values.count

    def add(self, column: FloatArray) -> None:
        values = column[~np.isnan(column)]
        self.missing += int(column.shape[0] - values.shape[0])
        if values.shape[0] == 0:
            return
        whole = int(np.count_nonzero(values == np.floor(values)))
        self.whole += whole
        self._values.add(values, whole == values.shape[0])
        self._distinct.add(hash_numbers(values))

    def profile(self) -> ColumnProfile:
        if self.present == 0:
            baseline_type = self.feature.inferred_type
            kind = baseline_type if baseline_type != "Unknown" else "Fractional"
            empty = NumericProfile(0.0, 0.0, 0.0, 0.0, 0.0, 0, (), ((),), DEFAULT_K, DEFAULT_C)
            return ColumnProfile(self.name, kind, 0, self.missing, numeric=empty)
        numeric = self._values.result(self._distinct.estimate())
        kind = "Integral" if self._values.integral else "Fractional"
        return ColumnProfile(self.name, kind, self.present, self.missing, numeric=numeric)

    def state_dict(self) -> dict[str, Any]:
        return {
            "missing": self.missing,
            "whole": self.whole,
            "values": self._values.state_dict(),
            "distinct": self._distinct.state_dict(),
        }

    def load_state(self, state: object, what: str) -> None:
        doc = parse(_NumericColumnState, state, what)
        values = NumericAccumulator.from_state(doc.values, f"{what}.values")
        distinct = DistinctCounter.from_state(doc.distinct, f"{what}.distinct")
        if doc.whole > values.count:
            raise StateError(f"{what}: more whole values ({doc.whole}) than values")
        self.missing, self.whole = doc.missing, doc.whole
        self._values, self._distinct = values, distinct


class StringColumn:
    """One categorical feature's values in the window (None: missing)."""

    def __init__(self, feature: FeatureBaseline) -> None:
        self.feature = feature
        self.name = feature.name
        self.domain = frozenset(feature.domain or ())
        self.present = 0
        self.missing = 0
        self.in_domain = 0  # present values inside the baseline's domain (categorical_values_check)
        #: count per value; None once the window has CARDINALITY_THRESHOLD distinct values (as a
        #: profile then has no categorical buckets)
        self.counts: Counter[str] | None = Counter()
        self._distinct = DistinctCounter()

    def add(self, column: Sequence[str | None]) -> None:
        present = [v for v in column if v is not None]
        self.missing += len(column) - len(present)
        if not present:
            return
        self.present += len(present)
        self.in_domain += sum(map(self.domain.__contains__, present))
        if self.counts is not None:
            self.counts.update(present)
            if len(self.counts) >= CARDINALITY_THRESHOLD:
                self.counts = None
        self._distinct.add(hash_strings(present))

    def profile(self) -> ColumnProfile:
        if self.counts is not None:
            string = StringProfile(len(self.counts), dict(self.counts))
        else:
            string = StringProfile(max(self._distinct.estimate(), CARDINALITY_THRESHOLD), None)
        return ColumnProfile(self.name, "String", self.present, self.missing, string=string)

    def state_dict(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "missing": self.missing,
            "in_domain": self.in_domain,
            "counts": dict(self.counts) if self.counts is not None else None,
            "distinct": self._distinct.state_dict(),
        }

    def load_state(self, state: object, what: str) -> None:
        doc = parse(_StringColumnState, state, what)
        distinct = DistinctCounter.from_state(doc.distinct, f"{what}.distinct")
        if doc.in_domain > doc.present:
            raise StateError(f"{what}: more values in the domain than present")
        if doc.counts is not None and (
            len(doc.counts) >= CARDINALITY_THRESHOLD or sum(doc.counts.values()) != doc.present
        ):
            raise StateError(
                f"{what}.counts: expected fewer than {CARDINALITY_THRESHOLD} values adding up "
                "to `present`"
            )
        self.present, self.missing, self.in_domain = doc.present, doc.missing, doc.in_domain
        self.counts = Counter(doc.counts) if doc.counts is not None else None
        self._distinct = distinct


class WindowProfile:
    """The statistics of one window's rows, column by column in the baseline's feature order.

    `numeric` and `categorical` name the columns of the decoded matrices (FeatureLayout), which
    `add` receives."""

    def __init__(
        self,
        features: Sequence[FeatureBaseline],
        numeric: Sequence[str],
        categorical: Sequence[str],
    ) -> None:
        by_name = {f.name: f for f in features}
        self.numeric = [NumericColumn(by_name[name]) for name in numeric]
        self.categorical = [StringColumn(by_name[name]) for name in categorical]
        every: list[NumericColumn | StringColumn] = [*self.numeric, *self.categorical]
        columns = {c.name: c for c in every}
        #: statistics.json order: the baseline's
        self.columns = [columns[f.name] for f in features if f.name in columns]
        self.rows = 0

    def add(self, numeric: FloatArray, categorical: npt.NDArray[np.object_]) -> None:
        """Rows of the window, in the layout's column order."""
        self.rows += int(numeric.shape[0])
        for j, num in enumerate(self.numeric):
            num.add(numeric[:, j])
        for j, cat in enumerate(self.categorical):
            cat.add(categorical[:, j].tolist())

    def profile(self) -> DatasetProfile:
        """The window as Model Monitor profiles a data set: write it with
        detectors.baseline.files.statistics_document."""
        return DatasetProfile(self.rows, tuple(c.profile() for c in self.columns))

    def state_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "numeric": {c.name: c.state_dict() for c in self.numeric},
            "categorical": {c.name: c.state_dict() for c in self.categorical},
        }

    def load_state(self, state: object, what: str) -> None:
        """Restore `state_dict()` output of a profile with the same columns, or change nothing
        (StateError naming the key)."""
        doc = parse(_ProfileState, state, what)
        numeric = [NumericColumn(c.feature) for c in self.numeric]
        categorical = [StringColumn(c.feature) for c in self.categorical]
        every: list[NumericColumn | StringColumn] = [*numeric, *categorical]
        for part, saved in (("numeric", doc.numeric), ("categorical", doc.categorical)):
            mine = numeric if part == "numeric" else categorical
            if set(saved) != {c.name for c in mine}:
                raise StateError(f"{what}.{part}: the columns are not this baseline's")
        for column in every:
            part = "numeric" if isinstance(column, NumericColumn) else "categorical"
            saved = doc.numeric if part == "numeric" else doc.categorical
            column.load_state(saved[column.name], f"{what}.{part}[{column.name!r}]")
        if any(c.present + c.missing != doc.rows for c in every):
            raise StateError(f"{what}: a column's present and missing values do not add to rows")
        by_name = {c.name: c for c in every}
        self.numeric, self.categorical, self.rows = numeric, categorical, doc.rows
        self.columns = [by_name[c.name] for c in self.columns]


class _NumericColumnState(StateModel):
    missing: Count
    whole: Count
    values: dict[StrictStr, Any]
    distinct: dict[StrictStr, Any]


class _StringColumnState(StateModel):
    present: Count
    missing: Count
    in_domain: Count
    counts: dict[StrictStr, Annotated[StrictInt, Field(ge=1, le=1 << 62)]] | None
    distinct: dict[StrictStr, Any]


class _ProfileState(StateModel):
    rows: Index
    numeric: dict[StrictStr, Any]
    categorical: dict[StrictStr, Any]
