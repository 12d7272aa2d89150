"""End to end through the installed `driftstream` command, as a user runs it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines, training_csv

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "captures"
DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DRIFTSTREAM, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def baseline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    (root / "training.csv").write_text(training_csv(20_000, seed=1))
    done = cli(
        "baseline", "training.csv", "--out", "baseline", "--label-column", "prediction", cwd=root
    )
    assert done.returncode == 0, done.stderr
    assert "14 features" in done.stdout
    return root / "baseline"


MALFORMED = {
    3: (b'{"captureData": {"endpointInput": {"data": "1,2', "truncated"),
    5: (b"not json at all", "invalid_json"),
    8: (b'{"captureData":{"endpointInput":{"data":"1,2,3","encoding":"CSV"}}}', "column_count"),
    9: (b'{"captureData":{"endpointInput":{"data":"%%%","encoding":"BASE64"}}}', "invalid_base64"),
    12: (b'{"eventVersion":"0"}', "not_a_capture"),
}


def _write_capture_tree(root: Path, lines: list[bytes]) -> None:
    """Split into two hour folders, written in reverse so order must come from the paths."""
    half = len(lines) // 2
    late = root / "ep" / "AllTraffic" / "2026" / "11" / "01" / "01"
    early = root / "ep" / "AllTraffic" / "2026" / "11" / "01" / "00"
    late.mkdir(parents=True)
    early.mkdir(parents=True)
    (late / "00-00-000-b.jsonl").write_bytes(b"\n".join(lines[half:]) + b"\n")
    with gzip.open(early / "59-00-000-a.jsonl.gz", "wb") as f:
        f.write(b"\n".join(lines[:half]) + b"\n")


def test_replay_folder_reports_drift_rejections_and_summary(
    baseline_dir: Path, tmp_path: Path
) -> None:
    lines = list(capture_lines(Scenario("e2e", 16_000, (Change("mean_shift", "age", 8000, 0.6),))))
    for index, (line, _) in MALFORMED.items():
        lines[index] = line
    _write_capture_tree(tmp_path / "capture", lines)
    done = cli(
        "replay",
        "capture",
        "--baseline",
        str(baseline_dir),
        "--events-out",
        "out/events.jsonl",
        "--metrics-port",
        "0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    events = read_events(tmp_path / "out" / "events.jsonl")

    rejected = [e for e in events if e["kind"] == "rejected"]
    assert [(e["record_index"], e["reason"]) for e in rejected] == [
        (i, reason) for i, (_, reason) in sorted(MALFORMED.items())
    ]
    assert all(e["detail"] for e in rejected)

    drift = [e for e in events if e["kind"] in ("drift", "violation")]
    assert drift, "the mean shift must be detected"
    assert {e["feature"] for e in drift} <= {"age", "prediction"}
    first = drift[0]
    assert 8000 <= first["record_index"] < 8500
    # record positions follow the time order of the hour folders, not the write order
    assert first["event_id"].endswith(f"{first['record_index']:012x}")

    summary = events[-1]
    assert summary["kind"] == "summary"
    assert summary["records_read"] == 16_000
    assert summary["records_used"] == 16_000 - len(MALFORMED)
    assert summary["records_rejected"] == {reason: 1 for _, reason in MALFORMED.values()}
    assert summary["events"]["rejected"] == len(MALFORMED)
    assert summary["events"]["drift"] == sum(e["kind"] == "drift" for e in events)
    assert summary["seconds"] > 0


def test_replay_is_deterministic(baseline_dir: Path, tmp_path: Path) -> None:
    scenario = Scenario("det", 12_000, (Change("category_mix", "device", 6000, 0.3),))
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(capture_lines(scenario)) + b"\n")
    outputs = []
    for name in ("a.jsonl", "b.jsonl"):
        done = cli(
            "replay",
            "c.jsonl",
            "--baseline",
            str(baseline_dir),
            "--events-out",
            name,
            "--metrics-port",
            "0",
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        outputs.append([e for e in read_events(tmp_path / name) if e["kind"] != "summary"])
    assert outputs[0] == outputs[1]
    assert any(e["feature"] == "device" for e in outputs[0])


def test_real_sagemaker_capture_replays_cleanly(tmp_path: Path) -> None:
    """The real churn capture sample, against a baseline of its own rows (no header)."""
    sample = SAMPLES / "examples_mm_intro_capture_csv.jsonl"
    rows = [
        json.loads(line)["captureData"]["endpointInput"]["data"]
        for line in sample.read_text().splitlines()
    ]
    (tmp_path / "train.csv").write_text("\n".join(rows * 50) + "\n")
    assert cli("baseline", "train.csv", "--no-header", "--out", "b", cwd=tmp_path).returncode == 0
    done = cli(
        "replay",
        str(sample),
        "--baseline",
        "b",
        "--events-out",
        "e.jsonl",
        "--metrics-port",
        "0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = read_events(tmp_path / "e.jsonl")[-1]
    assert summary["records_read"] == 3
    assert summary["records_used"] == 3
    assert summary["records_rejected"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "c.jsonl", "--events-out", "e.jsonl"], "no baseline"),
        (["replay", "missing.jsonl", "--baseline", "BASE"], "does not exist"),
        (
            ["replay", "c.jsonl", "--baseline", "BASE", "--config", "bad.yaml"],
            "detectors.window.hopp: unknown key",
        ),
        (["replay", "c.jsonl", "--baseline", "BASE", "--speed", "0"], "--speed must be > 0"),
        (["replay", "c.jsonl", "--baseline", "nowhere"], "nowhere"),
        (["baseline", "nothing.csv"], "nothing.csv"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    baseline_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(capture_lines(Scenario("u", 10))) + b"\n")
    (tmp_path / "bad.yaml").write_text("detectors:\n  window:\n    hopp: 3\n")
    args = [str(baseline_dir) if a == "BASE" else a for a in args]
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_a_damaged_file_is_one_rejection_and_the_replay_goes_on(
    baseline_dir: Path, tmp_path: Path
) -> None:
    """A truncated .jsonl.gz between two good files: its readable records are used, the rest
    is one `damaged_file` rejection naming the file and line, and the next file is read. No
    rejection quotes the records unless `decode.rejection_excerpts` asks for it."""
    lines = list(capture_lines(Scenario("damaged-file", 6000)))
    secret = b'{"captureData": {"endpointInput": {"data": "Ada Lovelace", "encoding": "XML"}}}'
    lines[5000] = secret
    hours = [tmp_path / "capture" / "2026" / "11" / "01" / h for h in ("00", "01", "02")]
    for hour in hours:
        hour.mkdir(parents=True)
    (hours[0] / "a.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines[:2000]) + b"\n"))
    broken = gzip.compress(b"\n".join(lines[2000:4000]) + b"\n")
    (hours[1] / "b.jsonl.gz").write_bytes(broken[: len(broken) // 2])
    (hours[2] / "c.jsonl").write_bytes(b"\n".join(lines[4000:]) + b"\n")
    (tmp_path / "excerpts.yaml").write_text("decode: {rejection_excerpts: true}\n")

    runs = {}
    for name, extra in (("plain", []), ("excerpts", ["--config", "excerpts.yaml"])):
        done = cli(
            "replay",
            "capture",
            "--baseline",
            str(baseline_dir),
            "--events-out",
            f"{name}.jsonl",
            "--metrics-port",
            "0",
            *extra,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        runs[name] = read_events(tmp_path / f"{name}.jsonl")

    events = runs["plain"]
    rejected = [e for e in events if e["kind"] == "rejected"]
    damaged, bad_record = rejected
    readable = damaged["record_index"] - 2000  # whole lines read from the truncated file
    assert 100 < readable < 2000
    assert damaged["reason"] == "damaged_file"
    assert damaged["detail"].startswith(
        "capture/2026/11/01/01/b.jsonl.gz: truncated gzip data (the stream ends before its "
        f"end marker) at line {readable + 1} (uncompressed byte "
    )
    # record indices count every line read: the damaged rest is one, then c.jsonl follows
    assert bad_record["record_index"] == 2000 + readable + 1 + 1000
    assert bad_record["reason"] == "unsupported_encoding"
    assert bad_record["detail"] == "endpointInput encoding is not CSV, JSON or BASE64"
    summary = events[-1]
    assert summary["records_read"] == 2000 + readable + 1 + 2000
    assert summary["records_used"] == summary["records_read"] - 2
    assert summary["records_rejected"] == {"damaged_file": 1, "unsupported_encoding": 1}
    assert "Lovelace" not in (tmp_path / "plain.jsonl").read_text()

    quoted = [e for e in runs["excerpts"] if e["kind"] == "rejected"]
    assert quoted[0] == damaged  # a file's damage quotes nothing either way
    assert quoted[1]["detail"] == bad_record["detail"] + ": 'XML'"
