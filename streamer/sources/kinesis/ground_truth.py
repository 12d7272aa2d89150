"""Ground truth read live beside the captures: the shards of a ground-truth stream that go with
the capture shards being read (co-sharding, docs/model-quality.md).

Two streams created with the same shard count have the same hash-key ranges, and a record put
with the same partition key lands in the shard of the same range in both: labels put with the
partition key of their captures (the endpoint name) are in the ground-truth shard whose range is
the capture shard's. `check_co_sharded` refuses to start unless the open shards of both streams
have the same ranges; `co_shard` names the ground-truth shard of a capture shard.

`GroundTruthShards` reads ground-truth shard j exactly while its capture shard is read (`want`,
when the capture shard is restored, after the sequence number its checkpoint names; `release`,
when it is revoked). `fetch` reads without blocking, at most one GetRecords per shard that is
due, and keeps at most `max_lines` lines per shard (a shard holding that many is not read until
they were taken). `take(partition)` hands every line read so far to the next capture batch of
that shard, with the sequence number of the last of them: the loop checkpoints it with the
monitor that received the lines, so a restart resumes AFTER_SEQUENCE_NUMBER of it, and a label
read but not yet handed over is read again.

Everything here runs on the loop's thread (the Kinesis source has no other).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import botocore.exceptions
import structlog

from driftstream.sinks import aws
from driftstream.sinks.retry import Backoff, BackoffSettings
from driftstream.streamer.checkpoint.base import Partition
from driftstream.streamer.sources.files import SourceError

log = structlog.get_logger(__name__)

#: GetRecords may be called 5 times per second per shard
MIN_POLL_INTERVAL = 0.2


class ListedShard(Protocol):
    """What co-sharding needs of a ListShards entry (streamer/sources/kinesis/source.py)."""

    @property
    def shard_id(self) -> str: ...

    @property
    def hash_keys(self) -> tuple[int, int] | None: ...

    @property
    def closed(self) -> bool: ...


def _open_ranges(listing: Sequence[ListedShard]) -> list[tuple[int, int]]:
    return sorted(s.hash_keys for s in listing if not s.closed and s.hash_keys is not None)


def check_co_sharded(
    captures: Sequence[ListedShard],
    ground_truth: Sequence[ListedShard],
    *,
    capture_stream: str,
    ground_truth_stream: str,
) -> None:
    """SourceError (one line) unless both streams have the same open shards' hash-key ranges."""
    mine, theirs = _open_ranges(captures), _open_ranges(ground_truth)
    if mine == theirs:
        return
    if len(mine) != len(theirs):
        differ = f"{len(theirs)} open shards, the capture stream {capture_stream} {len(mine)}"
    else:
        differ = (
            f"open shards with other hash-key ranges than the capture stream {capture_stream}'s"
        )
    raise SourceError(
        f"sources.kinesis.ground_truth_stream: {ground_truth_stream} has {differ}; ground truth "
        "must be sharded like the captures and keyed alike (docs/model-quality.md)"
    )


def co_shard(capture: ListedShard, ground_truth: Sequence[ListedShard]) -> str | None:
    """The ground-truth shard of `capture`: the one of the same id and hash-key range, else the
    only one of the same range that is open (or closed) like it; None when there is none."""
    same = [s for s in ground_truth if s.hash_keys == capture.hash_keys]
    for s in same:
        if s.shard_id == capture.shard_id:
            return s.shard_id
    alike = [s for s in same if s.closed == capture.closed]
    return alike[0].shard_id if len(alike) == 1 else None


@dataclass
class _Reading:
    """What is held of one ground-truth shard."""

    shard_id: str
    backoff: Backoff
    #: sequence number of the last line handed over (or the one resumed after); None: unknown
    taken: str | None
    #: sequence number of the last line read (the iterator is renewed after it)
    read: str | None
    start_type: str
    lines: list[tuple[str, bytes]] = field(default_factory=list)
    iterator: str | None = None
    due: float = 0.0


