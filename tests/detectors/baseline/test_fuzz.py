"""Fuzzing the baseline reader (hypothesis): training data in, baseline files in.

Whatever the training data holds, `profile_rows` raises BaselineError with one line or returns
a profile whose counts add up, whose numeric columns hold at most 1 % values that are not
numbers (each warned about), and whose every type and count is the same however the data is
cut into batches. Whatever statistics.json and constraints.json hold, `load_baseline` raises
BaselineError with one line or returns a baseline. The example budget is fixed and the examples
are derandomised, so CI runs the same cases every time.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftstream.detectors.baseline import (
    Baseline,
    BaselineError,
    DatasetProfile,
    load_baseline,
    profile_rows,
    write_baseline,
)
from driftstream.detectors.baseline.profile import MAX_UNPARSABLE_SHARE
from tests.mutations import mutated

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NUMBER_CELLS = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
ODD_CELLS = st.sampled_from(
    [
        "",
        " ",
        "NaN",
        "nan",
        "inf",
        "-Infinity",
        "n/a",
        "1_000",
        "0x10",
        "1e999",
        "٣",
        ".",
        "-",
        "1,5",
    ]
)
CELLS = st.one_of(NUMBER_CELLS, NUMBER_CELLS, ODD_CELLS, st.text(max_size=6))


@st.composite
def training_csv(draw: st.DrawFn) -> str:
    """A CSV with a header of 1-4 columns; mostly numbers, some odd cells; sometimes a row of
    the wrong width or a quote that never closes."""
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(CELLS, min_size=width, max_size=width), max_size=60))
    if rows and draw(st.integers(0, 9)) == 0:
        rows[draw(st.integers(0, len(rows) - 1))].append("extra")
    lines = [",".join(f"c{i}" for i in range(width))]
    lines += [",".join(_quoted(cell) for cell in row) for row in rows]
    return "\n".join(lines) + "\n" + ('"' if draw(st.integers(0, 19)) == 0 else "")


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell


def _profile(path: Path, batch_rows: int) -> DatasetProfile | None:
    try:
        return profile_rows(path, batch_rows=batch_rows)
    except BaselineError as exc:
        assert "\n" not in str(exc), str(exc)
        return None


def _counts(profile: DatasetProfile) -> list[Any]:
    return [
        (c.name, c.inferred_type, c.num_present, c.num_missing, c.num_unparsable)
        for c in profile.columns
    ]


@FUZZ
@given(training_csv())
def test_training_data_is_profiled_or_refused_in_one_line(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "training.csv"
        path.write_text(text, encoding="utf-8")
        whole = _profile(path, batch_rows=65_536)
        in_threes = _profile(path, batch_rows=3)
    assert (whole is None) == (in_threes is None)
    if whole is None or in_threes is None:
        return
    assert _counts(in_threes) == _counts(whole)
    assert in_threes.warnings == whole.warnings
    warned = {w.column: w.count for w in whole.warnings if w.column is not None}
    for column in whole.columns:
        assert column.num_present + column.num_missing == whole.item_count
        if column.inferred_type == "String":
            assert column.num_unparsable == 0
            continue
        assert column.numeric is not None and column.num_present > 0
        values = column.num_present + column.num_unparsable
        assert column.num_unparsable <= MAX_UNPARSABLE_SHARE * values
        assert warned.get(column.name, 0) == column.num_unparsable


def _written_baseline() -> dict[str, Any]:
    """statistics.json and constraints.json of a small real profile, as documents."""
    text = "x,n,c\n" + "".join(f"{i * 0.5},{i % 4},{'ab'[i % 2]}\n" for i in range(30))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t.csv").write_text(text)
        write_baseline(profile_rows(Path(tmp) / "t.csv"), Path(tmp) / "b")
        return {
            name: json.loads((Path(tmp) / "b" / name).read_text())
            for name in ("statistics.json", "constraints.json")
        }


@FUZZ
@given(mutated(_written_baseline()))
def test_baseline_files_load_or_are_refused_in_one_line(files: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, document in files.items():  # the walk never replaces the top level
            if name in ("statistics.json", "constraints.json"):
                (folder / name).write_text(json.dumps(document))
        try:
            baseline = load_baseline(folder)
        except BaselineError as exc:
            assert "\n" not in str(exc), str(exc)
            return
    assert isinstance(baseline, Baseline)
    names = [f.name for f in baseline.features]
    assert len(names) == len(set(names))
