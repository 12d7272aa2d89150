"""The KLL sketch: Deequ's layout, exact weights, per-item semantics, rank accuracy, CDF."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from driftstream.detectors.baseline.kll import KLLSketch, flatten_levels, weighted_rank
from driftstream.detectors.baseline.model import NumericStats


def total_weight(sketch: KLLSketch) -> int:
    """Σ len(level_i) * 2**i computed in integers, independently of the sketch's own count."""
    return sum(len(level) << i for i, level in enumerate(sketch.levels()))


def test_capacities_follow_deequs_formula() -> None:
    sketch = KLLSketch()
    # 2 * (ceil(2048 * 0.64**h / 2) + 1)
    assert [sketch.capacity(h) for h in range(4)] == [2050, 1314, 842, 540]


def test_level_zero_keeps_insertion_order_until_the_first_compaction() -> None:
    values = np.array([3.0, 1.0, 2.0, 3.0, 1.0])
    sketch = KLLSketch()
    sketch.update_many(values)
    assert sketch.levels() == [[3.0, 1.0, 2.0, 3.0, 1.0]]
    assert sketch.count == 5


def test_first_compaction_happens_when_items_exceed_total_capacity() -> None:
    sketch = KLLSketch()
    sketch.update_many(np.arange(2050, dtype=np.float64))
    assert [len(level) for level in sketch.levels()] == [2050]
    sketch.update(2050.0)
    # 2051 items (odd): 2050 compacted into 1025 at level 1, the last one stays behind
    sizes = [len(level) for level in sketch.levels()]
    assert sizes == [1, 1025]
    assert sketch.levels()[0] == [2050.0]
    # first compaction uses offset 0: the even positions of the sorted buffer
    assert sketch.levels()[1] == [float(v) for v in range(0, 2050, 2)]


def test_weights_add_up_exactly_after_every_single_update() -> None:
    sketch = KLLSketch(k=16)  # small k: compactions (odd ones too) start after a few values
    rng = np.random.default_rng(7)
    for n, value in enumerate(rng.normal(size=5000).tolist(), start=1):
        sketch.update(value)
        assert total_weight(sketch) == n == sketch.count
    assert len(sketch.levels()) > 4  # several levels were really exercised


def test_weights_add_up_exactly_up_to_100k_values_in_uneven_batches() -> None:
    sketch = KLLSketch()
    rng = np.random.default_rng(11)
    added = 0
    while added < 100_000:
        size = int(rng.integers(1, 5000))
        sketch.update_many(rng.exponential(size=size))
        added += size
        assert total_weight(sketch) == added == sketch.count
    _, weights = sketch.items_and_weights()
    assert weights.sum() == added


@pytest.mark.parametrize("k", [4, 16, 2048])
def test_batched_updates_equal_one_value_at_a_time(k: int) -> None:
    values = np.random.default_rng(3).normal(size=6000)
    one_by_one = KLLSketch(k=k)
    for v in values.tolist():
        one_by_one.update(v)
    batched = KLLSketch(k=k)
    for chunk in np.array_split(values, [10, 11, 500, 4000]):
        batched.update_many(chunk)
    assert batched.levels() == one_by_one.levels()


def test_same_values_give_the_same_levels() -> None:
    values = np.random.default_rng(5).uniform(size=50_000)
    a, b = KLLSketch(), KLLSketch()
    a.update_many(values)
    b.update_many(values)
    assert a.levels() == b.levels()
    assert len(a.levels()) >= 3


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.normal(size=1_000_000),
        lambda rng: np.sort(rng.uniform(size=1_000_000)),  # sorted input, adversarial order
    ],
    ids=["normal", "sorted"],
)
def test_rank_error_is_small_for_a_million_values(
    make: Callable[[np.random.Generator], npt.NDArray[np.float64]],
) -> None:
    rng = np.random.default_rng(2024)
    values = make(rng)
    sketch = KLLSketch()
    sketch.update_many(values)
    truth = np.sort(values)
    probes = np.quantile(values, np.linspace(0.005, 0.995, 199))
    estimated = sketch.rank(probes) / sketch.count
    exact = np.searchsorted(truth, probes, side="right") / values.size
    assert np.abs(estimated - exact).max() < 0.015
    assert len(sketch.items_and_weights()[0]) < 10_000  # memory stays bounded


def test_rank_exclusive_and_inclusive() -> None:
    sketch = KLLSketch()
    sketch.update_many(np.array([1.0, 2.0, 2.0, 3.0]))
    assert sketch.rank([2.0], inclusive=True).tolist() == [3.0]
    assert sketch.rank([2.0], inclusive=False).tolist() == [1.0]
    assert sketch.rank([0.0, 10.0]).tolist() == [0.0, 4.0]


def test_nan_is_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        KLLSketch().update_many(np.array([1.0, np.nan]))


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="k must be"):
        KLLSketch(k=1)
    with pytest.raises(ValueError, match="c must be"):
        KLLSketch(c=1.5)


def test_flatten_levels_sorts_items_and_weights_by_level() -> None:
    items, weights = flatten_levels([[3.0, 1.0], [2.0], [0.5]])
    assert items.tolist() == [0.5, 1.0, 2.0, 3.0]
    assert weights.tolist() == [4.0, 1.0, 2.0, 1.0]
    assert weighted_rank(items, weights, [1.0, 2.5]).tolist() == [5.0, 7.0]


def _stats_from(sketch: KLLSketch) -> NumericStats:
    items, weights = sketch.items_and_weights()
    return NumericStats(
        num_present=float(sketch.count),
        num_missing=0.0,
        mean=0.0,
        sum=0.0,
        std_dev=0.0,
        min=float(items[0]),
        max=float(items[-1]),
        sketch_items=items,
        sketch_weights=weights,
    )


def test_numeric_stats_cdf_matches_the_empirical_cdf() -> None:
    values = np.random.default_rng(9).gamma(2.0, size=300_000)
    sketch = KLLSketch()
    sketch.update_many(values)
    stats = _stats_from(sketch)
    grid = np.linspace(values.min() - 1, values.max() + 1, 500)
    empirical = np.searchsorted(np.sort(values), grid, side="right") / values.size
    cdf = stats.cdf(grid)
    assert np.abs(cdf - empirical).max() < 0.01
    assert cdf[0] == 0.0
    assert cdf[-1] == 1.0


def test_numeric_stats_cdf_is_exact_below_capacity() -> None:
    values = np.array([5.0, 1.0, 3.0, 3.0, 2.0])
    sketch = KLLSketch()
    sketch.update_many(values)
    stats = _stats_from(sketch)
    assert stats.cdf([0.0, 1.0, 2.5, 3.0, 5.0]).tolist() == [0.0, 0.2, 0.4, 0.8, 1.0]


def test_numeric_stats_cdf_of_an_empty_sketch_is_zero() -> None:
    empty = np.empty(0, dtype=np.float64)
    stats = NumericStats(0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, empty, empty)
    assert stats.cdf([1.0, 2.0]).tolist() == [0.0, 0.0]
