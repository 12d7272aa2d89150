"""Ground truth for a replay: Model Monitor's ground-truth records from a file, a folder or an
s3:// prefix, released alongside the captures in the order of their times.

Labels are collected after the inference they label, so a replay must not hand a label to the
monitor before the captures reach its time. A label's time is the later of
- the end of its S3 hour folder (`.../yyyy/mm/dd/hh/...`: the hour the labels were collected in,
  reference §1.4; all of them are there once that hour is over), and
- a time in the record, `eventMetadata.inferenceTime`, when it has a readable one (a label is
  never available before the inference it labels);
a label with neither (a flat file of untimed records) is available from the start. The captures'
clock is the latest inferenceTime read so far; a label is released with the first capture
record at which the clock reaches its time, and that record's index goes with it (the position
of its consequences: detectors/ground_truth.py). Labels are released in the order they are read
(folders in time order, as captures are), each no earlier than its time.

Restart safety: the release depends only on the capture records read and the ground-truth
objects, so `OnePartitionSource.seek` (replay --resume) releases exactly the labels the
interrupted run had released before its checkpoint (and drops them: they are in the checkpointed
join buffer), provided the same ground truth is given again.

Memory: one object is read at a time, in bounded chunks; only the next label waits here.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import structlog

from driftstream.sinks.aws import AwsSettings
from driftstream.streamer.sources.base import RawBatch
from driftstream.streamer.sources.files import (
    LineReader,
    SourceError,
    capture_files,
    capture_order,
)
from driftstream.streamer.sources.single import inference_time

log = structlog.get_logger(__name__)

_CHUNK_LINES = 1024
_HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class LabelObject:
    """One ground-truth file or S3 object: its name, the end of its hour folder (epoch
    seconds; None outside an hour layout), and how to open it."""

    name: str
    hour_end: float | None
    open: Callable[[], IO[bytes] | io.RawIOBase]


def hour_end(relative: str) -> float | None:
    """The end of the yyyy/mm/dd/hh folder in `relative` (a path below the root), in epoch
    seconds; None when it has none."""
    parts = capture_order(relative)[0]
    if not parts:
        return None
    year, month, day, hour = (int(p) for p in parts)
    try:
        start = dt.datetime(year, month, day, hour, tzinfo=dt.UTC)
    except ValueError:
        return None
    return (start + _HOUR).timestamp()


def epoch(text: str | None) -> float | None:
    """An ISO-8601 time (inferenceTime) in epoch seconds; None if unreadable."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


class GroundTruthFeed:
    """Ground-truth lines released with capture batches (see the module docstring); attached
    to a replay's source as `OnePartitionSource.ground_truth`."""

    def __init__(self, objects: Sequence[LabelObject], *, max_line_bytes: int = 1_048_576) -> None:
        self.objects = list(objects)
        self.max_line_bytes = max_line_bytes
        self._object_no = 0
        self._reader: LineReader | None = None
        self._hour_end: float | None = None
        self._lines: list[bytes] = []
        self._at = 0
        self._head: tuple[float, bytes] | None = None
        self._clock = -math.inf
        self._last_text: str | None = None
        self._last_time: float | None = None
        self.released = 0
        self._advance()

    @property
    def exhausted(self) -> bool:
        """Every label was released."""
        return self._head is None

    def release(self, batch: RawBatch) -> list[tuple[int, bytes]]:
        """The labels available with `batch`'s capture records: (record index at which each
        became available, its line), in release order."""
        out: list[tuple[int, bytes]] = []
        if self._head is None:
            return out
        for j, line in enumerate(batch.lines):
            t = self._capture_time(line)
            if t is not None and t > self._clock:
                self._clock = t
            while self._head is not None and self._head[0] <= self._clock:
                out.append((batch.first_index + j, self._head[1]))
                self._advance()
        self.released += len(out)
        return out

    def _capture_time(self, line: bytes) -> float | None:
        text = inference_time(line)
        if text != self._last_text:  # consecutive records often share their second
            self._last_text, self._last_time = text, epoch(text)
        return self._last_time

    def _advance(self) -> None:
        """Make the next label the head (None at the end)."""
        line = self._next_line()
        if line is None:
            self._head = None
            self.close()
            return
        times = [t for t in (self._hour_end, epoch(inference_time(line))) if t is not None]
        self._head = (max(times) if times else -math.inf, line)

    def _next_line(self) -> bytes | None:
        while True:
            if self._at < len(self._lines):
                line = self._lines[self._at]
                self._at += 1
                if line.strip():
                    return line
                continue
            if self._reader is None:
                if self._object_no >= len(self.objects):
                    return None
                obj = self.objects[self._object_no]
                self._reader = LineReader(obj.open(), self.max_line_bytes)
                self._hour_end = obj.hour_end
            self._lines, self._at = self._reader.readlines(_CHUNK_LINES), 0
            if not self._lines:
                damage = self._reader.damage
                if damage is not None:
                    log.warning(
                        "ground_truth_file_damaged",
                        detail=damage.describe(self.objects[self._object_no].name),
                    )
                self._reader.close()
                self._reader = None
                self._object_no += 1

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def ground_truth_feed(
    spec: str, aws: AwsSettings, *, max_line_bytes: int = 1_048_576
) -> GroundTruthFeed:
    """The feed of `--ground-truth SPEC`: a local file or folder (read recursively, in the
    time order of its yyyy/mm/dd/hh paths, then name), or s3://bucket/prefix (boto3 imported
    only then). SourceError (one line) when there is nothing to read."""
    try:
        if spec.startswith("s3://"):
            return GroundTruthFeed(_s3_objects(spec, aws), max_line_bytes=max_line_bytes)
        return GroundTruthFeed(_local_objects(Path(spec)), max_line_bytes=max_line_bytes)
    except SourceError as exc:
        raise SourceError(f"--ground-truth: {exc}".replace("replay source ", "")) from None


def _local_objects(root: Path) -> list[LabelObject]:
    objects = []
    for path in capture_files(root):
        relative = path.name if root.is_file() else path.relative_to(root).as_posix()
        objects.append(
            LabelObject(str(path), hour_end(relative), functools.partial(_open_file, path))
        )
    return objects


def _open_file(path: Path) -> IO[bytes]:
    return path.open("rb", buffering=0)


def _s3_objects(url: str, aws: AwsSettings) -> list[LabelObject]:
    from driftstream.streamer.sources.s3 import S3Source, s3_client_factory

    source = S3Source(url, s3_client_factory(aws))
    objects = []
    for number, obj in enumerate(source.objects):
        relative = obj.key[len(source.prefix) :].lstrip("/") if source.prefix else obj.key
        objects.append(
            LabelObject(
                source.names[number],
                hour_end(relative),
                functools.partial(source._open, number),  # S3Source's resumable reader
            )
        )
    return objects
