"""The constraint-report Watcher: which records make a window, when it closes, where its report
goes, its events, rejected records in the column checks, and its checkpointed state."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
import pytest

from driftstream.detectors.base import Document
from driftstream.detectors.baseline import Baseline
from driftstream.detectors.constraints import ConstraintReports, WindowSpec
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.state import StateError
from driftstream.streamer.decode.base import FeatureLayout
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_line, capture_lines

VIOLATIONS = "constraint_violations.json"


def reports(baseline: Baseline, window: str) -> ConstraintReports:
    layout = FeatureLayout.from_baseline(baseline)
    return ConstraintReports(baseline, layout.numeric, layout.categorical, WindowSpec.parse(window))


def run(
    watcher: ConstraintReports,
    baseline: Baseline,
    lines: Sequence[bytes],
    batch: int = 128,
    *,
    start: int = 0,
    finish: bool = True,
) -> tuple[list[Event], list[Document]]:
    decoder = CaptureDecoder(baseline)
    events: list[Event] = []
    documents: list[Document] = []
    for i in range(start, len(lines), batch):
        events += watcher.process(decoder.decode(list(lines[i : i + batch]), i), 0)
        documents += watcher.documents()
    if finish:
        events += watcher.finish()
        documents += watcher.documents()
    return events, documents


def retimed(lines: Iterable[bytes], times: Sequence[str | None]) -> list[bytes]:
    """The capture lines with these inferenceTimes (None: no eventMetadata at all)."""
    out = []
    for line, time in zip(lines, times, strict=False):
        record = orjson.loads(line)
        if time is None:
            del record["eventMetadata"]
        else:
            record["eventMetadata"]["inferenceTime"] = time
        out.append(orjson.dumps(record))
    return out


def folders(documents: Sequence[Document]) -> list[str]:
    return [d.path.removesuffix("/" + VIOLATIONS) for d in documents if d.path.endswith(VIOLATIONS)]


def item_counts(documents: Sequence[Document]) -> list[int]:
    return [
        d.content["dataset"]["item_count"] for d in documents if d.path.endswith("statistics.json")
    ]


def test_time_windows_close_when_a_later_record_arrives(synthetic_baseline: Baseline) -> None:
    # 600 records 0.2 s apart: 300 in 00:00, 300 in 00:01; age far off its baseline throughout
    scenario = Scenario("w", 600, (Change("mean_shift", "age", 0, 3.0),), seconds_between=0.2)
    lines = list(capture_lines(scenario))
    watcher = reports(synthetic_baseline, "1m")
    events, documents = run(watcher, synthetic_baseline, lines, finish=False)
    assert folders(documents) == ["2026/11/01/00/00"]  # the second is still open
    assert item_counts(documents) == [300]
    drift = [e for e in events if (e.feature, e.detector) == ("age", "baseline_drift_check")]
    assert [(e.kind, e.record_index, e.inference_time) for e in drift] == [
        (EventKind.VIOLATION, 300, "2026-11-01T00:01:00Z")  # the record that closed it
    ]
    assert drift[0].extra == {
        "window_start": "2026-11-01T00:00:00Z",
        "window_records": [0, 299],
        "report": "2026/11/01/00/00/constraint_violations.json",
    }
    assert drift[0].value is not None and drift[0].threshold == 0.1
    violations = documents[0].content["violations"]
    assert {"feature_name": "age", "constraint_check_type": "baseline_drift_check"}.items() <= (
        next(v for v in violations if v["feature_name"] == "age").items()
    )
    assert len([e for e in events if e.kind is EventKind.VIOLATION]) == len(violations)

    last = watcher.finish()  # the end of the stream closes the last one
    assert folders(watcher.documents()) == ["2026/11/01/00/01"]
    assert {e.record_index for e in last} == {599}
    assert watcher.finish() == []


def test_late_and_untimed_records_join_the_window_in_progress(
    synthetic_baseline: Baseline,
) -> None:
    times = [
        None,  # before any time: the first window's
        "2026-11-01T00:00:10Z",
        "2026-11-01T00:01:05Z",  # closes 00:00
        "2026-11-01T00:00:50Z",  # late: joins 00:01
        None,  # joins 00:01
        "not a time",  # unreadable: as if absent
        "2026-11-01T00:02:00Z",  # closes 00:01
    ]
    lines = retimed(capture_lines(Scenario("late", len(times))), times)
    _, documents = run(reports(synthetic_baseline, "1m"), synthetic_baseline, lines, batch=2)
    assert folders(documents) == ["2026/11/01/00/00", "2026/11/01/00/01", "2026/11/01/00/02"]
    assert item_counts(documents) == [2, 4, 1]


def test_windows_under_a_minute_get_a_seconds_folder(synthetic_baseline: Baseline) -> None:
    times = ["2026-11-01T00:00:05Z", "2026-11-01T00:00:35Z", "2026-11-01T00:01:10Z"]
    lines = retimed(capture_lines(Scenario("s", 3)), times)
    _, documents = run(reports(synthetic_baseline, "30s"), synthetic_baseline, lines)
    assert folders(documents) == ["2026/11/01/00/00", "2026/11/01/00/00/30", "2026/11/01/00/01"]


def test_record_windows_close_on_their_last_record(synthetic_baseline: Baseline) -> None:
    # 100 records a second: three 1000-record windows start in the same minute
    lines = list(capture_lines(Scenario("r", 2500, (Change("mean_shift", "age", 0, 3.0),))))
    events, documents = run(reports(synthetic_baseline, "1000r"), synthetic_baseline, lines, 700)
    assert folders(documents) == [
        "2026/11/01/00/00",
        "2026/11/01/00/00/records-1000",
        "2026/11/01/00/00/records-2000",
    ]
    assert item_counts(documents) == [1000, 1000, 500]
    age = [e for e in events if e.feature == "age"]
    assert [(e.record_index, e.extra["window_records"]) for e in age] == [
        (999, [0, 999]),
        (1999, [1000, 1999]),
        (2499, [2000, 2499]),
    ]
    assert age[1].extra["window_start"] == "2026-11-01T00:00:10Z"  # its first record's time

    # a record a minute apart from the next window: one minute folder each
    spaced = list(capture_lines(Scenario("r", 2500, seconds_between=0.06)))
    _, documents = run(reports(synthetic_baseline, "1000r"), synthetic_baseline, spaced, 700)
    assert folders(documents) == ["2026/11/01/00/00", "2026/11/01/00/01", "2026/11/01/00/02"]

    # records without any inferenceTime: filed at the epoch, then apart by first record
    untimed = retimed(capture_lines(Scenario("u", 25)), [None] * 25)
    _, documents = run(reports(synthetic_baseline, "10r"), synthetic_baseline, untimed, 7)
    assert folders(documents) == [
        "1970/01/01/00/00",
        "1970/01/01/00/00/records-10",
        "1970/01/01/00/00/records-20",
    ]


SHORT = capture_line("1,2,3", "0.5", "short", "2026-11-01T00:00:01Z")
LONG = capture_line(",".join(["1"] * 15), "0.5", "long", "2026-11-01T00:00:01Z")


def test_records_with_the_wrong_column_count_are_column_violations(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    """Through the monitor: the decoder rejects them, the watcher counts them, a batch of
    nothing but rejected records included."""
    base = make_monitor()
    watcher = reports(synthetic_baseline, "1h")
    monitor = Monitor(
        base.baseline,
        base.numeric_columns,
        base.categorical_columns,
        base.settings,
        watchers=[watcher],
    )
    decoder = CaptureDecoder(synthetic_baseline)
    lines = list(capture_lines(Scenario("c", 400)))
    monitor.process(decoder.decode(lines[:200], 0))
    only_rejected = decoder.decode([SHORT, LONG, SHORT], 200)
    assert only_rejected.n_rows == 0
    assert [r.columns for r in only_rejected.rejections] == [3, 15, 3]
    monitor.process(only_rejected)
    monitor.process(decoder.decode(lines[203:], 203))
    events = monitor.finish()
    documents = monitor.take_documents()
    columns = {
        e.detector: e
        for e in events
        if e.detector in ("missing_column_check", "extra_column_check")
    }
    missing, extra = columns["missing_column_check"], columns["extra_column_check"]
    # three of the 13 inputs came: the 4th, tenure_days, is the first missing
    assert (missing.feature, missing.value) == ("tenure_days", 2 / 400)
    assert (extra.feature, extra.value) == ("_c14", 1 / 400)  # 1 output + 13 inputs before it
    assert missing.record_index == 399
    (report,) = [d for d in documents if d.path.endswith(VIOLATIONS)]
    assert {v["constraint_check_type"] for v in report.content["violations"]} >= {
        "missing_column_check",
        "extra_column_check",
    }


@pytest.mark.parametrize("window", ["1m", "700r"])
def test_a_restored_watcher_goes_on_as_if_never_stopped(
    synthetic_baseline: Baseline, window: str
) -> None:
    """Checkpointed in the middle of a window (through JSON), restored in a fresh watcher: the
    same events and the same files, statistics and sketches included."""
    lines = list(
        capture_lines(
            Scenario("cp", 3000, (Change("mean_shift", "age", 1500, 1.0),), seconds_between=0.05)
        )
    )
    whole = run(reports(synthetic_baseline, window), synthetic_baseline, lines, 256)

    first = reports(synthetic_baseline, window)
    events, documents = run(first, synthetic_baseline, lines[:1280], 256, finish=False)
    state = json.loads(json.dumps(first.state_dict()))
    second = reports(synthetic_baseline, window)
    second.load_state(state)
    more_events, more_documents = run(second, synthetic_baseline, lines, 256, start=1280)
    assert events + more_events == whole[0]
    assert [(d.path, d.content) for d in documents + more_documents] == [
        (d.path, d.content) for d in whole[1]
    ]


def test_a_state_it_cannot_be_in_is_refused_whole(synthetic_baseline: Baseline) -> None:
    watcher = reports(synthetic_baseline, "1000r")
    run(watcher, synthetic_baseline, list(capture_lines(Scenario("s", 1500))), finish=False)
    good = json.loads(json.dumps(watcher.state_dict()))
    before = copy.deepcopy(watcher.state_dict())

    def refused(state: Any, match: str) -> None:
        fresh = reports(synthetic_baseline, "1000r")
        with pytest.raises(StateError, match=match):
            fresh.load_state(state)
        assert fresh.state_dict()["open"] is None  # nothing changed

    with pytest.raises(StateError, match="cut windows of 1000r, this run 3600s"):
        reports(synthetic_baseline, "1h").load_state(good)
    refused({"window": "1000r"}, "latest_time")
    tampered = copy.deepcopy(good)
    tampered["open"]["profile"]["rows"] += 1
    refused(tampered, "do not add to rows")
    tampered = copy.deepcopy(good)
    tampered["open"]["profile"]["numeric"]["age"]["values"]["sketch"]["levels"][0] = "%%%"
    refused(tampered, "not base64")
    tampered = copy.deepcopy(good)
    tampered["open"]["profile"]["categorical"]["device"]["counts"]["ios"] += 5
    refused(tampered, "adding up")
    assert watcher.state_dict() == before
