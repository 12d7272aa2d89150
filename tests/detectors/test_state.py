"""Checkpointed monitor state that is valid JSON but wrong: the documented error, or a restore.

Issue 13: of 13 hand-made wrong states, 2 raised unhandled errors, 1 was accepted silently, and
with `engine: river` 3 made river's Rust code panic. Every case here must raise StateError with
one line naming the key at fault and leave the monitor as it was, with either engine.
"""

from __future__ import annotations

import base64
import copy
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftstream.detectors.adwin import _RIVER_HEADER, RiverADWIN
from driftstream.detectors.baseline import Baseline
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.settings import CalibrationSettings, DetectorSettings, WindowSettings
from driftstream.detectors.state import StateError
from driftstream.streamer.decode.base import FeatureLayout
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines

ENGINES = ("batched", "river")
WINDOW = WindowSettings(size=600, hop=200)  # small windows: small states, quick examples
RECORDS = 1500
# changes late enough that the state holds recent alarms and breached checks
CHANGES = (
    Change("mean_shift", "age", 1200, 3.0),
    Change("missing", "plan", 1200, 0.5),
    Change("category_mix", "country", 1200, 0.5),
)
Doc = dict[str, Any]


def fresh_monitor(baseline: Baseline, cache: Path, engine: str) -> Monitor:
    layout = FeatureLayout.from_baseline(baseline)
    settings = DetectorSettings(
        engine=engine,
        window=WINDOW,
        calibration=CalibrationSettings(samples=300_000, cache_dir=cache),
    )
    return Monitor(baseline, layout.numeric, layout.categorical, settings, endpoint="test")


@pytest.fixture(scope="module")
def monitors(synthetic_baseline: Baseline, calibration_cache: Path) -> dict[str, Monitor]:
    """A fresh monitor per engine; tests work on deep copies, as the host does."""
    return {e: fresh_monitor(synthetic_baseline, calibration_cache, e) for e in ENGINES}


@pytest.fixture(scope="module")
def saved(monitors: dict[str, Monitor], synthetic_baseline: Baseline) -> dict[str, Doc]:
    """Each engine's state after RECORDS records, as a checkpoint carries it (JSON)."""
    decoder = CaptureDecoder(synthetic_baseline)
    lines = list(capture_lines(Scenario("state", RECORDS, CHANGES)))
    out: dict[str, Doc] = {}
    for engine, fresh in monitors.items():
        monitor = copy.deepcopy(fresh)
        for start in range(0, RECORDS, 500):
            monitor.process(decoder.decode(lines[start : start + 500], start))
        out[engine] = orjson.loads(orjson.dumps(monitor.state_dict()))
        assert out[engine]["active"], "the cases need a breached check"
        assert any(out[engine]["alarms"].values()), "the cases need a recent alarm"
    return out


def river_window(doc: Doc, change: Callable[[bytearray], bytes]) -> None:
    """Rewrite age's river ADWIN window bytes with `change`."""
    state = adwin(doc)
    raw = bytearray(base64.b64decode(state["window"]))
    state["window"] = base64.b64encode(change(raw)).decode()


def set_header(raw: bytearray, index: int, value: object) -> bytes:
    fields = list(_RIVER_HEADER.unpack_from(raw))
    fields[index] = value
    _RIVER_HEADER.pack_into(raw, 0, *fields)
    return bytes(raw)


def first_alarm(doc: Doc) -> list[Any]:
    return next(alarms for alarms in doc["alarms"].values() if alarms)[0]


def _tail_short(doc: Doc) -> None:
    for part in doc["tail"].values():
        part.pop()


def adwin(doc: Doc) -> Doc:
    return doc["sequential"]["age"]["adwin"]  # type: ignore[no-any-return]


def page_hinkley(doc: Doc) -> Doc:
    return doc["sequential"]["age"]["page_hinkley"]  # type: ignore[no-any-return]