class GroundTruthShards:
    """Ground-truth lines per capture shard, for that shard's capture batches (see the module
    docstring)."""

    def __init__(
        self,
        stream: str,
        *,
        max_lines: int,
        max_records_per_call: int,
        idle_poll_seconds: float,
        retry: BackoffSettings,
        start: Literal["trim_horizon", "latest"] = "trim_horizon",
        count_failure: Callable[[str, bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`count_failure(operation, throttled)`: counts a failed call (metrics)."""
        self.stream = stream
        self.max_lines = max_lines
        self.max_records_per_call = max_records_per_call
        self.idle_poll_seconds = idle_poll_seconds
        self.retry = retry
        self.start_type = "LATEST" if start == "latest" else "TRIM_HORIZON"
        self.count_failure = count_failure
        self.clock = clock
        self._held: dict[Partition, _Reading] = {}

    def want(self, partition: Partition, shard_id: str, after: str | None) -> None:
        """Read `shard_id` for capture `partition`, after sequence number `after` (None: from
        the start setting), dropping whatever was read for it and not handed over."""
        self._held[partition] = _Reading(
            shard_id,
            Backoff(self.retry.initial_seconds, self.retry.max_seconds),
            taken=after,
            read=after,
            start_type=self.start_type,
        )

    def release(self, partition: Partition) -> None:
        """Stop reading the ground truth of `partition` and forget what was read of it."""
        self._held.pop(partition, None)

    def shard_of(self, partition: Partition) -> str | None:
        held = self._held.get(partition)
        return held.shard_id if held is not None else None

    def fetch(self, client: Any) -> None:
        """One GetRecords for each shard that is due and has room (never waits)."""
        now = self.clock()
        for held in self._held.values():
            if now >= held.due and len(held.lines) < self.max_lines:
                self._read(client, held)

    def take(self, partition: Partition) -> tuple[list[bytes], str | None]:
        """The lines read for `partition` so far (handed over: not returned again) and the
        sequence number of the last of them (or the one resumed after; None: unknown)."""
        held = self._held.get(partition)
        if held is None:
            return [], None
        lines, held.lines = held.lines, []
        if lines:
            held.taken = lines[-1][0]
        return [line for _, line in lines], held.taken

    def _read(self, client: Any, held: _Reading) -> None:
        try:
            if held.iterator is None:
                held.iterator = self._iterator(client, held)
            answer = client.get_records(
                ShardIterator=held.iterator,
                Limit=min(self.max_records_per_call, self.max_lines - len(held.lines)),
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if aws.error_code(exc) == "ExpiredIteratorException":
                held.iterator = None  # renewed after the last line read
                return
            if aws.is_fatal(exc):
                raise aws.fatal(
                    f"kinesis stream {self.stream!r} shard {held.shard_id}", exc
                ) from None
            self._failed(held, exc)
            return
        held.backoff.reset()
        records: list[dict[str, Any]] = answer.get("Records", [])
        held.iterator = answer.get("NextShardIterator")
        if held.iterator is None:  # closed and read to its end: nothing more will come
            held.due = float("inf")
        else:
            caught_up = not records or not answer.get("MillisBehindLatest")
            held.due = self.clock() + (self.idle_poll_seconds if caught_up else MIN_POLL_INTERVAL)
        for r in records:
            held.lines.append((str(r["SequenceNumber"]), bytes(r["Data"])))
        if records:
            held.read = held.lines[-1][0]

    def _iterator(self, client: Any, held: _Reading) -> str:
        kwargs: dict[str, Any] = {"StreamName": self.stream, "ShardId": held.shard_id}
        if held.read is not None:
            kwargs.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=held.read
            )
        else:
            kwargs["ShardIteratorType"] = held.start_type
        return str(client.get_shard_iterator(**kwargs)["ShardIterator"])

    def _failed(self, held: _Reading, exc: BaseException) -> None:
        throttled = aws.is_throttle(exc)
        if self.count_failure is not None:
            self.count_failure("get_records", throttled)
        delay = held.backoff.next_delay()
        held.due = self.clock() + delay
        log.warning(
            "ground_truth_fetch_failed",
            stream=self.stream,
            shard=held.shard_id,
            error=aws.describe(exc),
            retry_in_s=round(delay, 2),
            failures=held.backoff.failures,
            hint="the labels stay in the stream: read again after the back-off",
        )
