"""Behaviour unchanged: `driftstream replay` of seeded scenarios (mean, variance, category mix,
missing values, ramp, prediction shift, stationary, and 47 damaged lines of every rejection
reason) writes exactly the events the code wrote before the package restructuring (commit
d7652d0), with both detector engines, apart from the changes made on purpose since. The expected
files and their generator are in tests/data/golden/ (README.md there says how they were made and
lists those changes).

Every key, string and integer must match exactly; floats to a relative 1e-9. Releases of the
numeric libraries (numpy, scipy, numba/LLVM) move the last binary digits of sums and logarithms
(34.350827317148294 became 34.3508273171483 between two installs of the same code), and the
baseline's bytes with them, so its identity hash is not compared; any change of behaviour moves
far more than that: an alarm's position, a threshold's leading digits, an event's presence."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_golden"] = module
    spec.loader.exec_module(module)
    return module


gen = _generator()
CASES = [(s, e) for s in gen.SCENARIOS for e in gen.ENGINES]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], Path]:
    tmp = tmp_path_factory.mktemp("golden")
    training, captures = gen.write_inputs(tmp)
    # the data generator itself must be unchanged, or no event could match
    assert gen.input_mismatches(training, captures) == []
    baseline, printed = gen.build_baseline(gen.CLI, training, tmp)
    assert ": 14 features, 20000 rows, identity " in printed
    return baseline, captures, tmp


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "engine"), CASES, ids=[f"{s}-{e}" for s, e in CASES])
def test_replay_writes_the_events_written_before_the_move(
    inputs: tuple[Path, dict[str, Path], Path], scenario: str, engine: str
) -> None:
    baseline, captures, tmp = inputs
    events = gen.replay(gen.CLI, captures[scenario], baseline, engine, tmp)
    expected = (GOLDEN / gen.golden_name(scenario, engine)).read_text(encoding="utf-8")
    got = [json.loads(line) for line in gen.normalised_lines(events)]
    want = [json.loads(line) for line in expected.splitlines()]
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == _approx(w), f"event {i}"


def _approx(value: object) -> object:
    """`value` with every float compared to a relative 1e-9 (the module docstring says why)."""
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-12)
    return value


def test_approx_still_tells_events_apart() -> None:
    """The tolerance forgives the last digits of a float and nothing else."""
    event = {"kind": "drift", "record_index": 10386, "threshold": 34.350827317148294}
    assert {**event, "threshold": 34.3508273171483} == _approx(event)
    assert {**event, "threshold": 34.3508} != _approx(event)
    assert {**event, "record_index": 10387} != _approx(event)
    assert {**event, "detector": "adwin"} != _approx(event)