COMMON: list[tuple[str, Callable[[Doc], object], str]] = [
    ("version as text", lambda d: d.update(version="1"), r"version '1' is not 1"),
    ("version true", lambda d: d.update(version=True), r"version True is not 1"),
    ("rows_seen true", lambda d: d.update(rows_seen=True), r"rows_seen: .*valid integer, got True"),
    ("rows_seen negative", lambda d: d.update(rows_seen=-1), r"rows_seen: .*greater than or equal"),
    ("an unknown key", lambda d: d.update(note=1), r"note: Extra inputs are not permitted"),
    ("no policy", lambda d: d.pop("policy"), r"monitor state: policy: Field required"),
    ("another baseline", lambda d: d.update(baseline="0123"), r"made with baseline '0123'"),
    ("tail a row short", _tail_short, r"tail: 599 rows, expected 600 \(rows_seen 1500"),
    ("tail parts disagree", lambda d: d["tail"]["time"].pop(), r"tail: .*one entry per row"),
    (
        "a value as text",
        lambda d: d["tail"]["numeric"][5].__setitem__(0, "12.5"),
        r"tail\.numeric\[5\]\[0\]: Input should be a valid number, got '12.5'",
    ),
    ("a row without a value", lambda d: d["tail"]["numeric"][5].pop(), r"tail\.numeric: every"),
    (
        "a category code beyond the categories",
        lambda d: d["tail"]["categorical"][3].__setitem__(0, 999),
        r"tail\.categorical: a code of '\w+' beyond its \d+ categories",
    ),
    (
        "records going back",
        lambda d: d["tail"]["record"].__setitem__(-1, 0),
        r"tail: record indices must not decrease",
    ),
    (
        "a breached check this monitor lacks",
        lambda d: d["active"].append(["age", "cusum", "drift", 1.0, 0.5]),
        r"active\[\d+\]: this monitor has no 'cusum' check",
    ),
    (
        "a breached check twice",
        lambda d: d["active"].append(list(d["active"][0])),
        r"active\[\d+\]: .* twice",
    ),
    (
        "a kind no check has",
        lambda d: d["active"][0].__setitem__(2, "summary"),
        r"active\[0\]\[2\]",
    ),
    ("an alarm of no feature", lambda d: d["alarms"].update(zip=[]), r"alarms: 'zip' is not"),
    (
        "an alarm beyond rows_seen",
        lambda d: first_alarm(d).__setitem__(0, 1500),
        r"an alarm of '\w+' lies beyond rows_seen 1500",
    ),
    ("a feature without state", lambda d: d["sequential"].pop("age"), r"no state for .*'age'"),
    (
        "an unregistered detector",
        lambda d: d["sequential"]["age"].update(cusum={}),
        r"sequential\['age'\]: no detector 'cusum' is registered",
    ),
    (
        "Page-Hinkley's count negative",
        lambda d: page_hinkley(d)["state"].__setitem__(0, -4.0),
        r"sequential\['age'\]: page_hinkley state: state\[0\], the count of values",
    ),
    (
        "Page-Hinkley's sums beyond their extremes",
        lambda d: page_hinkley(d)["state"].__setitem__(4, 1e9),
        r"page_hinkley state: the sums must lie within their extremes",
    ),
    (
        "a drift flag of 1",
        lambda d: page_hinkley(d).update(drift_detected=1),
        r"page_hinkley state: drift_detected: Input should be a valid boolean, got 1",
    ),
    (
        "half a retrain streak",
        lambda d: d["policy"].update(streak_row=5, streak_record=None),
        r"policy: streak_row and streak_record are set together",
    ),
    (
        "a cool-down as text",
        lambda d: d["policy"].update(cooldown_until="soon"),
        r"policy\.cooldown_until: Input should be a valid integer, got 'soon'",
    ),
]
BATCHED: list[tuple[str, Callable[[Doc], object], str]] = [
    (
        "ADWIN's width off by one",
        lambda d: adwin(d).update(width=adwin(d)["width"] + 1),
        r"adwin state: not a window ADWIN can have: it needs a width equal",
    ),
    (
        "more buckets than a level holds",
        lambda d: adwin(d)["counts"].__setitem__(0, 6),
        r"it needs at most max_buckets = 5 buckets a level",
    ),
    (
        "a bucket row too long",
        lambda d: adwin(d)["totals"][0].append(0.0),
        r"it needs rows of max_buckets \+ 1 = 6",
    ),
    (
        "a total its buckets do not add up to",
        lambda d: adwin(d).update(total=1e6),
        r"it needs a total equal to its buckets' totals",
    ),
]
RIVER: list[tuple[str, Callable[[Doc], object], str]] = [
    (
        "a window that is not base64",
        lambda d: adwin(d).update(window="***"),
        r"adwin state: window: not river's ADWIN window",
    ),
    (
        "a window a byte short",
        lambda d: river_window(d, lambda raw: bytes(raw[:-1])),
        r"adwin state: window: not river's ADWIN window .*bytes after the buckets",
    ),
    (
        "a window of 2**40 levels",  # read as is, river would allocate them or panic
        lambda d: river_window(d, lambda raw: set_header(raw, 13, 2**40)),
        r"adwin state: window: not river's ADWIN window .*1099511627776 levels",
    ),
    (
        "a window whose width its buckets do not hold",
        lambda d: river_window(d, lambda raw: set_header(raw, 7, 3.0)),
        r"it needs a width equal to the values its buckets hold",
    ),
    (
        "a negative tick",
        lambda d: river_window(d, lambda raw: set_header(raw, 11, -5)),
        r"it needs a width of at most tick = -5 values",
    ),
]
CASES = [(e, *case) for e in ENGINES for case in COMMON] + [
    *(("batched", *case) for case in BATCHED),
    *(("river", *case) for case in RIVER),
]


