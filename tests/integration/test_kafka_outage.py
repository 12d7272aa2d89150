"""The broker is stopped for ~20 s mid-stream and started again: `driftstream run` rides it out
by itself (retrying with back-off, reporting it) and loses nothing.

Runs on a broker of its own (scripts/kafka.sh with its own state directory and ports), since
stopping the shared one would break the other tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.integration.conftest import LiveBaseline
from tests.integration.kafka_live import (
    MALFORMED,
    LiveProcess,
    LiveSetup,
    capture_with_malformed,
    consume_all,
    keys,
    live_processes,
    produce,
    read_events,
    reference_events,
    wait_until,
    write_lines,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 20.0
RATE = 600.0  # records/s: ~20 s of traffic around the outage


class PrivateBroker:
    """A broker of this test's own, started, stopped and resumed with scripts/kafka.sh."""

    def __init__(self, state_dir: Path) -> None:
        self.env = {**os.environ, "KAFKA_STATE_DIR": str(state_dir)}
        self.bootstrap = ""

    def _script(self, *args: str) -> str:
        done = subprocess.run(
            ["bash", str(services.KAFKA_SCRIPT), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=services.KAFKA_START_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise services.ServiceUnavailableError(
                f"scripts/kafka.sh {' '.join(args)}: {done.stderr[-2000:]}"
            )
        return done.stdout.strip()

    def start(self) -> None:
        self._script("fetch")
        self.bootstrap = self._script("start", str(services._port_pair())).splitlines()[-1]

    def stop(self) -> None:
        self._script("stop")

    def resume(self) -> None:
        self._script("resume")


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        services.unavailable(f"the outage test needs its own broker: {', '.join(missing)} missing")
    broker = PrivateBroker(tmp_path / "broker")
    try:
        broker.start()
    except services.ServiceUnavailableError as exc:
        services.unavailable(str(exc))
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_outage_is_ridden_out(
    private_broker: PrivateBroker, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    bootstrap = private_broker.bootstrap
    setup = LiveSetup(bootstrap, tmp_path, live_baseline.baseline, live_baseline.calibration_cache)
    setup.create_topics()
    lines = capture_with_malformed(seed=31)
    capture = write_lines(tmp_path / "capture.jsonl", lines)
    events_file = tmp_path / "live-events.jsonl"
    config = setup.config(events_file)
    reference = reference_events(capture, config, tmp_path)
    expected = keys(reference)

    producer = threading.Thread(
        target=produce, args=(bootstrap, setup.topic, lines), kwargs={"rate": RATE}
    )
    producer.start()
    try:
        with live_processes() as procs:
            run = LiveProcess(config, tmp_path, "run")
            procs.append(run)
            wait_until(
                lambda: setup.checkpoint_offsets().get(0, 0) > 3000,
                timeout=90,
                what="processing to be under way",
                watch=[run],
            )
            private_broker.stop()
            down_at = setup.checkpoint_offsets()[0]
            time.sleep(OUTAGE_S)
            assert run.alive(), run.log()[-3000:]
            private_broker.resume()
            producer.join(timeout=180)
            wait_until(
                lambda: setup.checkpoint_offsets().get(0) == len(lines),
                timeout=180,
                what="the checkpoint to reach the end after the outage",
                watch=[run],
            )
            errors = _broker_errors(run)
            assert run.terminate() == 0, run.log()[-3000:]
    finally:
        producer.join(timeout=180)

    assert 0 < down_at < len(lines)
    # reported: counted in the metrics and logged as structured events
    assert errors > 0
    assert "event='broker_unavailable'" in run.log()
    assert "event='broker_reachable'" in run.log()

    live = read_events(events_file)
    # one process throughout; a rebalance after the outage may repeat events, never lose one
    assert set(keys(live)) == set(expected)
    produced = consume_all(bootstrap, setup.output_topic, at_least=len(expected))
    assert set(keys([json.loads(r.value) for r in produced])) == set(expected)
    dead = consume_all(bootstrap, setup.dead_letter_topic, at_least=len(MALFORMED))
    assert {int(r.headers["driftstream.source.offset"]) for r in dead} == set(MALFORMED)
    assert setup.checkpoint_docs()[0]["monitor"]["rows_seen"] == reference[-1]["records_used"]


def _broker_errors(run: LiveProcess) -> float:
    """driftstream_broker_errors_total summed over operations, from the process's /metrics."""
    port = None
    for line in run.log().splitlines():
        if "event='live_ready'" in line:
            port = int(line.split("metrics_port=", 1)[1].split()[0])
    assert port, "no metrics port in the log"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("driftstream_broker_errors_total{")
    )
