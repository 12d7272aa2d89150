"""docs/metrics.md against what /metrics really serves.

A `driftstream replay` (with retrain signals to a file), a `driftstream run` on the real Kafka
broker (with a dead-letter topic) and a `driftstream run` on a Kinesis stream (a moto server) are
scraped while they run. Every `driftstream_*` metric a page serves must be a row of the table,
of the same type, with the same label names, naming that command; and every row naming a command
(whose condition the test's config meets) must be served by it, with series. A row marked
*(coming)* must not be served yet.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from driftstream.streamer.sources.synthetic import Scenario, capture_lines
from tests import services
from tests.integration import aws_support as s
from tests.integration.conftest import LiveBaseline
from tests.integration.kafka_live import (
    DRIFTSTREAM,
    LiveProcess,
    LiveSetup,
    capture_with_malformed,
    live_processes,
    produce,
    wait_until,
)
from tests.services import MotoServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABLE = services.REPO_ROOT / "docs" / "metrics.md"
SCRAPE_TIMEOUT_S = 180.0  # a bound, never waited out when the test passes
#: the commands a row can name: `run` is both live sources
COMMANDS = {
    "replay": {"replay"},
    "demo": {"demo"},
    "run": {"kafka", "kinesis"},
    "run (Kafka)": {"kafka"},
    "run (Kinesis)": {"kinesis"},
}
TYPES = {"counter", "gauge", "histogram"}


# -- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    family: str  # the name the parser gives the family: a counter's without `_total`
    type: str
    labels: tuple[str, ...]
    run_labels: tuple[str, ...]  # added by `driftstream run`
    commands: frozenset[str]  # replay, demo, kafka, kinesis
    condition: str | None  # the config key it needs, if any
    coming: bool

    def labels_of(self, command: str) -> set[str]:
        live = command in ("kafka", "kinesis")
        return {*self.labels, *(self.run_labels if live else ())}


def _names(cell: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in cell.split(",") if name.strip())


def _row(line: str) -> Row:
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    assert len(cells) == 6, f"not 6 columns: {line}"
    metric, kind, labels, unit, exposed, meaning = cells
    found = re.fullmatch(r"`(driftstream_[a-z0-9_]+)`( \(coming\))?", metric)
    assert found, f"metric cell {metric!r}"
    name = found.group(1)
    assert kind in TYPES, f"{name}: type {kind!r}"
    family = name
    if kind == "counter":
        assert name.endswith("_total"), f"{name}: a counter is queried with _total"
        family = name.removesuffix("_total")
    split = re.fullmatch(r"(.*?)(?: \(run: \+ (.*)\))?", labels)
    assert split, labels
    commands_cell, _, condition = exposed.partition(", with ")
    commands: set[str] = set()
    for command in commands_cell.split(", "):
        assert command in COMMANDS, f"{name}: exposed by {command!r}"
        commands |= COMMANDS[command]
    assert unit and meaning, f"{name}: no unit or meaning"
    return Row(
        family,
        kind,
        _names(split.group(1)),
        _names(split.group(2) or ""),
        frozenset(commands),
        condition.strip("`") or None,
        found.group(2) is not None,
    )


def table() -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for line in TABLE.read_text().splitlines():
        if line.startswith("| `driftstream_"):
            row = _row(line)
            assert row.family not in rows, f"{row.family}: two rows"
            rows[row.family] = row
    return rows


# -- a page --------------------------------------------------------------------------------------


@dataclass
class Served:
    type: str
    label_sets: set[frozenset[str]]  # the label names of each series (a histogram's `le` aside)


def served(page: str) -> dict[str, Served]:
    """The driftstream_* families of a /metrics page (prometheus_client's `_created` gauges of
    counters and histograms left out)."""
    families = {f.name: f for f in text_string_to_metric_families(page)}
    out: dict[str, Served] = {}
    for name, family in families.items():
        if not name.startswith("driftstream_"):
            continue
        if name.endswith("_created") and name.removesuffix("_created") in families:
            continue
        label_sets = {frozenset(sample.labels) - {"le"} for sample in family.samples}
        out[name] = Served(family.type, label_sets)
    return out


def sample(page: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(page):
        for one in family.samples:
            if one.name == name and all(one.labels.get(k) == v for k, v in labels.items()):
                return float(one.value)
    return None


def missing(rows: dict[str, Row], page: str, command: str, met: set[str]) -> list[str]:
    """Rows that name `command` (and whose condition is in `met`) but have no series."""
    have = {name for name, f in served(page).items() if f.label_sets}
    return sorted(
        name
        for name, row in rows.items()
        if command in row.commands
        and not row.coming
        and (row.condition is None or row.condition in met)
        and name not in have
    )


def problems(rows: dict[str, Row], page: str, command: str, met: set[str]) -> list[str]:
    """Everything the table gets wrong about `command`'s page; `met`: the conditions its config
    meets."""
    out = [
        f"{name}: no series, but the table says {command} serves it"
        for name in missing(rows, page, command, met)
    ]
    for name, family in sorted(served(page).items()):
        row = rows.get(name)
        if row is None:
            out.append(f"{name}: served by {command}, not in the table")
            continue
        if family.type != row.type:
            out.append(f"{name}: a {family.type}, the table says {row.type}")
        if not family.label_sets:
            continue  # declared without series (a live source's gauges in a replay)
        expected = row.labels_of(command)
        for labels in family.label_sets:
            if labels != expected:
                out.append(f"{name}: labels {sorted(labels)}, the table says {sorted(expected)}")
        if command not in row.commands:
            out.append(f"{name}: {command} serves it, the table does not say so")
        if row.condition is not None and row.condition not in met:
            out.append(f"{name}: served without {row.condition}")
        if row.coming:
            out.append(f"{name}: served now; remove its (coming) mark")
    return out


def scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return ""  # not serving yet


def scrape_until(
    url: str, done: Callable[[str], bool], alive: Callable[[], bool], what: str
) -> str:
    """Scrape until `done(page)`; the page. Fails when the process exited or time ran out."""
    deadline = time.monotonic() + SCRAPE_TIMEOUT_S
    page = ""
    while time.monotonic() < deadline:
        page = scrape(url)
        if page and done(page):
            return page
        assert alive(), f"{what}: the process exited early"
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last page:\n{page[:3000]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


# -- the tests -----------------------------------------------------------------------------------


def test_the_table_names_every_metric_the_code_defines() -> None:
    """Catches a metric no scrape below serves (CloudWatch's) that the table misses."""
    rows = table()
    defined = {
        match
        for folder in ("streamer", "sinks", "detectors")
        for path in (services.REPO_ROOT / folder).rglob("*.py")
        for match in re.findall(r'"(driftstream_[a-z0-9_]+)"', path.read_text())
    }
    assert defined - set(rows) == set(), "metrics defined in the code, missing from the table"
    assert set(rows) - defined == set(), "rows of the table no code defines"
    for row in rows.values():  # replay and demo are the same builder
        assert ("replay" in row.commands) == ("demo" in row.commands), row.family


def test_a_replay_serves_what_the_table_says(live_baseline: LiveBaseline, tmp_path: Path) -> None:
    rows = table()
    # 30 s of traffic 1 ms apart, replayed at its pace: it runs while it is scraped
    traffic = Scenario("table", 30_000, (), seconds_between=0.001, seed=3)
    (tmp_path / "capture.jsonl").write_bytes(b"\n".join(capture_lines(traffic)) + b"\n")
    port = services.free_port()
    config = {
        "endpoint": "table",
        "baseline": str(live_baseline.baseline),
        "detectors": {"calibration": {"cache_dir": str(live_baseline.calibration_cache)}},
        "checkpoint": {"every_records": 1000},
        "sinks": {
            "signals": [{"type": "file", "path": str(tmp_path / "signals.jsonl")}],
            "signal_outbox": str(tmp_path / "outbox"),
        },
        "metrics": {"host": "127.0.0.1", "port": port},
    }
    (tmp_path / "replay.yaml").write_text(yaml.safe_dump(config))
    met = {"sinks.signals"}
    args = ["capture.jsonl", "--config", "replay.yaml", "--speed", "1", "--events-out", "e.jsonl"]
    with (tmp_path / "replay.log").open("wb") as log:
        replay = subprocess.Popen(
            [*DRIFTSTREAM, "replay", *args],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        page = scrape_until(
            f"http://127.0.0.1:{port}/metrics",
            lambda page: not missing(rows, page, "replay", met),
            lambda: replay.poll() is None,
            "every metric of a replay",
        )
    finally:
        stop(replay)
    assert problems(rows, page, "replay", met) == []


def test_a_kafka_run_serves_what_the_table_says(
    kafka_bootstrap: str, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    rows = table()
    setup = LiveSetup(
        kafka_bootstrap, tmp_path, live_baseline.baseline, live_baseline.calibration_cache
    )
    setup.create_topics()
    lines = capture_with_malformed(seed=7, n_records=6_000)  # malformed lines: dead letters
    produce(kafka_bootstrap, setup.topic, lines)
    port = services.free_port()
    config = setup.config(tmp_path / "events.jsonl", **{"metrics.port": port})
    met = {"sinks.dead_letter_topic"}
    url = f"http://127.0.0.1:{port}/metrics"
    where = {"endpoint": "default", "topic": setup.topic, "partition": "0"}
    with live_processes() as procs:
        run = LiveProcess(config, tmp_path, "run")
        procs.append(run)
        wait_until(
            lambda: setup.checkpoint_offsets().get(0) == len(lines),
            timeout=SCRAPE_TIMEOUT_S,
            what="the checkpoint to reach the end of the topic",
            watch=[run],
        )
        # caught up: the lag gauges say so once the checkpoint that got there reported them
        page = scrape_until(
            url,
            lambda page: (
                not missing(rows, page, "kafka", met)
                and sample(page, "driftstream_consumer_lag_records", where) == 0
            ),
            run.alive,
            "every metric of a Kafka run, and no lag",
        )
        assert run.terminate() == 0, run.log()[-3000:]
    assert problems(rows, page, "kafka", met) == []
    assert sample(page, "driftstream_consumer_lag_seconds", where) == 0
    cpu = sample(page, "driftstream_monitor_cpu_seconds_total", {"endpoint": "default"})
    assert cpu is not None and cpu > 0


def test_a_kinesis_run_serves_what_the_table_says(
    moto_server: MotoServer, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    rows = table()
    stream = s.unique("captures")
    kinesis = s.client(moto_server.endpoint_url, "kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    lines = s.traffic(n_records=3_000)
    for i in range(0, len(lines), 500):
        kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": line, "PartitionKey": "churn"} for line in lines[i : i + 500]],
        )
    port = services.free_port()
    tree = s.base_config(
        moto_server.endpoint_url,
        sources={
            "kinesis": {
                "stream_name": stream,
                "application": "table",
                "max_records_per_call": 500,
                "idle_poll_seconds": 0.2,
            }
        },
        checkpoint={
            "directory": str(tmp_path / "checkpoints"),
            "interval_seconds": 0.5,
            "every_records": 1000,
        },
        sinks={"events_file": str(tmp_path / "events.jsonl")},
        metrics={"host": "127.0.0.1", "port": port},
        baseline=str(live_baseline.baseline),  # calibrated once for every test here
        detectors={"calibration": {"cache_dir": str(live_baseline.calibration_cache)}},
    )
    config = s.write_config(tmp_path / "run.yaml", tree)
    where = {"endpoint": "churn", "topic": stream, "partition": "0"}
    run = s.start_cli("run", "--config", str(config), cwd=tmp_path, log=tmp_path / "run.log")
    try:
        page = scrape_until(
            f"http://127.0.0.1:{port}/metrics",
            lambda page: (
                not missing(rows, page, "kinesis", set())
                and sample(page, "driftstream_records_read_total", {"endpoint": "churn"})
                == len(lines)
            ),
            lambda: run.poll() is None,
            "every metric of a Kinesis run, every record read",
        )
    finally:
        stop(run)
    assert problems(rows, page, "kinesis", set()) == []
    # a shard's lag is in seconds only: its records cannot be counted
    assert sample(page, "driftstream_consumer_lag_seconds", where) is not None
    assert sample(page, "driftstream_consumer_lag_records", where) is None
