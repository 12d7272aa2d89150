"""The bias-drift watcher on decoded capture streams: a facet's positive rate falls while the
overall rate stays (detected, never before the change), a stationary stream (never), its files,
its readings and its checkpointed state."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from driftstream.detectors.base import Document
from driftstream.detectors.baseline import Baseline, build_baseline
from driftstream.detectors.bias import (
    BiasConfigError,
    BiasDrift,
    build_bias_baseline,
    load_bias_drift_baseline,
)
from driftstream.detectors.bias.analysis import parse_analysis
from driftstream.detectors.constraints.window import WindowSpec
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.state import StateError
from driftstream.streamer.decode.capture import CaptureDecoder
from tests.detectors.bias.streams import SHARES, capture_lines, draw, training_csv, write_config

BATCH = 4096


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Baseline]:
    """A baseline of 20,000 training rows, bias facets c0=a and every value of c0."""
    root = tmp_path_factory.mktemp("bias")
    data = root / "training.csv"
    data.write_text(training_csv(20_000, seed=1))
    baseline = build_baseline(data, root / "base", label_column="prediction")
    config = write_config(
        root / "bias.json",
        facet=[{"name_or_index": "c0", "value_or_threshold": ["a"]}, {"name_or_index": "c0"}],
    )
    build_bias_baseline(data, root / "base", config, baseline, label_column="prediction")
    return root / "base", baseline


def _watcher(folder: tuple[Path, Baseline], window: str) -> BiasDrift:
    directory, baseline = folder
    numeric = tuple(f.name for f in baseline.features if f.is_numeric)
    categorical = tuple(f.name for f in baseline.features if not f.is_numeric)
    return BiasDrift(
        load_bias_drift_baseline(directory, baseline),
        numeric,
        categorical,
        WindowSpec.parse(window),
    )


def _run(
    watcher: BiasDrift, baseline: Baseline, lines: Sequence[bytes], start: int = 0
) -> tuple[list[Event], list[Document]]:
    decoder = CaptureDecoder(baseline)
    events: list[Event] = []
    documents: list[Document] = []
    rows = 0
    for first in range(start, len(lines), BATCH):
        batch = decoder.decode(lines[first : first + BATCH], first)
        events += watcher.process(batch, rows)
        rows += batch.n_rows
        documents += watcher.documents()
    return events, documents


def test_a_facet_whose_positive_rate_falls_while_the_overall_rate_stays_is_caught(
    folder: tuple[Path, Baseline],
) -> None:
    n, change = 100_000, 52_500
    c0, _, score = draw(n, seed=9, change_at=change)
    positive = score > 0.5
    # the scenario is what it claims: the overall positive rate does not move ...
    assert positive[:change].mean() == pytest.approx(0.5, abs=0.01)
    assert positive[change:].mean() == pytest.approx(0.5, abs=0.01)
    # ... while c0=a's falls
    facet_a = np.asarray(c0) == "a"
    assert positive[change:][facet_a[change:]].mean() == pytest.approx(0.3, abs=0.02)

    watcher = _watcher(folder, "5000r")
    events, documents = _run(watcher, folder[1], capture_lines(n, seed=9, change_at=change))
    events += watcher.finish()
    documents += watcher.documents()

    assert events, "the fall of c0=a's positive rate must be detected"
    assert all(e.kind is EventKind.DRIFT and e.detector == "bias_drift" for e in events)
    assert all(e.record_index is not None and e.record_index >= change for e in events)
    first = min(e.record_index for e in events if e.record_index is not None)
    # windows close every 5,000 records: the first after the change closes at 54,999 with
    # half of its records changed; the next, all changed, at 59,999
    assert first in (54_999, 59_999)
    print(f"bias drift detected at record {first}: {first - change} records after the change")
    caught = {(e.extra["metric"], e.extra["facet"]) for e in events if e.record_index == 59_999}
    assert {("DPPL", "c0=a"), ("DI", "c0=a")} <= caught
    dppl = next(e for e in events if e.extra["facet"] == "c0=a" and e.extra["metric"] == "DPPL")
    # DPPL = q_a - q_d: the other rows' rate (0.5·0.62 + 0.2·0.5)/0.7 ≈ 0.586 minus a's 0.3
    assert dppl.value is not None and dppl.threshold is not None
    assert dppl.value > dppl.threshold > 0
    lo, hi = dppl.extra["interval"]
    assert dppl.threshold < lo <= dppl.value <= hi
    assert dppl.extra["baseline_value"] == pytest.approx(0.0, abs=0.03)
    # c0=c never moved
    assert not any(e.extra["facet"] == "c0=c" for e in events)

    # one analysis.json and one constraint_violations.json per window, violations empty before
    # the change, Clarify's entries after it
    paths = [d.path for d in documents]
    assert len(paths) == 2 * (n // 5000)
    assert all(
        re.fullmatch(
            r"\d{4}/\d\d/\d\d/\d\d/\d\d(/records-\d+)?/model_bias/"
            r"(analysis|constraint_violations)\.json",
            p,
        )
        for p in paths
    )
    reports = [d for d in documents if d.path.endswith("constraint_violations.json")]
    assert [r.content["violations"] for r in reports[:10]] == [[]] * 10
    after = reports[11].content
    assert after["version"] == "1.0"
    assert any(
        v["facet"] == "c0"
        and v["facet_value"] == "a"
        and v["metric_name"] == "DPPL"
        and v["constraint_check_type"] == "bias_drift_check"
        and re.fullmatch(
            r"Metric value 0\.[23]\d* doesn't meet the baseline constraint requirement -?0\.0\d*",
            v["description"],
        )
        for v in after["violations"]
    )
    analyses = [d for d in documents if d.path.endswith("/analysis.json")]
    window = parse_analysis(json.loads(json.dumps(analyses[11].content)), "window")
    by_value = {f.value_or_threshold: f for f in window.facets}
    assert by_value["a"].metric("DPPL").value == pytest.approx(0.286, abs=0.03)

    readings = watcher.readings()
    statistic, threshold = readings[("DPPL[c0=a]", "bias_drift")]
    assert statistic > threshold


def test_a_stationary_stream_of_200k_records_raises_nothing(
    folder: tuple[Path, Baseline],
) -> None:
    # 100 windows of 2,000 records, 4 facet groups, 2 metrics: 800 tests, small windows
    watcher = _watcher(folder, "2000r")
    events, documents = _run(watcher, folder[1], capture_lines(200_000, seed=21))
    events += watcher.finish()
    assert events == []
    reports = [d for d in documents if d.path.endswith("constraint_violations.json")]
    assert len(reports) == 100
    assert all(r.content == {"version": "1.0", "violations": []} for r in reports)
    assert len(watcher.readings()) == 2 * len(SHARES)  # c0=a is named twice, tested once


def test_hour_windows_follow_inference_time_and_the_last_closes_at_the_end(
    folder: tuple[Path, Baseline],
) -> None:
    # one record a second: 9,000 records are 2.5 hours, three windows (the last by finish)
    watcher = _watcher(folder, "1h")
    events, documents = _run(watcher, folder[1], capture_lines(9_000, seed=4))
    assert [d.path for d in documents] == [
        "2026/11/01/00/00/model_bias/analysis.json",
        "2026/11/01/00/00/model_bias/constraint_violations.json",
        "2026/11/01/01/00/model_bias/analysis.json",
        "2026/11/01/01/00/model_bias/constraint_violations.json",
    ]
    assert watcher.finish() == []
    assert [d.path for d in watcher.documents()] == [
        "2026/11/01/02/00/model_bias/analysis.json",
        "2026/11/01/02/00/model_bias/constraint_violations.json",
    ]
    assert events == []


def test_a_restored_watcher_goes_on_as_if_never_stopped(folder: tuple[Path, Baseline]) -> None:
    lines = capture_lines(30_000, seed=9, change_at=5_000)
    whole = _watcher(folder, "7000r")
    expected, expected_docs = _run(whole, folder[1], lines)

    first = _watcher(folder, "7000r")
    events, docs = _run(first, folder[1], lines[: 3 * BATCH])
    state = json.loads(json.dumps(first.state_dict()))
    assert state["window"] is not None  # a window is open at the cut
    second = _watcher(folder, "7000r")
    second.load_state(state)
    more, more_docs = _run(second, folder[1], lines, start=3 * BATCH)
    assert events + more == expected
    assert [d.path for d in docs + more_docs] == [d.path for d in expected_docs]
    assert expected, "the change must be caught for this comparison to mean anything"


def test_a_bad_state_changes_nothing(folder: tuple[Path, Baseline]) -> None:
    watcher = _watcher(folder, "5000r")
    _run(watcher, folder[1], capture_lines(2_000, seed=2))
    state = watcher.state_dict()
    broken = json.loads(json.dumps(state))
    broken["window"]["counts"][0] = [5, 9, 0, 0]
    with pytest.raises(StateError, match="more positive than rows"):
        watcher.load_state(broken)
    other = json.loads(json.dumps(state))
    other["groups"] = ["c0=z"]
    with pytest.raises(StateError, match="facet groups"):
        watcher.load_state(other)
    with pytest.raises(StateError, match="bias_drift"):
        watcher.load_state({"window": "open"})
    assert watcher.state_dict() == state


def test_a_clarify_analysis_without_counts_is_a_baseline_too(
    folder: tuple[Path, Baseline], tmp_path: Path
) -> None:
    directory, baseline = folder
    for name in ("statistics.json", "constraints.json", "analysis.json"):
        (tmp_path / name).write_bytes((directory / name).read_bytes())
    loaded = load_bias_drift_baseline(tmp_path, baseline)
    assert all(m.counts is None for g in loaded.groups for m in g.baseline.values())
    # without analysis_config.json the score is read as a label: a Fractional output with the
    # single label "1" is a continuous label, positive above 1 (Clarify's rule)
    assert loaded.positive.label_threshold == 1.0
    # a facet that is not a feature of the baseline is refused, one line
    doc = json.loads((directory / "analysis.json").read_text())
    doc["post_training_bias_metrics"]["facets"]["zip"] = doc["post_training_bias_metrics"][
        "facets"
    ]["c0"]
    (tmp_path / "analysis.json").write_text(json.dumps(doc))
    with pytest.raises(BiasConfigError, match="facet 'zip' is not an input feature"):
        load_bias_drift_baseline(tmp_path, baseline)
