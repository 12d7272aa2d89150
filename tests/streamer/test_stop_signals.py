"""Stop signals hold from driftstream's first instruction (streamer/app/cli.py, `StopSignals`):
a SIGTERM or a Ctrl-C that arrives while a command is still starting (loading modules,
calibrating, starting its monitor process) is a clean stop, never a death by the signal, and a
replay stopped before its first record leaves the last run's events file as it was.

"While starting" is made observable through /proc (Linux): a process's SigCgt mask says when it
handles SIGTERM, its memory maps say when it loaded numpy, and its children say when it started
its monitor process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from driftstream.streamer.app import resume
from driftstream.streamer.sources.synthetic import Scenario, capture_lines, training_csv
from tests import services

DRIFTSTREAM = [sys.executable, "-m", "driftstream.streamer.app.cli"]
TIMEOUT = 300  # seconds; generous for a loaded machine, nothing depends on it but a failure

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def _handles(pid: int, signum: int) -> bool:
    """The process has a handler for `signum` (SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _loaded(pid: int, library: str) -> bool:
    """A file whose path contains `library` is mapped into the process."""
    return f"/{library}/" in Path(f"/proc/{pid}/maps").read_text()


def _monitor_process_started(pid: int) -> bool:
    """The process has started its monitor process (multiprocessing's spawn child)."""
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline")
            if cmdline.exists() and b"spawn_main" in cmdline.read_bytes():
                return True
    return False


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSTREAM__")}
    return subprocess.Popen(
        [*DRIFTSTREAM, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: a Ctrl-C reaches it and its children
    )


def _when(proc: subprocess.Popen[str], condition: Callable[[int], bool], what: str) -> None:
    """Poll `condition(pid)` until it holds; fail if the process exits first."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            if condition(proc.pid):
                return
        except FileNotFoundError:  # /proc/PID went away: it exited
            pass
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"driftstream exited ({proc.returncode}) before {what}:\n{err}")
        time.sleep(0.002)
    proc.kill()
    raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


def _live_config(tmp_path: Path, baseline: Path, **changes: object) -> Path:
    """A live config whose broker never answers (nothing here gets as far as reading)."""
    tree: dict[str, object] = {
        "baseline": str(baseline),
        "sources": {
            "kafka": {
                "bootstrap_servers": f"127.0.0.1:{services.free_port()}",
                "topics": ["captures"],
                "group_id": "stop-signals",
            }
        },
        "checkpoint": {"directory": str(tmp_path / "checkpoints")},
        "metrics": {"port": 0},
        **changes,
    }
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stop-baseline")
    (root / "training.csv").write_text(training_csv(20_000, seed=1))
    done = subprocess.run(
        [*DRIFTSTREAM, "baseline", "training.csv", "--out", "b", "--label-column", "prediction"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return root / "b"


def test_sigterm_as_run_starts_is_a_clean_stop(tmp_path: Path) -> None:
    """SIGTERM at the first moment driftstream either handles it or is loading its libraries:
    before the handler came first, loading took a second or more during which SIGTERM killed
    the process (-15), as it did the last run of tests/integration/test_kafka_crash.py."""
    proc = _start(["run", "--config", str(_live_config(tmp_path, tmp_path / "nowhere"))], tmp_path)
    _when(
        proc,
        lambda pid: _handles(pid, signal.SIGTERM) or _loaded(pid, "numpy"),
        "SIGTERM handled or numpy loaded",
    )
    proc.send_signal(signal.SIGTERM)
    status, err = _finish(proc)
    assert status == 0, err
    assert "Traceback" not in err
    assert "event='stopped_before_start'" in err
    assert err.strip().splitlines()[-1].startswith("0 records read, 0 used, 0 rejected")


@pytest.mark.slow
def test_ctrl_c_while_the_monitor_process_starts_stops_run_cleanly(
    baseline: Path, tmp_path: Path
) -> None:
    """A Ctrl-C (SIGINT to the process group) as the monitor process is being started: the
    parent finishes starting it and stops (130); the child, which ignores stop signals from its
    first instruction, is not killed by it (before, it died and the run failed or hung)."""
    proc = _start(["run", "--config", str(_live_config(tmp_path, baseline))], tmp_path)
    _when(proc, _monitor_process_started, "the monitor process to start")
    os.killpg(proc.pid, signal.SIGINT)
    status, err = _finish(proc)
    assert status == 130, err
    assert "Traceback" not in err
    assert "monitor process" not in err  # MonitorHostError names it
    assert err.strip().splitlines()[-1].startswith("0 records read, 0 used, 0 rejected")


def test_replay_stopped_during_set_up_leaves_the_events_file_as_it_was(
    baseline: Path, tmp_path: Path
) -> None:
    """SIGTERM once driftstream handles it, before it read a record: the events file of the
    run before stays as it was (it used to be emptied during set-up, and then hold only this
    run's empty summary), and no checkpoint is left behind."""
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(capture_lines(Scenario("stop", 2000))) + b"\n")
    earlier = b'{"kind":"drift","record_index":5}\n{"kind":"summary","records_read":9}\n'
    events = tmp_path / "events.jsonl"
    events.write_bytes(earlier)
    proc = _start(
        ["replay", "c.jsonl", "--baseline", str(baseline), "--events-out", "events.jsonl"],
        tmp_path,
    )
    _when(proc, lambda pid: _handles(pid, signal.SIGTERM), "SIGTERM handled")
    proc.send_signal(signal.SIGTERM)
    status, err = _finish(proc)
    assert status == 0, err
    assert err.strip().splitlines() == [
        "driftstream: stopped before the first record; events.jsonl left as it was"
    ]
    assert events.read_bytes() == earlier
    assert not resume.checkpoint_dir(events).exists()
