"""`driftstream signals list|show ID|approve ID|reject ID [--config FILE] [--reason TEXT]`: what a
reviewer sees and does, the exit statuses, and two replays against one store (the second one a
restart) delivering an approved signal once and a rejected one never."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftstream.detectors.events import Event, EventKind
from driftstream.sinks.signals.base import Signal
from driftstream.sinks.signals.outbox import Outbox
from driftstream.streamer.app.cli import main
from driftstream.streamer.app.demo import demo_changes
from driftstream.streamer.sources.synthetic import Scenario, capture_lines, training_csv

DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")
K1, K2 = "a1" * 16, "b2" * 16


def signal(key: str, record: int) -> Signal:
    event = Event(
        EventKind.RETRAIN_SIGNAL,
        record_index=record,
        value=0.43,
        threshold=0.3,
        inference_time="2026-11-01T00:02:00Z",
        extra={
            "idempotency_key": key,
            "endpoint": "churn",
            "decision": "retrain",
            "trigger": "drift",
            "features": ["age", "country"],
            "evidence": {
                "features": {
                    "age": {
                        "detector": "page_hinkley",
                        "value": 41.5,
                        "threshold": 12.25,
                        "record_index": record - 900,
                        "effect_size": 41.5 / 12.25,
                        "weight": 2.0,
                        "material": True,
                    },
                    "country": {
                        "detector": "distribution",
                        "value": 0.21,
                        "threshold": 0.05,
                        "record_index": record,
                        "effect_size": 4.2,
                        "weight": 1.0,
                        "material": True,
                    },
                },
                "feature_share": 0.43,
                "min_feature_share": 0.3,
                "min_effect_size": 1.0,
                "record_range": [record - 2500, record],
                "time_range": ["2026-11-01T00:01:00Z", "2026-11-01T00:02:00Z"],
                "persistence": {
                    "rows": 2500,
                    "seconds": 60.0,
                    "required_rows": 2000,
                    "required_seconds": None,
                },
                "cooldown": {"rows": 100_000, "seconds": None},
                "budget": {"max_signals_per_day": 3, "left": 2, "clock": "inference_time"},
                "quality": [
                    {
                        "detector": "model_quality_check",
                        "metric": "accuracy",
                        "value": 0.81,
                        "threshold": 0.85,
                        "record_index": record - 100,
                        "inference_time": None,
                    }
                ],
                "bias": [
                    {
                        "detector": "bias_drift",
                        "metric": "DPPL",
                        "facet": "c0=a",
                        "value": 0.3,
                        "threshold": 0.1,
                        "record_index": record - 50,
                        "inference_time": None,
                    }
                ],
                "baseline": "6d98f91f1538e98d",
                "config": "c0nf1g",
            },
            "lineage": {
                "baseline": {"identity": "6d98f91f1538e98d", "location": "s3://m/baseline"},
                "config": "c0nf1g",
                "endpoint": "churn",
                "detectors": {
                    "driftstream": "0.1.0",
                    "registered": ["adwin", "page_hinkley"],
                    "watchers": ["model_quality"],
                },
            },
        },
    )
    return Signal.from_event(event, approval_required=True)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A config naming an outbox that holds two signals awaiting approval."""
    outbox = Outbox(tmp_path / "box")
    outbox.open()
    outbox.record(signal(K1, 12_000))
    outbox.record(signal(K2, 40_000))
    outbox.close()
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {"sinks": {"signal_outbox": "box", "signals": [{"type": "file", "path": "s"}]}}
        )
    )
    return config


def signals(config: Path, *args: str) -> int:
    return main(["signals", *args, "--config", str(config)])


