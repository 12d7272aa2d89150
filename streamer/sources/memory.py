"""Lines already in memory or generated on the fly, as a one-partition source (demo, tests,
benchmarks)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable

from driftstream.streamer.sources.base import RawBatch
from driftstream.streamer.sources.single import OnePartitionSource


class IterSource(OnePartitionSource):
    """The lines of an iterable, in order, as the partition `name`."""

    def __init__(
        self,
        lines: Iterable[bytes],
        total_records: int | None = None,
        *,
        name: str = "memory",
        batch_size: int = 4096,
        speed: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(name, batch_size=batch_size, speed=speed, stop=stop)
        self._it = iter(lines)
        self._index = 0
        self.total_records = total_records

    def read(self, max_records: int) -> RawBatch | None:
        lines = list(itertools.islice(self._it, max_records))
        if not lines:
            return None
        batch = RawBatch(self._index, lines, consumed_bytes=sum(len(x) + 1 for x in lines))
        self._index += len(lines)
        return batch
