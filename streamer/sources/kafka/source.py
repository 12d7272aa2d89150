"""The Kafka source: a kafka-python consumer group over the configured topics.

Offsets are never committed automatically (`enable_auto_commit=False`): the processing loop
(streamer/live.py) commits a partition's offset only after that partition's events were flushed
and its detector state checkpointed. Each RawBatch holds a run of consecutive offsets of one
partition; its `first_index` is the first record's offset, so a record's `record_index` is its
offset in its partition.

Lag (`lag`): records behind are the partition's high watermark from the latest fetch response
minus the next offset to process (no extra request). Seconds behind are the age of the last
processed record's timestamp (CreateTime, or LogAppendTime when the topic is so configured, by
this host's clock) while records remain behind it, and 0 once caught up. It is an upper bound:
when traffic is sparse, the records waiting may be much younger than the last one processed.

Records are expected keyed by endpoint, so one endpoint's records share a partition and one
monitor per partition sees them all, in order. Detection per endpoint across several partitions
needs one partition per endpoint, or a re-keying step before driftstream (docs/kafka.md).

Ground truth (`ground_truth_topic`, model quality): the same-numbered partition of a
ground-truth topic partitioned like the captures is read beside each capture partition held
(streamer/sources/kafka/ground_truth.py); what was read of it by the time a partition's records
are polled travels with its last batch of the poll, `meta["ground_truth"]` (each label at that
batch's last record), and the offset after it in `meta["aux_offsets"]`, which the loop
checkpoints with the partition.

Threading: kafka-python 3 runs its network loop on a background thread, and rebalance callbacks
run there while the caller's thread waits inside `poll()` or `close()`. The listener therefore
never races the processing loop, but it must not call blocking consumer methods; a revoke's
commit is awaited on that loop instead.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.errors import KafkaConnectionError, KafkaError

from driftstream.sinks.retry import Backoff
from driftstream.streamer.sources.base import (
    AuxPosition,
    Lag,
    Partition,
    PartitionListener,
    RawBatch,
    Source,
)
from driftstream.streamer.sources.kafka.ground_truth import (
    GroundTruthReader,
    check_co_partitioned,
)
from driftstream.streamer.sources.kafka.logs import bootstrap_hint
from driftstream.streamer.sources.kafka.settings import KafkaSecurity, KafkaSourceSettings
from driftstream.streamer.sources.metrics import LiveMetrics

log = structlog.get_logger(__name__)

COMMIT_TIMEOUT_MS = 5000
# poll timeout while a batch is in flight (`poll(wait=False)`): short, so its events are
# delivered without waiting for more records, but not 0: kafka-python 3.0.12 then returns before
# its network thread hands over the next fetch, and the benchmark's p99 latency at 5,000
# records/s rose from ~55 to ~130 ms (5 ms: 25-66 ms)
IN_FLIGHT_POLL_MS = 5
#: batch ends whose last record's timestamp is kept per partition until the loop reports lag
#: past them (a checkpoint store away for long must not make them grow without bound)
MAX_TIMESTAMPS = 1024


def security_options(security: KafkaSecurity) -> dict[str, Any]:
    """kafka-python keyword arguments for SSL / SASL (secrets unwrapped here, never logged)."""
    out: dict[str, Any] = {"security_protocol": security.protocol}
    if security.sasl_mechanism is not None:
        out["sasl_mechanism"] = security.sasl_mechanism
        out["sasl_plain_username"] = security.sasl_username
        if security.sasl_password is not None:
            out["sasl_plain_password"] = security.sasl_password.get_secret_value()
    if security.protocol in ("SSL", "SASL_SSL"):
        out["ssl_check_hostname"] = security.ssl_check_hostname
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(security, name)
            if path is not None:
                out[name] = str(path)
        if security.ssl_password is not None:
            out["ssl_password"] = security.ssl_password.get_secret_value()
    return out


def client_options(settings: KafkaSourceSettings) -> dict[str, Any]:
    """Connection keyword arguments shared by the consumer, the producers and the admin client."""
    return {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "client_id": settings.client_id,
        "request_timeout_ms": settings.request_timeout_ms,
        "reconnect_backoff_ms": int(settings.retry.initial_seconds * 1000),
        "reconnect_backoff_max_ms": int(settings.retry.max_seconds * 1000),
        "bootstrap_timeout_ms": settings.request_timeout_ms,
        **security_options(settings.security),
    }


def consumer_options(settings: KafkaSourceSettings) -> dict[str, Any]:
    """KafkaConsumer keyword arguments for the source's consumer group."""
    session = settings.session_timeout_ms
    return {
        **client_options(settings),
        "group_id": settings.group_id,
        "group_instance_id": settings.group_instance_id,
        "enable_auto_commit": False,
        "auto_offset_reset": settings.auto_offset_reset,
        "max_poll_records": settings.max_poll_records,
        "max_partition_fetch_bytes": settings.max_partition_fetch_bytes,
        "fetch_max_bytes": settings.fetch_max_bytes,
        "session_timeout_ms": session,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms or max(session // 3, 100),
        "max_poll_interval_ms": settings.max_poll_interval_ms,
    }


def ground_truth_options(settings: KafkaSourceSettings) -> dict[str, Any]:
    """KafkaConsumer keyword arguments for the ground-truth reader: no group, no commits (its
    position is in the checkpoints)."""
    return {
        **client_options(settings),
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": settings.auto_offset_reset,
        "max_poll_records": settings.max_poll_records,
        "max_partition_fetch_bytes": settings.max_partition_fetch_bytes,
        "fetch_max_bytes": settings.fetch_max_bytes,
    }


def _partition(tp: Any) -> Partition:
    return Partition(str(tp.topic), int(tp.partition))


def _sorted(tps: Any) -> list[Partition]:
    return sorted(_partition(tp) for tp in tps)


class _Rebalance(AsyncConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """Adapts kafka-python's callbacks to the PartitionListener; commits what a revoke returns."""

    def __init__(self, source: KafkaSource, listener: PartitionListener) -> None:
        self._source = source
        self._listener = listener

    async def on_partitions_revoked(self, revoked: Any) -> None:
        offsets = self._listener.on_revoked(_sorted(revoked))
        self._source.forget_timestamps(_sorted(revoked))
        self._source.release_ground_truth(_sorted(revoked))
        if offsets:
            try:
                # the network loop is this thread: await the commit, never block on it
                await self._source.commit_future(offsets)
                self._source.count_commit(ok=True)
            except KafkaError as exc:
                self._source.count_commit(ok=False)
                log.warning(
                    "commit_failed",
                    when="revoke",
                    error=type(exc).__name__,
                    detail=str(exc),
                    hint="the checkpoint keeps the position",
                )

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._listener.on_assigned(_sorted(assigned))

    async def on_partitions_lost(self, lost: Any) -> None:
        self._listener.on_lost(_sorted(lost))
        self._source.forget_timestamps(_sorted(lost))
        self._source.release_ground_truth(_sorted(lost))


ConsumerFactory = Callable[..., Any]


class KafkaSource(Source):
    """A consumer group member over `settings.topics` (see the module docstring)."""

    def __init__(
        self,
        settings: KafkaSourceSettings,
        *,
        stop: threading.Event,
        metrics: LiveMetrics | None = None,
        consumer_factory: ConsumerFactory = KafkaConsumer,
    ) -> None:
        self.settings = settings
        self.stop = stop
        self.metrics = metrics
        self._factory = consumer_factory
        self._consumer: Any = None
        self._backoff = Backoff(settings.retry.initial_seconds, settings.retry.max_seconds)
        self._next_health_check = 0.0
        self._down_since: float | None = None
        # per partition: batch end offset -> timestamp (ms) of the record before it (`lag`)
        self._timestamps: dict[Partition, dict[int, int]] = {}
        self._ground_truth: GroundTruthReader | None = None
        if settings.ground_truth_topic is not None:
            self._ground_truth = GroundTruthReader(
                settings.ground_truth_topic,
                lambda: self._factory(**ground_truth_options(settings)),
                max_lines=settings.max_poll_records,
                reset=settings.auto_offset_reset,
            )

    # -- life cycle --------------------------------------------------------------------------

    def setup(self, listener: PartitionListener) -> None:
        """Connect (retrying with back-off until the broker answers or stop is set), subscribe.
        With a ground-truth topic, first check that it is partitioned like the capture topic
        (SourceError, one line, when not)."""
        while self._consumer is None and not self.stop.is_set():
            try:
                self._consumer = self._factory(**consumer_options(self.settings))
            except KafkaError as exc:
                self._failed("connect", exc)
        if self._consumer is None:
            return
        reader = self._ground_truth
        while reader is not None and not self.stop.is_set():
            try:
                reader.setup()
                check_co_partitioned(reader.consumer, self.settings.topics[0], reader.topic)
                break
            except KafkaError as exc:
                self._failed("connect", exc)
        if self.stop.is_set():
            return
        self._backoff.reset()
        self._consumer.subscribe(
            topics=list(self.settings.topics), listener=_Rebalance(self, listener)
        )
        log.info(
            "kafka_subscribed",
            topics=list(self.settings.topics),
            group=self.settings.group_id,
            bootstrap=list(self.settings.bootstrap_servers),
            security=self.settings.security.protocol,
        )

    def close(self) -> None:
        if self._ground_truth is not None:
            try:
                self._ground_truth.close()
            except KafkaError as exc:
                log.warning("kafka_close_failed", error=type(exc).__name__, detail=str(exc))
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                # bounded: leaving the group must not hold a shutdown up during an outage
                consumer.close(
                    autocommit=False, timeout_ms=min(self.settings.request_timeout_ms, 10_000)
                )
            except KafkaError as exc:
                log.warning("kafka_close_failed", error=type(exc).__name__, detail=str(exc))

    # -- records -----------------------------------------------------------------------------

    def poll(self, *, wait: bool = True) -> list[RawBatch]:
        if self._consumer is None:
            return []
        try:
            polled = self._consumer.poll(
                timeout_ms=self.settings.poll_timeout_ms if wait else IN_FLIGHT_POLL_MS,
                max_records=self.settings.max_poll_records,
            )
        except KafkaError as exc:
            self._failed("poll", exc)
            return []
        self._fetch_ground_truth()  # reads ahead while captures are quiet too
        if not polled:
            self._check_connected()
            return []
        self._reachable()
        batches: list[RawBatch] = []
        for tp, records in sorted(polled.items(), key=lambda item: _partition(item[0])):
            if records:
                partition = _partition(tp)
                for batch, timestamp in _runs(partition, records):
                    self._keep_timestamp(partition, batch.first_index + len(batch.lines), timestamp)
                    batches.append(batch)
        if self._ground_truth is not None:
            self._attach_ground_truth(self._ground_truth, batches)
        return batches

    def _fetch_ground_truth(self) -> None:
        if self._ground_truth is None:
            return
        try:
            self._ground_truth.fetch()
        except KafkaError as exc:
            # the labels stay in the topic: the next poll reads them
            if self.metrics is not None:
                self.metrics.broker_error("poll")
            log.warning(
                "ground_truth_fetch_failed",
                topic=self._ground_truth.topic,
                error=type(exc).__name__,
                detail=str(exc),
            )

    @staticmethod
    def _attach_ground_truth(reader: GroundTruthReader, batches: Sequence[RawBatch]) -> None:
        """The labels read of each partition's ground truth go with its last batch of this poll,
        each at the batch's last record, and the offset after them with it."""
        last = {batch.meta["partition"]: batch for batch in batches}
        for partition, batch in last.items():
            lines, next_offset = reader.take(partition.partition)
            at = batch.first_index + len(batch.lines) - 1
            if lines:
                batch.meta["ground_truth"] = [(at, line) for line in lines]
            if next_offset is not None:
                batch.meta["aux_offsets"] = {reader.topic: next_offset}

    def _keep_timestamp(self, partition: Partition, end: int, timestamp: int) -> None:
        kept = self._timestamps.setdefault(partition, {})
        if len(kept) >= MAX_TIMESTAMPS:
            del kept[next(iter(kept))]
        kept[end] = timestamp

    # -- positions ---------------------------------------------------------------------------

    def seek(self, partition: Partition, offset: int) -> None:
        self._consumer.seek(TopicPartition(partition.topic, partition.partition), offset)
        self._timestamps.pop(partition, None)

    def seek_aux(self, partition: Partition, offsets: Mapping[str, AuxPosition]) -> None:
        """Read `partition`'s ground truth from the checkpointed offset (none: by the reset
        policy); a source without a ground-truth topic has no side topic."""
        if self._ground_truth is not None:
            offset = offsets.get(self._ground_truth.topic)
            # a sequence number (a Kinesis stream of the same name) is no offset of this topic
            self._ground_truth.want(partition.partition, offset if type(offset) is int else None)

    def release_ground_truth(self, partitions: Sequence[Partition]) -> None:
        """Stop reading the ground truth of partitions this member no longer holds."""
        if self._ground_truth is not None:
            for p in partitions:
                self._ground_truth.release(p.partition)

    def pause(self, partitions: Sequence[Partition]) -> None:
        self._consumer.pause(*(TopicPartition(p.topic, p.partition) for p in partitions))

    def resume(self, partitions: Sequence[Partition]) -> None:
        self._consumer.resume(*(TopicPartition(p.topic, p.partition) for p in partitions))

    def commit(self, offsets: Mapping[Partition, int]) -> bool:
        if self._consumer is None or not offsets:
            return True
        try:
            # bounded: a commit is advisory (the checkpoint is the truth) and must not hold the
            # loop up for a whole request timeout while the coordinator is away
            self._consumer.commit(
                offsets=_commit_offsets(offsets),
                timeout_ms=min(self.settings.request_timeout_ms, COMMIT_TIMEOUT_MS),
            )
        except KafkaError as exc:
            self.count_commit(ok=False)
            log.warning(
                "commit_failed",
                when="checkpoint",
                error=type(exc).__name__,
                detail=str(exc),
                hint="the checkpoint keeps the position",
            )
            return False
        self.count_commit(ok=True)
        return True

    def commit_future(self, offsets: Mapping[Partition, int]) -> Any:
        """An awaitable commit, for the rebalance callback on the network thread."""
        return self._consumer.commit_async(offsets=_commit_offsets(offsets))

    def lag(self, processed: Mapping[Partition, int]) -> dict[Partition, Lag]:
        """Records behind from the high watermarks of the latest fetch responses (no request,
        never blocks); seconds behind from the timestamp of the record before each processed
        offset (see the module docstring)."""
        out: dict[Partition, Lag] = {}
        if self._consumer is None:
            return out
        now = time.time()
        for p, offset in processed.items():
            kept = self._timestamps.get(p, {})
            for end in [end for end in kept if end < offset]:
                del kept[end]
            try:
                hw = self._consumer.highwater(TopicPartition(p.topic, p.partition))
            except KafkaError:
                continue  # no longer assigned
            if hw is None:
                continue  # nothing fetched yet
            behind = max(0, int(hw) - offset)
            timestamp = kept.get(offset, -1)  # -1: a record without one, or not read here
            seconds: float | None = None
            if behind == 0:
                seconds = 0.0
            elif timestamp >= 0:
                seconds = max(0.0, now - timestamp / 1000)
            out[p] = Lag(behind, seconds)
        return out

    def forget_timestamps(self, partitions: Sequence[Partition]) -> None:
        """Drop what `lag` keeps of partitions this member no longer holds."""
        for p in partitions:
            self._timestamps.pop(p, None)

    # -- failures ----------------------------------------------------------------------------

    def _check_connected(self) -> None:
        """kafka-python reconnects by itself and its poll() just returns nothing while the
        brokers are away; notice that (no open connection for a second), so it is counted,
        logged and backed off like any other broker failure."""
        now = time.monotonic()
        if now < self._next_health_check:
            return
        self._next_health_check = now + 1.0
        count = _connection_count(self._consumer)
        if count is None:
            return
        if count > 0:
            self._reachable()
        elif self._down_since is None:
            self._down_since = now
        elif now - self._down_since >= 1.0:
            self._failed("poll", KafkaConnectionError("no connection to any broker"))

    def _reachable(self) -> None:
        if self._down_since is not None:
            log.warning("broker_reachable", after_s=round(time.monotonic() - self._down_since, 1))
            self._down_since = None
        self._backoff.reset()

    def count_commit(self, *, ok: bool) -> None:
        if self.metrics is not None:
            self.metrics.commits.labels(self.metrics.endpoint, "ok" if ok else "failed").inc()
            if not ok:
                self.metrics.broker_error("commit")

    def _failed(self, operation: str, exc: KafkaError) -> None:
        if self.metrics is not None:
            self.metrics.broker_error(operation)
        delay = self._backoff.next_delay()
        hint = bootstrap_hint(self.settings.security, str(exc))
        log.warning(
            "broker_unavailable",
            operation=operation,
            error=type(exc).__name__,
            detail=str(exc),
            retry_in_s=round(delay, 2),
            failures=self._backoff.failures,
            **({"hint": hint} if hint else {}),
        )
        self.stop.wait(delay)


def _connection_count(consumer: Any) -> float | None:
    try:
        value = consumer.metrics().get("consumer-metrics", {}).get("connection-count")
    except (KafkaError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _commit_offsets(offsets: Mapping[Partition, int]) -> dict[Any, Any]:
    return {
        TopicPartition(p.topic, p.partition): OffsetAndMetadata(offset, "", -1)
        for p, offset in offsets.items()
    }


def _runs(partition: Partition, records: Sequence[Any]) -> list[tuple[RawBatch, int]]:
    """Split a partition's records into runs of consecutive offsets (compaction and transaction
    markers leave gaps), so that `first_index + i` is always record i's offset; each run with
    the timestamp (ms) of its last record."""
    if records[-1].offset - records[0].offset == len(records) - 1:
        bounds = [0, len(records)]  # offsets only grow: no gap (the usual case)
    else:
        bounds = [0]
        bounds += [
            i for i in range(1, len(records)) if records[i].offset != records[i - 1].offset + 1
        ]
        bounds.append(len(records))
    out: list[tuple[RawBatch, int]] = []
    for start, end in itertools.pairwise(bounds):
        run = records[start:end]
        batch = RawBatch(
            first_index=int(run[0].offset),
            lines=[r.value if r.value is not None else b"" for r in run],
            # bytes only, no ConsumerRecord: what the loop keeps while the next poll runs
            # must not give the garbage collector thousands of tuples to trace
            meta={"partition": partition, "keys": [r.key for r in run]},
        )
        out.append((batch, int(run[-1].timestamp)))
    return out
