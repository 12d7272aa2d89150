"""Helpers for the live-service tests on a real broker: data, configs, topics, processes.

Every test gets its own topics, group and checkpoint directory (names carry a random suffix), so
tests share one broker without seeing each other's records.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO_ROOT / "examples" / "driftstream.yaml"
DRIFTSTREAM = [sys.executable, "-m", "driftstream.streamer.app.cli"]

# Malformed lines at known positions: every one must reach the dead-letter topic.
MALFORMED: dict[int, bytes] = {
    0: b"not json at all",
    1234: b'{"captureData": {"endpointInput": {"observedContentType": "text/csv", "data": "1,',
    2999: b'{"hello": "world"}',
    5555: b"",
    9000: b'{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
    b'"data":"1,2,3","encoding":"CSV"}},"eventMetadata":{"eventId":"x",'
    b'"inferenceTime":"2026-11-01T00:00:00Z"},"eventVersion":"0"}',
}


def scenario(seed: int, n_records: int = 12_000) -> Scenario:
    """Traffic that drifts: abrupt shifts at 4,000 and a variance change at 8,000."""
    return Scenario(
        f"live-{seed}",
        n_records,
        (
            Change("mean_shift", "age", 4_000, 1.0),
            Change("category_mix", "country", 4_000, 0.4),
            Change("variance", "score_b", 8_000, 3.0),
            Change("missing", "session_seconds", 8_000, 0.3),
        ),
        seed=seed,
    )


def capture_with_malformed(seed: int, n_records: int = 12_000) -> list[bytes]:
    """Capture lines with MALFORMED replacing the lines at their positions (file order)."""
    lines = list(capture_lines(scenario(seed, n_records)))
    for at, bad in MALFORMED.items():
        if at < len(lines):
            lines[at] = bad
    return lines


def write_lines(path: Path, lines: Sequence[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def suffix() -> str:
    return uuid.uuid4().hex[:10]


# -- configs ---------------------------------------------------------------------------------


@dataclass
class LiveSetup:
    """One test's topics, group and files."""

    bootstrap: str
    workdir: Path
    baseline: Path
    calibration_cache: Path
    partitions: int = 1
    name: str = field(default_factory=suffix)

    @property
    def topic(self) -> str:
        return f"captures-{self.name}"

    @property
    def group(self) -> str:
        return f"group-{self.name}"

    @property
    def dead_letter_topic(self) -> str:
        return f"dlq-{self.name}"

    @property
    def output_topic(self) -> str:
        return f"events-{self.name}"

    @property
    def checkpoints(self) -> Path:
        return self.workdir / "checkpoints"

    def config(self, events_file: Path, **changes: Any) -> Path:
        """The example config with this test's names; `changes` are dotted keys → values."""
        tree = yaml.safe_load(EXAMPLE_CONFIG.read_text())
        tree["baseline"] = str(self.baseline)
        kafka = tree["sources"]["kafka"]
        kafka.update(
            bootstrap_servers=self.bootstrap,
            topics=[self.topic],
            group_id=self.group,
            session_timeout_ms=4000,
            heartbeat_interval_ms=1000,
            max_poll_interval_ms=30_000,
            poll_timeout_ms=200,
            max_poll_records=1000,
            request_timeout_ms=10_000,
        )
        kafka["retry"] = {"initial_seconds": 0.2, "max_seconds": 2.0}
        tree["checkpoint"].update(
            directory=str(self.checkpoints), interval_seconds=0.5, every_records=1500
        )
        tree["sinks"].update(
            events_file=str(events_file),
            dead_letter_topic=self.dead_letter_topic,
            output_topic=self.output_topic,
        )
        tree["metrics"]["port"] = 0
        tree.setdefault("detectors", {})["calibration"] = {"cache_dir": str(self.calibration_cache)}
        for dotted, value in changes.items():
            node = tree
            *parents, last = dotted.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value
        path = self.workdir / f"config-{suffix()}.yaml"
        path.write_text(yaml.safe_dump(tree, sort_keys=False))
        return path

    def create_topics(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="test-admin")
        try:
            admin.create_topics(
                {
                    self.topic: {"num_partitions": self.partitions, "replication_factor": 1},
                    self.dead_letter_topic: {"num_partitions": 1, "replication_factor": 1},
                    self.output_topic: {"num_partitions": 1, "replication_factor": 1},
                },
                wait_for_metadata=True,
            )
        finally:
            admin.close()

    def checkpoint_offsets(self) -> dict[int, int]:
        return {p: doc["offset"] for p, doc in self.checkpoint_docs().items()}

    def checkpoint_docs(self) -> dict[int, dict[str, Any]]:
        folder = self.checkpoints / self.group / self.topic
        out: dict[int, dict[str, Any]] = {}
        for path in folder.glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                out[int(path.stem)] = json.loads(path.read_bytes())
        return out