def test_list_show_approve_reject(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "alice")
    assert signals(store, "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2 signals in ") and out[0].endswith(", 2 pending")
    assert [line.split()[:2] for line in out[2:]] == [[K1, "pending"], [K2, "pending"]]
    assert "age, country" in out[2] and "12,000" in out[2]

    assert signals(store, "show", K1[:8]) == 0
    shown = capsys.readouterr().out
    assert f"retrain signal {K1}" in shown
    assert f"pending: driftstream signals approve|reject {K1}" in shown
    lines = shown.splitlines()
    age = next(line for line in lines if line.split()[:2] == ["age", "page_hinkley"])
    assert age.split()[2:7] == ["41.5", "12.25", "3.388", "2", "11,100"]
    assert "weighted share 0.43 (signals at 0.3)" in shown
    assert "records 9,500 to 12,000, 2026-11-01T00:01:00Z to 2026-11-01T00:02:00Z" in shown
    assert "accuracy 0.81 (model_quality_check, threshold 0.85)" in shown
    assert "DPPL c0=a 0.3 (bias_drift, threshold 0.1)" in shown
    assert "persisted  2,500 rows, 60 s of inferenceTime (required 2,000 rows)" in shown
    assert "budget     3 per 24 h of inference_time; 2 left after this signal" in shown
    assert "baseline   6d98f91f1538e98d (s3://m/baseline)" in shown
    assert "driftstream 0.1.0; adwin, page_hinkley; watchers model_quality" in shown

    assert signals(store, "approve", K1, "--reason", "confirmed with the data team") == 0
    assert "approved" in capsys.readouterr().out
    monkeypatch.setenv("USER", "bob")
    assert signals(store, "reject", K2[:5]) == 0
    assert f"rejected {K2} as bob" in capsys.readouterr().out

    assert signals(store, "show", K1) == 0
    assert "approved by alice at 20" in capsys.readouterr().out
    assert signals(store, "list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].endswith(", 0 pending")
    assert [line.split()[1] for line in listed[2:]] == ["approved", "rejected"]
    # the same decision again changes nothing; a different one is refused
    assert signals(store, "approve", K1) == 0
    assert "already approved by alice" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "0000"), "no signal '0000' in "),
        (("approve", "ffffffff"), "no signal 'ffffffff' in "),
        (("show",), "signals show needs the signal's ID"),
        (("list", K1), "signals list takes no ID"),
        (("show", K1, "--reason", "x"), "--reason goes with approve or reject"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    store: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert signals(store, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("driftstream: error: ")
    assert message in err


def test_a_decision_is_final_exit_2(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert signals(store, "reject", K1, "--reason", "a holiday") == 0
    capsys.readouterr()
    assert signals(store, "approve", K1) == 2
    err = capsys.readouterr().err
    assert "was already rejected by" in err and "a decision is final" in err


def test_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("sinks: {signal_outbox: nowhere}\n")
    assert signals(config, "list") == 0
    assert capsys.readouterr().out.startswith(f"no signals in {tmp_path / 'nowhere'}")


# -- end to end: two replays against one store -------------------------------------------------


def cli(*args: str, cwd: Path, user: str = "tester") -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "USER": user, "HOME": str(cwd)}
    return subprocess.run(
        [DRIFTSTREAM, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def test_two_replays_deliver_the_approved_signal_once_and_the_rejected_never(
    tmp_path: Path,
) -> None:
    (tmp_path / "training.csv").write_text(training_csv(20_000, seed=1))
    done = cli(
        "baseline", "training.csv", "--out", "baseline", "--label-column", "prediction",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = capture_lines(Scenario("approval", 12_000, demo_changes(3_000)))
    (tmp_path / "capture.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    tree: dict[str, Any] = {
        "endpoint": "churn",
        "baseline": "baseline",
        "detectors": {
            "calibration": {"cache_dir": "calibration"},
            "retrain": {"cooldown_rows": 3_000},
        },
        "sinks": {
            "signal_outbox": "outbox",
            "signal_approval": "required",
            "signals": [{"type": "file", "path": "delivered.jsonl"}],
        },
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tree))
    replay = ("replay", "capture.jsonl", "--config", "c.yaml", "--events-out")

    wrong = {**tree, "detectors": {**tree["detectors"], "retrain": {"weights": {"agee": 2}}}}
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(wrong))
    refused = cli("replay", "capture.jsonl", "--config", "wrong.yaml", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "driftstream: error: detectors.retrain.weights: no feature 'agee' in the baseline"
    ]

    first = cli(*replay, "events1.jsonl", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    events = [json.loads(line) for line in (tmp_path / "events1.jsonl").read_text().splitlines()]
    decided = [e for e in events if e["kind"] == "retrain_signal" and e["decision"] == "retrain"]
    assert len(decided) >= 2, [e.get("reason") for e in events if e["kind"] == "retrain_signal"]
    assert all(e["approval"] == "required" for e in decided)
    deferred = [e for e in events if e.get("decision") == "deferred"]
    assert deferred and all(e["reason"] for e in deferred)
    assert not (tmp_path / "delivered.jsonl").exists()  # held, nothing delivered

    listed = cli("signals", "list", "--config", "c.yaml", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    keys = [e["idempotency_key"] for e in decided]
    assert [line.split()[:2] for line in listed.stdout.splitlines()[2:]] == [
        [k, "pending"] for k in keys
    ]
    approve = cli(
        "signals", "approve", keys[0], "--config", "c.yaml", "--reason", "ok", cwd=tmp_path,
        user="alice",
    )  # fmt: skip
    reject = cli("signals", "reject", keys[1], "--config", "c.yaml", cwd=tmp_path, user="bob")
    assert (approve.returncode, reject.returncode) == (0, 0), approve.stderr + reject.stderr

    for run in ("events2.jsonl", "events3.jsonl"):  # a restart, then another
        again = cli(*replay, run, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
    delivered = [
        json.loads(line) for line in (tmp_path / "delivered.jsonl").read_text().splitlines()
    ]
    assert [d["idempotency_key"] for d in delivered] == [keys[0]]
    (document,) = delivered
    assert (document["approval"]["by"], document["approval"]["reason"]) == ("alice", "ok")
    assert document["lineage"]["baseline"]["location"].endswith("baseline")
    assert document["lineage"]["detectors"]["driftstream"]

    show = cli("signals", "show", keys[0], "--config", "c.yaml", cwd=tmp_path)
    assert show.returncode == 0
    assert "approved by alice" in show.stdout
    assert "delivered  file:" in show.stdout
    unknown = cli("signals", "show", "0123456789", "--config", "c.yaml", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and "no signal '0123456789'" in unknown.stderr
