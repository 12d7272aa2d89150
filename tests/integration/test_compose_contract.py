"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

No machine of the project has Docker, so the compose file cannot be run here. What can be
checked is the contract between its pieces: the paths the compose file mounts are the ones the
image's command and the example config read; the ports and the Prometheus target agree; and the
driftstream container's command, with the compose file's environment, its working directory and
HOME, monitors a real broker and stops cleanly on the compose file's stop signal. The container's
file system is emulated under a temporary root (container path /x → ROOT/x).

A fresh clone is emulated too: every path the compose file mounts from the clone is in the
repository, the one-shot `baseline` service gives the service a baseline without ./baseline
(and stops, one line, with a broken one), and the image's kernels are compiled at build (the
Dockerfile's `prepare kernels`, into an empty numba cache standing for the image's), so the
container compiles nothing when it starts (numba's cache log shows loads and no save).

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
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftstream.detectors.baseline import load_baseline
from driftstream.streamer.app.demo import write_demo_baseline
from tests import services
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
BASELINE_STEP = COMPOSE["services"]["baseline"]
# continuation lines joined: one instruction per line
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
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


def _mounts(service: dict[str, Any] = SERVICE) -> dict[str, str]:
    """Container path → repository path of the service's bind mounts ("" for the clone)."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            out[target] = source.removeprefix("./").rstrip("/")
    return out


def _volumes(service: dict[str, Any]) -> dict[str, str]:
    """Container path → named volume of the service's volume mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if not source.startswith(("./", "/")):
            out[target] = source
    return out


def _kernels_command() -> list[str]:
    """The Dockerfile's kernel compilation, as this test runs it (this interpreter)."""
    runs = re.findall(r"^RUN\s+(.+)$", DOCKERFILE, flags=re.MULTILINE)
    install = next(i for i, run in enumerate(runs) if "pip install" in run)
    steps = [step.strip() for run in runs[install:] for step in run.split("&&")]
    found = [s for s in steps if "driftstream.streamer.app.prepare kernels" in s]
    assert found, "the Dockerfile compiles no kernels after installing the package"
    assert found[0].split()[:2] == ["python", "-m"], found[0]
    return [sys.executable, *found[0].split()[1:]]


def test_the_pieces_agree_on_paths_and_ports() -> None:
    mounts = _mounts()
    config_path = COMMAND[COMMAND.index("--config") + 1]
    assert mounts[config_path] == "examples/driftstream.yaml"
    # the example's relative baseline sits next to the config in the container: the volume the
    # one-shot `baseline` step writes, at the path its command writes to
    baseline = str(Path(config_path).parent / EXAMPLE["baseline"])
    assert _volumes(SERVICE)[baseline] == _volumes(BASELINE_STEP)[baseline] == "baseline"
    assert BASELINE_STEP["command"][1] == baseline
    # state, checkpoints and events on the named volume, which is also HOME (calibration cache)
    state = next(t for t, v in _volumes(SERVICE).items() if v == "driftstream-state")
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

    for target, source in _mounts().items():  # the bind mounts, from the repository
        inside(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / source, inside(target))
    # `docker compose up` on a fresh clone: the image's kernels were compiled when it was built,
    # and the one-shot step gives the service the demo's baseline (no ./baseline in the clone)
    image_kernels = tmp_path / "image-numba-cache"
    built = subprocess.run(
        _kernels_command(),
        cwd="/",
        env={**os.environ, "NUMBA_CACHE_DIR": str(image_kernels)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    step = _run_baseline_step(root, clone=tmp_path / "fresh-clone")
    assert step.returncode == 0, step.stderr
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
    # the image's compiled kernels, and numba's cache log: a compilation would save to the cache
    image = {
        "NUMBA_CACHE_DIR": str(image_kernels),
        "NUMBA_DEBUG_CACHE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=inside(WORKDIR),
            env={**env, **image},
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
    # parent and monitor process loaded every kernel the image had compiled, and compiled none
    log_text = log_path.read_text(errors="replace")
    assert "[cache] data loaded from" in log_text
    assert "[cache] data saved to" not in log_text, [
        line for line in log_text.splitlines() if "[cache] data saved" in line
    ]


def _run_baseline_step(root: Path, clone: Path) -> subprocess.CompletedProcess[str]:
    """The one-shot `baseline` service: its named volumes under `root` (container path /x is
    ROOT/x, shared with the service) and `clone` standing for the clone it mounts."""
    mounts = _mounts(BASELINE_STEP)
    assert mounts == {BASELINE_STEP["working_dir"]: ""}  # the clone, and nothing else of it
    assert any(v.startswith("./:") and v.endswith(":ro") for v in BASELINE_STEP["volumes"])
    clone.mkdir(parents=True, exist_ok=True)
    entrypoint = BASELINE_STEP["entrypoint"]
    assert entrypoint[:2] == ["python", "-m"]
    args = [str(root / a.lstrip("/")) if a.startswith("/") else a for a in BASELINE_STEP["command"]]
    return subprocess.run(
        [sys.executable, *entrypoint[1:], *args],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_fresh_clone_has_every_path_the_compose_file_mounts() -> None:
    for name, service in COMPOSE["services"].items():
        for target, source in _mounts(service).items():
            tracked = subprocess.run(
                ["git", "ls-files", "--", source or "."],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert tracked, f"{name}: ./{source} (at {target}) is not in the repository"


def test_grafana_is_provisioned_with_the_prometheus_datasource_and_the_dashboard() -> None:
    grafana = COMPOSE["services"]["grafana"]
    mounts = _mounts(grafana)
    provisioning = REPO_ROOT / mounts["/etc/grafana/provisioning"]
    assert "3000:3000" in grafana["ports"]
    assert all(v.endswith(":ro") for v in grafana["volumes"])
    # the datasource is the compose file's Prometheus, at the port it listens on
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus" and datasource["isDefault"]
    host, port = datasource["url"].removeprefix("http://").split(":")
    assert f"{port}:{port}" in COMPOSE["services"][host]["ports"]
    # the dashboard provider reads a mounted folder that holds the dashboard
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "driftstream.yml").read_text())[
        "providers"
    ]
    folder = REPO_ROOT / mounts[provider["options"]["path"]]
    dashboard = json.loads((folder / "driftstream.json").read_text())
    assert dashboard["uid"] == "driftstream"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/driftstream.json"


def test_prometheus_loads_the_alert_rules_for_the_job_it_scrapes(tmp_path: Path) -> None:
    """The rule files examples/prometheus.yml names are mounted from deploy/prometheus/, the
    rules select the job it scrapes, and promtool accepts the config with the rules (the
    container's paths under a temporary root)."""
    prometheus = COMPOSE["services"]["prometheus"]
    mounts = _mounts(prometheus)
    assert all(v.endswith(":ro") for v in prometheus["volumes"])
    rule_files = PROMETHEUS["rule_files"]
    assert [mounts[path] for path in rule_files] == ["deploy/prometheus/rules.yml"]
    job = PROMETHEUS["scrape_configs"][0]["job_name"]
    rules = (REPO_ROOT / "deploy" / "prometheus" / "rules.yml").read_text()
    assert f'up{{job="{job}"}}' in rules
    promtool = shutil.which("promtool")
    if promtool is None:
        services.unavailable("promtool not on PATH (scripts/prometheus.sh install)")
    for target, source in mounts.items():
        inside = tmp_path / target.lstrip("/")
        inside.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / source, inside)
    config = {**PROMETHEUS, "rule_files": [str(tmp_path / p.lstrip("/")) for p in rule_files]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert re.search(r"SUCCESS: [1-9]\d* rules found", checked.stdout), checked.stdout


def test_the_service_starts_only_after_the_baseline_step_succeeded() -> None:
    assert SERVICE["depends_on"]["baseline"] == {"condition": "service_completed_successfully"}
    assert BASELINE_STEP.get("restart", "no") == "no"  # a failed step is not retried in a loop


@pytest.fixture(scope="module")
def user_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline of the user's (not the demo's): 3 columns of their own training data."""
    root = tmp_path_factory.mktemp("user-baseline")
    rows = "".join(f"{i % 7},{i % 3 * 1.5},{'ab'[i % 2]}\n" for i in range(2_500))
    (root / "training.csv").write_text("a,b,c\n" + rows)
    done = subprocess.run(
        [*DRIFTSTREAM, "baseline", "training.csv", "--out", "baseline"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return root / "baseline"


def test_the_baseline_step_takes_the_clones_baseline_or_the_demos(
    tmp_path: Path, user_baseline: Path
) -> None:
    root = tmp_path / "container"
    volume = root / BASELINE_STEP["command"][1].lstrip("/")
    fresh = _run_baseline_step(root, clone=tmp_path / "fresh-clone")
    assert fresh.returncode == 0, fresh.stderr
    demo = write_demo_baseline(tmp_path / "demo")
    assert load_baseline(volume).identity == demo.identity

    clone = tmp_path / "clone-with-baseline"
    shutil.copytree(user_baseline, clone / "baseline")
    mine = _run_baseline_step(root, clone=clone)
    assert mine.returncode == 0, mine.stderr
    assert load_baseline(volume).identity == load_baseline(user_baseline).identity
    assert sorted(p.name for p in volume.iterdir()) == sorted(
        p.name for p in user_baseline.iterdir()
    )


def test_a_broken_baseline_in_the_clone_stops_the_step_with_one_line(
    tmp_path: Path, user_baseline: Path
) -> None:
    root = tmp_path / "container"
    clone = tmp_path / "clone"
    shutil.copytree(user_baseline, clone / "baseline")
    (clone / "baseline" / "statistics.json").write_text('{"version": 0.0, "features": [{}]}')
    step = _run_baseline_step(root, clone=clone)
    assert step.returncode == 2
    lines = step.stderr.strip().splitlines()
    assert len(lines) == 1 and "statistics.json" in lines[0], step.stderr
    assert not step.stdout.strip()
