"""The Kinesis source: every shard of one data stream, as the partitions of the live service.

Kinesis has no consumer groups: this source reads every shard itself, and the live service
(streamer/live.py) treats each shard as a partition, with its own monitor and checkpoint:

- `Partition(stream, n)` stands for shard `shardId-<n>`;
- a record's offset, and so its `record_index` in events, is its position within its shard:
  0 for the first record this application read from that shard, counting every record since;
- `commit(offsets)` records, per shard, the sequence number of the last record before each
  committed offset in a positions file (Kinesis's equivalent of a group's committed offsets,
  what KCL keeps in its lease table);
- `seek(shard, offset)` (the live service restoring a checkpoint) resumes AFTER_SEQUENCE_NUMBER
  of the nearest committed position at or before `offset` and skips the records in between, so
  detector state and stream position always match, even when the process died between writing
  a checkpoint and committing its position; a shard without a seek resumes after its last
  committed position, else from the trim horizon (or the latest record, by
  `initial_position`, for the stream's first shards only).

Resharding: the shard list is refreshed every `shard_refresh_seconds`. A shard is drained when
GetRecords answers without a NextShardIterator (closed by a split or merge, every record read);
it is then revoked (its state checkpointed), marked finished, and its children are assigned, from
their first record, once all their parents are finished (a parent that has expired from the
stream counts as finished). Children start with fresh detector state.

Throttling (`ProvisionedThroughputExceededException`) and transient errors back off per shard;
an expired iterator is renewed from the last sequence number read. Lag (`lag`) is per shard, in
seconds only: `MillisBehindLatest` of the shard's latest GetRecords; the records behind cannot be
counted (sequence numbers are not contiguous). Records aggregated by the KPL are not
de-aggregated: each Kinesis record must hold one capture line.

Ground truth (`ground_truth_stream`, model quality): a stream sharded like the captures, its
labels put with their captures' partition key, is checked at `setup` (`check_co_sharded`) and
read beside each capture shard, from its shard of the same hash-key range
(streamer/sources/kinesis/ground_truth.py); what was read of it by the time a capture batch is
returned travels with that batch, `meta["ground_truth"]` (each label at the batch's last
record), and the sequence number of the last label in `meta["aux_offsets"]`, which the loop
checkpoints with the shard and `seek_aux` resumes after.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from driftstream.sinks import aws
from driftstream.sinks.retry import Backoff
from driftstream.streamer.checkpoint.base import CheckpointError, write_atomically
from driftstream.streamer.sources.base import (
    AuxPosition,
    Lag,
    Partition,
    PartitionListener,
    RawBatch,
    Source,
)
from driftstream.streamer.sources.kinesis.ground_truth import (
    GroundTruthShards,
    check_co_sharded,
    co_shard,
)
from driftstream.streamer.sources.kinesis.settings import KinesisSourceSettings

log = structlog.get_logger(__name__)

POSITIONS_VERSION = 1
#: committed positions kept per shard; `seek` needs one at or before the checkpointed offset
KEEP_COMMITTED = 16
#: GetRecords may be called 5 times per second per shard
MIN_POLL_INTERVAL = 0.2


class PositionsError(CheckpointError):
    """The positions file exists but cannot be used; the message is one line (exit 2)."""


# -- metrics ---------------------------------------------------------------------------------


class KinesisMetrics:
    """Prometheus metrics of the Kinesis source (labels bounded by the stream's shards)."""

    def __init__(self, endpoint: str, stream: str, registry: CollectorRegistry) -> None:
        self.endpoint = endpoint
        self.stream = stream
        self.throttled = Counter(
            "driftstream_kinesis_throttled",
            "Kinesis calls refused with ProvisionedThroughputExceeded or a limit, backed off",
            ["endpoint", "stream", "operation"],
            registry=registry,
        )
        self.errors = Counter(
            "driftstream_kinesis_errors",
            "Kinesis calls failed by the network or the service, backed off and retried",
            ["endpoint", "stream", "operation"],
            registry=registry,
        )
        self.shards = Gauge(
            "driftstream_kinesis_shards_read",
            "Shards currently read by this process",
            ["endpoint", "stream"],
            registry=registry,
        )
        for op in ("list_shards", "get_shard_iterator", "get_records"):
            self.throttled.labels(endpoint, stream, op)
            self.errors.labels(endpoint, stream, op)


# -- positions file ----------------------------------------------------------------------------


@dataclass
class ShardPosition:
    """What is committed for one shard: (offset, sequence number of the record before it)."""

    finished: bool = False
    committed: list[tuple[int, str]] = field(default_factory=list)

    def add(self, offset: int, sequence: str) -> bool:
        if any(o == offset for o, _ in self.committed):
            return False
        self.committed.append((offset, sequence))
        self.committed.sort()
        del self.committed[:-KEEP_COMMITTED]
        return True

    def at_or_before(self, offset: int) -> tuple[int, str] | None:
        best = [c for c in self.committed if c[0] <= offset]
        return best[-1] if best else None

    def latest(self) -> tuple[int, str] | None:
        return self.committed[-1] if self.committed else None


class PositionStore:
    """The committed positions of one application on one stream: a JSON file written atomically
    (temporary file, fsync, rename), beside the detector checkpoints."""

    def __init__(self, path: Path, *, stream: str, application: str) -> None:
        self.path = path
        self.stream = stream
        self.application = application

    def load(self) -> dict[str, ShardPosition] | None:
        """Committed positions by shard id; None when nothing was ever committed."""
        try:
            doc = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError:
            raise PositionsError(f"positions file {self.path} is not JSON") from None
        if not isinstance(doc, dict) or doc.get("version") != POSITIONS_VERSION:
            raise PositionsError(
                f"positions file {self.path} is not version {POSITIONS_VERSION}; delete it "
                "(and the checkpoints beside it) to start afresh"
            )
        if doc.get("stream") != self.stream or doc.get("application") != self.application:
            raise PositionsError(f"positions file {self.path} belongs to another stream")
        out: dict[str, ShardPosition] = {}
        for shard_id, entry in doc.get("shards", {}).items():
            committed = [(int(o), str(s)) for o, s in entry.get("committed", [])]
            out[shard_id] = ShardPosition(bool(entry.get("finished")), committed)
        return out

    def save(self, positions: Mapping[str, ShardPosition]) -> None:
        doc = {
            "version": POSITIONS_VERSION,
            "stream": self.stream,
            "application": self.application,
            "shards": {
                shard_id: {"finished": p.finished, "committed": [list(c) for c in p.committed]}
                for shard_id, p in sorted(positions.items())
            },
        }
        write_atomically(self.path, orjson.dumps(doc))


# -- shard lineage -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardInfo:
    shard_id: str
    parents: tuple[str, ...]
    closed: bool  # has an EndingSequenceNumber: no new records will arrive
    #: (StartingHashKey, EndingHashKey): the partition keys whose MD5 falls in it land here
    hash_keys: tuple[int, int] | None = None

    @classmethod
    def from_listing(cls, shard: Mapping[str, Any]) -> ShardInfo:
        parents = tuple(
            str(shard[k]) for k in ("ParentShardId", "AdjacentParentShardId") if shard.get(k)
        )
        ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
        keys = shard.get("HashKeyRange")
        hash_keys = (int(keys["StartingHashKey"]), int(keys["EndingHashKey"])) if keys else None
        return cls(str(shard["ShardId"]), parents, ending is not None, hash_keys)


def readable_shards(
    listing: Sequence[ShardInfo], finished: set[str], started: set[str]
) -> list[ShardInfo]:
    """Shards to start reading now: not finished, not started, and every parent that is still
    in the stream finished (parents read before children, so records stay in order per key)."""
    present = {s.shard_id for s in listing}
    out = []
    for s in listing:
        if s.shard_id in finished or s.shard_id in started:
            continue
        if all(p in finished or p not in present for p in s.parents):
            out.append(s)
    return out


def shard_number(shard_id: str) -> int:
    """`shardId-000000000007` → 7 (the partition number in checkpoints and events)."""
    tail = shard_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else zlib.crc32(shard_id.encode())


# -- the source --------------------------------------------------------------------------------


@dataclass
class _Shard:
    info: ShardInfo
    partition: Partition
    backoff: Backoff
    next_offset: int = 0
    last_sequence: str | None = None  # of the record before next_offset, when known
    start_type: str = "TRIM_HORIZON"  # how to get an iterator when there is no sequence
    skip: int = 0  # records to drop after positioning (a seek between committed positions)
    iterator: str | None = None
    paused: bool = False
    drained: bool = False
    read_any: bool = False  # a batch was returned since the shard was assigned
    millis_behind: int | None = None  # MillisBehindLatest of the latest GetRecords
    due: float = 0.0
    returned: dict[int, str] = field(default_factory=dict)  # batch end offset → last sequence


ClientFactory = Callable[[], Any]


class KinesisSource(Source):
    """Every shard of `settings.stream_name` (see the module docstring)."""

    def __init__(
        self,
        settings: KinesisSourceSettings,
        client_factory: ClientFactory,
        positions: PositionStore,
        *,
        stop: threading.Event,
        metrics: KinesisMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.stream = settings.stream_name
        self._client_factory = client_factory
        self._client: Any = None
        self.positions_store = positions
        self.stop = stop
        self.metrics = metrics
        self.clock = clock
        self._listener: PartitionListener | None = None
        self._positions: dict[str, ShardPosition] = {}
        self._first_start = True
        self._shards: dict[str, _Shard] = {}  # assigned (being read)
        self._by_partition: dict[Partition, _Shard] = {}
        self._listing: list[ShardInfo] = []
        self._next_refresh = 0.0
        self._list_backoff = Backoff(settings.retry.initial_seconds, settings.retry.max_seconds)
        self._cursor = 0  # round-robin start among shards
        self._ground_truth: GroundTruthShards | None = None
        self._ground_truth_listing: list[ShardInfo] = []
        if settings.ground_truth_stream is not None:
            self._ground_truth = GroundTruthShards(
                settings.ground_truth_stream,
                max_lines=settings.max_records_per_call,
                max_records_per_call=settings.max_records_per_call,
                idle_poll_seconds=settings.idle_poll_seconds,
                retry=settings.retry,
                start=settings.initial_position,
                count_failure=self._count_ground_truth_failure,
                clock=clock,
            )

    # -- life cycle --------------------------------------------------------------------------

    def setup(self, listener: PartitionListener) -> None:
        """Read the positions file, list the shards (fatal when the stream is unknown or not
        readable) and assign the shards to read. With a ground-truth stream, first check that
        it is sharded like the capture stream (SourceError, one line, when not)."""
        self._listener = listener
        self._client = self._client_factory()
        loaded = self.positions_store.load()
        self._first_start = loaded is None
        self._positions = loaded or {}
        if self._ground_truth is not None:
            captures = self._list_until_answered(self.stream)
            truth = self._list_until_answered(self._ground_truth.stream)
            if captures is None or truth is None:
                return  # stopped meanwhile
            check_co_sharded(
                captures,
                truth,
                capture_stream=self.stream,
                ground_truth_stream=self._ground_truth.stream,
            )
            self._ground_truth_listing = truth
        self._refresh(initial=True)

    def close(self) -> None:
        self._shards.clear()
        self._by_partition.clear()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    # -- shards ------------------------------------------------------------------------------

    def _finished(self) -> set[str]:
        return {sid for sid, p in self._positions.items() if p.finished}

    def _list_until_answered(self, stream: str) -> list[ShardInfo] | None:
        """The shards of `stream`, retrying with back-off (None: stopped meanwhile)."""
        while not self.stop.is_set():
            listing = self._list_shards(stream)
            if listing is not None:
                return listing
            self.stop.wait(self._list_backoff.next_delay())
        return None

    def _list_shards(self, stream: str | None = None) -> list[ShardInfo] | None:
        stream = stream or self.stream
        shards: list[ShardInfo] = []
        kwargs: dict[str, Any] = {"StreamName": stream}
        try:
            while True:
                page = self._client.list_shards(**kwargs)
                shards.extend(ShardInfo.from_listing(s) for s in page.get("Shards", []))
                token = page.get("NextToken")
                if not token:
                    break
                kwargs = {"NextToken": token}
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if aws.is_fatal(exc):
                raise aws.fatal(f"kinesis stream {stream!r}", exc) from None
            self._failed("list_shards", exc, self._list_backoff)
            return None
        self._list_backoff.reset()
        return shards

    def _refresh(self, *, initial: bool = False) -> None:
        """List the shards; assign those that became readable."""
        while True:
            listing = self._list_shards()
            if listing is not None or not initial or self.stop.is_set():
                break
            self.stop.wait(self._list_backoff.next_delay())
        self._next_refresh = self.clock() + self.settings.shard_refresh_seconds
        if listing is None:
            return
        self._listing = listing
        if initial and self._first_start and self.settings.initial_position == "latest":
            # from now on: closed shards hold only the past
            for s in listing:
                if s.closed:
                    self._positions.setdefault(s.shard_id, ShardPosition()).finished = True
        new = readable_shards(listing, self._finished(), set(self._shards))
        if new:
            self._assign(new, initial=initial)

    def _assign(self, infos: Sequence[ShardInfo], *, initial: bool = False) -> None:
        assert self._listener is not None
        partitions = []
        # `latest` applies to the shards open at the very first start; children found later
        # are read from their first record
        latest = initial and self._first_start and self.settings.initial_position == "latest"
        for info in infos:
            shard = _Shard(
                info,
                Partition(self.stream, shard_number(info.shard_id)),
                Backoff(self.settings.retry.initial_seconds, self.settings.retry.max_seconds),
                start_type="LATEST" if latest and not info.closed else "TRIM_HORIZON",
            )
            committed = self._positions.get(info.shard_id, ShardPosition()).latest()
            if committed is not None:  # without a seek: after the last committed position
                shard.next_offset, shard.last_sequence = committed
            self._shards[info.shard_id] = shard
            self._by_partition[shard.partition] = shard
            partitions.append(shard.partition)
        log.info("kinesis_shards_assigned", stream=self.stream, shards=[i.shard_id for i in infos])
        self._listener.on_assigned(partitions)
        self._count_shards()

    def _finish_drained(self) -> None:
        """Revoke drained shards (their state is checkpointed), mark them finished, commit, and
        assign children that became readable. A shard whose final state could not be
        checkpointed is not finished: it is assigned again, restored from its last checkpoint
        and its last records are read again (at-least-once)."""
        drained = [s for s in self._shards.values() if s.drained]
        if not drained or self._listener is None:
            return
        offsets = self._listener.on_revoked([s.partition for s in drained])
        for s in drained:
            del self._shards[s.info.shard_id]
            del self._by_partition[s.partition]
            if self._ground_truth is not None:
                self._ground_truth.release(s.partition)
            offset = offsets.get(s.partition)
            if s.read_any and offset != s.next_offset:
                log.warning(
                    "kinesis_shard_not_finished",
                    stream=self.stream,
                    shard=s.info.shard_id,
                    hint="its final state was not checkpointed; "
                    "it is read again from its last checkpoint",
                )
                continue
            position = self._positions.setdefault(s.info.shard_id, ShardPosition())
            if offset is not None and offset in s.returned:
                position.add(offset, s.returned[offset])
            position.finished = True
            log.info(
                "kinesis_shard_finished",
                stream=self.stream,
                shard=s.info.shard_id,
                records=s.next_offset,
            )
        self._save_positions()
        self._count_shards()
        new = readable_shards(self._listing, self._finished(), set(self._shards))
        if new:
            self._assign(new)

    def _count_shards(self) -> None:
        if self.metrics is not None:
            self.metrics.shards.labels(self.metrics.endpoint, self.stream).set(len(self._shards))

    # -- records -----------------------------------------------------------------------------

    def poll(self, *, wait: bool = True) -> list[RawBatch]:
        if self._client is None:
            return []
        self._finish_drained()
        if self.clock() >= self._next_refresh:
            self._refresh()
        if self._ground_truth is not None:
            self._ground_truth.fetch(self._client)  # reads ahead while captures are quiet too
        batches: list[RawBatch] = []
        shards = list(self._shards.values())
        if shards:
            self._cursor = (self._cursor + 1) % len(shards)
            shards = shards[self._cursor :] + shards[: self._cursor]
        for shard in shards:
            if shard.paused or shard.drained or self.clock() < shard.due:
                continue
            batch = self._read(shard)
            if batch is not None:
                if self._ground_truth is not None:
                    self._attach_ground_truth(self._ground_truth, batch)
                batches.append(batch)
            if self.stop.is_set():
                break
        if not batches and wait and not self.stop.is_set():
            self._idle()
        return batches

    @staticmethod
    def _attach_ground_truth(reader: GroundTruthShards, batch: RawBatch) -> None:
        """The labels read of the shard's ground truth go with its batch, each at the batch's
        last record, and the sequence number of the last of them with it."""
        lines, after = reader.take(batch.meta["partition"])
        at = batch.first_index + len(batch.lines) - 1
        if lines:
            batch.meta["ground_truth"] = [(at, line) for line in lines]
        if after is not None:
            batch.meta["aux_offsets"] = {reader.stream: after}

    def _count_ground_truth_failure(self, operation: str, throttled: bool) -> None:
        if self.metrics is not None and self._ground_truth is not None:
            counter = self.metrics.throttled if throttled else self.metrics.errors
            counter.labels(self.metrics.endpoint, self._ground_truth.stream, operation).inc()

    def _idle(self) -> None:
        """Nothing was ready: wait for the next shard that is due, at most the poll timeout."""
        dues = [s.due for s in self._shards.values() if not s.paused and not s.drained]
        now = self.clock()
        wait = min([*dues, self._next_refresh], default=now) - now
        wait = min(max(wait, 0.0), self.settings.poll_timeout_seconds)
        if wait > 0:
            self.stop.wait(wait)

    def _iterator(self, shard: _Shard) -> str | None:
        kwargs: dict[str, Any] = {"StreamName": self.stream, "ShardId": shard.info.shard_id}
        if shard.last_sequence is not None:
            kwargs.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                StartingSequenceNumber=shard.last_sequence,
            )
        else:
            kwargs["ShardIteratorType"] = shard.start_type
        try:
            answer = self._client.get_shard_iterator(**kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if aws.is_fatal(exc):
                raise aws.fatal(
                    f"kinesis stream {self.stream!r} shard {shard.info.shard_id}", exc
                ) from None
            self._failed("get_shard_iterator", exc, shard.backoff, shard)
            return None
        iterator = answer.get("ShardIterator")
        return str(iterator) if iterator else None

    def _read(self, shard: _Shard) -> RawBatch | None:
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
            if shard.iterator is None:
                return None
        try:
            answer = self._client.get_records(
                ShardIterator=shard.iterator, Limit=self.settings.max_records_per_call
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if aws.error_code(exc) == "ExpiredIteratorException":
                shard.iterator = None  # renewed from the last sequence number on the next read
                return None
            if aws.is_fatal(exc):
                raise aws.fatal(
                    f"kinesis stream {self.stream!r} shard {shard.info.shard_id}", exc
                ) from None
            self._failed("get_records", exc, shard.backoff, shard)
            return None
        shard.backoff.reset()
        records: list[dict[str, Any]] = answer.get("Records", [])
        shard.iterator = answer.get("NextShardIterator")
        behind = answer.get("MillisBehindLatest")
        if behind is not None:
            shard.millis_behind = int(behind)
        if shard.iterator is None:
            shard.drained = True  # closed and read to its end: revoked at the next poll
        caught_up = not records or not behind
        shard.due = self.clock() + (
            self.settings.idle_poll_seconds if caught_up else MIN_POLL_INTERVAL
        )
        if shard.skip and records:
            dropped = records[: shard.skip]
            records = records[shard.skip :]
            shard.skip -= len(dropped)
            shard.last_sequence = str(dropped[-1]["SequenceNumber"])
        if not records:
            return None
        first = shard.next_offset
        shard.read_any = True
        shard.next_offset += len(records)
        shard.last_sequence = str(records[-1]["SequenceNumber"])
        shard.returned[shard.next_offset] = shard.last_sequence
        return RawBatch(
            first_index=first,
            lines=[bytes(r["Data"]) for r in records],
            consumed_bytes=sum(len(r["Data"]) for r in records),
            meta={
                "partition": shard.partition,
                "shard": shard.info.shard_id,
                "keys": [str(r.get("PartitionKey", "")).encode() for r in records],
                "sequence_numbers": [str(r["SequenceNumber"]) for r in records],
            },
        )

    def _failed(
        self, operation: str, exc: BaseException, backoff: Backoff, shard: _Shard | None = None
    ) -> None:
        throttled = aws.is_throttle(exc)
        if self.metrics is not None:
            counter = self.metrics.throttled if throttled else self.metrics.errors
            counter.labels(self.metrics.endpoint, self.stream, operation).inc()
        delay = backoff.next_delay()
        if shard is not None:
            shard.due = self.clock() + delay
        log.warning(
            "kinesis_throttled" if throttled else "kinesis_unavailable",
            operation=operation,
            stream=self.stream,
            shard=shard.info.shard_id if shard is not None else None,
            error=aws.describe(exc),
            retry_in_s=round(delay, 2),
            failures=backoff.failures,
        )

    # -- positions ---------------------------------------------------------------------------

    def seek(self, partition: Partition, offset: int) -> None:
        """Read `partition` so that the next record returned has offset `offset`."""
        shard = self._by_partition[partition]
        shard.next_offset = offset
        shard.iterator = None
        shard.returned.clear()
        position = self._positions.get(shard.info.shard_id, ShardPosition())
        anchor = position.at_or_before(offset)
        if anchor is not None:
            at, shard.last_sequence = anchor
            shard.skip = offset - at
        else:
            shard.last_sequence = None
            shard.skip = offset
            if offset:
                shard.start_type = "TRIM_HORIZON"
                log.warning(
                    "kinesis_position_unknown",
                    shard=shard.info.shard_id,
                    offset=offset,
                    hint="no committed position at or before the checkpoint: counting "
                    "from the trim horizon",
                )

    def seek_aux(self, partition: Partition, offsets: Mapping[str, AuxPosition]) -> None:
        """Read the ground truth of `partition` after the checkpointed sequence number (none:
        by `initial_position`), from the ground-truth shard of the same hash-key range."""
        reader = self._ground_truth
        shard = self._by_partition.get(partition)
        if reader is None or shard is None:
            return
        truth = co_shard(shard.info, self._ground_truth_listing)
        if truth is None:  # a shard born of a reshard: the ground truth may have one by now
            self._ground_truth_listing = self._list_shards(reader.stream) or []
            truth = co_shard(shard.info, self._ground_truth_listing)
        if truth is None:
            reader.release(partition)
            log.warning(
                "ground_truth_shard_unknown",
                stream=self.stream,
                shard=shard.info.shard_id,
                ground_truth_stream=reader.stream,
                hint="no ground-truth shard has its hash-key range: reshard both streams "
                "alike; this shard's predictions go without labels",
            )
            return
        after = offsets.get(reader.stream)
        # an int is a Kafka offset (a topic of the same name), no sequence number
        reader.want(partition, truth, after if isinstance(after, str) else None)

    def pause(self, partitions: Sequence[Partition]) -> None:
        for p in partitions:
            if p in self._by_partition:
                self._by_partition[p].paused = True

    def resume(self, partitions: Sequence[Partition]) -> None:
        for p in partitions:
            if p in self._by_partition:
                self._by_partition[p].paused = False

    def lag(self, processed: Mapping[Partition, int]) -> dict[Partition, Lag]:
        """Seconds behind only: the latest MillisBehindLatest of each shard read (see the
        module docstring)."""
        out: dict[Partition, Lag] = {}
        for p in processed:
            shard = self._by_partition.get(p)
            if shard is not None and shard.millis_behind is not None:
                out[p] = Lag(records=None, seconds=shard.millis_behind / 1000)
        return out

    def commit(self, offsets: Mapping[Partition, int]) -> bool:
        """Record the sequence number at each offset in the positions file (see the module
        docstring); False (logged) when the file cannot be written."""
        changed = False
        for partition, offset in offsets.items():
            shard = self._by_partition.get(partition)
            if shard is None:
                continue
            sequence = shard.returned.get(offset)
            if sequence is None:
                continue  # nothing read since this offset was committed or restored
            position = self._positions.setdefault(shard.info.shard_id, ShardPosition())
            changed |= position.add(offset, sequence)
            for done in [o for o in shard.returned if o < offset]:
                del shard.returned[done]
        if not changed:
            return True
        return self._save_positions()

    def _save_positions(self) -> bool:
        try:
            self.positions_store.save(self._positions)
        except OSError as exc:
            log.warning(
                "positions_not_saved",
                path=str(self.positions_store.path),
                error=exc.strerror,
                hint="the checkpoint keeps detector state; records "
                "since the previous position are skipped on restart",
            )
            return False
        return True
