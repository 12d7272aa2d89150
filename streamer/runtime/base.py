"""The runtime's interface: where decoding and the monitors of a source's partitions run.

A MonitorHost holds the decoder and one monitor per partition, in the processing loop's process
(InlineMonitorHost) or in a process of its own (ProcessMonitorHost), streamer/runtime/host.py.
The loop (streamer/runtime/service.py) submits each poll's batches and collects one Processed
per batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from driftstream.streamer.sources.base import Partition, RawBatch

if TYPE_CHECKING:
    from driftstream.detectors.base import Document
    from driftstream.detectors.events import Event
    from driftstream.detectors.monitor import MonitorView
    from driftstream.streamer.decode.base import Rejection


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
    #: files the monitor's watchers made in this batch (Model Monitor reports), for the sinks
    documents: list[Document] = field(default_factory=list)


@dataclass
class Finished:
    """What a partition's monitor made when the stream ended (Monitor.finish): the events and
    files of what its watchers still held open, such as the last report window."""

    partition: Partition
    events: list[Event]
    documents: list[Document]
    view: MonitorView


class MonitorHostError(RuntimeError):
    """The monitor process died or failed: the live service cannot go on."""


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
    def report_data(self, partitions: Sequence[Partition]) -> dict[Partition, dict[str, Any]]:
        """Each partition's `Monitor.report_data()` (its trace and recent distributions), for
        the run's summary."""

    @abstractmethod
    def finish(self, partitions: Sequence[Partition]) -> list[Finished]:
        """The stream of `partitions` has ended: each monitor's `finish()`, in order."""

    @abstractmethod
    def drop(self, partition: Partition) -> None:
        """Forget `partition`'s monitor."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the process, if any; idempotent."""
