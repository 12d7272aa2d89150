"""One contract suite over every registered detector, both engines (the project style guide,
river/checks/common.py): a detector added to detectors/registry.py is tested here unasked."""

from __future__ import annotations

import doctest
import inspect
import json
import math

import numpy as np
import pytest

from driftstream.detectors import adwin, page_hinkley, registry
from driftstream.detectors.adwin import ADWIN, RiverADWIN
from driftstream.detectors.base import DriftDetector
from driftstream.detectors.page_hinkley import PageHinkley, RiverPageHinkley
from driftstream.detectors.settings import DetectorSettings

ENGINES = ("batched", "river")
CASES = [(entry.name, engine) for entry in registry.REGISTRY for engine in ENGINES]
IDS = [f"{name}-{engine}" for name, engine in CASES]
# as strict as calibration picks for a monitored feature (the monitor's are stricter still)
TARGET_ARL0 = 1e6


def _standard_normal(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, n)


@pytest.fixture(scope="module")
def calibrated() -> dict[str, dict[str, float]]:
    """Each registered detector's calibrated parameter for TARGET_ARL0 on N(0, 1), by name."""
    sample = _standard_normal(300_000, seed=17)
    out: dict[str, dict[str, float]] = {}
    for proto in registry.configure(DetectorSettings()):
        out[proto.name] = {}
        if proto.calibration is not None:
            fit = proto.calibration.fit(sample, proto.reference)
            value = proto.calibration.solve(fit, TARGET_ARL0)
            out[proto.name] = {proto.calibration.parameter: value}
    return out


@pytest.fixture(params=CASES, ids=IDS)
def proto(request: pytest.FixtureRequest, calibrated: dict[str, dict[str, float]]) -> DriftDetector:
    """The registered detector as the monitor gets it: configured from the default settings,
    for the engine, its alarm parameter calibrated."""
    name, engine = request.param
    prototypes = registry.configure(DetectorSettings(engine=engine))
    (configured,) = [p for p in prototypes if p.name == name]
    return configured.detector.clone(**calibrated[name])


def _shifted_stream(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, 3000), rng.normal(1.5, 1, 3000)])


def _readings(det: DriftDetector) -> tuple[float, float]:
    return det.statistic, det.threshold


def test_the_registry_names_its_classes_consistently() -> None:
    assert {"adwin", "page_hinkley"} <= set(registry.names())
    assert len(set(registry.names())) == len(registry.REGISTRY)  # names label events and metrics
    for entry in registry.REGISTRY:
        twins = [entry.batched] if entry.river is None else [entry.batched, entry.river]
        for cls in twins:
            assert cls.name == entry.name
            params = inspect.signature(cls.__init__).parameters
            assert cls.warm_up in params
            if entry.calibration is not None:
                assert entry.calibration.parameter in params
        if entry.river is not None:
            assert inspect.signature(entry.river.__init__) == inspect.signature(
                entry.batched.__init__
            )


def test_engine_river_runs_river_and_calibrates_the_batched_twin() -> None:
    twins = {e.name: (e.batched, e.river) for e in registry.REGISTRY}
    assert twins["adwin"] == (ADWIN, RiverADWIN)
    assert twins["page_hinkley"] == (PageHinkley, RiverPageHinkley)
    for p in registry.configure(DetectorSettings(engine="river")):
        batched, river = twins[p.name]
        # a detector without a river twin runs its own class under either engine
        assert type(p.detector) is (river or batched)
        assert type(p.reference) is batched
        assert p.reference._get_params() == p.detector._get_params()


def test_clone_keeps_parameters_and_starts_fresh(proto: DriftDetector) -> None:
    used = proto.clone()
    used.update_many(_shifted_stream())
    fresh = used.clone()
    assert fresh._get_params() == proto._get_params()
    assert type(fresh) is type(proto)
    assert not fresh.drift_detected
    assert np.isnan(_readings(fresh)[0])
    # a clone is independent: same input, same alarms as a never-used prototype clone
    assert (
        fresh.update_many(_shifted_stream()).tolist()
        == proto.clone().update_many(_shifted_stream()).tolist()
    )


