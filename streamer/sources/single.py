"""A finite stream read in order, as a source of one partition: replays of capture files, S3
objects, generated traffic.

The partition's offsets are record indices (every line read counts, blank and malformed ones
included), so a checkpoint of a replay is an offset like any other: `seek` skips to it, and
`replay --resume` continues an interrupted replay where its last checkpoint ends. `commit` has
nothing to tell anyone (the checkpoint is the position). At `speed`, `poll` holds each batch
until the recorded pace (inferenceTime × 1/speed) says it is due.
"""

from __future__ import annotations

import re
import threading
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from driftstream.streamer.sources.base import Partition, PartitionListener, RawBatch, Source
from driftstream.streamer.sources.pacing import Pacer

_INFERENCE_TIME = re.compile(rb'"inferenceTime"\s*:\s*"([^"\\]*)"')


class SeekError(ValueError):
    """A checkpoint points past the end of the stream it was taken from."""


def inference_time(line: bytes) -> str | None:
    """The eventMetadata.inferenceTime of a raw capture line, without parsing all of it."""
    m = _INFERENCE_TIME.search(line)
    return m.group(1).decode("ascii", "replace") if m else None


class LabelFeed(Protocol):
    """Ground truth that goes with a stream of captures (streamer/sources/ground_truth.py)."""

    def release(self, batch: RawBatch) -> list[tuple[int, bytes]]:
        """The labels available with `batch`'s records: (record index, record line) each."""
        ...


class OnePartitionSource(Source):
    """A finite stream as one partition (see the module docstring).

    Subclasses implement `read`, the stream in order; the processing loop calls `poll`, and
    tools that copy a stream elsewhere (`replay --to`) may call `read` directly.
    """

    def __init__(
        self,
        name: str,
        *,
        batch_size: int = 4096,
        speed: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.partition = Partition(name, 0)
        self.batch_size = batch_size
        self._stop = stop or threading.Event()
        self._pacer = Pacer(speed, self._stop) if speed else None
        self._paused = False
        self._exhausted = False
        self._next = 0  # offset of the next record `read` returns
        #: ground truth released alongside the records, in `RawBatch.meta["ground_truth"]`
        #: (model quality: streamer/sources/ground_truth.py); also while seeking, so that a
        #: resumed replay has released exactly the labels its checkpoint holds
        self.ground_truth: LabelFeed | None = None

    @abstractmethod
    def read(self, max_records: int) -> RawBatch | None:
        """The next up to `max_records` lines in order (`first_index` = their record index);
        None once the stream is exhausted."""

    def _take(self, max_records: int) -> RawBatch | None:
        batch = self.read(max_records)
        if batch is not None:
            self._next = batch.first_index + len(batch.lines)
            if self.ground_truth is not None:
                batch.meta["ground_truth"] = self.ground_truth.release(batch)
        return batch

    # -- Source ------------------------------------------------------------------------------

    def setup(self, listener: PartitionListener) -> None:
        listener.on_assigned([self.partition])

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def poll(self, *, wait: bool = True) -> list[RawBatch]:
        if self._exhausted:
            return []
        if self._paused:
            if wait:
                self._stop.wait(0.05)
            return []
        batch = self._take(self.batch_size)
        if batch is None:
            self._exhausted = True
            return []
        if self._pacer is not None:
            for line in reversed(batch.lines):
                if (t := inference_time(line)) is not None:
                    self._pacer.wait_for(t)
                    break
        batch.meta["partition"] = self.partition
        return [batch]

    def seek(self, partition: Partition, offset: int) -> None:
        """Skip forward to `offset` (reading and dropping the records before it)."""
        if offset < self._next:
            raise SeekError(f"{partition}: cannot go back from record {self._next} to {offset}")
        while self._next < offset:
            batch = self._take(min(self.batch_size, offset - self._next))
            if batch is None:
                raise SeekError(
                    f"{partition.topic}: the checkpoint is at record {offset}, but the source "
                    f"ends at record {self._next}; it is not the stream that was checkpointed"
                )

    def commit(self, offsets: Mapping[Partition, int]) -> bool:
        return True

    def pause(self, partitions: Sequence[Partition]) -> None:
        self._paused = True

    def resume(self, partitions: Sequence[Partition]) -> None:
        self._paused = False

    def event_tags(self, partition: Partition) -> dict[str, Any]:
        return {}
