"""Live ground truth on Kafka: the checkpoint's `aux_offsets`, the co-partitioning check, the
reader of the ground-truth partitions, and KafkaSource handing labels over with its batches
(fake kafka-python consumers; tests/integration/test_kafka_ground_truth.py runs it on a broker)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from pydantic import ValidationError

from driftstream.streamer.checkpoint.base import Checkpoint, CheckpointError, decode, encode
from driftstream.streamer.checkpoint.directory import DirectoryCheckpointStore
from driftstream.streamer.sources.base import Partition
from driftstream.streamer.sources.files import SourceError
from driftstream.streamer.sources.kafka.ground_truth import (
    GroundTruthReader,
    check_co_partitioned,
)
from driftstream.streamer.sources.kafka.settings import KafkaSourceSettings
from driftstream.streamer.sources.kafka.source import KafkaSource
from tests.streamer.test_kafka_source import FakeConsumer, Listener, Record

P = Partition("captures", 1)
GT = "ground-truth"


# -- the checkpoint's aux_offsets ------------------------------------------------------------


def checkpoint(aux: dict[str, int] | None = None) -> Checkpoint:
    return Checkpoint("g", P, 42, {"rows_seen": 42}, aux or {})


def test_aux_offsets_round_trip_and_older_checkpoints_load_without_them() -> None:
    data = encode(checkpoint({GT: 17}))
    assert json.loads(data)["aux_offsets"] == {GT: 17}
    assert decode(data, where="x", group="g", partition=P) == checkpoint({GT: 17})
    # without side topics the document is as before, and such a document loads with none
    plain = encode(checkpoint())
    assert "aux_offsets" not in json.loads(plain)
    assert decode(plain, where="x", group="g", partition=P).aux_offsets == {}


@pytest.mark.parametrize(
    ("aux", "message"),
    [
        ({GT: -1}, "greater than or equal to 0"),
        ({GT: "12a"}, "valid integer"),  # a string is a Kinesis sequence number: digits
        ({GT: True}, "valid integer"),
        ([1], "valid dictionary"),
    ],
)
def test_unusable_aux_offsets_are_named(aux: object, message: str) -> None:
    doc = json.loads(encode(checkpoint()))
    doc["aux_offsets"] = aux
    with pytest.raises(CheckpointError, match=message):
        decode(json.dumps(doc).encode(), where="here", group="g", partition=P)


def test_directory_store_keeps_aux_offsets(tmp_path: Path) -> None:
    store = DirectoryCheckpointStore(tmp_path / "cp")
    store.setup()
    store.save([checkpoint({GT: 5})])
    store.save([checkpoint({GT: 9})])
    assert DirectoryCheckpointStore(tmp_path / "cp").load("g", P) == checkpoint({GT: 9})


# -- settings and the co-partitioning check --------------------------------------------------


def settings(**changes: Any) -> KafkaSourceSettings:
    fields: dict[str, Any] = {
        "bootstrap_servers": ("127.0.0.1:1",),
        "topics": ("captures",),
        "ground_truth_topic": GT,
        "retry": {"initial_seconds": 0.001, "max_seconds": 0.002},
        "max_poll_records": 3,
    }
    return KafkaSourceSettings(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"topics": ("a", "b")}, "ground_truth_topic needs exactly one capture topic"),
        ({"topics": (GT,)}, "ground_truth_topic must not be the capture topic"),
        ({"ground_truth_topic": ""}, "at least 1 character"),
    ],
)
def test_ground_truth_topic_settings_are_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**changes)


class Topics:
    def __init__(self, counts: Mapping[str, int]) -> None:
        self.counts = counts

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.counts.get(topic, 0)))


def test_co_partitioned_topics_pass() -> None:
    check_co_partitioned(Topics({"captures": 2, GT: 2}), "captures", GT)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (
            {"captures": 2, GT: 3},
            "sources.kafka.ground_truth_topic: ground-truth has 3 partitions, the capture "
            "topic captures 2; ground truth must be partitioned like the captures",
        ),
        ({"captures": 2}, "sources.kafka.ground_truth_topic: topic ground-truth does not exist"),
        ({GT: 2}, "sources.kafka.topics: topic captures does not exist"),
    ],
)
def test_partition_counts_that_differ_are_a_one_line_error(
    counts: dict[str, int], message: str
) -> None:
    with pytest.raises(SourceError) as raised:
        check_co_partitioned(Topics(counts), "captures", GT)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


# -- the reader --------------------------------------------------------------------------------


class FakeGroundTruthConsumer(Topics):
    """A consumer without a group: assign, seek; `polls` are what poll returns."""

    def __init__(self, polls: Sequence[Any] = (), counts: Mapping[str, int] | None = None) -> None:
        super().__init__(counts or {"captures": 2, "t": 2, GT: 2})
        self.polls = list(polls)
        self.assigned: list[TopicPartition] = []
        self.calls: list[tuple[Any, ...]] = []
        self.options: dict[str, Any] = {}

    def assign(self, tps: list[TopicPartition]) -> None:
        self.assigned = list(tps)
        self.calls.append(("assign", [tp.partition for tp in tps]))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.calls.append(("seek", tp.partition, offset))

    def seek_to_beginning(self, tp: TopicPartition) -> None:
        self.calls.append(("beginning", tp.partition))

    def seek_to_end(self, tp: TopicPartition) -> None:
        self.calls.append(("end", tp.partition))

    def poll(self, timeout_ms: int, max_records: int) -> Any:
        assert timeout_ms == 0  # never waits: the capture poll did
        item = self.polls.pop(0) if self.polls else {}
        return {tp: records[:max_records] for tp, records in item.items()}

    def close(self) -> None:
        self.closed = True


def gt(partition: int, *offsets: int) -> dict[TopicPartition, list[Record]]:
    return {TopicPartition(GT, partition): [Record(o, f"label-{o}".encode()) for o in offsets]}


def reader_with(consumer: FakeGroundTruthConsumer, **kwargs: Any) -> GroundTruthReader:
    reader = GroundTruthReader(GT, lambda: consumer, max_lines=3, **kwargs)
    reader.setup()
    return reader


def test_the_reader_follows_the_partitions_held_and_seeks_where_told() -> None:
    consumer = FakeGroundTruthConsumer([gt(0, 7, 8), gt(1, 0)])
    reader = reader_with(consumer)
    reader.want(0, 7)  # checkpointed
    reader.want(1, None)  # no checkpoint: by the reset policy
    assert consumer.calls == []  # noted only: applied on the loop's thread
    reader.fetch()
    assert consumer.calls == [("assign", [0, 1]), ("seek", 0, 7), ("beginning", 1)]
    assert reader.take(0) == ([b"label-7", b"label-8"], 9)
    assert reader.take(0) == ([], 9)  # handed over once
    assert reader.take(1) == ([], None)  # not read yet: position unknown
    reader.fetch()
    assert reader.take(1) == ([b"label-0"], 1)
    reader.release(0)
    reader.fetch()
    assert consumer.calls[-1] == ("assign", [1])
    assert reader.take(0) == ([], None)


def test_a_partition_reassigned_drops_what_was_read_and_not_handed_over() -> None:
    consumer = FakeGroundTruthConsumer([gt(0, 3, 4), gt(0, 5)])
    reader = reader_with(consumer, reset="latest")
    reader.want(0, None)
    reader.fetch()
    assert consumer.calls[-1] == ("end", 0)
    reader.release(0)  # revoked, then assigned again from its checkpoint
    reader.want(0, 3)
    reader.fetch()
    assert consumer.calls[-2:] == [("assign", [0]), ("seek", 0, 3)]
    assert reader.take(0) == ([b"label-5"], 6)  # 3 and 4 were dropped: the fake re-reads 5


def test_a_partition_holds_at_most_max_lines_and_reads_the_rest_again_later() -> None:
    consumer = FakeGroundTruthConsumer([gt(0, 0, 1), gt(0, 2, 3, 4), gt(0, 3, 4)])
    reader = reader_with(consumer)
    reader.want(0, 0)
    reader.fetch()
    reader.fetch()  # 2 + 3 lines read, 3 held: sought back to the first line dropped
    assert consumer.calls[-1] == ("seek", 0, 3)
    assert reader.take(0) == ([b"label-0", b"label-1", b"label-2"], 3)
    reader.fetch()
    assert reader.take(0) == ([b"label-3", b"label-4"], 5)


# -- KafkaSource --------------------------------------------------------------------------------


def source_with(
    captures: FakeConsumer, truth: FakeGroundTruthConsumer, **changes: Any
) -> KafkaSource:
    def factory(**options: Any) -> Any:
        chosen: Any = truth if options["group_id"] is None else captures
        chosen.options = options
        return chosen

    source = KafkaSource(
        settings(topics=("t",), **changes), stop=threading.Event(), consumer_factory=factory
    )
    source.setup(Listener())
    return source


def test_labels_go_with_the_last_batch_of_their_partition_with_the_offset_after_them() -> None:
    polled = {
        TopicPartition("t", 0): [Record(10, b"a"), Record(11, b"b"), Record(13, b"c")],
        TopicPartition("t", 1): [Record(4, b"x")],
    }
    truth = FakeGroundTruthConsumer([{**gt(0, 20, 21), **gt(1, 3)}])
    source = source_with(FakeConsumer([polled]), truth)
    assert truth.options["enable_auto_commit"] is False
    source.seek_aux(Partition("t", 0), {GT: 20})
    source.seek_aux(Partition("t", 1), {"another-topic": 5})  # not ours: by the reset policy
    first, second, other = source.poll()
    assert truth.calls == [("assign", [0, 1]), ("seek", 0, 20), ("beginning", 1)]
    assert (first.first_index, second.first_index) == (10, 13)  # a gap splits partition 0
    assert "ground_truth" not in first.meta and "aux_offsets" not in first.meta
    # every label at the last record of the batch it travels with
    assert second.meta["ground_truth"] == [(13, b"label-20"), (13, b"label-21")]
    assert second.meta["aux_offsets"] == {GT: 22}
    assert other.meta["ground_truth"] == [(4, b"label-3")]
    assert other.meta["aux_offsets"] == {GT: 4}


def test_a_revoked_partition_stops_its_ground_truth() -> None:
    truth = FakeGroundTruthConsumer([gt(0, 0)])
    captures = FakeConsumer([{}, {TopicPartition("t", 0): [Record(0, b"a")]}])
    source = source_with(captures, truth)
    source.seek_aux(Partition("t", 0), {})
    source.poll()
    source.release_ground_truth([Partition("t", 0)])
    (batch,) = source.poll()
    assert truth.calls[-1] == ("assign", [])
    assert "ground_truth" not in batch.meta


def test_a_ground_truth_topic_partitioned_otherwise_stops_the_start() -> None:
    truth = FakeGroundTruthConsumer(counts={"t": 2, GT: 4})
    with pytest.raises(SourceError, match="has 4 partitions, the capture topic t 2"):
        source_with(FakeConsumer([]), truth)
