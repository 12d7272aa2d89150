"""One contract suite over every registered detector (docs/style.md, river/checks/common.py)."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

from driftstream.detectors import adwin, page_hinkley
from driftstream.detectors.adwin import ADWIN, RiverADWIN
from driftstream.detectors.base import DriftDetector
from driftstream.detectors.page_hinkley import PageHinkley, RiverPageHinkley

REGISTERED: list[DriftDetector] = [
    ADWIN(delta=0.01),
    RiverADWIN(delta=0.01),
    PageHinkley(delta=0.25, threshold=15.0, alpha=1.0),
    RiverPageHinkley(delta=0.25, threshold=15.0, alpha=1.0),
]
IDS = [f"{type(d).__name__}" for d in REGISTERED]


def _shifted_stream(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, 3000), rng.normal(1.5, 1, 3000)])


@pytest.mark.parametrize("proto", REGISTERED, ids=IDS)
def test_clone_keeps_parameters_and_starts_fresh(proto: DriftDetector) -> None:
    used = proto.clone()
    used.update_many(_shifted_stream())
    fresh = used.clone()
    assert fresh._get_params() == proto._get_params()
    assert type(fresh) is type(proto)
    assert not fresh.drift_detected
    # a clone is independent: same input, same alarms as a never-used prototype clone
    assert (
        fresh.update_many(_shifted_stream()).tolist()
        == proto.clone().update_many(_shifted_stream()).tolist()
    )


@pytest.mark.parametrize("proto", REGISTERED, ids=IDS)
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
        hits_b = [cut + i for i in second.update_many(xs[cut:]).tolist()]
        assert hits_a + hits_b == whole


@pytest.mark.parametrize("proto", REGISTERED, ids=IDS)
def test_constant_stream_raises_nothing(proto: DriftDetector) -> None:
    det = proto.clone()
    assert det.update_many(np.full(20_000, 0.7)).tolist() == []
    assert not det.drift_detected


@pytest.mark.parametrize("proto", REGISTERED, ids=IDS)
def test_warm_up_suppresses_alarms(proto: DriftDetector) -> None:
    det = proto.clone()
    # a jump on the 6th value: far too early for either detector's warm-up
    xs = np.array([0.0] * 5 + [50.0] * 4)
    assert det.update_many(xs).tolist() == []


@pytest.mark.parametrize("proto", REGISTERED, ids=IDS)
def test_one_alarm_per_persistent_change(proto: DriftDetector) -> None:
    """After an alarm the detector re-learns: a change that persists is reported once."""
    rng = np.random.default_rng(11)
    xs = np.concatenate([rng.normal(0, 1, 5000), rng.normal(2, 1, 20_000)])
    # thresholds as strict as calibration picks, so chance alarms do not muddy the count
    strict = {"threshold": 30.0} if "threshold" in proto._get_params() else {"delta": 1e-4}
    hits = proto.clone(**strict).update_many(xs).tolist()
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
