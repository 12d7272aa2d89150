"""Anomaly scores end to end through the installed `driftstream` command: `replay` with a
config enabling `anomaly`, the events file carrying the anomaly events and the summary their
counts; without it, nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftstream.detectors.baseline import load_baseline
from driftstream.streamer.app.config import ConfigError, load_config
from driftstream.streamer.sources.synthetic import (
    CATEGORICAL,
    NUMERIC,
    Scenario,
    capture_line,
    capture_lines,
)
from tests.streamer.test_replay_cli import baseline_dir, cli, read_events

__all__ = ["baseline_dir"]  # the module fixture, shared

GROSS = (100, 2_500, 4_321)  # records replaced by gross outliers


def test_replay_with_anomaly_enabled_flags_the_gross_records(
    baseline_dir: Path, tmp_path: Path
) -> None:
    baseline = load_baseline(baseline_dir)
    lines = list(capture_lines(Scenario("anomaly", 5_000, seed=21)))
    for i in GROSS:
        values = []
        for name in NUMERIC:
            stats = baseline.feature(name).numeric
            assert stats is not None
            far = name in ("age", "balance", "score_b")
            values.append(f"{stats.mean + (7.0 if far else 0.0) * stats.std_dev:.6g}")
        values += [next(iter(categories)) for categories in CATEGORICAL.values()]
        lines[i] = capture_line(",".join(values), "0.5", f"gross-{i}", "2026-11-01T00:00:00Z")
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "anomaly.yaml").write_text("anomaly:\n  enabled: true\n  rate: 0.001\n")
    args = ["replay", "c.jsonl", "--baseline", str(baseline_dir), "--metrics-port", "0"]
    done = cli(*args, "--config", "anomaly.yaml", "--events-out", "on.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    events = read_events(tmp_path / "on.jsonl")
    anomalies = [e for e in events if e["kind"] == "anomaly"]
    assert set(GROSS) <= {e["record_index"] for e in anomalies}
    assert len(anomalies) <= len(GROSS) + 25  # 5 expected at rate 0.001
    gross = next(e for e in anomalies if e["record_index"] == GROSS[0])
    assert gross["event_id"] == f"gross-{GROSS[0]}"
    assert gross["score"] > gross["threshold"]
    assert sorted(gross["features"]) == ["age", "balance", "score_b"]
    assert "feature" not in gross
    summary = events[-1]
    assert summary["events"]["anomaly"] == len(anomalies)
    assert not [e for e in events if e.get("detector") == "anomaly_rate"]

    done = cli(*args, "--events-out", "off.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    off = read_events(tmp_path / "off.jsonl")
    assert not [e for e in off if e["kind"] == "anomaly"]
    on_without = [e for e in events[:-1] if e["kind"] != "anomaly"]
    assert on_without == off[:-1]  # the other detectors' events are unchanged


def test_the_anomaly_section_is_validated_and_only_counts_in_the_identity_when_enabled(
    tmp_path: Path,
) -> None:
    plain = load_config(None, environ={})
    assert not plain.anomaly.enabled
    tuned_off = load_config(None, environ={"DRIFTSTREAM__ANOMALY__RATE": "0.01"})
    assert tuned_off.identity() == plain.identity()  # off, it detects nothing
    enabled = load_config(None, environ={"DRIFTSTREAM__ANOMALY__ENABLED": "true"})
    assert enabled.identity() != plain.identity()
    (tmp_path / "bad.yaml").write_text("anomaly:\n  enabled: true\n  rate: 2\n")
    with pytest.raises(ConfigError, match=r"anomaly\.rate"):
        load_config(tmp_path / "bad.yaml", environ={})
