"""`driftstream replay --resume` (streamer/app/resume.py): a replay interrupted by SIGKILL or
SIGINT and then resumed writes exactly the events of one uninterrupted replay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftstream.streamer.app import resume
from driftstream.streamer.app.build import REPLAY_GROUP
from driftstream.streamer.checkpoint.base import Partition
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines, training_csv

DRIFTSTREAM = [sys.executable, "-m", "driftstream.streamer.app.cli"]
SCENARIO = Scenario(
    "resume",
    30_000,
    (
        Change("mean_shift", "balance", 12_000, 0.5),
        Change("category_mix", "country", 20_000, 0.3),
    ),
    seed=5,
)
NOT_JSON = (b"not json at all", "invalid_json")
SHORT_ROW = (b'{"captureData":{"endpointInput":{"data":"1,2,3","encoding":"CSV"}}}', "column_count")
KILL_AFTER = 4_000  # interrupt once a checkpoint covers at least this many records
# record index -> (damaged line, the reason it is rejected for): before KILL_AFTER (events the
# resumed replay keeps and counts), after the drift (events it writes), and every 250 records
# in between, so that a replay interrupted there has most likely written events of records
# after its last checkpoint (events the resumed replay must cut)
DAMAGED = {
    700: NOT_JSON,
    2_500: SHORT_ROW,
    3_100: (b"{not json either", "invalid_json"),
    **{i: (NOT_JSON, SHORT_ROW)[i // 250 % 2] for i in range(4_250, 11_750, 250)},
    16_000: (b'{"captureData":{"endpointInput":{"data":"4,5","encoding":"CSV"}}}', "column_count"),
    27_000: (b"plain text, not a record", "invalid_json"),
}
#: the interrupted replays' pace: the recorded 300 s of traffic in ~15 s, so they are still
#: running when a checkpoint at KILL_AFTER appears
SPEED = SCENARIO.n_records * SCENARIO.seconds_between / 15
CONFIG = "batch_size: 500\ncheckpoint:\n  every_records: 2000\n"
TIMEOUT = 300  # seconds; generous: nothing below depends on timing beyond it


@dataclass(frozen=True)
class Inputs:
    capture: Path
    baseline: Path
    config: Path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSTREAM__")}


def _replay_args(inputs: Inputs, events_out: Path, *extra: str) -> list[str]:
    return [
        *DRIFTSTREAM,
        "replay",
        str(inputs.capture),
        "--baseline",
        str(inputs.baseline),
        "--events-out",
        str(events_out),
        "--metrics-port",
        "0",
        *extra,
    ]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _events(path: Path) -> list[dict[str, Any]]:
    """Every line of an events file, the summary's wall-clock `seconds` removed, and its
    `trace`, which covers the resumed run only (_trace)."""
    events = [json.loads(line) for line in path.read_bytes().splitlines()]
    for event in events:
        if event["kind"] == "summary":
            del event["seconds"]
            event.pop("trace", None)
    return events


def _trace(path: Path) -> dict[tuple[str, str], list[list[float]]]:
    """The last summary's trace: points by (feature, detector)."""
    summary = json.loads(path.read_bytes().splitlines()[-1])
    return {(s["feature"], s["detector"]): s["points"] for s in summary["trace"]["series"]}


def _assert_trace_continues(resumed: Path, reference: Path, offset: int) -> None:
    """A resumed replay's trace is the uninterrupted run's from the checkpoint on (the runs
    are short enough that no series was halved)."""
    want = {key: [p for p in points if p[0] >= offset] for key, points in _trace(reference).items()}
    got = _trace(resumed)
    assert got.keys() == want.keys()
    assert got == want
    assert all(points for points in got.values())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("resume")
    lines = list(capture_lines(SCENARIO))
    for index, (line, _) in DAMAGED.items():
        lines[index] = line
    capture = root / "capture.jsonl"
    capture.write_bytes(b"".join(line + b"\n" for line in lines))
    (root / "training.csv").write_text(training_csv(20_000, seed=1))
    done = _run(
        [
            *DRIFTSTREAM,
            "baseline",
            "training.csv",
            "--out",
            "baseline",
            "--label-column",
            "prediction",
        ],
        root,
    )
    assert done.returncode == 0, done.stderr
    config = root / "resume.yaml"
    config.write_text(CONFIG)
    return Inputs(capture, root / "baseline", config)


