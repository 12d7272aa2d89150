"""Replay of captured files: one .jsonl / .jsonl.gz file, or a folder of them.

The line handling (gzip by magic number, oversized lines cut without being held in memory,
progress in bytes read from storage, damaged objects) lives in `CaptureObjectsSource`, shared by
every source of capture objects: local files here, S3 objects in streamer/sources/s3.py.

A damaged object (a truncated or corrupt gzip stream, a local read error) does not end the
replay: its lines up to the damage are read as usual, the rest of it (from the start of the line
where reading stopped) becomes one line of the batch listed in `RawBatch.damaged`, which the
decoder rejects as `damaged_file` with the object's name and position, and the next object is
read. Failed S3 reads are not damage: they are retried, then fatal (streamer/sources/s3.py).
"""

from __future__ import annotations

import errno
import gzip
import io
import re
import threading
import zlib
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import structlog

from driftstream.streamer.sources.base import RawBatch
from driftstream.streamer.sources.single import OnePartitionSource

log = structlog.get_logger(__name__)

_HOUR = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})(?:/|$)")
CAPTURE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".gz")
_READ_BUFFER = 256 * 1024
_CHUNK = 1 << 20  # bytes split into lines at a time
#: what reading a damaged object raises: a gzip stream that ends early (EOFError), a corrupt one
#: (BadGzipFile, an OSError; zlib.error), a failed read of a local file (OSError)
_DAMAGE = (EOFError, zlib.error, OSError)


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


@dataclass(frozen=True)
class Damage:
    """Why and where reading a capture object stopped before its end."""

    problem: str  # what is wrong, e.g. "truncated gzip data (...)"
    line: int  # 1-based line of the object where reading stopped
    byte: int  # offset of that line in the object's content (uncompressed, for gzip)
    compressed: bool
    partial: bytes  # what was read of that line (maybe nothing)

    def describe(self, name: str) -> str:
        """One line naming the object `name` and the position, never its content."""
        where = "uncompressed byte" if self.compressed else "byte"
        return (
            f"{name}: {self.problem} at line {self.line} ({where} {self.byte}); "
            "the rest of the file is skipped"
        )


def _problem(exc: BaseException) -> str:
    """What a _DAMAGE error means, in words of our own (gzip's messages quote file bytes)."""
    if isinstance(exc, EOFError):
        return "truncated gzip data (the stream ends before its end marker)"
    if isinstance(exc, gzip.BadGzipFile | zlib.error):
        return "corrupt gzip data"
    code = getattr(exc, "errno", None)
    name = errno.errorcode.get(code, "") if isinstance(code, int) else ""
    return f"read error ({name or type(exc).__name__})"


