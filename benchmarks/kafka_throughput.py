"""Live service on a real broker: records/s with monitoring against a bare consumer, and latency.

1. Throughput. One topic (one partition) is filled with N captured records (streamer.synthetic,
   13 inputs + the model output, ~430 bytes each). In the same run, alternating, R rounds each:
   (a) bare: a kafka-python KafkaConsumer with the service's own consumer options
       (streamer.kafka_source.consumer_options, a fresh group each round) drains the topic and
       does nothing with the records;
   (b) monitored: the live service as `driftstream run` assembles it (KafkaSource, decoder and
       a monitor per partition in a child process, events file + Prometheus sinks, directory
       checkpoints on the default cadence, offset commits) drains the same topic from the
       start, in this process;
   (c) monitored inline: the same with `monitor_process: false`, decoding and monitoring in
       the consumer's process (the obvious design, for comparison).
   Each contender runs in a fresh process of its own (`--contender`), so none inherits another's
   heap, threads or garbage. Rate = records / (time of the last record - time of the first
   non-empty poll). Monitoring cost = 1 - monitored / bare (target: at most 20 %).
2. Latency at a steady 5,000 records/s. A separate producer process sends captured records at
   that rate for S seconds; every 100th record is malformed, so the service emits a `rejected`
   event for it to the output topic. Latency = the output record's timestamp (when the service
   produced the event) - the input record's timestamp (when the producer sent it); both
   CreateTime from the same clock. p50 / p99 / max over all those events, and over those after
   the first 2 s of traffic (the steady state).

Broker: --bootstrap, else env DRIFTSTREAM_KAFKA_BOOTSTRAP, else a private one started with
scripts/kafka.sh (state under benchmarks/out/kafka/broker) and stopped at the end.

Run: .venv/bin/python benchmarks/kafka_throughput.py [--records N] [--rounds R] [--seconds S]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from driftstream.detectors.baseline import build_baseline
from driftstream.sinks.base import Sink
from driftstream.sinks.events_file import EventsFileSink
from driftstream.sinks.kafka import KafkaEventsSink
from driftstream.sinks.prometheus import PrometheusSink
from driftstream.streamer.app.build import build_decoder, build_monitor, load_configured_baseline
from driftstream.streamer.app.config import Config, load_config
from driftstream.streamer.app.logging import configure_logging
from driftstream.streamer.checkpoint.directory import DirectoryCheckpointStore
from driftstream.streamer.runtime.host import InlineMonitorHost, ProcessMonitorHost
from driftstream.streamer.runtime.service import Cadence, ProcessingService
from driftstream.streamer.sources.base import RawBatch
from driftstream.streamer.sources.kafka.source import KafkaSource, client_options, consumer_options
from driftstream.streamer.sources.metrics import LiveMetrics
from driftstream.streamer.sources.synthetic import Scenario, capture_lines, training_csv

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
OUT = ROOT / "out" / "kafka"
TARGET_COST = 0.20
MALFORMED_EVERY = 100
WARM_SECONDS = 2  # latency is also reported without the first seconds of traffic


# -- broker and topics ------------------------------------------------------------------------


@contextlib.contextmanager
def broker(explicit: str | None) -> Iterator[str]:
    bootstrap = explicit or os.environ.get("DRIFTSTREAM_KAFKA_BOOTSTRAP", "").strip()
    if bootstrap:
        yield bootstrap
        return
    env = {**os.environ, "KAFKA_STATE_DIR": str(OUT / "broker")}
    script = str(REPO / "scripts" / "kafka.sh")
    port = _free_port_pair()
    done = subprocess.run(
        ["bash", script, "start", str(port)], env=env, capture_output=True, text=True, check=True
    )
    try:
        yield done.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", script, "stop"], env=env, capture_output=True, check=False)


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def create_topics(bootstrap: str, *names: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            {n: {"num_partitions": 1, "replication_factor": 1} for n in names},
            wait_for_metadata=True,
        )
    finally:
        admin.close()


def fill(bootstrap: str, topic: str, lines: list[bytes]) -> float:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=1 << 20, acks="all"
    )
    t0 = time.perf_counter()
    for line in lines:
        producer.send(topic, key=b"default", value=line)
    producer.flush()
    producer.close()
    return len(lines) / (time.perf_counter() - t0)


# -- the two contenders ------------------------------------------------------------------------


def service_config(bootstrap: str, topic: str, baseline: Path, work: Path, **extra: Any) -> Config:
    work.mkdir(parents=True, exist_ok=True)
    tree: dict[str, Any] = {
        "baseline": str(baseline),
        "sources": {
            "kafka": {
                "bootstrap_servers": bootstrap,
                "topics": [topic],
                "group_id": f"bench-{uuid.uuid4().hex[:8]}",
                "session_timeout_ms": 10_000,
            }
        },
        "checkpoint": {"directory": str(work / "checkpoints")},
        "sinks": {"events_file": str(work / "events.jsonl")},
        "metrics": {"enabled": False},
        "detectors": {"calibration": {"cache_dir": str(OUT / "calibration")}},
    }
    for dotted, value in extra.items():
        node = tree
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return load_config(None, environ={}, **dict(_flatten(tree)))


def _flatten(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def bare_rate(config: Config, n: int) -> float:
    assert config.sources.kafka is not None
    consumer = KafkaConsumer(**consumer_options(config.sources.kafka))
    consumer.subscribe(list(config.sources.kafka.topics))
    seen, first = 0, 0.0
    try:
        while seen < n:
            polled = consumer.poll(
                timeout_ms=500, max_records=config.sources.kafka.max_poll_records
            )
            for records in polled.values():
                if not first and records:
                    first = time.perf_counter()
                seen += len(records)
        return n / (time.perf_counter() - first)
    finally:
        consumer.close(autocommit=False)


class _TimedSource(KafkaSource):
    """The service's source, noting the first record's time and stopping after `n` records."""

    def __init__(self, *args: Any, n: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.n = n
        self.seen = 0
        self.first = 0.0

    def poll(self, *, wait: bool = True) -> list[RawBatch]:
        batches = super().poll(wait=wait)
        if batches and not self.first:
            self.first = time.perf_counter()
        self.seen += sum(len(b.lines) for b in batches)
        return batches


def build_service(
    config: Config,
    stop: threading.Event,
    *,
    n: int,
    output_topic: str | None = None,
    extra: Sink | None = None,
) -> tuple[ProcessingService, _TimedSource, list[Any]]:
    kafka = config.sources.kafka
    assert kafka is not None
    baseline = load_configured_baseline(config)
    decoder = build_decoder(config, baseline)
    prototype = build_monitor(config, baseline)
    host = (ProcessMonitorHost if config.monitor_process else InlineMonitorHost)(decoder, prototype)
    telemetry = PrometheusSink(config.endpoint)
    metrics = LiveMetrics(config.endpoint, telemetry.registry)
    assert config.sinks.events_file is not None
    sinks: list[Any] = [EventsFileSink(config.sinks.events_file, append=True), telemetry]
    if output_topic is not None:
        sinks.insert(
            0, KafkaEventsSink(output_topic, client_options(kafka), endpoint=config.endpoint)
        )
    if extra is not None:
        sinks.append(extra)
    for sink in sinks:
        sink.setup()
    store = DirectoryCheckpointStore(config.checkpoint.directory)
    store.setup()
    source = _TimedSource(kafka, stop=stop, metrics=metrics, n=n)
    service = ProcessingService(
        source,
        host,
        sinks,
        store,
        group=kafka.group_id,
        metrics=metrics,
        telemetry=telemetry,
        cadence=Cadence(config.checkpoint.interval_seconds, config.checkpoint.every_records),
        stop=stop,
    )
    return service, source, sinks


class _Finish(Sink):
    """Notes when every record was processed and stops the service: the loop flushes its sinks
    right after applying each poll's results, so no watcher thread has to poll (and take the
    GIL from the consumer)."""

    def __init__(self, n: int, stop: threading.Event) -> None:
        self.n = n
        self.stop = stop
        self.service: ProcessingService | None = None
        self.done_at = 0.0
        self.child_peak_mib = 0.0

    def add(self, event: Any) -> None:
        pass

    def flush(self) -> None:
        if self.done_at or self.service is None:
            return
        positions = self.service.positions().values()
        if positions and all(pos is not None and pos >= self.n for pos in positions):
            self.done_at = time.perf_counter()
            self.stop.set()
            pid = getattr(self.service.host, "pid", None)
            if pid is not None:  # the monitor process, while it still runs
                self.child_peak_mib = peak_mib(pid)


def monitored_rate(config: Config, n: int) -> tuple[float, float]:
    """Records/s of the service, and the monitor process's peak memory (MiB; 0 inline)."""
    stop = threading.Event()
    finish = _Finish(n, stop)
    service, source, sinks = build_service(config, stop, n=n, extra=finish)
    finish.service = service
    service.run()
    for sink in sinks:
        sink.close()
    return n / (finish.done_at - source.first), finish.child_peak_mib


