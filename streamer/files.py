"""Replay of captured files: one .jsonl / .jsonl.gz file, or a folder of them.

The line handling (gzip by magic number, oversized lines cut without being held in memory,
progress in bytes read from storage) lives in `CaptureObjectsSource`, shared by every source of
capture objects: local files here, S3 objects in streamer/s3_source.py.
"""

from __future__ import annotations

import gzip
import io
import re
from abc import abstractmethod
from pathlib import Path
from typing import IO, Any, cast

from streamer.base import RawBatch, Source

_HOUR = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})(?:/|$)")
CAPTURE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".gz")
_READ_BUFFER = 256 * 1024


class SourceError(ValueError):
    """The replay source cannot be read (missing path, no capture files)."""


def capture_order(relative: str) -> tuple[tuple[str, ...], str]:
    """Sort key of a capture object: its yyyy/mm/dd/hh folders (SageMaker's UTC hour), then its
    path. `relative` is the path below the replay root, with `/` separators."""
    m = _HOUR.search(relative)
    return (m.groups() if m else (), relative)


def is_capture_name(name: str) -> bool:
    return name.endswith(CAPTURE_SUFFIXES)


def capture_files(root: Path) -> list[Path]:
    """Capture files under `root` in SageMaker's time order: yyyy/mm/dd/hh path, then name."""
    if not root.exists():
        raise SourceError(f"replay source {root} does not exist")
    if root.is_file():
        return [root]
    files = [p for p in root.rglob("*") if p.is_file() and is_capture_name(p.name)]
    if not files:
        raise SourceError(f"replay source {root} holds no .jsonl or .jsonl.gz files")
    return sorted(files, key=lambda p: capture_order(p.relative_to(root).as_posix()))


class _Counted(io.RawIOBase):
    """A raw byte stream that counts what it hands out (bytes read from storage)."""

    def __init__(self, raw: IO[bytes] | io.RawIOBase) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        if not data:
            return 0
        n = len(data)
        view[:n] = data
        self.count += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class LineReader:
    """Lines of one capture object: gzip recognised by its magic number (not by name), lines
    longer than `max_line_bytes` cut to max_line_bytes + 1 bytes (so the decoder rejects them as
    oversized) with the rest skipped unread into memory, and `consumed` = raw bytes read."""

    def __init__(self, raw: IO[bytes] | io.RawIOBase, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._counted = _Counted(raw)
        buffered = io.BufferedReader(self._counted, buffer_size=_READ_BUFFER)
        self._buffered = buffered
        self._reader: IO[bytes] = (
            cast(IO[bytes], gzip.GzipFile(fileobj=buffered))
            if buffered.peek(2)[:2] == b"\x1f\x8b"
            else cast(IO[bytes], buffered)
        )

    @property
    def consumed(self) -> int:
        return self._counted.count

    def readline(self) -> bytes | None:
        """The next line without its line ending; None at the end of the object."""
        line = self._reader.readline(self.max_line_bytes + 1)
        if not line:
            return None
        if len(line) > self.max_line_bytes and not line.endswith(b"\n"):
            rest = line
            while rest and not rest.endswith(b"\n"):
                rest = self._reader.readline(io.DEFAULT_BUFFER_SIZE * 16)
        return line.rstrip(b"\r\n")

    def close(self) -> None:
        if self._reader is not self._buffered:
            self._reader.close()
        self._buffered.close()


class CaptureObjectsSource(Source):
    """Lines of an ordered list of capture objects, read one after another (record_index counts
    every line of every object, blank and malformed ones included).

    Subclasses set `names` (in reading order) and `total_bytes`, and implement `_open`.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.names: list[str] = []
        self._object_no = 0
        self._reader: LineReader | None = None
        self._index = 0
        self._line_in_object = 0
        self._reported = 0  # bytes of the current object already counted as consumed

    @abstractmethod
    def _open(self, number: int) -> IO[bytes] | io.RawIOBase:
        """A raw byte stream of object `number` (an index into `names`)."""

    def next_batch(self, max_records: int) -> RawBatch | None:
        lines: list[bytes] = []
        consumed = 0
        while len(lines) < max_records:
            if self._reader is None:
                if self._object_no >= len(self.names):
                    break
                self._reader = LineReader(self._open(self._object_no), self.max_line_bytes)
                self._line_in_object = 0
                self._reported = 0
            line = self._reader.readline()
            consumed += self._reader.consumed - self._reported
            self._reported = self._reader.consumed
            if line is None:
                self._reader.close()
                self._reader = None
                self._object_no += 1
                continue
            lines.append(line)
            self._line_in_object += 1
        if not lines and self._reader is None and self._object_no >= len(self.names):
            return None
        batch = RawBatch(self._index, lines, consumed_bytes=consumed)
        self._index += len(lines)
        return batch

    def snapshot(self) -> dict[str, Any]:
        name = self.names[self._object_no] if self._object_no < len(self.names) else None
        return {"file": name, "line": self._line_in_object, "records": self._index}

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class FileSource(CaptureObjectsSource):
    """Lines of local capture files: one file, or a folder read recursively in time order."""

    def __init__(self, root: Path, max_line_bytes: int = 1_048_576) -> None:
        super().__init__(max_line_bytes)
        self.root = root
        self.files = capture_files(root)
        self.names = [str(p) for p in self.files]
        self.total_bytes = sum(p.stat().st_size for p in self.files)

    def _open(self, number: int) -> IO[bytes]:
        return self.files[number].open("rb", buffering=0)