# -- processes ---------------------------------------------------------------------------------


def driftstream(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DRIFTSTREAM, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


class LiveProcess:
    """`driftstream run --config FILE` as a child process, its stderr in a file."""

    def __init__(self, config: Path, workdir: Path, name: str) -> None:
        self.log_path = workdir / f"{name}-{suffix()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [*DRIFTSTREAM, "--log-level", "info", "run", "--config", str(config)],
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait; the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            self._log.close()
        return rc

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._log.close()

    def held_partitions(self) -> list[str]:
        """Partitions this process restored or started, in log order (never dropped)."""
        return [p for event, p in self._partition_log() if event != "partition_released"]

    def current_partitions(self) -> set[str]:
        """Partitions this process holds now, as its log tells."""
        held: set[str] = set()
        for event, p in self._partition_log():
            if event == "partition_released":
                held.discard(p)
            else:
                held.add(p)
        return held

    def restored_offsets(self) -> dict[str, int]:
        """Partition → the checkpoint offset this process last restored it from."""
        out: dict[str, int] = {}
        for line in self.log().splitlines():
            if "event='partition_restored'" in line:
                part = line.split("partition='", 1)[1].split("'", 1)[0]
                out[part] = int(line.split(" offset=", 1)[1].split()[0])
        return out

    def _partition_log(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for line in self.log().splitlines():
            for event in ("partition_restored", "partition_started", "partition_released"):
                if f"event='{event}'" in line:
                    out.append((event, line.split("partition='", 1)[1].split("'", 1)[0]))
        return out


@contextlib.contextmanager
def live_processes() -> Iterator[list[LiveProcess]]:
    """A list to add LiveProcesses to; every one still running is killed at the end."""
    procs: list[LiveProcess] = []
    try:
        yield procs
    finally:
        for p in procs:
            p.close()


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    watch: Sequence[LiveProcess] = (),
    interval: float = 0.2,
) -> None:
    """Poll `condition`; fail with `what` on timeout, or at once when a watched process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for p in watch:
            if not p.alive():
                raise AssertionError(f"{what}: driftstream exited early:\n{p.log()[-4000:]}")
        time.sleep(interval)
    logs = "\n".join(p.log()[-3000:] for p in watch)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


# -- records -----------------------------------------------------------------------------------


def produce(
    bootstrap: str,
    topic: str,
    lines: Sequence[bytes],
    *,
    partition: int | None = None,
    key: bytes = b"default",
    rate: float | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Produce `lines` in order (idempotent producer: no reordering, no duplicates on retry);
    at `rate` records per second when given."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        acks="all",
        delivery_timeout_ms=180_000,
        request_timeout_ms=10_000,
        reconnect_backoff_max_ms=1000,
    )
    try:
        started = time.monotonic()
        for i, line in enumerate(lines):
            if stop is not None and stop.is_set():
                return
            if rate is not None:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            producer.send(topic, key=key, value=line, partition=partition)
        producer.flush(timeout=180)
    finally:
        producer.close()


@dataclass(frozen=True)
class Consumed:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


def consume_all(
    bootstrap: str, topic: str, *, at_least: int, timeout: float = 60
) -> list[Consumed]:
    """Every record of `topic` from the beginning, once at least `at_least` arrived (then what
    else arrives within a second)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] | None = None
        while not parts and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                time.sleep(0.2)
        assert parts, f"topic {topic} does not exist"
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        out: list[Consumed] = []
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=200)
            for records in polled.values():
                out.extend(
                    Consumed(r.partition, r.offset, r.key, r.value or b"", dict(r.headers))
                    for r in records
                )
            if len(out) >= at_least:
                if quiet_until is None:
                    quiet_until = time.monotonic() + 1.0
                elif time.monotonic() > quiet_until:
                    break
        return out
    finally:
        consumer.close()


# -- events ------------------------------------------------------------------------------------

EventKey = tuple[str, str | None, str | None, int | None]


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def key_of(event: dict[str, Any]) -> EventKey:
    return (event["kind"], event.get("feature"), event.get("detector"), event.get("record_index"))


def keys(events: Sequence[dict[str, Any]], *, partition: int | None = None) -> list[EventKey]:
    """Event identities (kind, feature, detector, record_index), summaries left out."""
    return [
        key_of(e)
        for e in events
        if e["kind"] != "summary" and (partition is None or e.get("partition") == partition)
    ]


def reference_events(capture: Path, config: Path, workdir: Path) -> list[dict[str, Any]]:
    """What `driftstream replay` of the same file reports (the uninterrupted truth)."""
    out = workdir / f"reference-{suffix()}.jsonl"
    done = driftstream(
        "replay",
        str(capture),
        "--config",
        str(config),
        "--events-out",
        str(out),
        "--metrics-port",
        "0",
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr
    return read_events(out)