CONTENDERS = ("bare", "monitored", "inline")


def contender(name: str, bootstrap: str, topic: str, n: int, round_: int) -> dict[str, float]:
    """One contender's rate and peak memory, in this (fresh) process."""
    work = OUT / f"round-{round_}" / name
    config = service_config(
        bootstrap, topic, OUT / "baseline", work, monitor_process=name != "inline"
    )
    if name == "bare":
        rate, child = bare_rate(config, n), 0.0
    else:
        rate, child = monitored_rate(config, n)
    return {"records_per_s": rate, "peak_rss_mib": peak_mib(), "child_peak_rss_mib": child}


def peak_mib(pid: int | str = "self") -> float:
    """Peak resident memory of a process (VmHWM: unlike ru_maxrss, not inherited at exec from
    the benchmark process that forked it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def run_contender(name: str, bootstrap: str, topic: str, n: int, round_: int) -> dict[str, float]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--contender",
            name,
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--records",
            str(n),
            "--round",
            str(round_),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"contender {name} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- latency -----------------------------------------------------------------------------------


def produce_worker(bootstrap: str, topic: str, rate: float, seconds: float) -> None:
    """Child process: captured records at `rate`/s for `seconds`, every 100th malformed."""
    n = int(rate * seconds)
    lines = list(capture_lines(Scenario("latency", n, seed=5)))
    for i in range(0, n, MALFORMED_EVERY):
        lines[i] = b'{"malformed": ' + str(i).encode()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks="all")
    started = time.perf_counter()
    chunk = 25  # records per send burst: 200 bursts a second at 5,000/s
    for i in range(0, n, chunk):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for line in lines[i : i + chunk]:
            producer.send(topic, key=b"default", value=line)
    producer.flush()
    producer.close()
    print(json.dumps({"records": n, "seconds": time.perf_counter() - started}))


def latency(bootstrap: str, baseline: Path, rate: float, seconds: float) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    topic, out_topic = f"bench-latency-{tag}", f"bench-latency-events-{tag}"
    create_topics(bootstrap, topic, out_topic)
    work = OUT / f"latency-{tag}"
    config = service_config(
        bootstrap,
        topic,
        baseline,
        work,
        **{
            "sources.kafka.poll_timeout_ms": 100,
        },
    )
    n = int(rate * seconds)
    stop = threading.Event()
    service, _, sinks = build_service(config, stop, n=n, output_topic=out_topic)
    runner = threading.Thread(target=service.run)
    runner.start()
    time.sleep(3.0)  # joined the group and waiting: measure steady state, not start-up
    worker = subprocess.run(
        [
            sys.executable,
            __file__,
            "--produce-worker",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    produced = json.loads(worker.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any((p or 0) < n for p in service.positions().values()):
        time.sleep(0.05)
    stop.set()
    runner.join()
    for sink in sinks:
        sink.close()

    sent = _timestamps(bootstrap, topic, n)
    events = _records(bootstrap, out_topic, n // MALFORMED_EVERY)
    lat: list[int] = []
    steady: list[int] = []  # after the first WARM_SECONDS of traffic
    for r in events:
        event = orjson.loads(r.value)
        if event.get("kind") == "rejected":
            lat.append(r.timestamp - sent[event["record_index"]])
            if event["record_index"] >= WARM_SECONDS * rate:
                steady.append(lat[-1])
    return {
        "rate_target": rate,
        "rate_achieved": produced["records"] / produced["seconds"],
        "records": n,
        "events_measured": len(lat),
        **_percentiles(lat, ""),
        **_percentiles(steady, f"after_{WARM_SECONDS}s_"),
    }


def _percentiles(values: list[int], prefix: str) -> dict[str, float]:
    values = sorted(values)
    return {
        f"{prefix}p50_ms": statistics.median(values),
        f"{prefix}p99_ms": values[int(0.99 * (len(values) - 1))],
        f"{prefix}max_ms": values[-1],
    }


def _records(bootstrap: str, topic: str, at_least: int) -> list[Any]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    consumer.assign([TopicPartition(topic, 0)])
    out: list[Any] = []
    deadline = time.monotonic() + 60
    end = consumer.end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
    while len(out) < max(at_least, end) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500, max_records=50_000).values():
            out.extend(records)
    consumer.close()
    return out


def _timestamps(bootstrap: str, topic: str, n: int) -> dict[int, int]:
    return {r.offset: r.timestamp for r in _records(bootstrap, topic, n)}


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--bootstrap")
    p.add_argument("--records", type=int, default=300_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=5000.0)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--json", type=Path, default=OUT / "kafka_throughput.json")
    p.add_argument("--produce-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--topic", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    configure_logging("warning")
    if args.produce_worker:
        produce_worker(args.bootstrap, args.topic, args.rate, args.seconds)
        return 0
    if args.contender:
        print(
            json.dumps(
                contender(args.contender, args.bootstrap, args.topic, args.records, args.round)
            )
        )
        return 0

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    (OUT / "training.csv").write_text(training_csv(20_000, seed=1))
    build_baseline(OUT / "training.csv", OUT / "baseline", label_column="prediction")
    lines = list(capture_lines(Scenario("throughput", args.records, seed=3)))
    with broker(args.bootstrap) as bootstrap:
        topic = f"bench-throughput-{uuid.uuid4().hex[:8]}"
        create_topics(bootstrap, topic)
        fill_rate = fill(bootstrap, topic, lines)
        print(f"filled {topic} with {len(lines):,} records ({fill_rate:,.0f} records/s)")
        n = len(lines)
        del lines
        runs: dict[str, list[dict[str, float]]] = {c: [] for c in CONTENDERS}
        bare: list[float] = []
        monitored: list[float] = []
        inline: list[float] = []
        for r in range(args.rounds):
            for name, rates in zip(CONTENDERS, (bare, monitored, inline), strict=True):
                runs[name].append(run_contender(name, bootstrap, topic, n, r))
                rates.append(runs[name][-1]["records_per_s"])
            print(
                f"round {r + 1}: bare {bare[-1]:,.0f} records/s, "
                f"monitored {monitored[-1]:,.0f} records/s, "
                f"monitored inline {inline[-1]:,.0f} records/s"
            )
        lat = latency(bootstrap, OUT / "baseline", args.rate, args.seconds)
    b, m = statistics.median(bare), statistics.median(monitored)
    i = statistics.median(inline)
    mem = {
        name: {
            key: statistics.median(run[key] for run in runs[name])
            for key in ("peak_rss_mib", "child_peak_rss_mib")
        }
        for name in CONTENDERS
    }
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0],
        },
        "records": n,
        "bare_records_per_s": bare,
        "monitored_records_per_s": monitored,
        "median_bare": b,
        "median_monitored": m,
        "monitoring_cost": 1 - m / b,
        "monitored_inline_records_per_s": inline,
        "median_monitored_inline": i,
        "monitoring_cost_inline": 1 - i / b,
        "target_cost": TARGET_COST,
        "peak_rss_mib": mem,
        "latency": lat,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(
        f"throughput (median of {args.rounds}): bare {b:,.0f} records/s, monitored "
        f"{m:,.0f} records/s: monitoring costs {1 - m / b:.0%} (target <= {TARGET_COST:.0%}); "
        f"inline {i:,.0f} records/s, {1 - i / b:.0%}"
    )
    print(
        f"peak memory (median): bare {mem['bare']['peak_rss_mib']:.0f} MiB; driftstream run "
        f"{mem['monitored']['peak_rss_mib']:.0f} MiB + monitor process "
        f"{mem['monitored']['child_peak_rss_mib']:.0f} MiB; inline "
        f"{mem['inline']['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"latency at {lat['rate_achieved']:,.0f} records/s: p50 {lat['p50_ms']:.0f} ms, "
        f"p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms "
        f"({lat['events_measured']} events); after the first {WARM_SECONDS} s: "
        f"p50 {lat[f'after_{WARM_SECONDS}s_p50_ms']:.0f} ms, "
        f"p99 {lat[f'after_{WARM_SECONDS}s_p99_ms']:.0f} ms"
    )
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