@pytest.fixture(scope="module")
def reference_file(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The events file of one uninterrupted replay (no config: the default batch size)."""
    root = tmp_path_factory.mktemp("reference")
    events_out = root / "ref.jsonl"
    done = _run(_replay_args(inputs, events_out), root)
    assert done.returncode == 0, done.stderr
    assert not resume.checkpoint_dir(events_out).exists()
    events = _events(events_out)
    # what the comparison covers: rejections and drift on both sides of the interruption
    rejected = [(e["record_index"], e["reason"]) for e in events if e["kind"] == "rejected"]
    assert rejected == [(i, reason) for i, (_, reason) in sorted(DAMAGED.items())]
    assert any(e["kind"] == "drift" and e["record_index"] >= 12_000 for e in events)
    summary = events[-1]
    assert summary["kind"] == "summary"
    assert summary["records_read"] == SCENARIO.n_records
    assert summary["records_used"] == SCENARIO.n_records - len(DAMAGED)
    assert summary["records_rejected"] == dict(Counter(r for _, r in DAMAGED.values()))
    assert "interrupted" not in summary  # read to the end
    return events_out


@pytest.fixture(scope="module")
def reference(reference_file: Path) -> list[dict[str, Any]]:
    return _events(reference_file)


def _checkpointed(inputs: Inputs, events_out: Path) -> int | None:
    """The record index the interrupted replay's last checkpoint ends at (None: none yet)."""
    partition = Partition(str(inputs.capture), 0)
    return resume.resume_offset(events_out, REPLAY_GROUP, partition)


def _last_record_index(events_out: Path) -> int:
    """The highest record index among the complete lines of an events file being written."""
    last = -1
    if events_out.exists():
        for line in events_out.read_bytes().split(b"\n")[:-1]:
            last = max(last, json.loads(line).get("record_index", -1))
    return last


def _interrupt_now(inputs: Inputs, events_out: Path) -> bool:
    """A checkpoint covers KILL_AFTER records and events of later records were written."""
    offset = _checkpointed(inputs, events_out)
    return offset is not None and offset >= KILL_AFTER and _last_record_index(events_out) >= offset


def _wait_for(predicate: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the replay exited ({proc.returncode}) before {what}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}")


def _interrupt(inputs: Inputs, events_out: Path, signum: int) -> int:
    """Start a paced replay with checkpoints, send `signum` once `_interrupt_now`; the exit
    status."""
    log = events_out.with_suffix(".log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _replay_args(inputs, events_out, "--config", str(inputs.config), "--speed", str(SPEED)),
            cwd=events_out.parent,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_for(
            lambda: _interrupt_now(inputs, events_out),
            proc,
            f"a checkpoint at record {KILL_AFTER} or later, and events after it",
        )
        proc.send_signal(signum)
        return proc.wait(TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _resume(inputs: Inputs, events_out: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        _replay_args(inputs, events_out, "--config", str(inputs.config), "--resume"),
        events_out.parent,
    )


@pytest.mark.slow
def test_resume_after_sigkill_writes_the_events_of_one_run(
    inputs: Inputs, reference: list[dict[str, Any]], reference_file: Path, tmp_path: Path
) -> None:
    events_out = tmp_path / "events.jsonl"
    assert _interrupt(inputs, events_out, signal.SIGKILL) == -signal.SIGKILL
    offset = _checkpointed(inputs, events_out)
    assert offset is not None and KILL_AFTER <= offset < SCENARIO.n_records

    done = _resume(inputs, events_out)
    assert done.returncode == 0, done.stderr
    assert _events(events_out) == reference
    _assert_trace_continues(events_out, reference_file, offset)
    assert not resume.checkpoint_dir(events_out).exists()


@pytest.mark.slow
def test_resume_after_sigint_writes_the_events_of_one_run(
    inputs: Inputs, reference: list[dict[str, Any]], reference_file: Path, tmp_path: Path
) -> None:
    events_out = tmp_path / "events.jsonl"
    assert _interrupt(inputs, events_out, signal.SIGINT) == 130  # as shells report a Ctrl-C
    # stopped, not finished: the checkpoint stays for --resume, after the run's summary
    assert resume.checkpoint_dir(events_out).is_dir()
    offset = _checkpointed(inputs, events_out)
    assert offset is not None and KILL_AFTER <= offset < SCENARIO.n_records
    stopped = _events(events_out)[-1]
    assert stopped["kind"] == "summary"
    assert stopped["records_read"] == offset
    assert stopped["interrupted"] is True

    done = _resume(inputs, events_out)
    assert done.returncode == 0, done.stderr
    assert _events(events_out) == reference
    _assert_trace_continues(events_out, reference_file, offset)
    assert not resume.checkpoint_dir(events_out).exists()


@pytest.mark.slow
def test_resume_without_a_checkpoint_replays_from_the_start(
    inputs: Inputs, reference: list[dict[str, Any]], tmp_path: Path
) -> None:
    events_out = tmp_path / "events.jsonl"
    done = _resume(inputs, events_out)
    assert done.returncode == 0, done.stderr
    assert _events(events_out) == reference
    assert not resume.checkpoint_dir(events_out).exists()


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode() + b"\n"


def test_cut_events_keeps_the_events_before_the_offset_and_counts_them(tmp_path: Path) -> None:
    kept = [
        {"kind": "rejected", "record_index": 3, "reason": "invalid_json", "detail": "x"},
        {"kind": "drift", "record_index": 10, "feature": "age", "detector": "adwin"},
        {"kind": "rejected", "record_index": 12, "reason": "column_count", "detail": "y"},
        {"kind": "rejected", "record_index": 15, "reason": "invalid_json", "detail": "z"},
        {"kind": "violation", "record_index": 19, "feature": "age"},
        {"kind": "retrain_signal", "record_index": 19, "idempotency_key": "k"},
    ]
    beyond = [
        {"kind": "drift", "record_index": 20, "feature": "balance"},
        {"kind": "rejected", "record_index": 23, "reason": "invalid_json", "detail": "w"},
    ]
    summary = {"kind": "summary", "records_read": 25, "seconds": 1.5}
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"".join(_line(e) for e in [*kept, *beyond, summary]) + b'{"kind": "drift", "record_'
    )

    counts = resume.cut_events(path, 20)

    assert path.read_bytes() == b"".join(_line(e) for e in kept)
    assert counts.records_read == 20
    assert counts.records_used == 17
    assert counts.rejected == Counter({"invalid_json": 2, "column_count": 1})
    assert counts.events == Counter(
        {"rejected": 3, "drift": 1, "violation": 1, "retrain_signal": 1}
    )


def test_cut_events_drops_the_summary_of_a_stopped_run(tmp_path: Path) -> None:
    """A replay stopped by SIGINT checkpointed everything it read, then wrote its summary."""
    kept = [
        {"kind": "rejected", "record_index": 4, "reason": "truncated", "detail": "x"},
        {"kind": "drift", "record_index": 30, "feature": "age"},
    ]
    summary = {"kind": "summary", "records_read": 40, "records_used": 39, "seconds": 0.2}
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(_line(e) for e in [*kept, summary]))

    counts = resume.cut_events(path, 40)

    assert path.read_bytes() == b"".join(_line(e) for e in kept)
    assert (counts.records_read, counts.records_used) == (40, 39)
    assert counts.rejected == Counter({"truncated": 1})
    assert counts.events == Counter({"rejected": 1, "drift": 1})


def test_cut_events_without_an_events_file_is_an_error_naming_it(tmp_path: Path) -> None:
    # the counts before the checkpoint live only in the events file: without it, no summary of
    # the whole stream could be right
    with pytest.raises(resume.ResumeError, match=r"missing\.jsonl.*record 12.*without --resume"):
        resume.cut_events(tmp_path / "missing.jsonl", 12)
    assert not (tmp_path / "missing.jsonl").exists()
