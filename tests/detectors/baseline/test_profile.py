"""Profiling training data: exact statistics, type inference, labels, folders, bad rows."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from driftstream.detectors.baseline import BaselineError
from driftstream.detectors.baseline.profile import (
    CARDINALITY_THRESHOLD,
    MIN_TRAINING_ROWS,
    ColumnProfile,
    DatasetProfile,
    profile_rows,
)

SMALL_CSV = """id,price,color,label
1,10.5,red,0
2,,blue,1
3,7.25,red,1
4,3.0,,0
5,12.0,green,1
"""

SMALL_JSONL = """{"id": 1, "price": 10.5, "color": "red", "label": 0}
{"id": 2, "price": null, "color": "blue", "label": 1}

{"id": 3, "price": 7.25, "color": "red", "label": 1}
{"id": 4, "price": 3.0, "label": 0}
{"id": 5, "price": 12.0, "color": "green", "label": 1}
"""

PRICES = [10.5, 7.25, 3.0, 12.0]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def column(profile: DatasetProfile, name: str) -> ColumnProfile:
    return next(c for c in profile.columns if c.name == name)


def assert_small_dataset(profile: DatasetProfile, names: list[str]) -> None:
    """The statistics of SMALL_CSV, whatever its columns are called."""
    id_, price, color, label = (column(profile, n) for n in names)
    assert profile.item_count == 5

    assert id_.inferred_type == "Integral"
    assert id_.numeric is not None
    assert (id_.num_present, id_.num_missing, id_.completeness) == (5, 0, 1.0)
    assert id_.numeric.mean == 3.0
    assert id_.numeric.sum == 15.0
    assert id_.numeric.std_dev == pytest.approx(math.sqrt(2.0), rel=1e-15)
    assert (id_.numeric.min, id_.numeric.max) == (1.0, 5.0)
    assert id_.numeric.approximate_num_distinct_values == 5

    assert price.inferred_type == "Fractional"
    assert price.numeric is not None
    assert (price.num_present, price.num_missing, price.completeness) == (4, 1, 0.8)
    assert price.numeric.mean == 8.1875
    assert price.numeric.sum == 32.75
    # population standard deviation (divide by n), not the sample one
    assert price.numeric.std_dev == pytest.approx(statistics.pstdev(PRICES), rel=1e-14)
    assert price.numeric.std_dev != pytest.approx(statistics.stdev(PRICES), rel=1e-3)
    assert (price.numeric.min, price.numeric.max) == (3.0, 12.0)
    assert price.numeric.sketch_levels == (tuple(PRICES),)
    assert price.numeric.sketch_k == 2048
    assert price.numeric.sketch_c == 0.64
    buckets = price.numeric.buckets
    assert len(buckets) == 10
    assert [b.count for b in buckets] == [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0, 1.0]
    assert buckets[0].lower_bound == 3.0
    assert buckets[-1].upper_bound == 12.0
    assert buckets[4].lower_bound == pytest.approx(6.6)
    assert buckets[4].upper_bound == pytest.approx(7.5)

    assert color.inferred_type == "String"
    assert color.string is not None
    assert color.numeric is None
    assert (color.num_present, color.num_missing, color.completeness) == (4, 1, 0.8)
    assert color.string.counts == {"red": 2, "blue": 1, "green": 1}
    assert color.string.distinct_count == 3

    assert label.inferred_type == "Integral"
    assert label.numeric is not None
    assert label.numeric.mean == 0.6


def test_csv_with_header(tmp_path: Path) -> None:
    profile = profile_rows(write(tmp_path / "train.csv", SMALL_CSV))
    assert [c.name for c in profile.columns] == ["id", "price", "color", "label"]
    assert_small_dataset(profile, ["id", "price", "color", "label"])


def test_csv_without_header_uses_spark_names(tmp_path: Path) -> None:
    headless = SMALL_CSV.split("\n", 1)[1]
    profile = profile_rows(write(tmp_path / "train.csv", headless), header=False)
    assert [c.name for c in profile.columns] == ["_c0", "_c1", "_c2", "_c3"]
    assert_small_dataset(profile, ["_c0", "_c1", "_c2", "_c3"])


def test_jsonl_gives_the_same_profile_as_csv(tmp_path: Path) -> None:
    from_json = profile_rows(write(tmp_path / "train.jsonl", SMALL_JSONL))
    from_csv = profile_rows(write(tmp_path / "train.csv", SMALL_CSV))
    assert_small_dataset(from_json, ["id", "price", "color", "label"])
    assert from_json == from_csv


def test_label_column_becomes_prediction_and_comes_first(tmp_path: Path) -> None:
    profile = profile_rows(write(tmp_path / "train.csv", SMALL_CSV), label_column="price")
    assert [c.name for c in profile.columns] == ["prediction", "id", "color", "label"]
    assert_small_dataset(profile, ["id", "prediction", "color", "label"])


def test_label_column_without_header(tmp_path: Path) -> None:
    headless = SMALL_CSV.split("\n", 1)[1]
    profile = profile_rows(
        write(tmp_path / "train.csv", headless), header=False, label_column="_c3"
    )
    assert [c.name for c in profile.columns] == ["prediction", "_c0", "_c1", "_c2"]
    assert column(profile, "prediction").numeric.mean == 0.6  # type: ignore[union-attr]


def test_unknown_label_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", SMALL_CSV)
    with pytest.raises(BaselineError, match="label column 'target' not found") as err:
        profile_rows(path, label_column="target")
    assert str(path) in str(err.value)


def test_label_rename_refuses_to_shadow_an_existing_prediction_column(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", "prediction,label\n1,0\n2,1\n")
    with pytest.raises(BaselineError, match="already exists"):
        profile_rows(path, label_column="label")


def test_small_batches_give_the_same_statistics(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(10.0, 3.0, size=5000)
    text = "x,y\n" + "".join(f"{v!r},{i % 7}\n" for i, v in enumerate(values.tolist()))
    path = write(tmp_path / "train.csv", text)
    whole = profile_rows(path)
    batched = profile_rows(path, batch_rows=333)
    x_whole, x_batched = column(whole, "x").numeric, column(batched, "x").numeric
    assert x_whole is not None and x_batched is not None
    assert x_batched.sketch_levels == x_whole.sketch_levels
    # each batch sum is correctly rounded; across batches one rounding per batch remains
    assert x_whole.sum == math.fsum(values.tolist())
    assert x_batched.sum == pytest.approx(x_whole.sum, rel=1e-15)
    assert x_batched.mean == pytest.approx(float(values.mean()), rel=1e-14)
    assert x_batched.std_dev == pytest.approx(float(np.std(values)), rel=1e-12)
    assert x_whole.std_dev == pytest.approx(float(np.std(values)), rel=1e-12)
    assert x_batched.approximate_num_distinct_values == 5000
    assert column(batched, "y").numeric.approximate_num_distinct_values == 7  # type: ignore[union-attr]


def test_large_column_is_sketched_in_bounded_space(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    values = rng.lognormal(size=200_000)
    path = write(tmp_path / "big.csv", "v\n" + "\n".join(map(repr, values.tolist())) + "\n")
    profile = profile_rows(path)
    v = column(profile, "v").numeric
    assert v is not None
    weights = sum(len(level) << i for i, level in enumerate(v.sketch_levels))
    assert weights == 200_000
    assert sum(len(level) for level in v.sketch_levels) < 8000
    assert sum(b.count for b in v.buckets) == 200_000
    assert v.mean == pytest.approx(float(values.mean()), rel=1e-12)
    assert v.std_dev == pytest.approx(float(values.std()), rel=1e-10)
    assert (v.min, v.max) == (float(values.min()), float(values.max()))
    # beyond the exact limit the distinct count is a HyperLogLog estimate
    assert v.approximate_num_distinct_values == pytest.approx(200_000, rel=0.03)
    edges = np.linspace(v.min, v.max, 11)
    exact = np.histogram(values, bins=edges)[0]
    approx = np.array([b.count for b in v.buckets])
    assert np.abs(approx - exact).max() < 0.015 * 200_000


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["1", "-2", "+3", "0"], "Integral"),
        (["1", "2.5"], "Fractional"),
        (["1.0", "2.0"], "Fractional"),
        (["1e3", "2"], "Fractional"),
        (["1", "abc"], "String"),
        (["1", "nan"], "String"),
        (["1", "inf"], "String"),
        (["1_000", "2"], "String"),
        (["true", "false"], "String"),
    ],
)
def test_type_inference(tmp_path: Path, cells: list[str], expected: str) -> None:
    path = write(tmp_path / "t.csv", "v\n" + "\n".join(cells) + "\n")
    v = column(profile_rows(path), "v")
    assert v.inferred_type == expected
    assert (v.numeric is not None) == (expected != "String")


def _numbers_with_text(tmp_path: Path, fmt: str, cell: str) -> Path:
    """20,000 numbers in column x, one of them replaced by `cell`; a clean column k beside."""
    values = [repr(v) for v in np.random.default_rng(3).normal(50.0, 5.0, 20_000).tolist()]
    values[7_000] = cell
    if fmt == "csv":
        text = "x,k\n" + "".join(f"{v},{i % 9}\n" for i, v in enumerate(values))
    else:  # JSON: the numbers as numbers, the text as a string, the empty cell as null
        cells = ["null" if not v else json.dumps(v) if v == "NaN" else v for v in values]
        text = "".join(f'{{"x": {v}, "k": {i % 9}}}\n' for i, v in enumerate(cells))
    return write(tmp_path / f"{fmt}-{cell or 'missing'}.{fmt.replace('json', 'jsonl')}", text)


@pytest.mark.parametrize("batch_rows", [65_536, 333])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_one_value_that_is_not_a_number_keeps_a_numeric_column_numeric(
    tmp_path: Path, fmt: str, batch_rows: int
) -> None:
    """Issue 13: a `NaN` text among 20,000 numbers made the column String, its drift unseen.
    Now it stays Fractional with the statistics of its numbers, the text counted as missing
    (exactly as if the cell were empty), and a warning names the column and the count."""
    dirty = profile_rows(_numbers_with_text(tmp_path, fmt, "NaN"), batch_rows=batch_rows)
    clean = profile_rows(_numbers_with_text(tmp_path, fmt, ""), batch_rows=batch_rows)
    x = column(dirty, "x")
    assert x.inferred_type == "Fractional"
    assert (x.num_present, x.num_missing, x.num_unparsable) == (19_999, 1, 1)
    assert replace(x, num_unparsable=0) == column(clean, "x")
    assert [(w.column, w.count) for w in dirty.warnings] == [("x", 1)]
    assert "'NaN'" in dirty.warnings[0].message
    assert clean.warnings == ()


@pytest.mark.parametrize(("bad", "expected"), [(10, "Integral"), (11, "String")])
def test_values_that_are_not_numbers_are_tolerated_up_to_one_percent(
    tmp_path: Path, bad: int, expected: str
) -> None:
    """1,000 numbers and `bad` n/a: 10 of 1,010 (0.99 %) are tolerated, 11 of 1,011 are not;
    either way a warning says how many values are not numbers."""
    cells = [str(i % 5) for i in range(1000)] + ["n/a"] * bad
    words = ["red"] * (len(cells) - 1) + ["3"]  # a text column with a number: no warning
    rows = [f"{c},{w}" for c, w in zip(cells, words, strict=True)]
    profile = profile_rows(
        write(tmp_path / "t.csv", "v,w\n" + "\n".join(rows) + "\n"), batch_rows=100
    )
    v = column(profile, "v")
    assert v.inferred_type == expected
    if expected == "String":
        assert v.string is not None
        assert v.string.counts == {"0": 200, "1": 200, "2": 200, "3": 200, "4": 200, "n/a": bad}
        assert (v.num_present, v.num_missing) == (1000 + bad, 0)
    else:
        assert v.numeric is not None
        assert (v.num_present, v.num_missing, v.num_unparsable) == (1000, bad, bad)
        assert v.numeric.approximate_num_distinct_values == 5  # n/a is not one of its values
    assert column(profile, "w").inferred_type == "String"
    column_warnings = [(w.column, w.count) for w in profile.warnings if w.column is not None]
    assert column_warnings == [("v", bad)]


def test_values_whose_sums_overflow_a_float_are_refused_naming_the_column(tmp_path: Path) -> None:
    """Found by the fuzz suite: sums beyond a float's range raised OverflowError (or wrote
    Infinity, which is not JSON); whatever the batches, it is one BaselineError now."""
    path = write(tmp_path / "t.csv", "a,b\n" + "1,8.9e307\n" * 3)
    for batch_rows in (1, 65_536):
        with pytest.raises(
            BaselineError, match=r"t\.csv: column 'b': values as large as 8\.9e\+307"
        ):
            profile_rows(path, batch_rows=batch_rows)


def test_too_few_rows_to_calibrate_from_are_warned_about(tmp_path: Path) -> None:
    one = profile_rows(write(tmp_path / "one.csv", "a,b\n1,x\n"))
    assert [(w.column, w.count) for w in one.warnings] == [(None, 1)]
    assert f"at least {MIN_TRAINING_ROWS:,}" in one.warnings[0].message
    enough = "a\n" + "".join(f"{i}\n" for i in range(MIN_TRAINING_ROWS))
    assert profile_rows(write(tmp_path / "enough.csv", enough)).warnings == ()


def test_categorical_buckets_only_below_120_distinct_values(tmp_path: Path) -> None:
    few = [f"c{i}" for i in range(CARDINALITY_THRESHOLD - 1)]
    many = [f"c{i}" for i in range(CARDINALITY_THRESHOLD)]
    rows = [f"{few[i % len(few)]},{many[i]}" for i in range(len(many))]
    path = write(tmp_path / "t.csv", "few,many\n" + "\n".join(rows) + "\n")
    profile = profile_rows(path)
    few_col, many_col = column(profile, "few").string, column(profile, "many").string
    assert few_col is not None and many_col is not None
    assert few_col.counts is not None
    assert len(few_col.counts) == 119
    assert few_col.counts["c0"] == 2
    assert few_col.distinct_count == 119
    assert many_col.counts is None
    assert many_col.distinct_count == 120


def test_all_missing_column_is_string_with_zero_completeness(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "a,b\n1,\n2,\n")
    b = column(profile_rows(path), "b")
    assert (b.inferred_type, b.num_present, b.num_missing, b.completeness) == ("String", 0, 2, 0.0)


def test_json_keys_appearing_late_count_as_missing_before(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '{"a": 1}\n{"a": 2}\n{"a": 3, "b": "x"}\n')
    profile = profile_rows(path)
    assert [c.name for c in profile.columns] == ["a", "b"]
    b = column(profile, "b")
    assert (b.num_present, b.num_missing) == (1, 2)


def test_folder_of_csv_files_in_path_order(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    write(folder / "part-2.csv", "v,w\n3,z\n")
    write(folder / "part-1.csv", "v,w\n1,x\n2,y\n")
    write(folder / "sub" / "part-3.csv", "v,w\n4,x\n")
    write(folder / "_SUCCESS", "")
    write(folder / ".part-1.csv.crc", "junk")
    write(folder / "_tmp" / "ignored.csv", "totally,different,header\n")
    profile = profile_rows(folder)
    v = column(profile, "v").numeric
    assert profile.item_count == 4
    assert v is not None
    assert v.sketch_levels == ((1.0, 2.0, 3.0, 4.0),)  # part-1, part-2, sub/part-3
    assert column(profile, "w").string.counts == {"x": 2, "y": 1, "z": 1}  # type: ignore[union-attr]


def test_folder_files_must_share_the_header(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "v,w\n1,2\n")
    bad = write(tmp_path / "b.csv", "v,x\n1,2\n")
    with pytest.raises(BaselineError, match="header differs") as err:
        profile_rows(tmp_path)
    assert f"{bad}:1" in str(err.value)


def test_folder_mixing_csv_and_json_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "v\n1\n")
    write(tmp_path / "b.jsonl", '{"v": 1}\n')
    with pytest.raises(BaselineError, match="mixes CSV and JSON"):
        profile_rows(tmp_path)


def test_wrong_number_of_columns_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "a,b\n1,2\n\n3\n4,5\n")
    with pytest.raises(BaselineError) as err:
        profile_rows(path)
    assert str(err.value) == f"{path}:4: expected 2 columns, found 1"


def test_nested_json_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '{"a": 1}\n{"a": {"b": 2}}\n')
    with pytest.raises(BaselineError, match=r"t\.jsonl:2: key 'a' holds a nested dict"):
        profile_rows(path)


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", '{"a": 1}\n{"a": \n')
    with pytest.raises(BaselineError, match=r"t\.jsonl:2: invalid JSON"):
        profile_rows(path)


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="no data rows"):
        profile_rows(write(tmp_path / "t.csv", "a,b\n"))


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="no such file or folder"):
        profile_rows(tmp_path / "nope.csv")


def test_duplicate_header_names_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="duplicate column names a"):
        profile_rows(write(tmp_path / "t.csv", "a,b,a\n1,2,3\n"))
