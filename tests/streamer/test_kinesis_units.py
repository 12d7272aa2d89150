"""Kinesis logic without a stream: shard lineage, committed positions, PutRecords batching."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftstream.streamer.publish.kinesis import (
    MAX_CALL_BYTES,
    MAX_RECORD_BYTES,
    Batcher,
    Entry,
    parse_kinesis_target,
)
from driftstream.streamer.sources.kinesis.source import (
    KEEP_COMMITTED,
    PositionsError,
    PositionStore,
    ShardInfo,
    ShardPosition,
    readable_shards,
    shard_number,
)

# A split of A into B and C, then a merge of B and C into D.
A = ShardInfo("shardId-000000000000", (), closed=True)
B = ShardInfo("shardId-000000000001", (A.shard_id,), closed=True)
C = ShardInfo("shardId-000000000002", (A.shard_id,), closed=True)
D = ShardInfo("shardId-000000000003", (B.shard_id, C.shard_id), closed=False)
LISTING = [A, B, C, D]


def ids(shards: list[ShardInfo]) -> list[str]:
    return [s.shard_id for s in shards]


@pytest.mark.parametrize(
    ("finished", "started", "expected"),
    [
        (set(), set(), [A]),  # parents first
        ({A.shard_id}, set(), [B, C]),  # a drained parent frees both children of the split
        ({A.shard_id, B.shard_id}, {C.shard_id}, []),  # a merge waits for both parents
        ({A.shard_id, B.shard_id, C.shard_id}, set(), [D]),
        (set(), {A.shard_id}, []),  # already being read
    ],
)
def test_children_are_read_after_their_parents(
    finished: set[str], started: set[str], expected: list[ShardInfo]
) -> None:
    assert ids(readable_shards(LISTING, finished, started)) == ids(expected)


def test_a_parent_past_retention_counts_as_finished() -> None:
    assert ids(readable_shards([B, C, D], set(), set())) == ids([B, C])


def test_shard_info_from_listing() -> None:
    info = ShardInfo.from_listing(
        {
            "ShardId": "shardId-000000000007",
            "ParentShardId": "shardId-000000000003",
            "AdjacentParentShardId": "shardId-000000000004",
            "SequenceNumberRange": {"StartingSequenceNumber": "1", "EndingSequenceNumber": "9"},
        }
    )
    assert info == ShardInfo(
        "shardId-000000000007", ("shardId-000000000003", "shardId-000000000004"), True
    )
    assert shard_number(info.shard_id) == 7
    assert shard_number("odd-name") == shard_number("odd-name")  # stable for odd names


def test_committed_positions_anchor_a_seek() -> None:
    p = ShardPosition()
    assert p.add(500, "s500") and p.add(1000, "s1000")
    assert not p.add(1000, "s1000")  # committing the same offset again changes nothing
    assert p.at_or_before(999) == (500, "s500")
    assert p.at_or_before(1000) == (1000, "s1000")
    assert p.at_or_before(10) is None
    for i in range(2, 40):
        p.add(i * 500, f"s{i * 500}")
    assert len(p.committed) == KEEP_COMMITTED
    assert p.latest() == (39 * 500, "s19500")


def test_position_store_round_trip(tmp_path: Path) -> None:
    store = PositionStore(tmp_path / "a" / "p.json", stream="s", application="app")
    assert store.load() is None
    long_sequence = "49590338271490256608559692538361571095921575989136588898"
    store.save({"shardId-000000000000": ShardPosition(True, [(12, long_sequence)])})
    loaded = store.load()
    assert loaded == {"shardId-000000000000": ShardPosition(True, [(12, long_sequence)])}
    with pytest.raises(PositionsError, match="another stream"):
        PositionStore(store.path, stream="other", application="app").load()
    store.path.write_text('{"version": 99}')
    with pytest.raises(PositionsError, match="version"):
        store.load()


@pytest.mark.parametrize(
    ("target", "stream"),
    [("kinesis://captures", "captures"), ("kinesis://a.b_c-1", "a.b_c-1")],
)
def test_kinesis_target(target: str, stream: str) -> None:
    assert parse_kinesis_target(target) == stream


@pytest.mark.parametrize(
    "target", ["kinesis://", "kafka://x:1/t", "kinesis://s/extra", "kinesis://s?x=1", "s"]
)
def test_bad_kinesis_target(target: str) -> None:
    with pytest.raises(ValueError, match="expected kinesis://stream-name"):
        parse_kinesis_target(target)


def _entries(sizes: list[int], key: str = "k") -> list[Entry]:
    return [Entry(i, b"x" * n, key) for i, n in enumerate(sizes)]


def _batch_all(batcher: Batcher, entries: list[Entry]) -> tuple[list[list[int]], list[int]]:
    calls: list[list[int]] = []
    refused: list[int] = []
    for e in entries:
        ready = batcher.add(e)
        if ready is None:
            refused.append(e.index)
        else:
            calls.extend([x.index for x in call] for call in ready)
    calls.extend([x.index for x in call] for call in batcher.drain())
    return calls, refused


def test_put_records_calls_hold_at_most_500_records() -> None:
    calls, refused = _batch_all(Batcher(), _entries([10] * 1234))
    assert [len(c) for c in calls] == [500, 500, 234]
    assert [i for c in calls for i in c] == list(range(1234))
    assert refused == []


def test_put_records_calls_hold_at_most_5_mib() -> None:
    size = MAX_RECORD_BYTES - 1  # data + 1-byte key = exactly 1 MiB: allowed
    calls, refused = _batch_all(Batcher(), _entries([size] * 11))
    assert [len(c) for c in calls] == [5, 5, 1]
    assert 5 * MAX_RECORD_BYTES <= MAX_CALL_BYTES
    assert refused == []


def test_a_record_over_1_mib_is_refused_and_the_rest_keep_their_order() -> None:
    calls, refused = _batch_all(Batcher(), _entries([10, MAX_RECORD_BYTES, 10]))
    assert refused == [1]  # 1 MiB of data plus the key is one byte too many
    assert calls == [[0, 2]]
