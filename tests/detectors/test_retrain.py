"""The retrain policy on hand-made evidence: a blip does not retrain; sustained, material drift
does, once, then cools down; a quality breach retrains with little drift; the budget holds; and
every "not now" is an event with its reason."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import pytest

from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.retrain import (
    BELOW_EFFECT_SIZE,
    COOLING_DOWN,
    NOT_PERSISTENT,
    OVER_BUDGET,
    QUALITY_ALARMS_OFF,
    QUALITY_WITHIN_THRESHOLD,
    Evidence,
    PolicyError,
    RetrainPolicy,
)
from driftstream.detectors.settings import RetrainSettings
from driftstream.detectors.state import PolicyState, StateError, parse

FEATURES = [f"f{i}" for i in range(10)]
HOP = 500
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
REASONS = {
    BELOW_EFFECT_SIZE,
    NOT_PERSISTENT,
    COOLING_DOWN,
    OVER_BUDGET,
    QUALITY_WITHIN_THRESHOLD,
    QUALITY_ALARMS_OFF,
}


def policy(**settings: Any) -> RetrainPolicy:
    base: dict[str, Any] = {"persistence_rows": 2000, "cooldown_rows": 10_000}
    return RetrainPolicy(
        RetrainSettings(**{**base, **settings}),
        FEATURES,
        baseline_identity="b1",
        config_identity="c1",
        endpoint="churn",
        lineage={"baseline": {"location": "s3://models/churn/baseline"}},
        clock=lambda: 1e9,
    )


def drifted(n: int, effect: float = 2.0, record: int = 0) -> dict[str, Evidence]:
    """The first `n` features in drift, each `effect` times past its threshold."""
    return {f: Evidence("distribution", 0.1 * effect, 0.1, record) for f in FEATURES[:n]}


def stamp(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def feed(
    p: RetrainPolicy,
    rows: Iterable[int],
    n: int,
    effect: float = 2.0,
    seconds_per_row: float | None = None,
) -> list[Event]:
    """Window evaluations at `rows` (record index = row), `n` features in drift at each."""
    out = []
    for row in rows:
        when = None if seconds_per_row is None else stamp(row * seconds_per_row)
        decision = p.observe(row, row, when, drifted(n, effect, row))
        if decision is not None:
            out.append(decision)
    return out


def decisions(events: list[Event]) -> list[tuple[str, str | None, int | None]]:
    return [(e.extra["decision"], e.reason, e.record_index) for e in events]


def quality_event(
    value: float, record: int, kind: EventKind = EventKind.VIOLATION, metric: str = "accuracy"
) -> Event:
    detector = "model_quality_check" if kind is EventKind.VIOLATION else "model_quality_ph"
    return Event(
        kind,
        record_index=record,
        detector=detector,
        value=value,
        threshold=0.85,
        extra={"metric": metric},
    )


def assert_every_event_is_a_decision(events: list[Event]) -> None:
    for e in events:
        assert e.kind is EventKind.RETRAIN_SIGNAL
        if e.extra["decision"] == "deferred":
            assert e.reason in REASONS
            assert "idempotency_key" not in e.extra  # nothing to deliver
        else:
            assert e.extra["decision"] == "retrain"
            assert e.reason is None


def test_a_blip_does_not_retrain_and_says_why() -> None:
    p = policy()
    events = feed(p, range(2000, 3500, HOP), n=5)  # 1,000 rows of drift, then none
    events += feed(p, range(3500, 20_000, HOP), n=0)
    assert decisions(events) == [("deferred", NOT_PERSISTENT, 2000)]
    (deferral,) = events
    assert deferral.value == 0.5 and deferral.threshold == 0.3  # the share, the minimum
    assert deferral.extra["features"] == FEATURES[:5]
    assert deferral.extra["policy"]["persistence"]["rows"] == 0
    assert_every_event_is_a_decision(events)


def test_sustained_material_drift_retrains_once_then_cools_down() -> None:
    p = policy()
    events = feed(p, range(2000, 14_000, HOP), n=4)
    assert decisions(events) == [
        ("deferred", NOT_PERSISTENT, 2000),
        ("retrain", None, 4000),
        ("deferred", COOLING_DOWN, 4500),  # once, not at every window
    ]
    signal = events[1]
    assert signal.extra["trigger"] == "drift"
    assert signal.extra["features"] == FEATURES[:4]
    evidence = signal.extra["evidence"]
    assert evidence["record_range"] == [2000, 4000]
    assert evidence["persistence"] == {
        "rows": 2000,
        "seconds": None,
        "required_rows": 2000,
        "required_seconds": None,
    }
    assert evidence["features"]["f0"]["effect_size"] == pytest.approx(2.0)
    assert signal.extra["lineage"]["baseline"] == {
        "location": "s3://models/churn/baseline",
        "identity": "b1",
    }
    # past the cool-down (10,000 rows after 4,000), the drift that went on is signalled again
    later = feed(p, range(14_000, 15_000, HOP), n=4)
    assert decisions(later) == [("retrain", None, 14_000), ("deferred", COOLING_DOWN, 14_500)]
    assert later[0].extra["idempotency_key"] != signal.extra["idempotency_key"]
    assert_every_event_is_a_decision(events + later)


def test_the_key_is_the_same_for_the_same_evidence() -> None:
    keys = [
        [
            e.extra["idempotency_key"]
            for e in feed(policy(), range(2000, 5000, HOP), n=4)
            if e.extra["decision"] == "retrain"
        ]
        for _ in range(2)
    ]
    assert keys[0] == keys[1] and len(keys[0]) == 1


def test_drift_below_the_effect_size_is_deferred_with_its_reason() -> None:
    p = policy(min_effect_size=3.0)
    events = feed(p, range(2000, 6000, HOP), n=6, effect=1.5)
    assert decisions(events) == [("deferred", BELOW_EFFECT_SIZE, 2000)]
    assert events[0].value == 0.0  # no material feature
    strong = feed(p, range(6000, 9000, HOP), n=6, effect=4.0)
    assert [d[:2] for d in decisions(strong)][:2] == [
        ("deferred", NOT_PERSISTENT),
        ("retrain", None),
    ]


def test_weights_make_an_important_feature_count_more() -> None:
    # f0 alone is 1/10 of the features, below 0.3; weighing 5 of 14 it is above
    light = feed(policy(), range(0, 5000, HOP), n=1)
    heavy = feed(policy(weights={"f0": 5.0}), range(0, 5000, HOP), n=1)
    assert light == []
    assert [d[:2] for d in decisions(heavy)] == [
        ("deferred", NOT_PERSISTENT),
        ("retrain", None),
        ("deferred", COOLING_DOWN),
    ]
    assert heavy[1].value == pytest.approx(5 / 14)
    assert heavy[1].extra["evidence"]["features"]["f0"]["weight"] == 5.0
    with pytest.raises(PolicyError, match=r"retrain\.weights: no feature 'nope'"):
        policy(weights={"nope": 2.0})


def test_persistence_in_minutes_of_inference_time() -> None:
    # one row a second: 2,000 rows are 2,000 s, short of the hour asked for
    p = policy(persistence_seconds=3600)
    events = feed(p, range(0, 4500, HOP), n=4, seconds_per_row=1.0)
    assert decisions(events) == [("deferred", NOT_PERSISTENT, 0), ("retrain", None, 4000)]
    assert events[1].extra["evidence"]["persistence"]["seconds"] == 4000.0


def test_the_budget_holds_per_24_hours_of_inference_time() -> None:
    # a row every 10 s: 8,640 rows a day; no cool-down, so only the budget holds signals back
    p = policy(cooldown_rows=0, max_signals_per_day=2)
    events = feed(p, range(0, 8500, HOP), n=4, seconds_per_row=10.0)
    assert decisions(events) == [
        ("deferred", NOT_PERSISTENT, 0),
        ("retrain", None, 2000),
        ("deferred", NOT_PERSISTENT, 2500),
        ("retrain", None, 4500),
        ("deferred", NOT_PERSISTENT, 5000),
        ("deferred", OVER_BUDGET, 7000),
    ]
    assert events[3].extra["evidence"]["budget"]["left"] == 0
    assert events[5].extra["policy"]["budget"] == {
        "max_signals_per_day": 2,
        "left": 0,
        "clock": "inference_time",
    }
    # a day after the first signal (row 2,000 + 8,640), the budget has room again
    after = feed(p, range(8500, 11_500, HOP), n=4, seconds_per_row=10.0)
    assert [d for d in decisions(after) if d[0] == "retrain"] == [("retrain", None, 11_000)]


def test_without_inference_time_the_budget_counts_wall_clock_days() -> None:
    now = [1e9]
    p = RetrainPolicy(
        RetrainSettings(persistence_rows=0, cooldown_rows=0, max_signals_per_day=1),
        FEATURES,
        baseline_identity="b1",
        config_identity="c1",
        endpoint="churn",
        clock=lambda: now[0],
    )
    first = feed(p, [0, 500, 1000], n=4)
    assert decisions(first) == [("retrain", None, 0), ("deferred", OVER_BUDGET, 500)]
    assert first[1].extra["policy"]["budget"]["clock"] == "wall_clock"
    now[0] += 86_401
    assert decisions(feed(p, [1500], n=4)) == [("retrain", None, 1500)]


def test_a_quality_breach_retrains_with_little_drift() -> None:
    p = policy(quality={"thresholds": {"accuracy": {"below": 0.8}}})
    assert feed(p, range(0, 3000, HOP), n=1) == []  # one feature: no drift candidate
    signal = p.observe_event(quality_event(0.72, record=3100), 3101, stamp(3100))
    assert signal is not None
    assert (signal.extra["decision"], signal.extra["trigger"]) == ("retrain", "quality")
    assert (signal.value, signal.threshold) == (0.72, 0.8)
    assert signal.extra["features"] == ["f0"]  # the little drift there was
    breach = signal.extra["evidence"]["quality_breach"]
    assert (breach["metric"], breach["value"], breach["policy_threshold"]) == (
        "accuracy",
        0.72,
        {"below": 0.8, "above": None},
    )
    assert signal.extra["evidence"]["quality"][0]["metric"] == "accuracy"
    # then the cool-down holds a second breach, with its reason
    again = p.observe_event(quality_event(0.70, record=4000), 4001, None)
    assert again is not None and (again.extra["decision"], again.reason) == (
        "deferred",
        COOLING_DOWN,
    )


def test_quality_alarms_the_thresholds_do_not_confirm_are_deferred() -> None:
    p = policy(quality={"thresholds": {"accuracy": {"below": 0.8}}})
    within = p.observe_event(quality_event(0.82, record=100), 101, None)
    online = p.observe_event(quality_event(7.5, 200, EventKind.DRIFT), 201, None)
    for e in (within, online):
        assert e is not None
        assert (e.extra["decision"], e.reason, e.extra["trigger"]) == (
            "deferred",
            QUALITY_WITHIN_THRESHOLD,
            "quality",
        )
    # a metric without a threshold: any model-quality alarm, unless alarms are off
    f1 = policy().observe_event(quality_event(0.5, 300, metric="f1"), 301, None)
    assert f1 is not None and f1.extra["decision"] == "retrain"
    off = policy(quality={"alarms": False}).observe_event(quality_event(0.5, 300), 301, None)
    assert off is not None and off.reason == QUALITY_ALARMS_OFF


def test_bias_events_are_context_not_triggers() -> None:
    p = policy(persistence_rows=0)
    bias = Event(
        EventKind.VIOLATION,
        record_index=10,
        detector="bias_drift",
        value=0.4,
        threshold=0.1,
        extra={"metric": "DPPL", "facet": "c0=a"},
    )
    assert p.observe_event(bias, 11, None) is None
    (signal,) = feed(p, [500], n=4)
    assert signal.extra["evidence"]["bias"] == [
        {
            "detector": "bias_drift",
            "metric": "DPPL",
            "facet": "c0=a",
            "value": 0.4,
            "threshold": 0.1,
            "record_index": 10,
            "inference_time": None,
        }
    ]


def test_the_state_round_trips_through_its_checked_schema() -> None:
    """Checkpoint mid-stream (in cool-down, budget spent, a deferral emitted, context kept):
    the restored policy decides exactly what the uninterrupted one does."""
    settings: dict[str, Any] = {
        "cooldown_rows": 3000,
        "cooldown_seconds": 600.0,
        "max_signals_per_day": 3,
    }
    whole = policy(**settings)
    p = policy(**settings)
    first = feed(p, range(0, 5000, HOP), n=4, seconds_per_row=1.0)
    p.observe_event(quality_event(0.9, 4000), 4001, None)
    whole_first = feed(whole, range(0, 5000, HOP), n=4, seconds_per_row=1.0)
    whole.observe_event(quality_event(0.9, 4000), 4001, None)
    assert decisions(first) == decisions(whole_first)

    saved = json.loads(json.dumps(p.state_dict(), allow_nan=False))
    checked = parse(PolicyState, saved, "policy")
    restored = policy(**settings)
    restored.load_state(checked.model_dump())
    assert restored.state_dict() == p.state_dict()
    rest = feed(restored, range(5000, 20_000, HOP), n=4, seconds_per_row=1.0)
    expected = feed(whole, range(5000, 20_000, HOP), n=4, seconds_per_row=1.0)
    assert [e.to_dict() for e in rest] == [e.to_dict() for e in expected]
    assert any(e.extra["decision"] == "retrain" for e in rest)


def test_a_checkpoint_of_the_first_policy_still_loads() -> None:
    old = {"streak_row": 10, "streak_record": 12, "streak_time": None, "cooldown_until": 500}
    checked = parse(PolicyState, old, "policy")
    p = policy()
    p.load_state(checked.model_dump())
    assert p.state_dict()["cooldown_until"] == 500 and p.state_dict()["signal_seconds"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"deferred": "bored"}, r"policy: deferred: Input should be"),
        ({"signal_seconds": [float("inf")]}, r"policy: signal_seconds\[0\]"),
        ({"signal_seconds": ["1"]}, r"policy: signal_seconds\[0\]: Input should be a valid number"),
        ({"context": [["model_quality_check", "accuracy"]]}, r"policy: context\[0\]"),
        (
            {"drifted": [["f0", "adwin", 1.0, 0.5, -1]]},
            r"policy: drifted\[0\]\[4\]: Input should be greater",
        ),
    ],
)
def test_a_wrong_policy_state_is_refused_naming_the_key(
    change: dict[str, Any], message: str
) -> None:
    state = {**policy().state_dict(), **change}
    with pytest.raises(StateError, match=message):
        parse(PolicyState, state, "policy")
