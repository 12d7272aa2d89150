"""A real Prometheus scrapes `driftstream replay` while it runs: counters, drift gauges, and the
first drift of a run seen by `increase()`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines, training_csv
from tests import services
from tests.integration.gated_replay import gated_replay, poll

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
            # the counters exist at 0 from start-up: wait for an increment, not for the series
            drift_events = prom.query(
                'driftstream_events_total{kind="drift",feature="age",endpoint="default"} > 0'
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


@pytest.mark.integration
def test_the_first_drift_of_a_replay_shows_in_increase(
    tmp_path: Path,
    prometheus_server: Callable[[Sequence[str]], services.PrometheusServer],
) -> None:
    """A replay whose input is held back (a generator waiting on events) until Prometheus has
    scraped the counters at 0, so the order is certain however slow the machine: the first drift
    and the first rejection then show in `increase()`, and `driftstream_drift_score > 1` finds
    exactly the breached checks, share checks (completeness) included."""
    with gated_replay(tmp_path, prometheus_server, "first") as replay:
        prom = replay.prom
        # every drift counter of age was scraped at 0 while no drifted record could be read
        age = 'driftstream_events_total{endpoint="first",kind="drift",feature="age"}'
        before = poll(prom, age, bool)
        assert before, "no drift counter of age was scraped before the first drift"
        assert {s["metric"]["detector"] for s in before} >= {"adwin", "page_hinkley"}
        assert all(float(s["value"][1]) == 0 for s in before)
        rejected = 'driftstream_records_rejected_total{endpoint="first",reason="invalid_json"}'
        assert [float(s["value"][1]) for s in prom.query(rejected)] == [0]

        replay.drift_may_start.set()
        increase = poll(prom, f"sum(increase({age}[5m])) >= 1", bool)
        assert increase, "increase() never saw the first drift of age"
        assert poll(prom, f"increase({rejected}[5m]) >= 1", bool), "nor the first rejection"

        # 10,000 records processed (the loop may hold the last batch read): per reading, the
        # score's verdict minus the active gauge, both from the same scrape, is 0
        assert poll(prom, "up", lambda _: _read(prom) >= 10_000)
        verdicts = (
            '(driftstream_drift_score{endpoint="first"} > bool 1) - on(feature, detector) '
            'driftstream_drift_active{endpoint="first"}'
        )
        differences = prom.query(verdicts)
        assert len(differences) > 30  # every feature's checks and detectors
        assert {float(s["value"][1]) for s in differences} == {0.0}, differences
        breached = prom.query('driftstream_drift_score{endpoint="first"} > 1')
        assert ("session_seconds", "completeness_check") in _checks(breached)


def _read(prom: services.PrometheusServer) -> float:
    result = prom.query('driftstream_records_read_total{endpoint="first"}')
    return float(result[0]["value"][1]) if result else 0.0


def _checks(result: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(s["metric"]["feature"], s["metric"]["detector"]) for s in result}