@pytest.mark.parametrize(
    ("engine", "name", "mutate", "message"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES]
)
def test_a_wrong_state_is_refused_in_one_line_and_changes_nothing(
    monitors: dict[str, Monitor],
    saved: dict[str, Doc],
    engine: str,
    name: str,
    mutate: Callable[[Doc], object],
    message: str,
) -> None:
    monitor = copy.deepcopy(monitors[engine])
    monitor.load_state(saved[engine])
    before = orjson.dumps(monitor.state_dict())
    wrong = copy.deepcopy(saved[engine])
    mutate(wrong)
    with pytest.raises(StateError, match=message) as raised:
        monitor.load_state(wrong)
    assert "\n" not in str(raised.value)
    assert orjson.dumps(monitor.state_dict()) == before


@pytest.mark.parametrize("engine", ENGINES)
def test_a_saved_state_restores_exactly(
    monitors: dict[str, Monitor], saved: dict[str, Doc], engine: str
) -> None:
    monitor = copy.deepcopy(monitors[engine])
    monitor.load_state(copy.deepcopy(saved[engine]))
    assert orjson.loads(orjson.dumps(monitor.state_dict())) == saved[engine]


def test_river_adwin_restores_the_window_under_its_own_parameters() -> None:
    """river's window carries ADWIN's parameters; the detector's own (the configured ones)
    are what it runs with after a restore, as with the batched engine, whose state has none."""
    donor = RiverADWIN(delta=0.5, clock=4)
    for i in range(400):
        donor.update(float(i % 7))
    detector = RiverADWIN(delta=0.002, clock=32)
    detector.load_state(donor.state_dict())
    raw = detector._river._helper.__getstate__()
    header = _RIVER_HEADER.unpack_from(raw)
    assert header[:2] == (0.002, 32)
    assert (
        header[5:] == _RIVER_HEADER.unpack_from(base64.b64decode(donor.state_dict()["window"]))[5:]
    )
    assert struct.unpack_from("<d", raw, len(raw) - 28) == (0.002,)
