"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

No machine of the project has Docker, so the compose file cannot be run here. What can be
checked is the contract between its pieces: the paths the compose file mounts are the ones the
image's command and the example config read; the ports and the Prometheus target agree; and the
driftstream container's command, with the compose file's environment, its working directory and
HOME, monitors a real broker and stops cleanly on the compose file's stop signal. The container's
file system is emulated under a temporary root (container path /x → ROOT/x).

Deviations from a real `docker compose up`, each because the host is shared with other tests:
the bootstrap `kafka:9092` is the test broker's address, the topic and group get a unique name,
and the metrics port is 0 (the published 9108 is checked statically instead).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import LiveBaseline
from tests.integration.kafka_live import (
    DRIFTSTREAM,
    REPO_ROOT,
    capture_with_malformed,
    read_events,
    suffix,
    wait_until,
    write_lines,
)

pytestmark = [pytest.mark.integration]

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICE = COMPOSE["services"]["driftstream"]
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
EXAMPLE = yaml.safe_load((REPO_ROOT / "examples" / "driftstream.yaml").read_text())
PROMETHEUS = yaml.safe_load((REPO_ROOT / "examples" / "prometheus.yml").read_text())


def _instruction(name: str) -> str:
    """The argument of the Dockerfile's last `name` instruction."""
    found = re.findall(rf"^{name}\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)
    assert found, f"no {name} in the Dockerfile"
    return str(found[-1]).strip()


COMMAND = [*json.loads(_instruction("ENTRYPOINT")), *json.loads(_instruction("CMD"))]
WORKDIR = _instruction("WORKDIR")
HOME = _instruction("ENV").removeprefix("HOME=")


def _mounts() -> dict[str, str]:
    """Container path → repository path of the service's bind mounts."""
    out = {}
    for volume in SERVICE["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            out[target] = source.removeprefix("./")
    return out


def test_the_pieces_agree_on_paths_and_ports() -> None:
    mounts = _mounts()
    config_path = COMMAND[COMMAND.index("--config") + 1]
    assert mounts[config_path] == "examples/driftstream.yaml"
    # the example's relative baseline sits next to the config in the container
    baseline = str(Path(config_path).parent / EXAMPLE["baseline"])
    assert baseline in mounts
    # state, checkpoints and events on the named volume, which is also HOME (calibration cache)
    state = next(v.split(":")[1] for v in SERVICE["volumes"] if not v.startswith("./"))
    env = SERVICE["environment"]
    assert HOME == WORKDIR == state
    assert env["DRIFTSTREAM__CHECKPOINT__DIRECTORY"].startswith(state + "/")
    assert env["DRIFTSTREAM__SINKS__EVENTS_FILE"].startswith(state + "/")
    # metrics: example port = exposed = published = scraped, on the service's name
    port = EXAMPLE["metrics"]["port"]
    assert _instruction("EXPOSE") == str(port)
    assert f"{port}:{port}" in SERVICE["ports"]
    assert env["DRIFTSTREAM__METRICS__HOST"] == "0.0.0.0"  # reachable from the other containers
    targets = PROMETHEUS["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"driftstream:{port}"]
    assert COMPOSE["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] == (
        "PLAINTEXT://" + env["DRIFTSTREAM__SOURCES__KAFKA__BOOTSTRAP_SERVERS"]
    )


def test_the_container_command_monitors_a_broker_and_stops_on_the_stop_signal(
    kafka_bootstrap: str, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    root = tmp_path / "container"

    def inside(path: str) -> Path:
        return root / path.lstrip("/")

    for target, source in _mounts().items():  # the bind mounts; ./baseline is the user's
        origin = live_baseline.baseline if source == "baseline" else REPO_ROOT / source
        inside(target).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if origin.is_dir() else shutil.copy)(origin, inside(target))
    home = inside(HOME)
    # the calibration cache on the volume: the session's, so calibration runs once per session
    live_baseline.calibration_cache.mkdir(parents=True, exist_ok=True)
    (home / ".cache" / "driftstream").mkdir(parents=True)
    (home / ".cache" / "driftstream" / "calibration").symlink_to(live_baseline.calibration_cache)

    name = suffix()
    topic = f"compose-{name}"
    env: dict[str, Any] = {**os.environ, "HOME": str(home)}
    for key, raw in SERVICE["environment"].items():
        value = str(raw).replace("kafka:9092", kafka_bootstrap)
        env[key] = str(inside(value)) if value.startswith("/") else value
    env.update(
        {
            "DRIFTSTREAM__SOURCES__KAFKA__TOPICS": topic,
            "DRIFTSTREAM__SOURCES__KAFKA__GROUP_ID": f"compose-{name}",
            "DRIFTSTREAM__METRICS__PORT": "0",
        }
    )
    config = str(inside(COMMAND[COMMAND.index("--config") + 1]))
    command = [*DRIFTSTREAM, *[config if c.startswith("/") else c for c in COMMAND[1:]]]

    # what the compose file's comment says to run: captured records into the topic
    lines = capture_with_malformed(seed=21, n_records=6000)
    capture = write_lines(tmp_path / "capture.jsonl", lines)
    published = subprocess.run(
        [
            *DRIFTSTREAM,
            "replay",
            str(capture),
            "--to",
            f"kafka://{kafka_bootstrap}/{topic}",
            "--config",
            config,
        ],
        cwd=inside(WORKDIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert published.returncode == 0, published.stderr[-3000:]

    log_path = tmp_path / "container.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=inside(WORKDIR),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            checkpoints = Path(env["DRIFTSTREAM__CHECKPOINT__DIRECTORY"])

            def done() -> bool:
                assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
                return any(
                    json.loads(p.read_text()).get("offset") == len(lines)
                    for p in checkpoints.rglob("*.json")
                )

            wait_until(done, timeout=120, what="the checkpoint to reach the end of the topic")
            stopped = time.monotonic()
            proc.send_signal(getattr(signal, SERVICE["stop_signal"]))
            grace = float(SERVICE["stop_grace_period"].removesuffix("s"))
            assert proc.wait(timeout=grace) == 0, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() - stopped < grace
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    events = read_events(Path(env["DRIFTSTREAM__SINKS__EVENTS_FILE"]))
    assert {"drift", "rejected"} <= {e["kind"] for e in events}
    assert events[-1]["kind"] == "summary"
    assert events[-1]["records_read"] == len(lines)
