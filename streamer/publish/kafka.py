"""`driftstream replay SOURCE --to kafka://host:port/topic`: re-publish captured records.

Every line the file source yields (malformed and empty ones included) becomes one Kafka record
with its bytes unchanged, keyed by the endpoint, so all of an endpoint's records land in one
partition in file order: record i of the file is offset i of that partition when the topic
started empty, and `driftstream run` then reports the same record indices as
`driftstream replay` of the file. Pacing: as fast as possible, or the recorded pace (the records'
eventMetadata.inferenceTime) times `speed`.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError

from driftstream.streamer.publish.base import PublishError
from driftstream.streamer.sources.pacing import Pacer
from driftstream.streamer.sources.single import OnePartitionSource, inference_time

log = structlog.get_logger(__name__)

MAX_RECORD_BYTES = 2 * 1_048_576


@dataclass(frozen=True)
class KafkaTarget:
    bootstrap_servers: tuple[str, ...]
    topic: str

    def __str__(self) -> str:
        return f"kafka://{','.join(self.bootstrap_servers)}/{self.topic}"


def parse_kafka_target(target: str) -> KafkaTarget:
    """`kafka://host:port[,host:port]/topic` → KafkaTarget; ValueError (one line) otherwise."""
    url = urllib.parse.urlsplit(target)
    servers = tuple(s for s in url.netloc.split(",") if s)
    topic = url.path.lstrip("/")
    if url.scheme != "kafka" or not servers or not topic or "/" in topic or url.query:
        raise ValueError(f"--to {target}: expected kafka://host:port/topic")
    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--to {target}: {server!r} is not host:port")
    return KafkaTarget(servers, topic)


@dataclass
class PublishSummary:
    records: int = 0
    acknowledged: int = 0
    failed: int = 0
    n_bytes: int = 0
    seconds: float = 0.0
    partitions: set[int] = field(default_factory=set)
    errors: dict[str, int] = field(default_factory=dict)
    # delivery callbacks run on the producer's network thread
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def delivered(self, metadata: Any) -> None:
        with self._lock:
            self.acknowledged += 1
            self.partitions.add(int(metadata.partition))

    def refused(self, exc: BaseException) -> None:
        with self._lock:
            self.failed += 1
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1

    def settle(self) -> None:
        """After the producer flushed: whatever was not acknowledged failed."""
        with self._lock:
            self.failed = self.records - self.acknowledged

    def line(self, target: KafkaTarget, key: bytes) -> str:
        rate = self.records / self.seconds if self.seconds else 0.0
        parts = ",".join(str(p) for p in sorted(self.partitions)) or "-"
        text = (
            f"published {self.acknowledged} of {self.records} records ({self.n_bytes:,} bytes) to "
            f"{target} key {key.decode(errors='replace')!r} partition {parts} in "
            f"{self.seconds:.2f}s ({rate:,.0f} records/s); {self.failed} failed"
        )
        if self.errors:
            text += " (" + ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) + ")"
        return text


def publish(
    source: OnePartitionSource,
    target: KafkaTarget,
    *,
    key: bytes,
    client_options: Mapping[str, Any],
    speed: float | None = None,
    stop: threading.Event | None = None,
    producer_factory: Callable[..., Any] = KafkaProducer,
) -> PublishSummary:
    """Produce every line of `source` to `target` (see the module docstring)."""
    stop = stop or threading.Event()
    summary = PublishSummary()
    options = {**client_options, "bootstrap_servers": list(target.bootstrap_servers)}
    try:
        producer = producer_factory(
            **options,
            acks="all",
            linger_ms=20,
            batch_size=512 * 1024,
            max_request_size=MAX_RECORD_BYTES,
        )
    except KafkaError as exc:
        raise PublishError(f"cannot reach Kafka at {target}: {type(exc).__name__}") from exc
    started = time.perf_counter()
    try:
        pacer = Pacer(speed, stop) if speed else None
        _send_all(source, producer, target.topic, key, summary, pacer, stop)
        producer.flush()
    except KafkaError as exc:
        raise PublishError(f"publishing to {target} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        summary.seconds = time.perf_counter() - started
        producer.close()
    summary.settle()
    return summary


def _send_all(
    source: OnePartitionSource,
    producer: Any,
    topic: str,
    key: bytes,
    summary: PublishSummary,
    pacer: Pacer | None,
    stop: threading.Event,
) -> None:
    """Hand every line to the producer, at the pacer's pace, until the source ends or stops."""
    while not stop.is_set():
        batch = source.read(64 if pacer else 4096)
        if batch is None:
            return
        for line in batch.lines:
            if pacer is not None:
                pacer.wait_for(inference_time(line))
                if stop.is_set():
                    return
            summary.records += 1
            summary.n_bytes += len(line)
            try:
                future = producer.send(topic, key=key, value=line)
            except MessageSizeTooLargeError as exc:
                summary.refused(exc)
                continue
            future.add_callback(summary.delivered)
            future.add_errback(summary.refused)
