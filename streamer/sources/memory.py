"""A source over lines already in memory or generated on the fly (demo, tests, benchmarks)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from driftstream.streamer.sources.base import RawBatch, Source


class IterSource(Source):
    def __init__(self, lines: Iterable[bytes], total_records: int | None = None) -> None:
        self._it = iter(lines)
        self._index = 0
        self.total_records = total_records

    def next_batch(self, max_records: int) -> RawBatch | None:
        lines = list(itertools.islice(self._it, max_records))
        if not lines:
            return None
        batch = RawBatch(self._index, lines, consumed_bytes=sum(len(x) + 1 for x in lines))
        self._index += len(lines)
        return batch

    def snapshot(self) -> dict[str, Any]:
        return {"records": self._index}
