"""The source interface: where captured records come from.

A source hands out consecutive batches of raw capture lines. `next_batch()` never blocks for
long: it returns what is ready (possibly an empty batch), or None once a finite source is
exhausted. `snapshot()` is the position *after* the last line returned (file + byte offset,
Kafka offset + 1, Kinesis sequence number): what a checkpoint stores so a restart resumes there.

Partitioned sources (Kafka) hand out batches per partition and tell the loop, through a
PartitionListener, when partitions are assigned or taken away; a CheckpointStore keeps detector
state together with the partition position it corresponds to; a MonitorHost is where the
partitions' decoding and monitors run (in the loop's process, or in a process of their own).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from driftstream.streamer.checkpoint.base import Partition

__all__ = [
    "Partition",
    "PartitionListener",
    "PartitionedSource",
    "RawBatch",
    "Source",
]

if TYPE_CHECKING:
    pass


@dataclass
class RawBatch:
    """Lines [first_index, first_index + len(lines)) of the stream, as read."""

    first_index: int
    lines: list[bytes]
    #: bytes consumed from the underlying storage for these lines (progress reporting)
    consumed_bytes: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    """A stream of captured records (see the module docstring for the contract)."""

    #: total bytes to read when known (progress bars); None for unbounded sources
    total_bytes: int | None = None

    def setup(self) -> None:  # noqa: B027 - optional hook, most sources need nothing
        """Open connections or files; called once before the first `next_batch`."""

    @abstractmethod
    def next_batch(self, max_records: int) -> RawBatch | None:
        """Up to `max_records` lines that are ready; None when a finite source is exhausted."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Position after the last line returned, as JSON-compatible data."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; idempotent."""


# -- partitioned sources (Kafka) -------------------------------------------------------------


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


class PartitionedSource(ABC):
    """A source whose records arrive per partition, with positions committed to a group.

    `poll()` never blocks longer than its poll timeout and returns what is ready: one RawBatch
    per run of consecutive offsets of one partition, `first_index` = the first record's offset,
    `meta["partition"]` = its Partition. Partitions come and go through the PartitionListener
    given to `setup`.
    """

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

    @abstractmethod
    def pause(self, partitions: Sequence[Partition]) -> None:
        """Return no records of these partitions until `resume` (callable from the listener)."""

    @abstractmethod
    def resume(self, partitions: Sequence[Partition]) -> None:
        """Undo `pause`."""

    def end_offsets(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """Current end offset of each partition, for lag; empty when unknown."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Leave the group and release connections; idempotent."""
