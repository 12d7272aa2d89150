"""KafkaCheckpointStore: checkpoints in a compacted topic (format and guarantees:
streamer/checkpoint/base.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from driftstream.streamer.checkpoint.base import (
    Checkpoint,
    CheckpointStore,
    CheckpointUnavailableError,
    Partition,
    checkpoint_key,
    decode,
    encode,
)

log = structlog.get_logger(__name__)

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
