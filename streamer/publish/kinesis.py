"""`driftstream replay SOURCE --to kinesis://stream`: re-publish captured records into Kinesis.

Every line the source yields becomes one Kinesis record with its bytes unchanged and partition
key = the config's endpoint, so all of an endpoint's records land in one shard in source order,
and `driftstream run` reports the same record indices as `driftstream replay` of the source.
Pacing: as fast as possible, or the recorded pace (eventMetadata.inferenceTime) times `speed`.

Kinesis's documented limits are enforced here, not left to the service (moto, for one, does not
enforce them all):
- a record (data + partition key) is at most 1 MiB: a longer line is skipped, counted and
  reported, never sent;
- a PutRecords call carries at most 500 records and 5 MiB (data + partition keys).
Only the entries a PutRecords call reports as failed are sent again, after back-off, before the
next batch; records of one shard therefore keep their order except around a throttled entry.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions
import structlog

from driftstream.sinks import aws
from driftstream.sinks.aws import AwsSettings
from driftstream.sinks.retry import Backoff, BackoffSettings
from driftstream.streamer.publish.base import PublishError
from driftstream.streamer.sources.s3 import capture_source
from driftstream.streamer.sources.single import OnePartitionSource, inference_time

log = structlog.get_logger(__name__)

MAX_RECORD_BYTES = 1_048_576  # data + partition key of one record
MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 5 * 1_048_576  # data + partition keys of one PutRecords call
MAX_PARTITION_KEY = 256  # Unicode characters
#: consecutive PutRecords calls that made no progress before the replay gives up
MAX_FUTILE_CALLS = 20
SKIPPED_SHOWN = 20  # record indices of skipped records kept for the report


def parse_kinesis_target(target: str) -> str:
    """`kinesis://stream-name` → the stream name; ValueError (one line) otherwise."""
    url = urllib.parse.urlsplit(target)
    name = url.netloc
    if (
        url.scheme != "kinesis"
        or not re.fullmatch(r"[a-zA-Z0-9_.-]{1,128}", name)
        or url.path.strip("/")
        or url.query
    ):
        raise ValueError(f"--to {target}: expected kinesis://stream-name")
    return name


@dataclass(frozen=True)
class Entry:
    """One record to put: its position in the source, its bytes and partition key."""

    index: int
    data: bytes
    key: str

    @property
    def size(self) -> int:
        return len(self.data) + len(self.key.encode())


@dataclass
class KinesisPublishSummary:
    records: int = 0  # lines read from the source
    sent: int = 0  # records Kinesis accepted
    n_bytes: int = 0  # data bytes accepted
    calls: int = 0  # PutRecords calls
    retried: int = 0  # entries sent again after a per-entry failure
    skipped: int = 0  # records over MAX_RECORD_BYTES, never sent
    skipped_indices: list[int] = field(default_factory=list)
    shards: set[str] = field(default_factory=set)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self, stream: str, key: str) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        text = (
            f"published {self.sent} of {self.records} records ({self.n_bytes:,} bytes) to "
            f"kinesis://{stream} key {key!r} in {self.calls} PutRecords calls, "
            f"{self.seconds:.2f}s ({rate:,.0f} records/s); shards "
            f"{','.join(sorted(self.shards)) or '-'}; {self.retried} entries retried"
        )
        if self.skipped:
            shown = ", ".join(str(i) for i in self.skipped_indices)
            more = "…" if self.skipped > len(self.skipped_indices) else ""
            text += (
                f"; {self.skipped} records skipped as larger than {MAX_RECORD_BYTES:,} bytes "
                f"(record index {shown}{more})"
            )
        if self.errors:
            text += "; errors: " + ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items()))
        return text


class Batcher:
    """Groups entries into PutRecords calls within Kinesis's limits (see the module docstring).

    `add` returns the calls that became full; `drain` returns what is left. Oversized entries
    are refused (`add` returns None for them) and never reach a call.
    """

    def __init__(
        self,
        max_records: int = MAX_CALL_RECORDS,
        max_bytes: int = MAX_CALL_BYTES,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_record_bytes = max_record_bytes
        self._pending: list[Entry] = []
        self._bytes = 0

    def add(self, entry: Entry) -> list[list[Entry]] | None:
        if entry.size > self.max_record_bytes:
            return None
        ready: list[list[Entry]] = []
        if self._pending and (
            len(self._pending) >= self.max_records or self._bytes + entry.size > self.max_bytes
        ):
            ready.append(self._take())
        self._pending.append(entry)
        self._bytes += entry.size
        if len(self._pending) >= self.max_records:
            ready.append(self._take())
        return ready

    def drain(self) -> list[list[Entry]]:
        return [self._take()] if self._pending else []

    def _take(self) -> list[Entry]:
        batch, self._pending, self._bytes = self._pending, [], 0
        return batch

    def __len__(self) -> int:
        return len(self._pending)


def _inference_time(line: bytes) -> float | None:
    text = inference_time(line)
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class KinesisPublisher:
    """Puts lines into one stream (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        stream: str,
        partition_key: str,
        *,
        retry: BackoffSettings | None = None,
        stop: threading.Event | None = None,
        batcher: Batcher | None = None,
    ) -> None:
        if not 1 <= len(partition_key) <= MAX_PARTITION_KEY:
            raise ValueError(f"partition key must be 1 to {MAX_PARTITION_KEY} characters")
        self.client = client
        self.stream = stream
        self.partition_key = partition_key
        retry = retry or BackoffSettings()
        self.backoff = Backoff(retry.initial_seconds, retry.max_seconds)
        self.stop = stop or threading.Event()
        self.batcher = batcher or Batcher()
        self.summary = KinesisPublishSummary()

    def check_stream(self) -> None:
        """Fail with one line (AwsError) when the stream is unknown or not accessible."""
        try:
            self.client.describe_stream_summary(StreamName=self.stream)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if aws.is_fatal(exc):
                raise aws.fatal(f"kinesis stream {self.stream!r}", exc) from None
            raise PublishError(f"kinesis stream {self.stream!r}: {aws.describe(exc)}") from None

    def publish(
        self, source: OnePartitionSource, *, speed: float | None = None
    ) -> KinesisPublishSummary:
        """Put every line of `source`; returns the summary (also on stop)."""
        started = time.perf_counter()
        try:
            for entry, due in self._entries(source, speed):
                if due is not None:
                    delay = due - time.monotonic()
                    if delay > 0:
                        self._send_all(self.batcher.drain())  # nothing waits behind the pace
                        self.stop.wait(delay)
                    if self.stop.is_set():
                        break
                ready = self.batcher.add(entry)
                if ready is None:
                    self._skip(entry)
                    continue
                self._send_all(ready)
            self._send_all(self.batcher.drain())
        finally:
            self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _entries(
        self, source: OnePartitionSource, speed: float | None
    ) -> Iterator[tuple[Entry, float | None]]:
        first: float | None = None
        wall0 = 0.0
        while not self.stop.is_set():
            batch = source.read(64 if speed else 4096)
            if batch is None:
                return
            for i, line in enumerate(batch.lines):
                self.summary.records += 1
                due = None
                if speed:
                    t = _inference_time(line)
                    if t is not None:
                        if first is None:
                            first, wall0 = t, time.monotonic()
                        due = wall0 + (t - first) / speed
                yield Entry(batch.first_index + i, line, self.partition_key), due

    def _skip(self, entry: Entry) -> None:
        self.summary.skipped += 1
        if len(self.summary.skipped_indices) < SKIPPED_SHOWN:
            self.summary.skipped_indices.append(entry.index)
        log.warning(
            "kinesis_record_skipped",
            record_index=entry.index,
            bytes=entry.size,
            limit=MAX_RECORD_BYTES,
        )

    def _send_all(self, calls: Sequence[list[Entry]]) -> None:
        for entries in calls:
            self._send(entries)

    def _send(self, entries: list[Entry]) -> None:
        """One PutRecords call, then again with only the failed entries, until all are in."""
        pending = entries
        futile = 0
        while pending:
            self.summary.calls += 1
            try:
                answer = self.client.put_records(
                    StreamName=self.stream,
                    Records=[{"Data": e.data, "PartitionKey": e.key} for e in pending],
                )
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                if aws.is_fatal(exc):
                    raise aws.fatal(f"kinesis stream {self.stream!r}", exc) from None
                code = aws.error_code(exc) or type(exc).__name__
                self.summary.errors[code] = self.summary.errors.get(code, 0) + 1
                futile = self._back_off(code, futile)
                continue
            failed: list[Entry] = []
            for entry, result in zip(pending, answer["Records"], strict=True):
                code = result.get("ErrorCode")
                if code:
                    failed.append(entry)
                    self.summary.errors[code] = self.summary.errors.get(code, 0) + 1
                else:
                    self.summary.sent += 1
                    self.summary.n_bytes += len(entry.data)
                    self.summary.shards.add(str(result.get("ShardId")))
            if not failed:
                self.backoff.reset()
                return
            self.summary.retried += len(failed)
            futile = 0 if len(failed) < len(pending) else futile
            pending = failed
            futile = self._back_off("partial failure", futile)

    def _back_off(self, why: str, futile: int) -> int:
        futile += 1
        if futile > MAX_FUTILE_CALLS or self.stop.is_set():
            raise PublishError(
                f"kinesis stream {self.stream!r}: {futile} PutRecords calls in a row made no "
                f"progress (last: {why}); {self.summary.sent} of {self.summary.records} records "
                "were published"
            )
        delay = self.backoff.wait(self.stop)
        log.warning("kinesis_put_retry", stream=self.stream, reason=why, retry_in_s=round(delay, 2))
        return futile


def replay_to_kinesis(
    source_spec: str,
    stream: str,
    *,
    aws_settings: AwsSettings,
    partition_key: str,
    speed: float | None,
    stop: threading.Event,
) -> KinesisPublishSummary:
    """`driftstream replay SOURCE --to kinesis://stream`: check the stream, then publish every
    line of SOURCE (a path or s3://bucket/prefix). Lines are read whole up to the record limit,
    so a longer one reaches the batcher over the limit and is skipped, never cut and sent."""
    publisher = KinesisPublisher(
        aws.client("kinesis", aws_settings), stream, partition_key, stop=stop
    )
    publisher.check_stream()
    source = capture_source(source_spec, aws_settings, max_line_bytes=MAX_RECORD_BYTES, stop=stop)
    try:
        return publisher.publish(source, speed=speed)
    finally:
        source.close()
