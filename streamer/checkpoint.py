"""Checkpoint stores: detector state of each partition, saved with the offset it corresponds to.

Format (JSON, never pickle; one document per consumer group, topic and partition):

    {"version": 1, "group": "driftstream", "topic": "captures", "partition": 0,
     "offset": 12000, "written_at": "2026-11-26T10:00:00.000000+00:00",
     "monitor": {... detectors.monitor.Monitor.state_dict() ...}}

`offset` is the next record to read: every record before it has been through the monitor whose
state is `monitor`, and its events were flushed to every sink before the checkpoint was written.

Two stores:
- DirectoryCheckpointStore: DIR/<group>/<topic>/<partition>.json, written atomically (temporary
  file, fsync, rename), so a reader sees the old or the new checkpoint, never half of one.
  Processes of one group share the directory (a shared volume) to take over each other's
  partitions.
- KafkaCheckpointStore: a compacted topic, key `<group>/<topic>/<partition>`, value the JSON
  above (gzip-compressed batches). State follows partitions between machines with no shared disk.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import structlog
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streamer.base import Checkpoint, CheckpointStore, Partition

log = structlog.get_logger(__name__)

CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint exists but cannot be used (unreadable, other version, other baseline)."""


class CheckpointUnavailableError(RuntimeError):
    """The store cannot be reached or written now; retried after back-off."""


def checkpoint_key(group: str, partition: Partition) -> str:
    return f"{group}/{partition.topic}/{partition.partition}"


def encode(checkpoint: Checkpoint) -> bytes:
    return orjson.dumps(
        {
            "version": CHECKPOINT_VERSION,
            "group": checkpoint.group,
            "topic": checkpoint.partition.topic,
            "partition": checkpoint.partition.partition,
            "offset": checkpoint.offset,
            "written_at": dt.datetime.now(dt.UTC).isoformat(),
            "monitor": checkpoint.monitor,
        }
    )


