"""events.jsonl: one JSON object per event, flushed per batch so `tail -f` follows along."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import orjson

from driftstream.detectors.events import Event
from driftstream.sinks.base import BatchingSink


class EventsFileSink(BatchingSink):
    """Writes events.jsonl; `append=True` (the live service, a resumed replay) keeps what
    earlier runs wrote.

    The file is opened at the first `flush`, which the processing loop makes after its first
    batch (or at shutdown): `setup` only checks that it can be written. So a run that fails or is
    stopped during set-up (loading, calibrating: seconds to minutes) leaves an existing file as
    it was; once processing starts the file is replaced (or continued), and every flush writes
    the batch's events, so `tail -f` follows along and `replay --resume` finds the events of
    everything checkpointed. (Writing beside and renaming at the end would show nothing until
    the end and leave nothing to resume from after a crash.)

    When appending, a last line left half-written by a killed process is cut off first: its
    events were not checkpointed, so they are written again after the restart.
    """

    def __init__(self, path: Path, *, append: bool = False) -> None:
        super().__init__()
        self.path = path
        self.append = append
        self._file: IO[bytes] | None = None

    def setup(self) -> None:
        """Create the folder and check the file can be written, changing nothing in it (an
        OSError naming the path when it cannot)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.open("ab").close()

    def flush(self) -> None:
        if self._file is None:
            self._open()
        super().flush()

    def _open(self) -> None:
        if self.append:
            cut_partial_last_line(self.path)
        self._file = self.path.open("ab" if self.append else "wb")

    def write(self, batch: list[Event]) -> None:
        assert self._file is not None, "flush() opens the file"
        self._file.write(b"".join(orjson.dumps(e.to_dict()) + b"\n" for e in batch))
        self._file.flush()

    def close(self) -> None:
        """Write what is pending; a file never opened (nothing processed) stays untouched."""
        if self._file is not None or self._pending:
            super().close()
        if self._file is not None:
            self._file.close()
            self._file = None


def cut_partial_last_line(path: Path) -> None:
    """Drop an unterminated last line (left by a killed process) so appends start cleanly."""
    if not path.exists():
        return
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        # scan back for the last complete line (events are small: a few blocks at most)
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            f.seek(start)
            chunk = f.read(pos - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                f.truncate(start + cut + 1)
                return
            pos = start
        f.truncate(0)
