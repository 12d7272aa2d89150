"""Live ground truth on Kinesis without a stream: the co-sharding check, which ground-truth shard
goes with a capture shard, sequence numbers in the checkpoint's `aux_offsets`, and the reader
(labels travel with their shard's capture batches, resumed after the checkpointed sequence)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from driftstream.sinks.retry import BackoffSettings
from driftstream.streamer.checkpoint.base import Checkpoint, Partition, decode, encode
from driftstream.streamer.sources.files import SourceError
from driftstream.streamer.sources.kinesis.ground_truth import (
    GroundTruthShards,
    check_co_sharded,
    co_shard,
)
from driftstream.streamer.sources.kinesis.settings import KinesisSourceSettings
from driftstream.streamer.sources.kinesis.source import KinesisSource, PositionStore, ShardInfo

TOP = 2**128 - 1
HALF = 2**127


def shard(n: int, lo: int, hi: int, *, closed: bool = False) -> ShardInfo:
    return ShardInfo(f"shardId-{n:012d}", (), closed, (lo, hi))


TWO = [shard(0, 0, HALF - 1), shard(1, HALF, TOP)]


# -- the co-sharding check ---------------------------------------------------------------------


def check(captures: Sequence[ShardInfo], truth: Sequence[ShardInfo]) -> None:
    check_co_sharded(captures, truth, capture_stream="cap", ground_truth_stream="gt")


def test_streams_of_the_same_shard_count_are_co_sharded() -> None:
    check(TWO, list(reversed(TWO)))
    # closed shards (a reshard's parents) are not compared: only the open ones take records
    check([shard(7, 0, TOP, closed=True), *TWO], TWO)


def test_another_shard_count_is_one_line() -> None:
    three = [shard(0, 0, 99), shard(1, 100, HALF), shard(2, HALF + 1, TOP)]
    with pytest.raises(SourceError) as caught:
        check(TWO, three)
    assert str(caught.value) == (
        "sources.kinesis.ground_truth_stream: gt has 3 open shards, the capture stream cap 2; "
        "ground truth must be sharded like the captures and keyed alike (docs/model-quality.md)"
    )


def test_other_hash_key_ranges_are_one_line() -> None:
    other = [shard(0, 0, HALF), shard(1, HALF + 1, TOP)]
    with pytest.raises(SourceError, match="gt has open shards with other hash-key ranges than"):
        check(TWO, other)


def test_the_ground_truth_shard_is_the_one_of_the_same_hash_key_range() -> None:
    truth = [shard(5, HALF, TOP), shard(4, 0, HALF - 1)]
    assert co_shard(TWO[0], truth) == "shardId-000000000004"
    assert co_shard(TWO[1], truth) == "shardId-000000000005"
    # of the same id when there are several of that range (a split merged back)
    assert co_shard(TWO[0], [shard(9, 0, HALF - 1), shard(0, 0, HALF - 1)]) == TWO[0].shard_id
    assert co_shard(shard(3, 0, 10), truth) is None


# -- sequence numbers in the checkpoint --------------------------------------------------------

SEQUENCE = "49590338271490256608559692538361571095921575989136588898"
P = Partition("captures", 1)


def test_a_sequence_number_round_trips_beside_a_kafka_offset(tmp_path: Path) -> None:
    saved = Checkpoint("g", P, 42, {"rows_seen": 42}, {"gt": SEQUENCE, "topic": 17})
    data = encode(saved)
    assert json.loads(data)["aux_offsets"] == {"gt": SEQUENCE, "topic": 17}
    loaded = decode(data, where="x", group="g", partition=P)
    assert loaded == saved
    assert loaded.aux_offsets["gt"] == SEQUENCE and loaded.aux_offsets["topic"] == 17


# -- a Kinesis double ----------------------------------------------------------------------------


class FakeKinesis:
    """Two streams with `records[stream][shard_id]` = [(sequence, data, key)]."""

    def __init__(self, listings: dict[str, list[ShardInfo]]) -> None:
        self.listings = listings
        self.records: dict[str, dict[str, list[tuple[str, bytes]]]] = {
            name: {s.shard_id: [] for s in shards} for name, shards in listings.items()
        }
        self.iterators: list[dict[str, Any]] = []
        self._next = 10**50

    def put(self, stream: str, shard_id: str, lines: Sequence[bytes]) -> list[str]:
        out = []
        for line in lines:
            self._next += 7  # not contiguous, and past 64 bits
            self.records[stream][shard_id].append((str(self._next), line))
            out.append(str(self._next))
        return out

    def list_shards(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "Shards": [
                {
                    "ShardId": s.shard_id,
                    "HashKeyRange": {
                        "StartingHashKey": str(s.hash_keys[0]),
                        "EndingHashKey": str(s.hash_keys[1]),
                    },
                    "SequenceNumberRange": {"StartingSequenceNumber": "1"},
                }
                for s in self.listings[kwargs["StreamName"]]
                if s.hash_keys is not None
            ]
        }

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        self.iterators.append(kwargs)
        records = self.records[kwargs["StreamName"]][kwargs["ShardId"]]
        kind = kwargs["ShardIteratorType"]
        if kind == "TRIM_HORIZON":
            at = 0
        elif kind == "LATEST":
            at = len(records)
        else:
            after = int(kwargs["StartingSequenceNumber"])
            at = len([r for r in records if int(r[0]) <= after])
        return {"ShardIterator": json.dumps([kwargs["StreamName"], kwargs["ShardId"], at])}

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        stream, shard_id, at = json.loads(ShardIterator)
        got = self.records[stream][shard_id][at : at + Limit]
        return {
            "Records": [
                {"SequenceNumber": seq, "Data": data, "PartitionKey": "churn"} for seq, data in got
            ],
            "NextShardIterator": json.dumps([stream, shard_id, at + len(got)]),
            "MillisBehindLatest": 0,
        }

    def close(self) -> None:
        pass


class Listener:
    """The loop's side: restores from `checkpoints` (partition → aux_offsets)."""

    def __init__(self, checkpoints: dict[Partition, dict[str, Any]] | None = None) -> None:
        self.source: KinesisSource | None = None
        self.checkpoints = checkpoints or {}

    def on_assigned(self, partitions: Sequence[Partition]) -> None:
        assert self.source is not None
        for p in partitions:
            self.source.seek_aux(p, self.checkpoints.get(p, {}))

    def on_revoked(self, partitions: Sequence[Partition]) -> dict[Partition, int]:
        return {}

    def on_lost(self, partitions: Sequence[Partition]) -> None:
        raise AssertionError("Kinesis never loses shards")


