"""Fuzzing checkpointed state (hypothesis): random and mutated documents, both engines.

Whatever a state document holds, `load_state` either raises StateError with one line and leaves
the monitor (or detector) as it was, or restores exactly what the document says (its state_dict
gives the document back) and the monitor then runs on. Nothing else may escape: no KeyError,
no ZeroDivisionError from a compiled kernel, no panic from river's Rust code (a BaseException,
which fails the test outright). The example budget is fixed and the examples are derandomised,
so CI runs the same cases every time.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftstream.detectors import registry
from driftstream.detectors.adwin import _RIVER_HEADER
from driftstream.detectors.base import DriftDetector
from driftstream.detectors.baseline import Baseline
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.settings import DetectorSettings
from driftstream.detectors.state import StateError
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.synthetic import Scenario, capture_lines
from tests.detectors.test_state import ENGINES, Doc, monitors, saved
from tests.mutations import JSON, mutated

__all__ = ["monitors", "saved"]  # module fixtures, shared with test_state

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- properties ---------------------------------------------------------------------------------


def _comparable(state: Any) -> Any:
    """A state as JSON says it (NaN is null); river windows by what they hold, without the
    ADWIN parameters in them, which a restore replaces with the detector's own."""
    state = orjson.loads(orjson.dumps(state))
    if isinstance(state, dict) and isinstance(state.get("window"), str):
        raw = base64.b64decode(state["window"])
        state["window"] = [_RIVER_HEADER.unpack_from(raw)[5:], raw[_RIVER_HEADER.size : -28]]
    elif isinstance(state, dict):
        return {k: _comparable(v) for k, v in state.items()}
    return state


def _restored_or_refused(target: Monitor | DriftDetector, state: Any) -> bool:
    """Load `state` into `target`: True if restored exactly, False if refused in one line with
    `target` unchanged; anything else fails the test."""
    before = orjson.dumps(target.state_dict())
    try:
        target.load_state(state)
    except StateError as exc:
        assert "\n" not in str(exc), str(exc)
        assert orjson.dumps(target.state_dict()) == before
        return False
    return True


@pytest.fixture(scope="module")
def stationary(synthetic_baseline: Baseline) -> Any:
    """400 stationary records to run a restored monitor on (crossing a window evaluation)."""
    lines = list(capture_lines(Scenario("after", 400, seed=99)))
    return CaptureDecoder(synthetic_baseline).decode(lines, 5_000)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_mutated_monitor_state_is_refused_or_restored_exactly(
    monitors: dict[str, Monitor], saved: dict[str, Doc], stationary: Any, engine: str
) -> None:
    fresh = monitors[engine]
    blank = fresh.state_dict()

    @FUZZ
    @given(mutated(saved[engine]))
    def check(state: Any) -> None:
        monitor = copy.deepcopy(fresh)
        if not _restored_or_refused(monitor, copy.deepcopy(state)):
            return
        expected = copy.deepcopy(state)
        for feature, detectors in expected["sequential"].items():
            for name, fresh_state in blank["sequential"][feature].items():
                detectors.setdefault(name, fresh_state)  # registered since: starts fresh
        assert _comparable(monitor.state_dict()) == _comparable(expected)
        monitor.process(stationary)

    check()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_random_monitor_state_is_refused(
    monitors: dict[str, Monitor], saved: dict[str, Doc], engine: str
) -> None:
    """Documents with the right keys (and version and baseline) but random values: with so many
    checks, none is a state; each is refused in one line."""
    fresh = monitors[engine]
    keys = {k: JSON for k in saved[engine] if k not in ("version", "baseline")}
    documents = st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"version": st.just(1), "baseline": st.just(saved[engine]["baseline"]), **keys}
        ),
    )

    @FUZZ
    @given(documents)
    def check(state: Any) -> None:
        assert not _restored_or_refused(copy.deepcopy(fresh), state)

    check()


DETECTORS = [(entry.name, engine) for entry in registry.REGISTRY for engine in ENGINES]


@pytest.mark.parametrize(("name", "engine"), DETECTORS, ids=[f"{n}-{e}" for n, e in DETECTORS])
def test_every_registered_detector_refuses_or_restores_a_mutated_state(
    name: str, engine: str
) -> None:
    """The contract suite's detectors (detectors/registry.py), each engine: a detector added to
    the registry is fuzzed here unasked."""
    (proto,) = [
        p.detector for p in registry.configure(DetectorSettings(engine=engine)) if p.name == name
    ]
    rng = np.random.default_rng(4)
    states = []
    for n in (0, 25, 3_000):  # fresh, warming up, long-running
        detector = proto.clone()
        detector.update_many(rng.normal(0.0, 1.0, n))
        states.append(orjson.loads(orjson.dumps(detector.state_dict())))
    after = rng.normal(0.0, 1.0, 300)

    @FUZZ
    @given(st.sampled_from(states).flatmap(mutated))
    def check(state: Any) -> None:
        detector = proto.clone()
        if _restored_or_refused(detector, copy.deepcopy(state)):
            assert _comparable(detector.state_dict()) == _comparable(state)
            detector.update_many(after)
            assert isinstance(detector.statistic, float)

    check()