def decode(data: bytes, *, where: str, group: str, partition: Partition) -> Checkpoint:
    """Parse and check one stored checkpoint; CheckpointError names `where` and the problem."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise CheckpointError(f"checkpoint {where} is not JSON") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"checkpoint {where} is not a JSON object")
    if doc.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {where} has version {doc.get('version')!r}, this driftstream reads "
            f"{CHECKPOINT_VERSION}; delete it to start afresh"
        )
    found = (doc.get("group"), doc.get("topic"), doc.get("partition"))
    if found != (group, partition.topic, partition.partition):
        key = checkpoint_key(group, partition)
        raise CheckpointError(f"checkpoint {where} belongs to {found}, not {key}")
    offset, monitor = doc.get("offset"), doc.get("monitor")
    if not isinstance(offset, int) or offset < 0 or not isinstance(monitor, dict):
        raise CheckpointError(f"checkpoint {where} lacks a valid offset or monitor state")
    return Checkpoint(group, partition, offset, monitor)


# -- local directory --------------------------------------------------------------------------


def _segment(name: str) -> str:
    """A file-name-safe, reversible form of a group or topic name."""
    quoted = urllib.parse.quote(name, safe="-_.")
    return quoted.replace(".", "%2E") if set(quoted) <= {"."} else quoted


class DirectoryCheckpointStore(CheckpointStore):
    """One JSON file per group/topic/partition under `directory` (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, group: str, partition: Partition) -> Path:
        return (
            self.directory
            / _segment(group)
            / _segment(partition.topic)
            / f"{partition.partition}.json"
        )

    def setup(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointUnavailableError(
                f"checkpoint directory {self.directory}: {exc.strerror}"
            ) from exc

    def load(self, group: str, partition: Partition) -> Checkpoint | None:
        path = self.path(group, partition)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
        return decode(data, where=str(path), group=group, partition=partition)

    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        for cp in checkpoints:
            path = self.path(cp.group, cp.partition)
            try:
                write_atomically(path, encode(cp))
            except OSError as exc:
                raise CheckpointUnavailableError(f"cannot write {path}: {exc.strerror}") from exc


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # the rename itself must survive a power cut too
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- compacted Kafka topic --------------------------------------------------------------------

ClientFactory = Callable[..., Any]


class KafkaCheckpointStore(CheckpointStore):
    """Checkpoints in a compacted topic (see the module docstring).

    `setup` creates the topic when it is missing (cleanup.policy=compact, one partition, the
    broker's default replication). `load` first reads the topic up to its current end, so it
    sees every checkpoint written before it was called, by any process. `save` returns once the
    broker acknowledged every checkpoint (acks=all).
    """

    #: a checkpoint is one record; large windows make large states (compressed ~5-10x)
    MAX_RECORD_BYTES = 16 * 1_048_576

    def __init__(
        self,
        topic: str,
        client_options: Mapping[str, Any],
        *,
        timeout_seconds: float = 30.0,
        producer_factory: ClientFactory = KafkaProducer,
        consumer_factory: ClientFactory = KafkaConsumer,
        admin_factory: ClientFactory = KafkaAdminClient,
    ) -> None:
        self.topic = topic
        self.options = dict(client_options)
        self.timeout_seconds = timeout_seconds
        self._producer_factory = producer_factory
        self._consumer_factory = consumer_factory
        self._admin_factory = admin_factory
        self._producer: Any = None
        self._reader: Any = None
        self._latest: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def setup(self) -> None:
        try:
            self._create_topic()
            if self._producer is None:
                self._producer = self._producer_factory(
                    **self.options,
                    acks="all",
                    compression_type="gzip",
                    linger_ms=0,
                    max_request_size=self.MAX_RECORD_BYTES,
                    max_block_ms=int(self.timeout_seconds * 1000),
                )
            if self._reader is None:
                self._reader = self._consumer_factory(
                    **self.options,
                    group_id=None,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                )
        except KafkaError as exc:
            raise CheckpointUnavailableError(f"checkpoint topic {self.topic}: {exc}") from exc

    def _create_topic(self) -> None:
        admin = self._admin_factory(**self.options)
        try:
            admin.create_topics(
                {
                    self.topic: {
                        "num_partitions": 1,
                        "configs": {
                            "cleanup.policy": "compact",
                            "max.message.bytes": str(self.MAX_RECORD_BYTES),
                        },
                    }
                },
                wait_for_metadata=True,
            )
            log.info("checkpoint_topic_created", topic=self.topic)
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()

    def load(self, group: str, partition: Partition) -> Checkpoint | None:
        key = checkpoint_key(group, partition)
        with self._lock:
            try:
                self._catch_up()
            except KafkaError as exc:
                raise CheckpointUnavailableError(f"checkpoint topic {self.topic}: {exc}") from exc
            data = self._latest.get(key)
        if data is None:
            return None
        return decode(data, where=f"{self.topic}[{key}]", group=group, partition=partition)

    def _catch_up(self) -> None:
        """Read the topic from where this store stopped up to its end offsets now."""
        reader = self._reader
        tps = [
            TopicPartition(self.topic, p)
            for p in sorted(reader.partitions_for_topic(self.topic) or ())
        ]
        if not tps:
            return
        if set(reader.assignment()) != set(tps):
            reader.assign(tps)
            reader.seek_to_beginning(*tps)
        timeout_ms = int(self.timeout_seconds * 1000)
        end = reader.end_offsets(tps, timeout_ms=timeout_ms)
        deadline = time.monotonic() + self.timeout_seconds
        while any(reader.position(tp, timeout_ms=timeout_ms) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise CheckpointUnavailableError(
                    f"checkpoint topic {self.topic}: not read to its end in "
                    f"{self.timeout_seconds:g}s"
                )
            for records in reader.poll(timeout_ms=200).values():
                for r in records:
                    key = r.key.decode("utf-8", "replace") if r.key is not None else ""
                    if r.value is None:
                        self._latest.pop(key, None)  # a tombstone deletes
                    else:
                        self._latest[key] = r.value

    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        if not checkpoints:
            return
        encoded = [(checkpoint_key(cp.group, cp.partition), encode(cp)) for cp in checkpoints]
        try:
            futures = [
                self._producer.send(self.topic, key=key.encode(), value=value)
                for key, value in encoded
            ]
            self._producer.flush(timeout=self.timeout_seconds)
            for future in futures:
                future.get(timeout=0)
        except KafkaError as exc:
            raise CheckpointUnavailableError(f"checkpoint topic {self.topic}: {exc}") from exc
        with self._lock:
            for key, value in encoded:
                self._latest[key] = value

    def close(self) -> None:
        for client in (self._producer, self._reader):
            if client is not None:
                try:
                    client.close()
                except KafkaError as exc:
                    log.warning("checkpoint_store_close_failed", error=type(exc).__name__)
        self._producer = self._reader = None
