"""`python -m driftstream.streamer.app.prepare`: kernels compiled ahead, a starter baseline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from driftstream.detectors.baseline import load_baseline
from driftstream.streamer.app.demo import write_demo_baseline
from driftstream.streamer.app.prepare import prepare_baseline
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines, training_csv

DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")


@pytest.mark.slow
def test_after_prepare_kernels_a_replay_compiles_nothing(tmp_path: Path) -> None:
    """The kernels step compiles into an empty numba cache; a replay of other data (13
    features, drift, malformed lines) then loads every kernel from it and compiles none."""
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        "NUMBA_DEBUG_CACHE": "1",  # numba prints each cache load and save on stdout
        "HOME": str(tmp_path),  # a cold calibration cache as well
        "DRIFTSTREAM__DETECTORS__CALIBRATION__SAMPLES": "50000",
    }

    def run(*command: str) -> str:
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    prepared = run(sys.executable, "-m", "driftstream.streamer.app.prepare", "kernels")
    assert "[cache] data saved to" in prepared  # it did compile, into the empty cache
    assert "kernels ready" in prepared

    (tmp_path / "training.csv").write_text(training_csv(3_000, seed=1))
    run(
        DRIFTSTREAM, "baseline", "training.csv", "--out", "baseline", "--label-column", "prediction"
    )
    changes = (Change("mean_shift", "age", 3_000, 1.0), Change("missing", "plan", 3_000, 0.3))
    lines = list(capture_lines(Scenario("prepare", 6_000, changes, seed=4)))
    lines[10] = b'{"captureData": {"endpointInput": {"data": "1,2'
    (tmp_path / "capture.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    replayed = run(
        DRIFTSTREAM, "replay", "capture.jsonl", "--baseline", "baseline", "--events-out", "ev.jsonl"
    )
    assert '"drift"' in (tmp_path / "ev.jsonl").read_text()
    assert "[cache] data loaded from" in replayed
    saved = [line for line in replayed.splitlines() if "[cache] data saved" in line]
    assert not saved, saved


def test_a_baseline_folder_without_one_gets_the_demos(tmp_path: Path) -> None:
    line = prepare_baseline(tmp_path / "out", source=None)
    assert load_baseline(tmp_path / "out").identity == write_demo_baseline(tmp_path / "d").identity
    assert "demo" in line


def test_a_baseline_already_there_is_kept_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "training.csv").write_text(
        "a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(2_500))
    )
    done = subprocess.run(
        [DRIFTSTREAM, "baseline", "training.csv", "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert "using" in prepare_baseline(tmp_path / "out", source=None)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
