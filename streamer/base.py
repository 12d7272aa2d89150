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
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from detectors.events import Event
    from detectors.monitor import MonitorView
    from streamer.batch import Rejection


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


class Partition(NamedTuple):
    """One partition of one topic: the unit of ordering, assignment and checkpointing."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}"


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


# -- checkpoints ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """Detector state of one partition and the offset it corresponds to (the next to read)."""

    group: str
    partition: Partition
    offset: int
    monitor: dict[str, Any]


class CheckpointStore(ABC):
    """Keeps the latest Checkpoint per (group, topic, partition).

    `save` returns only once the checkpoints are durable: the loop commits offsets after it.
    Stored as versioned JSON (streamer.checkpoint), never pickle.
    """

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Create directories or topics, connect; called once before the first load/save."""

    @abstractmethod
    def load(self, group: str, partition: Partition) -> Checkpoint | None:
        """The latest checkpoint of this partition, or None when there is none."""

    @abstractmethod
    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Store these checkpoints durably (each replaces its partition's previous one)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; idempotent."""


# -- where decode + monitor run ---------------------------------------------------------------


@dataclass
class Processed:
    """What decoding and monitoring made of one RawBatch of one partition."""

    partition: Partition
    first_index: int
    n_records: int  # lines of the RawBatch, malformed ones included
    records_used: int
    events: list[Event]  # rejections and monitor events, in record order
    rejections: list[Rejection]
    seconds: float  # decode + monitor time
    view: MonitorView  # the partition's monitor readings after this batch
    #: the decoded numeric rows, for the decoder's observers; empty unless a host was asked
    numeric: npt.NDArray[np.float64] | None = None


class MonitorStateError(ValueError):
    """A checkpointed monitor state that cannot be restored (other version, other baseline)."""


class MonitorHost(ABC):
    """Where the decoder and one monitor per partition live and run.

    `submit` hands over the batches of one poll and returns at once; `collect` waits for them
    and returns one Processed per batch, in order. Every other call needs nothing in flight
    (the loop collects first), so state is never read while a batch is being processed.
    """

    def start(self) -> None:  # noqa: B027 - optional hook
        """Get ready (start a process); called once before anything else."""

    @abstractmethod
    def open(self, partition: Partition, state: dict[str, Any] | None) -> MonitorView:
        """A fresh monitor for `partition`, restored from `state` when given.

        Raises MonitorStateError when `state` cannot be restored."""

    @abstractmethod
    def submit(self, batches: Sequence[RawBatch]) -> None:
        """Decode and monitor these batches (of opened partitions, `meta["partition"]`)."""

    @abstractmethod
    def collect(self) -> list[Processed]:
        """The results of everything submitted since the last call, in order."""

    @abstractmethod
    def states(self, partitions: Sequence[Partition]) -> dict[Partition, dict[str, Any]]:
        """Each partition's monitor state (`Monitor.state_dict()`), for a checkpoint."""

    @abstractmethod
    def drop(self, partition: Partition) -> None:
        """Forget `partition`'s monitor."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the process, if any; idempotent."""
