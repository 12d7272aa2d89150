"""`driftstream replay --violations-out DIR --violations-window W` end to end, as a user runs it:
Model Monitor's reports per window, clean before a drift and violated after it, statistics that
`driftstream baseline`'s reader reads, and the violations as events."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from driftstream.detectors.baseline import load_baseline
from driftstream.streamer.sources.synthetic import (
    Change,
    Scenario,
    capture_line,
    capture_lines,
    training_csv,
)

DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")
DRIFT_AT = 3000
#: a record with three input columns of the baseline's thirteen, in the drifted part
SHORT_AT = 4500
SHORT = capture_line("1,2,3", "0.5", "short", "2026-11-01T00:04:30Z")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DRIFTSTREAM, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline of generated training data, and 6,000 captured records a minute apart per
    thousand (0.06 s each) whose `age` moves by 1 σ from record 3,000 on."""
    root = tmp_path_factory.mktemp("violations")
    (root / "training.csv").write_text(training_csv(20_000, seed=1))
    done = cli(
        "baseline", "training.csv", "--out", "baseline", "--label-column", "prediction", cwd=root
    )
    assert done.returncode == 0, done.stderr
    scenario = Scenario(
        "mm", 6000, (Change("mean_shift", "age", DRIFT_AT, 1.0),), seconds_between=0.06
    )
    lines = list(capture_lines(scenario))
    lines[SHORT_AT] = SHORT
    (root / "capture.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return root


def replay(workspace: Path, out: str, window: str) -> list[dict[str, Any]]:
    done = cli(
        "replay",
        "capture.jsonl",
        "--baseline",
        "baseline",
        "--events-out",
        f"{out}.jsonl",
        "--violations-out",
        out,
        "--violations-window",
        window,
        cwd=workspace,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in (workspace / f"{out}.jsonl").read_text().splitlines()]


def reports(root: Path) -> dict[str, dict[str, Any]]:
    """Each window folder (relative, '/'-separated) and its constraint_violations.json."""
    return {
        path.parent.relative_to(root).as_posix(): json.loads(path.read_text())
        for path in sorted(root.rglob("constraint_violations.json"))
    }


def test_record_windows(workspace: Path) -> None:
    events = replay(workspace, "by-records", "1000r")
    root = workspace / "by-records"
    found = reports(root)
    minutes = [f"2026/11/01/00/{m:02d}" for m in range(6)]
    assert list(found) == minutes
    # the two files in each window's folder, nothing else anywhere
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [
        f"{minute}/{name}"
        for minute in minutes
        for name in ("constraint_violations.json", "statistics.json")
    ]

    # clean before the drift: the file is there, with an empty list
    for minute in minutes[:3]:
        assert found[minute] == {"violations": []}
    for minute in minutes[3:]:
        checks = {
            (v["feature_name"], v["constraint_check_type"]) for v in found[minute]["violations"]
        }
        assert ("age", "baseline_drift_check") in checks
        assert all(
            set(v) == {"feature_name", "constraint_check_type", "description"}
            for v in found[minute]["violations"]
        )
    # the short record: its window reports the missing columns
    missing = [
        v
        for v in found[minutes[4]]["violations"]
        if v["constraint_check_type"] == "missing_column_check"
    ]
    assert [v["feature_name"] for v in missing] == ["tenure_days"]
    assert not any(
        v["constraint_check_type"] == "missing_column_check"
        for v in found[minutes[3]]["violations"]
    )

    # every window's statistics are a baseline `driftstream baseline`'s reader reads
    names = [f.name for f in load_baseline(workspace / "baseline").features]
    for i, minute in enumerate(minutes):
        statistics = load_baseline(root / minute)
        assert [f.name for f in statistics.features] == names
        assert statistics.item_count == (999 if i == 4 else 1000)  # the short one is no row
    age = load_baseline(root / minutes[5]).feature("age").numeric
    assert age is not None and age.mean > 45  # the baseline's 40, moved by 1 σ (10)

    # one violation event per violation, at the window's last record
    violations = [e for e in events if e["kind"] == "violation" and "report" in e]
    for i, minute in enumerate(minutes):
        mine = [e for e in violations if e["report"] == f"{minute}/constraint_violations.json"]
        assert sorted((e["feature"], e["detector"]) for e in mine) == sorted(
            (v["feature_name"], v["constraint_check_type"]) for v in found[minute]["violations"]
        )
        assert {e["record_index"] for e in mine} <= {1000 * i + 999}
        assert all(e["window_records"] == [1000 * i, 1000 * i + 999] for e in mine)
        assert all(isinstance(e["value"], float) and "threshold" in e for e in mine)
    first = min(e["record_index"] for e in violations)
    assert first == 3999  # the first window after the drift, at its last record
    assert violations[0]["inference_time"] == "2026-11-01T00:03:59Z"
    assert events[-1]["events"]["violation"] >= len(violations)


def test_duration_windows(workspace: Path) -> None:
    events = replay(workspace, "by-time", "2m")
    root = workspace / "by-time"
    found = reports(root)
    assert list(found) == ["2026/11/01/00/00", "2026/11/01/00/02", "2026/11/01/00/04"]
    assert found["2026/11/01/00/00"] == {"violations": []}
    late = {
        (v["feature_name"], v["constraint_check_type"])
        for v in found["2026/11/01/00/04"]["violations"]
    }
    assert {("age", "baseline_drift_check"), ("tenure_days", "missing_column_check")} <= late
    assert [load_baseline(root / m).item_count for m in found] == [2000, 2000, 1999]
    closing = {
        e["report"]: e["record_index"] for e in events if e["kind"] == "violation" and "report" in e
    }
    # a window closes on the first record of the next (or at the end of the stream)
    assert closing["2026/11/01/00/04/constraint_violations.json"] == 5999
    if "2026/11/01/00/02/constraint_violations.json" in closing:
        assert closing["2026/11/01/00/02/constraint_violations.json"] == 4000


def test_a_window_that_is_not_one_is_a_usage_error(workspace: Path) -> None:
    done = cli(
        "replay",
        "capture.jsonl",
        "--baseline",
        "baseline",
        "--violations-out",
        "x",
        "--violations-window",
        "5x",
        cwd=workspace,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "driftstream: error: --violations-window: '5x' is not a window: expected a duration "
        "(30s, 5m, 1h, 1d) or a record count (10000r)"
    ]
    done = cli(
        "replay",
        "capture.jsonl",
        "--baseline",
        "baseline",
        "--violations-window",
        "1h",
        cwd=workspace,
    )
    assert done.returncode == 2
    assert "--violations-window needs --violations-out" in done.stderr


def _events(path: Path) -> list[dict[str, Any]]:
    """The events, without the summary's wall-clock seconds and trace (as the resume tests)."""
    events = [json.loads(line) for line in path.read_text().splitlines()]
    for event in events:
        if event["kind"] == "summary":
            del event["seconds"]
            event.pop("trace", None)
    return events


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _same(resumed: object, reference: object) -> bool:
    """Equal, but for the last digits of sums, means and standard deviations, which depend on
    how the records were batched (docs/model-monitor-reports.md), as a baseline's do."""
    if isinstance(reference, dict) and isinstance(resumed, dict):
        return resumed.keys() == reference.keys() and all(
            _same(resumed[k], reference[k]) for k in reference
        )
    if isinstance(reference, list) and isinstance(resumed, list):
        return len(resumed) == len(reference) and all(map(_same, resumed, reference))
    if isinstance(reference, float) and isinstance(resumed, float):
        return resumed == pytest.approx(reference, rel=1e-12, abs=1e-12)
    return resumed == reference


def test_an_interrupted_and_resumed_replay_writes_the_same_reports(workspace: Path) -> None:
    """Ctrl-C in the middle of a window: that window is checkpointed open, not written; the
    resumed replay writes it whole, and every file and event is one uninterrupted run's."""
    from driftstream.streamer.app import resume
    from driftstream.streamer.app.build import REPLAY_GROUP
    from driftstream.streamer.checkpoint.base import Partition

    replay(workspace, "reference", "1000r")
    (workspace / "paced.yaml").write_text("batch_size: 300\ncheckpoint:\n  every_records: 900\n")
    args = [
        DRIFTSTREAM,
        "replay",
        str(workspace / "capture.jsonl"),  # names the replay's partition
        "--baseline",
        "baseline",
        "--config",
        "paced.yaml",
        "--events-out",
        "resumed.jsonl",
        "--violations-out",
        "resumed",
        "--violations-window",
        "1000r",
    ]
    partition = Partition(str(workspace / "capture.jsonl"), 0)

    def checkpointed() -> int | None:
        return resume.resume_offset(workspace / "resumed.jsonl", REPLAY_GROUP, partition)

    # the recorded 360 s in about 12 s: still running at the second checkpoint
    proc = subprocess.Popen([*args, "--speed", "30"], cwd=workspace, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while (checkpointed() or 0) < 1800:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no checkpoint at record 1800 in 300 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(300) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    offset = checkpointed()
    assert offset is not None and offset < 6000
    open_window = f"2026/11/01/00/{offset // 1000:02d}"
    written = reports(workspace / "resumed")
    assert list(written) == [f"2026/11/01/00/{m:02d}" for m in range(offset // 1000)]
    assert offset % 1000 == 0 or open_window not in written  # the open one waits

    done = cli(*args[1:], "--resume", cwd=workspace)
    assert done.returncode == 0, done.stderr
    resumed, reference = _files(workspace / "resumed"), _files(workspace / "reference")
    assert resumed.keys() == reference.keys()
    for path, content in reference.items():
        if path.endswith("constraint_violations.json"):
            assert resumed[path] == content, path
        else:
            assert _same(json.loads(resumed[path]), json.loads(content)), path
    assert _events(workspace / "resumed.jsonl") == _events(workspace / "reference.jsonl")