class LineReader:
    """Lines of one capture object: gzip recognised by its magic number (not by name), lines
    longer than `max_line_bytes` cut to max_line_bytes + 1 bytes (so the decoder rejects them as
    oversized) with the rest skipped unread into memory, and `consumed` = raw bytes read.

    A damaged object (see the module docstring) ends where the damage is: every line before it
    is returned, and then `damage` says what went wrong and where, holding the partial line.
    """

    def __init__(self, raw: IO[bytes] | io.RawIOBase, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._counted = _Counted(raw)
        buffered = io.BufferedReader(self._counted, buffer_size=_READ_BUFFER)
        self._buffered = buffered
        self._ready: list[bytes] = []
        self._ready_pos = 0
        self._tail = b""
        self._eof = False
        self._skipping = False
        self.compressed = buffered.peek(2)[:2] == b"\x1f\x8b"
        self._reader: io.BufferedIOBase = (
            gzip.GzipFile(fileobj=buffered) if self.compressed else buffered
        )
        self.lines = 0  # lines returned so far
        self._content = 0  # bytes of content read so far (uncompressed, for gzip)
        self._error: BaseException | None = None
        self.damage: Damage | None = None

    @property
    def consumed(self) -> int:
        return self._counted.count

    def readlines(self, limit: int) -> list[bytes]:
        """Up to `limit` next lines without their line endings; [] at the end of the object.

        Reads in chunks and splits them in C (a readline per record costs more than decoding
        it); a line longer than max_line_bytes is cut to max_line_bytes + 1 bytes and the rest
        of it is skipped as it arrives, so memory stays bounded by the chunk size.
        """
        out: list[bytes] = []
        while len(out) < limit:
            if self._ready_pos < len(self._ready):
                take = self._ready[self._ready_pos : self._ready_pos + limit - len(out)]
                self._ready_pos += len(take)
                out.extend(take)
                continue
            if self._eof:
                if self._error is not None and self.damage is None:
                    self.damage = Damage(
                        problem=_problem(self._error),
                        line=self.lines + len(out) + 1,
                        byte=self._content - len(self._tail),
                        compressed=self.compressed,
                        partial=self._tail,
                    )
                    self._tail = b""
                elif self._tail:
                    out.append(self._tail.rstrip(b"\r"))
                    self._tail = b""
                break
            self._fill()
        self.lines += len(out)
        return out

    def _read_chunk(self) -> bytes:
        """About _CHUNK next bytes of content; b"" at its end, or once the object proved
        damaged (what came before the damage is returned first; the error is kept)."""
        if self._error is not None:
            return b""
        pieces: list[bytes] = []
        size = 0
        while size < _CHUNK:
            try:
                # read1: what was decompressed before an error is returned, not dropped with it
                piece = self._reader.read1(_CHUNK - size)
            except _DAMAGE as exc:
                self._error = exc
                break
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        self._content += size
        return b"".join(pieces)

    def _fill(self) -> None:
        data = self._read_chunk()
        if not data:
            self._eof = True
            self._skipping = False
            return
        if self._skipping:  # the rest of an oversized line: drop it up to its newline
            newline = data.find(b"\n")
            if newline < 0:
                return
            data = data[newline + 1 :]
            self._skipping = False
        parts = (self._tail + data).split(b"\n")
        self._tail = parts.pop()
        limit = self.max_line_bytes
        if b"\r" in data:
            parts = [p.rstrip(b"\r") for p in parts]
        if parts and max(map(len, parts)) > limit:
            parts = [p if len(p) <= limit else p[: limit + 1] for p in parts]
        if len(self._tail) > limit:
            parts.append(self._tail[: limit + 1])
            self._tail = b""
            self._skipping = True
        self._ready = parts
        self._ready_pos = 0

    def close(self) -> None:
        if self._reader is not self._buffered:
            self._reader.close()
        self._buffered.close()


class CaptureObjectsSource(OnePartitionSource):
    """Lines of an ordered list of capture objects, read one after another (record_index counts
    every line of every object, blank and malformed ones included); one partition named `name`.

    Subclasses set `names` (in reading order) and `total_bytes`, and implement `_open`.
    """

    def __init__(
        self,
        name: str,
        max_line_bytes: int,
        *,
        batch_size: int = 4096,
        speed: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(name, batch_size=batch_size, speed=speed, stop=stop)
        self.max_line_bytes = max_line_bytes
        self.names: list[str] = []
        self._object_no = 0
        self._reader: LineReader | None = None
        self._index = 0
        self._reported = 0  # bytes of the current object already counted as consumed

    @abstractmethod
    def _open(self, number: int) -> IO[bytes] | io.RawIOBase:
        """A raw byte stream of object `number` (an index into `names`)."""

    def read(self, max_records: int) -> RawBatch | None:
        lines: list[bytes] = []
        damaged: dict[int, str] = {}
        consumed = 0
        while len(lines) < max_records:
            if self._reader is None:
                if self._object_no >= len(self.names):
                    break
                self._reader = LineReader(self._open(self._object_no), self.max_line_bytes)
                self._reported = 0
            got = self._reader.readlines(max_records - len(lines))
            consumed += self._reader.consumed - self._reported
            self._reported = self._reader.consumed
            if not got:
                if (damage := self._reader.damage) is not None:
                    damaged[len(lines)] = self._damaged(damage, self._index + len(lines))
                    lines.append(damage.partial)
                self._reader.close()
                self._reader = None
                self._object_no += 1
                continue
            lines.extend(got)
        if not lines and self._reader is None and self._object_no >= len(self.names):
            return None
        batch = RawBatch(self._index, lines, consumed_bytes=consumed, damaged=damaged)
        self._index += len(lines)
        return batch

    def _damaged(self, damage: Damage, record_index: int) -> str:
        """Log the damage of the current object; its description for the rejection."""
        name = self.names[self._object_no]
        log.warning(
            "capture_file_damaged",
            file=name,
            line=damage.line,
            byte=damage.byte,
            problem=damage.problem,
            record_index=record_index,
        )
        return damage.describe(name)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


class FileSource(CaptureObjectsSource):
    """Lines of local capture files: one file, or a folder read recursively in time order."""

    def __init__(
        self,
        root: Path,
        max_line_bytes: int = 1_048_576,
        *,
        batch_size: int = 4096,
        speed: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(str(root), max_line_bytes, batch_size=batch_size, speed=speed, stop=stop)
        self.root = root
        self.files = capture_files(root)
        self.names = [str(p) for p in self.files]
        self.total_bytes = sum(p.stat().st_size for p in self.files)

    def _open(self, number: int) -> IO[bytes]:
        return self.files[number].open("rb", buffering=0)
