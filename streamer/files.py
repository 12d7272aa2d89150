"""Replay of captured files: one .jsonl / .jsonl.gz file, or a folder of them."""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path
from typing import IO, Any, cast

from streamer.base import RawBatch, Source

_HOUR = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})(?:/|$)")
_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".gz")


class SourceError(ValueError):
    """The replay source cannot be read (missing path, no capture files)."""


def capture_files(root: Path) -> list[Path]:
    """Capture files under `root` in SageMaker's time order: yyyy/mm/dd/hh path, then name."""
    if not root.exists():
        raise SourceError(f"replay source {root} does not exist")
    if root.is_file():
        return [root]
    files = [p for p in root.rglob("*") if p.is_file() and p.name.endswith(_SUFFIXES)]
    if not files:
        raise SourceError(f"replay source {root} holds no .jsonl or .jsonl.gz files")

    def order(p: Path) -> tuple[tuple[str, ...], str]:
        rel = p.relative_to(root).as_posix()
        m = _HOUR.search(rel)
        return (m.groups() if m else (), rel)

    return sorted(files, key=order)


class FileSource(Source):
    """Lines of capture files, read in order; gzip by magic number, not by name.

    A line longer than `max_line_bytes` is not held in memory: its first max_line_bytes + 1 bytes
    are returned (the decoder rejects it as oversized) and the rest is skipped.
    """

    def __init__(self, root: Path, max_line_bytes: int = 1_048_576) -> None:
        self.root = root
        self.max_line_bytes = max_line_bytes
        self.files = capture_files(root)
        self.total_bytes = sum(p.stat().st_size for p in self.files)
        self._file_no = 0
        self._raw: IO[bytes] | None = None
        self._reader: IO[bytes] | None = None
        self._index = 0
        self._line_in_file = 0

    def _open_next(self) -> bool:
        self.close()
        if self._file_no >= len(self.files):
            return False
        path = self.files[self._file_no]
        raw = path.open("rb")
        magic = raw.read(2)
        raw.seek(0)
        self._raw = raw
        self._reader = cast(IO[bytes], gzip.GzipFile(fileobj=raw)) if magic == b"\x1f\x8b" else raw
        self._line_in_file = 0
        return True

    def _read_line(self, reader: IO[bytes]) -> bytes:
        line = reader.readline(self.max_line_bytes + 1)
        if len(line) > self.max_line_bytes and not line.endswith(b"\n"):
            rest = line
            while rest and not rest.endswith(b"\n"):
                rest = reader.readline(io.DEFAULT_BUFFER_SIZE * 16)
        return line

    def next_batch(self, max_records: int) -> RawBatch | None:
        lines: list[bytes] = []
        before = self._raw_position()
        consumed = 0
        while len(lines) < max_records:
            if self._reader is None:
                if not self._open_next():
                    break
                before = 0
            assert self._reader is not None
            line = self._read_line(self._reader)
            if not line:
                consumed += self._raw_position() - before
                self._file_no += 1
                self._reader = None
                continue
            lines.append(line.rstrip(b"\r\n"))
            self._line_in_file += 1
        consumed += self._raw_position() - before
        if not lines and self._reader is None and self._file_no >= len(self.files):
            return None
        batch = RawBatch(self._index, lines, consumed_bytes=max(consumed, 0))
        self._index += len(lines)
        return batch

    def _raw_position(self) -> int:
        return self._raw.tell() if self._raw is not None and not self._raw.closed else 0

    def snapshot(self) -> dict[str, Any]:
        name = str(self.files[self._file_no]) if self._file_no < len(self.files) else None
        return {"file": name, "line": self._line_in_file, "records": self._index}

    def close(self) -> None:
        if self._reader is not None and self._reader is not self._raw:
            self._reader.close()
        if self._raw is not None:
            self._raw.close()
        self._raw = None
        self._reader = None
