"""The source interface: where captured records come from, live or replayed.

Every source is partitioned, with a position per partition: a Kafka topic's partitions (offset),
a Kinesis stream's shards (record number in the shard), a replay of files, S3 objects or
generated traffic (one partition, streamer/sources/single.py; offset = record index). The one
processing loop (streamer/runtime/service.py) drives them all the same way:

1. `setup(listener)`: connect; partitions arrive through the PartitionListener (`on_assigned`),
   which restores each partition's checkpoint and `seek`s it to the checkpointed offset;
2. `poll()`: batches that are ready, one per run of consecutive offsets of one partition;
   never blocks longer than the poll timeout; a finite source is `exhausted` after its last;
3. `commit(offsets)`: after the loop flushed the sinks and checkpointed detector state with
   these next-offsets (the commit order: streamer/runtime/service.py, `_commit_point`);
4. `close()`: leave the group, release connections.

A new source: implement `Source` (or `OnePartitionSource` for a finite stream read in order)
in a subpackage beside this module (streamer/sources/<name>/), and add it to the table of
sources in streamer/app/build.py (docs/architecture.md, "Adding things", has every step).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from driftstream.streamer.checkpoint.base import AuxPosition, Partition

__all__ = ["AuxPosition", "Lag", "Partition", "PartitionListener", "RawBatch", "Source"]


@dataclass
class RawBatch:
    """Lines [first_index, first_index + len(lines)) of the stream, as read."""

    first_index: int
    lines: list[bytes]
    #: bytes consumed from the underlying storage for these lines (progress reporting)
    consumed_bytes: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    #: positions in `lines` of lines that stand for the unreadable rest of a damaged capture
    #: file (what was read of its broken line, maybe nothing), each with one line naming the
    #: file and where reading stopped; the decoder rejects each as `damaged_file`
    damaged: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Lag:
    """How far the processing of one partition is behind the end of its stream.

    A figure the source cannot know is None, and no series is exported for it: Kinesis cannot
    count the records behind (its sequence numbers are not contiguous), so a shard has only
    `seconds`.
    """

    #: records after the last one processed
    records: int | None
    #: seconds the last record processed is behind the stream's newest (Kafka: the age of the
    #: last processed record's timestamp while records remain, 0 when caught up; Kinesis:
    #: MillisBehindLatest of the shard's latest GetRecords)
    seconds: float | None


class PartitionListener(Protocol):
    """What a partitioned source tells the processing loop when the group rebalances.

    Both calls happen inside the source's `poll()` or `close()` (never concurrently with the
    loop's own processing), before records of an assigned partition are returned and after the
    last records of a revoked one were.
    """

    def on_assigned(self, partitions: Sequence[Partition]) -> None:
        """Restore state and `seek` each partition to where that state ends (without a seek, a
        partition is read from the group's committed offset, else by the reset policy); `pause`
        the ones that cannot be restored yet."""
        ...

    def on_revoked(self, partitions: Sequence[Partition]) -> Mapping[Partition, int]:
        """Flush and checkpoint; return the offsets that are safe to commit."""
        ...

    def on_lost(self, partitions: Sequence[Partition]) -> None:
        """The group already gave these partitions away: drop their state, commit nothing."""
        ...


class Source(ABC):
    """Records per partition, with positions committed after they were processed.

    `poll()` never blocks longer than its poll timeout and returns what is ready: one RawBatch
    per run of consecutive offsets of one partition, `first_index` = the first record's offset,
    `meta["partition"]` = its Partition. Partitions come and go through the PartitionListener
    given to `setup` (see the module docstring for the whole contract).
    """

    #: total bytes to read when known (progress bars); None for unbounded sources
    total_bytes: int | None = None

    @property
    def exhausted(self) -> bool:
        """True once a finite source returned its last record; live sources never are."""
        return False

    def event_tags(self, partition: Partition) -> dict[str, Any]:
        """Keys added to every event of `partition` (events.jsonl, output topic): where it
        came from. Sources of one partition (replays) add none."""
        return {"topic": partition.topic, "partition": partition.partition}

    @abstractmethod
    def setup(self, listener: PartitionListener) -> None:
        """Connect and subscribe; called once before the first `poll`."""

    @abstractmethod
    def poll(self, *, wait: bool = True) -> list[RawBatch]:
        """Records that are ready, grouped per partition (maybe none). With `wait`, wait up to
        the poll timeout for some to arrive; without, return at once (the loop has results in
        flight to deliver)."""

    @abstractmethod
    def commit(self, offsets: Mapping[Partition, int]) -> bool:
        """Commit next-offsets to the group; False (logged, counted) when it could not."""

    @abstractmethod
    def seek(self, partition: Partition, offset: int) -> None:
        """Read `partition` from `offset` on (an assigned partition; callable from the listener)."""

    def seek_aux(self, partition: Partition, offsets: Mapping[str, AuxPosition]) -> None:  # noqa: B027
        """Read the side streams of `partition` (its ground truth) from these positions, a side
        stream not named by its start setting (the reset policy, the initial position); called
        on every assignment, after `seek`, with the checkpoint's `aux_offsets`. A source with
        side streams puts the position after what it attached to a batch in
        `RawBatch.meta["aux_offsets"]` (side stream -> Kafka next offset or Kinesis sequence
        number, streamer/checkpoint/base.py), which the loop checkpoints with the partition.
        Sources without any ignore it."""

    @abstractmethod
    def pause(self, partitions: Sequence[Partition]) -> None:
        """Return no records of these partitions until `resume` (callable from the listener)."""

    @abstractmethod
    def resume(self, partitions: Sequence[Partition]) -> None:
        """Undo `pause`."""

    def lag(self, processed: Mapping[Partition, int]) -> dict[Partition, Lag]:
        """How far each partition is behind, given the offset after the last record processed
        of each (`processed`); a partition whose lag is unknown is left out. Called by the loop
        after a checkpoint (streamer/runtime/service.py, `_report_lag`): answers from what the
        source already knows, without a request. Sources of one partition (replays) have none.
        """
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Leave the group and release connections; idempotent."""
