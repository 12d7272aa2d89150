"""Ground truth read live beside the captures: the ground-truth topic's partitions that go with
the capture partitions this member holds (co-partitioning, docs/model-quality.md).

Ground-truth partition i holds the labels of the predictions in capture partition i: both topics
have the same partition count and their records are keyed alike (by endpoint), as the
partitions of a Kafka Streams join must be. `check_co_partitioned` refuses to start otherwise.

The reader is a second consumer, without a group and without commits: it is assigned
ground-truth partition i exactly while the service holds capture partition i (`want`, when the
partition is restored, at the offset its checkpoint names; `release`, when it is revoked or
lost). `fetch` reads ahead without blocking, once per poll of the captures, and keeps at most
`max_lines` lines per partition: what a fetch brings beyond them is dropped and the partition
sought back to the first line dropped, so it is read again once the lines held were taken
(not `pause`: kafka-python 3.0.12 can leave a paused partition's parked records unreturned
after `resume`, and the partition is never fetched again).
`take(i)` hands every line read so far to the next capture batch of partition i, with the offset
after them: the loop checkpoints that offset together with the monitor that received the lines,
so a label handed over and the position after it are saved together, and a label read but not
yet handed over is read again after a restart.

Threading: `want` and `release` are called from the rebalance callbacks on the capture
consumer's network thread while the loop waits in its `poll` (and `want` from the loop itself,
for a partition restored late); they only note what to do, under a lock. `fetch` and `take` run
on the loop's thread, and only `fetch` touches the consumer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from kafka import TopicPartition

from driftstream.streamer.sources.files import SourceError

#: what `want` notes for a partition: seek to an offset, or (None) start by the reset policy
_Seek = int | None


@dataclass
class _Partition:
    """What the reader holds of one ground-truth partition."""

    #: (offset, record value) read and not yet handed over, in offset order
    lines: list[tuple[int, bytes]] = field(default_factory=list)
    #: the offset after the last line handed over (or the one sought); None: not known yet
    next_offset: int | None = None


class GroundTruthReader:
    """Ground-truth lines per partition, for the capture batches of the same partition (see the
    module docstring)."""

    def __init__(
        self,
        topic: str,
        consumer: Callable[[], Any],
        *,
        max_lines: int,
        reset: Literal["earliest", "latest"] = "earliest",
    ) -> None:
        """`consumer`: makes the consumer (no group, no auto commit), called at `setup`."""
        self.topic = topic
        self.max_lines = max_lines
        self.reset = reset
        self._make = consumer
        self._consumer: Any = None
        self._lock = threading.Lock()
        self._noted: list[tuple[int, _Seek | Literal["release"]]] = []
        self._held: dict[int, _Partition] = {}

    def setup(self) -> None:
        """Make the consumer (KafkaError while the broker is away: the caller retries)."""
        if self._consumer is None:
            self._consumer = self._make()

    @property
    def consumer(self) -> Any:
        return self._consumer

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close()

    # -- assignment (any thread) -------------------------------------------------------------

    def want(self, partition: int, offset: int | None) -> None:
        """Read ground-truth `partition` from `offset` (None: by the reset policy), dropping
        whatever was read of it and not handed over."""
        with self._lock:
            self._noted.append((partition, offset))

    def release(self, partition: int) -> None:
        """Stop reading ground-truth `partition` and forget what was read of it."""
        with self._lock:
            self._noted.append((partition, "release"))

    # -- the loop's thread -------------------------------------------------------------------

    def fetch(self) -> None:
        """Apply the assignment noted, then add what the consumer has ready (never waits)."""
        if self._consumer is None:
            return
        self._apply()
        if not self._held:
            return
        polled = self._consumer.poll(timeout_ms=0, max_records=self.max_lines)
        for tp, records in polled.items():
            held = self._held.get(int(tp.partition))
            if held is None:
                continue
            room = max(self.max_lines - len(held.lines), 0)
            if len(records) > room:
                self._consumer.seek(tp, int(records[room].offset))  # the rest: read again
            kept = records[:room]
            held.lines.extend((int(r.offset), r.value) for r in kept if r.value is not None)

    def take(self, partition: int) -> tuple[list[bytes], int | None]:
        """The lines of `partition` read so far (handed over: they are not returned again) and
        the offset after them (None while nothing is known of the partition's position)."""
        held = self._held.get(partition)
        if held is None:
            return [], None
        lines, held.lines = held.lines, []
        if lines:
            held.next_offset = lines[-1][0] + 1
        return [line for _, line in lines], held.next_offset

    def _apply(self) -> None:
        with self._lock:
            noted, self._noted = self._noted, []
        if not noted:
            return
        seeks: dict[int, _Seek] = {}
        for partition, what in noted:
            if what == "release":
                self._held.pop(partition, None)
                seeks.pop(partition, None)
            else:
                self._held[partition] = _Partition(next_offset=what)
                seeks[partition] = what
        # replaces the assignment; partitions kept keep their position (kafka-python 3)
        self._consumer.assign([self._tp(p) for p in sorted(self._held)])
        for partition, offset in seeks.items():
            tp = self._tp(partition)
            if offset is not None:
                self._consumer.seek(tp, offset)
            elif self.reset == "earliest":
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek_to_end(tp)

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)


def check_co_partitioned(consumer: Any, captures: str, ground_truth: str) -> None:
    """SourceError (one line) unless both topics exist with the same number of partitions."""
    counts = {t: len(consumer.partitions_for_topic(t)) for t in (captures, ground_truth)}
    if not counts[captures]:
        raise SourceError(
            f"sources.kafka.topics: topic {captures} does not exist (needed to check that "
            "ground_truth_topic is partitioned like it)"
        )
    if not counts[ground_truth]:
        raise SourceError(f"sources.kafka.ground_truth_topic: topic {ground_truth} does not exist")
    if counts[captures] != counts[ground_truth]:
        raise SourceError(
            f"sources.kafka.ground_truth_topic: {ground_truth} has {counts[ground_truth]} "
            f"partitions, the capture topic {captures} {counts[captures]}; ground truth must be "
            "partitioned like the captures and keyed alike (docs/model-quality.md)"
        )
