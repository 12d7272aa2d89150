"""events.jsonl: one JSON object per event, flushed per batch so `tail -f` follows along."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import orjson

from detectors.events import Event
from sinks.base import BatchingSink


class EventsFileSink(BatchingSink):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file: IO[bytes] | None = None

    def setup(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")

    def write(self, batch: list[Event]) -> None:
        assert self._file is not None, "setup() was not called"
        self._file.write(b"".join(orjson.dumps(e.to_dict()) + b"\n" for e in batch))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            super().close()
            self._file.close()
            self._file = None
