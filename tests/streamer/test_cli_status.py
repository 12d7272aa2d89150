"""What `driftstream` tells its caller (streamer/app/cli.py): an exit status that says whether
any record could be used, /metrics served by a replay only when asked and where, and `--help`
and `--version` that answer without loading the monitoring stack."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from driftstream.streamer.sources.synthetic import Scenario, capture_lines, training_csv
from tests import services

DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "captures"
TIMEOUT = 300  # seconds; generous for a loaded machine, nothing depends on it but a failure


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DRIFTSTREAM, *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("status")
    (root / "training.csv").write_text(training_csv(20_000, seed=1))
    done = cli(
        "baseline", "training.csv", "--out", "baseline", "--label-column", "prediction", cwd=root
    )
    assert done.returncode == 0, done.stderr
    return root / "baseline"


# -- start-up -------------------------------------------------------------------------------

HEAVY = ("numpy", "scipy", "numba", "pydantic", "structlog", "prometheus_client", "boto3", "kafka")


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_and_version_load_nothing_heavy(option: str) -> None:
    """They answer at once because they import only the standard library (before, --help
    loaded numpy, pydantic, boto3's settings and the baseline code: most of a second)."""
    probe = (
        "import sys\n"
        "from driftstream.streamer.app.cli import main\n"
        "try:\n"
        f"    main([{option!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"
    if option == "--version":
        assert done.stdout.startswith("driftstream ")
    else:
        assert "{baseline,replay,run,demo,report,signals}" in done.stdout


# -- exit status ----------------------------------------------------------------------------


def test_a_replay_that_could_use_no_record_exits_1_with_one_line(
    baseline_dir: Path, tmp_path: Path
) -> None:
    rng = random.Random(3)
    garbage = [
        b"\xff" + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        for _ in range(900)
    ]
    lines = [line.replace(b"\n", b" ") for line in garbage] + [b'{"eventVersion":"0"}'] * 100
    rng.shuffle(lines)
    (tmp_path / "random.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    done = cli(
        "replay", "random.jsonl", "--baseline", str(baseline_dir), "--events-out", "e.jsonl",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "driftstream: failed: no record could be used: 1000 read, 1000 rejected "
        "(invalid_json 900, not_a_capture 100)"
    ]
    # the events say why, record by record, as for any replay
    assert (tmp_path / "e.jsonl").read_text().count('"kind":"rejected"') == 1000


def test_a_replay_against_the_wrong_baseline_exits_1_naming_the_reason(
    baseline_dir: Path, tmp_path: Path
) -> None:
    # the churn sample has 69 input columns; the baseline has 13 and the prediction
    sample = SAMPLES / "examples_mm_intro_capture_csv.jsonl"
    done = cli(
        "replay", str(sample), "--baseline", str(baseline_dir), "--events-out", "e.jsonl",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "driftstream: failed: no record could be used: 3 read, 3 rejected (column_count 3)"
    ]


# -- /metrics -------------------------------------------------------------------------------


def _listening_ports(pid: int) -> set[int]:
    """TCP ports process `pid` listens on (its socket inodes, found in /proc/net/tcp[6])."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _ports_while_replaying(baseline: Path, tmp_path: Path, *extra: str) -> tuple[set[int], str]:
    """The ports a paced replay listens on once it processes records; its stderr."""
    # 100 s of recorded traffic at 100x: a second or more of processing; the first line is
    # damaged, so its `rejected` event marks the start of processing in the events file
    lines = list(capture_lines(Scenario("metrics", 10_000, seconds_between=0.01)))
    lines[0] = b"not json"
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    events, log = tmp_path / "e.jsonl", tmp_path / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [DRIFTSTREAM, "replay", "c.jsonl", "--baseline", str(baseline), "--events-out",
             str(events), "--speed", "100", *extra],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (events.exists() and events.read_bytes().startswith(b'{"kind":"rejected"')):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the replay never started processing"
            time.sleep(0.01)
        ports = _listening_ports(proc.pid)
        assert proc.wait(TIMEOUT) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return ports, log.read_text()


def test_a_replay_serves_metrics_only_when_asked_and_says_where(
    baseline_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "plain").mkdir()
    ports, err = _ports_while_replaying(baseline_dir, tmp_path / "plain")
    assert ports == set()  # before, it served on 9108 unasked (or warned that 9108 was taken)
    assert "metrics on" not in err and "metrics_disabled" not in err

    (tmp_path / "asked").mkdir()
    (tmp_path / "asked" / "m.yaml").write_text("metrics:\n  port: 0\n")
    ports, err = _ports_while_replaying(baseline_dir, tmp_path / "asked", "--config", "m.yaml")
    (port,) = ports
    assert f"driftstream: metrics on http://127.0.0.1:{port}/metrics" in err.splitlines()


def test_a_busy_metrics_port_is_one_line_naming_it_exit_2(
    baseline_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(capture_lines(Scenario("busy", 100))) + b"\n")
    port = services.free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = cli(
            "replay", "c.jsonl", "--baseline", str(baseline_dir), "--events-out", "e.jsonl",
            "--metrics-port", str(port), cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("driftstream: error: ")
    assert f"127.0.0.1:{port}" in line
    assert not (tmp_path / "e.jsonl").exists()
