"""A real Prometheus scrapes `driftstream replay` while it runs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines, training_csv
from tests import services

DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")


@pytest.mark.integration
def test_prometheus_scrapes_counters_and_drift_statistics(
    tmp_path: Path,
    prometheus_server: Callable[[Sequence[str]], services.PrometheusServer],
) -> None:
    (tmp_path / "training.csv").write_text(training_csv(20_000, seed=1))
    subprocess.run(
        [DRIFTSTREAM, "baseline", "training.csv", "--out", "b", "--label-column", "prediction"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    # 30 s of recorded traffic (1 ms apart), replayed at the recorded pace
    scenario = Scenario(
        "prom", 30_000, (Change("mean_shift", "age", 4000, 0.8),), seconds_between=0.001
    )
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(capture_lines(scenario)) + b"\n")
    port = services.free_port()
    target = f"127.0.0.1:{port}"
    prom = prometheus_server([target])
    replay = subprocess.Popen(
        [
            DRIFTSTREAM,
            "replay",
            "c.jsonl",
            "--baseline",
            "b",
            "--events-out",
            "e.jsonl",
            "--speed",
            "1",
            "--metrics-port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        prom.wait_until_up(target, timeout=40)
        deadline = time.monotonic() + 40
        drift_events: list[dict[str, object]] = []
        while time.monotonic() < deadline and not drift_events:
            drift_events = prom.query(
                'driftstream_events_total{kind="drift",feature="age",endpoint="default"}'
            )
            time.sleep(1)
        assert drift_events, "Prometheus never saw the drift event on age"
        read = prom.query('driftstream_records_read_total{endpoint="default"}')
        assert float(read[0]["value"][1]) >= 4000
        stats = prom.query('driftstream_drift_statistic{detector="page_hinkley"}')
        assert {s["metric"]["feature"] for s in stats} >= {"age", "balance", "prediction"}
        thresholds = prom.query(
            'driftstream_drift_threshold{feature="age",detector="page_hinkley"}'
        )
        assert float(thresholds[0]["value"][1]) > 10  # calibrated λ, in σ units
        latency = prom.query("driftstream_batch_processing_seconds_count")
        assert float(latency[0]["value"][1]) > 0
    finally:
        replay.terminate()
        _, err = replay.communicate(timeout=60)
    # SIGTERM finishes the batch, writes the summary and exits 0
    assert replay.returncode == 0, err
    assert (tmp_path / "e.jsonl").read_text().splitlines()[-1].startswith('{"kind":"summary"')
