"""Behaviour unchanged: `driftstream replay` of seeded scenarios (mean, variance, category mix,
missing values, ramp, prediction shift, stationary, and 47 damaged lines of every rejection
reason) writes exactly the events the code wrote before the package restructuring (commit
d7652d0), with both detector engines, apart from the changes made on purpose since. The expected
files and their generator are in tests/data/golden/ (README.md there says how they were made and
lists those changes)."""

from __future__ import annotations

import importlib.util
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
    assert printed.rsplit(" ", 1)[-1] == gen.BASELINE_IDENTITY
    return baseline, captures, tmp


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "engine"), CASES, ids=[f"{s}-{e}" for s, e in CASES])
def test_replay_writes_the_events_written_before_the_move(
    inputs: tuple[Path, dict[str, Path], Path], scenario: str, engine: str
) -> None:
    baseline, captures, tmp = inputs
    events = gen.replay(gen.CLI, captures[scenario], baseline, engine, tmp)
    expected = (GOLDEN / gen.golden_name(scenario, engine)).read_text(encoding="utf-8")
    assert gen.normalised_lines(events) == expected.splitlines()
