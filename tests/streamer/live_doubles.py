"""Small in-package doubles for the live loop: a partitioned source, a store, sinks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from driftstream.detectors.baseline import build_baseline
from driftstream.detectors.events import Event
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.settings import CalibrationSettings, DetectorSettings
from driftstream.sinks.base import BatchingSink, DeadLetter, DeadLetterSink, SinkUnavailableError
from driftstream.streamer.checkpoint.base import (
    Checkpoint,
    CheckpointStore,
    CheckpointUnavailableError,
)
from driftstream.streamer.decode.base import FeatureLayout
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.base import (
    Lag,
    Partition,
    PartitionListener,
    RawBatch,
    Source,
)
from driftstream.streamer.sources.synthetic import training_csv


def small_monitor(root: Path) -> tuple[CaptureDecoder, Monitor]:
    """A decoder and a calibrated monitor for the synthetic schema, built under `root`."""
    (root / "training.csv").write_text(training_csv(5_000, seed=1))
    baseline = build_baseline(root / "training.csv", root / "baseline", label_column="prediction")
    layout = FeatureLayout.from_baseline(baseline)
    settings = DetectorSettings(
        calibration=CalibrationSettings(samples=20_000, cache_dir=root / "calibration")
    )
    monitor = Monitor(baseline, layout.numeric, layout.categorical, settings, endpoint="test")
    return CaptureDecoder(baseline), monitor


class Calls:
    """One ordered log of what the doubles were asked to do (for commit-order checks)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []

    def add(self, what: str, detail: object = None) -> None:
        self.log.append((what, detail))

    def names(self) -> list[str]:
        return [name for name, _ in self.log]


@dataclass
class FakeSource(Source):
    """Partitions as lists of lines; a group of one that assigns what the test says.

    `script` maps a poll number to an action run inside that poll (as kafka-python runs
    rebalance callbacks inside poll); `stop` is set once `stop_after` polls returned nothing.
    """

    records: dict[Partition, list[bytes]]
    calls: Calls
    stop: threading.Event
    batch: int = 100
    script: dict[int, Callable[[FakeSource], None]] = field(default_factory=dict)
    stop_after_idle: int = 3
    listener: PartitionListener | None = None
    assigned: list[Partition] = field(default_factory=list)
    paused: set[Partition] = field(default_factory=set)
    positions: dict[Partition, int] = field(default_factory=dict)
    committed: dict[Partition, int] = field(default_factory=dict)
    commit_ok: bool = True
    polls: int = 0
    waits: list[bool] = field(default_factory=list)  # `wait` of each poll
    idle: int = 0
    closed: bool = False

    def setup(self, listener: PartitionListener) -> None:
        self.listener = listener

    def assign(self, partitions: Sequence[Partition]) -> None:
        assert self.listener is not None
        self.assigned = list(partitions)
        for p in partitions:
            self.positions.setdefault(p, self.committed.get(p, 0))
        self.listener.on_assigned(list(partitions))

    def revoke(self) -> None:
        assert self.listener is not None
        offsets = self.listener.on_revoked(list(self.assigned))
        if offsets:
            self.calls.add("commit", dict(offsets))
            self.committed.update(offsets)
        self.calls.add("revoked", dict(offsets))
        for p in self.assigned:
            self.positions.pop(p, None)
        self.assigned = []

    def poll(self, *, wait: bool = True) -> list[RawBatch]:
        self.polls += 1
        self.waits.append(wait)
        action = self.script.get(self.polls)
        if action is not None:
            action(self)
        out: list[RawBatch] = []
        for p in self.assigned:
            if p in self.paused:
                continue
            start = self.positions[p]
            lines = self.records[p][start : start + self.batch]
            if lines:
                keys: list[bytes | None] = [f"key-{p.partition}".encode()] * len(lines)
                out.append(RawBatch(start, lines, meta={"partition": p, "keys": keys}))
                self.positions[p] = start + len(lines)
        self.idle = 0 if out or self.paused else self.idle + 1
        if self.idle >= self.stop_after_idle and not self.script.get(self.polls + 1):
            self.stop.set()
        return out

    def commit(self, offsets: Mapping[Partition, int]) -> bool:
        self.calls.add("commit", dict(offsets))
        if self.commit_ok:
            self.committed.update(offsets)
        return self.commit_ok

    def seek(self, partition: Partition, offset: int) -> None:
        self.calls.add("seek", (partition, offset))
        self.positions[partition] = offset

    def pause(self, partitions: Sequence[Partition]) -> None:
        self.paused.update(partitions)

    def resume(self, partitions: Sequence[Partition]) -> None:
        self.paused.difference_update(partitions)

    def lag(self, processed: Mapping[Partition, int]) -> dict[Partition, Lag]:
        return {p: Lag(len(self.records[p]) - offset, None) for p, offset in processed.items()}

    def close(self) -> None:
        if self.assigned:
            self.revoke()
        self.closed = True


class MemoryStore(CheckpointStore):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self.saved: dict[tuple[str, Partition], Checkpoint] = {}
        self.unavailable = 0  # fail this many loads / saves
        self.loads = 0

    def load(self, group: str, partition: Partition) -> Checkpoint | None:
        self.loads += 1
        if self.unavailable:
            self.unavailable -= 1
            raise CheckpointUnavailableError("store away")
        return self.saved.get((group, partition))

    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        if self.unavailable:
            self.unavailable -= 1
            raise CheckpointUnavailableError("store away")
        self.calls.add("save", {str(cp.partition): cp.offset for cp in checkpoints})
        for cp in checkpoints:
            self.saved[(cp.group, cp.partition)] = cp


class CollectSink(BatchingSink):
    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self.calls = calls
        self.events: list[Event] = []
        self.failing = 0  # fail this many flushes

    def flush(self) -> None:
        if self.failing:
            self.failing -= 1
            raise SinkUnavailableError("sink away")
        self.calls.add("flush")
        super().flush()

    def write(self, batch: list[Event]) -> None:
        self.events.extend(batch)


class CollectDeadLetters(DeadLetterSink):
    def __init__(self) -> None:
        self.pending: list[DeadLetter] = []
        self.delivered: list[DeadLetter] = []

    def add(self, letter: DeadLetter) -> None:
        self.pending.append(letter)

    def flush(self) -> None:
        self.delivered.extend(self.pending)
        self.pending = []
