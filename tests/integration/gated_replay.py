"""A replay scraped by the real Prometheus, whose drifted records are held back until the test
lets them through, so "scraped at 0 before the first drift" holds however slow the machine.

The capture is the demo's changes at record CHANGE_AT of 11,000, with one malformed line 100
records after it (a first rejection too). Used by the `increase()` test of the metrics and by
the dashboard test, which both need the counters scraped at 0 before anything drifts.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftstream.detectors.baseline import build_baseline
from driftstream.streamer.app.build import build_replay
from driftstream.streamer.app.config import Config
from driftstream.streamer.app.demo import demo_changes
from driftstream.streamer.sources.memory import IterSource
from driftstream.streamer.sources.synthetic import Scenario, capture_lines, training_csv
from tests import services

CHANGE_AT = 4_000
GATE_TIMEOUT_S = 300.0  # a bound, never waited out when the test passes
POLL_TIMEOUT_S = 120.0  # generous: Prometheus scrapes every second, the machine may be loaded


@dataclass
class GatedReplay:
    prom: services.PrometheusServer
    drift_may_start: threading.Event  # set it once the counters were scraped at 0


@contextlib.contextmanager
def gated_replay(
    tmp_path: Path,
    prometheus_server: Callable[[Sequence[str]], services.PrometheusServer],
    endpoint: str,
) -> Iterator[GatedReplay]:
    """Run the replay (endpoint `endpoint`) on a thread while Prometheus scrapes it; on exit,
    let it finish and check it did."""
    training = tmp_path / "training.csv"
    training.write_text(training_csv(20_000, seed=1))
    build_baseline(training, tmp_path / "b", label_column="prediction")
    port = services.free_port()
    target = f"127.0.0.1:{port}"
    config = Config.model_validate(
        {
            "endpoint": endpoint,
            "baseline": str(tmp_path / "b"),
            "detectors": {"calibration": {"samples": 20_000, "cache_dir": str(tmp_path / "cal")}},
            "metrics": {"host": "127.0.0.1", "port": port},
        }
    )
    lines = list(capture_lines(Scenario(endpoint, 11_000, demo_changes(CHANGE_AT), seed=5)))
    lines[CHANGE_AT + 100] = b"{not json"
    drift_may_start, may_end = threading.Event(), threading.Event()

    def held_back() -> Iterator[bytes]:
        yield from lines[:CHANGE_AT]
        drift_may_start.wait(GATE_TIMEOUT_S)
        yield from lines[CHANGE_AT:]
        may_end.wait(GATE_TIMEOUT_S)

    run = build_replay(
        config,
        IterSource(held_back(), batch_size=1_000),
        [],
        checkpoint_dir=tmp_path / "checkpoint",
        metrics_required=True,
    )
    prom = prometheus_server([target])
    loop = threading.Thread(target=run.service.run, name="replay")
    loop.start()
    try:
        prom.wait_until_up(target, timeout=60)
        yield GatedReplay(prom, drift_may_start)
    finally:
        drift_may_start.set()
        may_end.set()
        loop.join(GATE_TIMEOUT_S)
        run.close()
    assert not loop.is_alive()


def poll(
    prom: services.PrometheusServer,
    promql: str,
    done: Callable[[list[dict[str, Any]]], bool],
) -> list[dict[str, Any]]:
    """Query until `done(result)`, for at most POLL_TIMEOUT_S; the last result either way."""
    deadline = time.monotonic() + POLL_TIMEOUT_S
    result = prom.query(promql)
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.5)
        result = prom.query(promql)
    return result