def source_over(
    fake: FakeKinesis, tmp_path: Path, checkpoints: dict[Partition, dict[str, Any]] | None = None
) -> KinesisSource:
    settings = KinesisSourceSettings(
        stream_name="cap", ground_truth_stream="gt", idle_poll_seconds=0.2, poll_timeout_seconds=0
    )
    positions = PositionStore(tmp_path / "positions.json", stream="cap", application="a")
    clock = iter(range(10**6))  # one second per call: every shard is always due
    source = KinesisSource(
        settings,
        lambda: fake,
        positions,
        stop=threading.Event(),
        clock=lambda: float(next(clock)),
    )
    listener = Listener(checkpoints)
    listener.source = source
    source.setup(listener)
    return source


def by_partition(batches: Sequence[Any]) -> dict[int, Any]:
    return {b.meta["partition"].partition: b for b in batches}


def test_labels_travel_with_their_shards_captures_and_resume_after_the_checkpoint(
    tmp_path: Path,
) -> None:
    # the ground truth's shards are listed in another order, and numbered otherwise
    truth = [shard(3, HALF, TOP), shard(2, 0, HALF - 1)]
    fake = FakeKinesis({"cap": TWO, "gt": truth})
    fake.put("cap", TWO[0].shard_id, [b"c0-a", b"c0-b"])
    fake.put("cap", TWO[1].shard_id, [b"c1-a"])
    labels_0 = fake.put("gt", "shardId-000000000002", [b"l0-a", b"l0-b"])
    labels_1 = fake.put("gt", "shardId-000000000003", [b"l1-a"])
    source = source_over(fake, tmp_path)

    got = by_partition(source.poll())
    assert got[0].meta["ground_truth"] == [(1, b"l0-a"), (1, b"l0-b")]  # at the last capture
    assert got[0].meta["aux_offsets"] == {"gt": labels_0[-1]}
    assert got[1].meta["ground_truth"] == [(0, b"l1-a")]
    assert got[1].meta["aux_offsets"] == {"gt": labels_1[-1]}

    # labels wait for a capture batch of their shard; without new labels the position stays
    more = fake.put("gt", "shardId-000000000002", [b"l0-c"])
    assert source.poll(wait=False) == []
    fake.put("cap", TWO[0].shard_id, [b"c0-c"])
    fake.put("cap", TWO[1].shard_id, [b"c1-b"])
    got = by_partition(source.poll())
    assert got[0].meta["ground_truth"] == [(2, b"l0-c")]
    assert got[0].meta["aux_offsets"] == {"gt": more[0]}
    assert "ground_truth" not in got[1].meta
    assert got[1].meta["aux_offsets"] == {"gt": labels_1[-1]}

    # a restart resumes each ground-truth shard after its checkpointed sequence number
    fake.iterators.clear()
    restored = source_over(
        fake,
        tmp_path,
        {Partition("cap", 0): {"gt": labels_0[0]}, Partition("cap", 1): {}},
    )
    got = by_partition(restored.poll())
    assert got[0].meta["ground_truth"] == [(2, b"l0-b"), (2, b"l0-c")]
    assert got[1].meta["ground_truth"] == [(1, b"l1-a")]  # no checkpoint: the trim horizon
    truth_iterators = {i["ShardId"]: i for i in fake.iterators if i["StreamName"] == "gt"}
    assert truth_iterators["shardId-000000000002"]["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER"
    assert truth_iterators["shardId-000000000002"]["StartingSequenceNumber"] == labels_0[0]
    assert truth_iterators["shardId-000000000003"]["ShardIteratorType"] == "TRIM_HORIZON"


def test_setup_refuses_a_ground_truth_stream_sharded_otherwise(tmp_path: Path) -> None:
    fake = FakeKinesis({"cap": TWO, "gt": [shard(0, 0, TOP)]})
    with pytest.raises(SourceError, match="gt has 1 open shards, the capture stream cap 2"):
        source_over(fake, tmp_path)


def test_the_reader_holds_at_most_max_lines_per_shard() -> None:
    fake = FakeKinesis({"gt": [shard(0, 0, TOP)]})
    sequences = fake.put("gt", "shardId-000000000000", [b"%d" % i for i in range(5)])
    reader = GroundTruthShards(
        "gt",
        max_lines=2,
        max_records_per_call=10,
        idle_poll_seconds=0.2,
        retry=BackoffSettings(),
        clock=iter(range(100)).__next__,  # type: ignore[arg-type]
    )
    reader.want(P, "shardId-000000000000", None)
    reader.fetch(fake)
    reader.fetch(fake)  # full: not read
    assert reader.take(P) == ([b"0", b"1"], sequences[1])
    reader.fetch(fake)
    reader.fetch(fake)
    assert reader.take(P) == ([b"2", b"3"], sequences[3])
    reader.release(P)
    assert reader.take(P) == ([], None)