def test_state_round_trips_through_json(proto: DriftDetector) -> None:
    xs = _shifted_stream()
    whole = proto.clone().update_many(xs).tolist()
    assert whole, "the stream must contain a detectable change for this test to mean anything"
    for cut in (1000, 3100, 4500):
        first = proto.clone()
        hits_a = first.update_many(xs[:cut]).tolist()
        state = json.loads(json.dumps(first.state_dict(), allow_nan=False))
        second = proto.clone()
        second.load_state(state)
        np.testing.assert_equal(_readings(second), _readings(first))
        hits_b = [cut + i for i in second.update_many(xs[cut:]).tolist()]
        assert hits_a + hits_b == whole


def test_constant_stream_raises_nothing(proto: DriftDetector) -> None:
    det = proto.clone()
    assert det.update_many(np.full(20_000, 0.7)).tolist() == []
    assert not det.drift_detected
    statistic, threshold = _readings(det)
    assert math.isfinite(statistic) and math.isfinite(threshold)
    assert statistic <= threshold


def test_warm_up_suppresses_alarms(proto: DriftDetector) -> None:
    warm_up = 200
    # more values than ADWIN's clock (32): its checks run during the warm-up, and must not fire
    assert warm_up > 4 * getattr(proto, "clock", 1)
    det = proto.clone(**{proto.warm_up: warm_up})
    # a jump on the 6th value, far beyond any threshold, then the last value of the warm-up
    xs = np.array([0.0] * 5 + [50.0] * (warm_up - 6))
    assert det.update_many(xs).tolist() == []
    # the same jump is an alarm once the warm-up is over: the assertion above could fail
    hits = det.update_many(np.full(warm_up, 50.0)).tolist()
    assert hits and hits[0] < warm_up


def test_readings_are_exposed_and_finite_after_enough_data(proto: DriftDetector) -> None:
    det = proto.clone()
    assert math.isnan(det.statistic)  # nothing seen yet
    det.update_many(_standard_normal(2000, seed=5))
    statistic, threshold = _readings(det)
    assert math.isfinite(statistic) and math.isfinite(threshold)
    assert 0 <= statistic <= threshold  # stationary: no alarm, so no crossing either
    hits = det.update_many(_shifted_stream()[3000:]).tolist()
    assert hits, "a 1.5σ shift must raise an alarm"


def test_one_alarm_per_persistent_change(proto: DriftDetector) -> None:
    """After an alarm the detector re-learns: a change that persists is reported once."""
    rng = np.random.default_rng(11)
    xs = np.concatenate([rng.normal(0, 1, 5000), rng.normal(2, 1, 20_000)])
    hits = proto.clone().update_many(xs).tolist()
    assert len(hits) == 1
    assert 5000 <= hits[0] < 5300


@pytest.mark.parametrize(
    ("cls", "kwargs", "names"),
    [
        (PageHinkley, {"mode": "sideways"}, "['up', 'down', 'both']"),
        (PageHinkley, {"threshold": -1.0}, "threshold"),
        (ADWIN, {"delta": 0.0}, "delta"),
        (ADWIN, {"clock": 0}, "clock"),
    ],
)
def test_bad_parameters_name_the_valid_ones(
    cls: type[DriftDetector], kwargs: dict[str, object], names: str
) -> None:
    with pytest.raises(ValueError, match=names.replace("[", r"\[").replace("]", r"\]")):
        cls(**kwargs)


@pytest.mark.parametrize("module", [adwin, page_hinkley])
def test_seeded_examples_print_exact_detection_index(module: object) -> None:
    result = doctest.testmod(module, raise_on_error=False)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0


def test_samples_count_the_values_behind_the_statistic(proto: DriftDetector) -> None:
    """0 when fresh; one more per value while no alarm; after an alarm, fewer than before it
    (the detector forgot at least part of what it had seen); back to 0 after a reset."""
    det = proto.clone()
    assert det.samples == 0
    quiet = _standard_normal(400, seed=5)
    assert det.update_many(quiet).shape[0] == 0
    assert det.samples == 400
    det.update_many(quiet[:10])
    assert det.samples == 410
    stream = _shifted_stream()
    fresh = proto.clone()
    hits = fresh.update_many(stream)
    assert hits.shape[0] >= 1
    last = int(hits[-1])
    fresh.update_many(stream[last + 1 : last + 2])
    assert fresh.samples < last + 2
    fresh._reset()
    assert fresh.samples == 0
