"""KafkaSource over a fake kafka-python consumer: batching per partition, failures, commits."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaConnectionError, KafkaTimeoutError
from prometheus_client import CollectorRegistry

from driftstream.streamer.sources.base import Lag, Partition, RawBatch
from driftstream.streamer.sources.kafka.settings import KafkaSourceSettings
from driftstream.streamer.sources.kafka.source import KafkaSource
from driftstream.streamer.sources.metrics import LiveMetrics


@dataclass
class Record:
    offset: int
    value: bytes | None
    key: bytes | None = b"k"
    timestamp: int = -1  # ms since the epoch; -1: none


class FakeConsumer:
    def __init__(self, polls: Sequence[Any], connections: float = 1.0, **options: Any) -> None:
        self.options = options
        self.polls = list(polls)
        self.connections = connections
        self.commits: list[dict[Any, Any]] = []
        self.fail_commit = False
        self.highwaters: dict[TopicPartition, int | None] = {}

    def subscribe(self, topics: Sequence[str], listener: Any) -> None:
        self.topics = list(topics)
        self.listener = listener

    def poll(self, timeout_ms: int, max_records: int) -> Any:
        item = self.polls.pop(0) if self.polls else {}
        if isinstance(item, Exception):
            raise item
        return item

    def commit(self, offsets: Mapping[Any, Any], timeout_ms: int) -> None:
        if self.fail_commit:
            raise KafkaTimeoutError("coordinator away")
        self.commits.append(dict(offsets))

    def metrics(self) -> dict[str, dict[str, float]]:
        return {"consumer-metrics": {"connection-count": self.connections}}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.highwaters.get(tp, 100)

    def seek(self, tp: TopicPartition, offset: int) -> None: ...

    def close(self, autocommit: bool, timeout_ms: int) -> None:
        self.closed = True


SETTINGS = KafkaSourceSettings(
    bootstrap_servers=("127.0.0.1:1",),
    topics=("t",),
    retry={"initial_seconds": 0.001, "max_seconds": 0.002},  # type: ignore[arg-type]
)


class Listener:
    def on_assigned(self, partitions: Sequence[Partition]) -> None: ...
    def on_revoked(self, partitions: Sequence[Partition]) -> Mapping[Partition, int]:
        return {}

    def on_lost(self, partitions: Sequence[Partition]) -> None: ...


def source_with(consumer: FakeConsumer, attempts: list[Exception] | None = None) -> KafkaSource:
    failures = list(attempts or [])

    def factory(**options: Any) -> FakeConsumer:
        if failures:
            raise failures.pop(0)
        consumer.options = options
        return consumer

    metrics = LiveMetrics("e", CollectorRegistry())
    source = KafkaSource(
        SETTINGS, stop=threading.Event(), metrics=metrics, consumer_factory=factory
    )
    source.setup(Listener())
    return source


def errors(source: KafkaSource, operation: str) -> float:
    assert source.metrics is not None
    return (
        source.metrics.registry.get_sample_value(
            "driftstream_broker_errors_total", {"endpoint": "e", "operation": operation}
        )
        or 0.0
    )


def test_connect_is_retried_until_the_broker_answers() -> None:
    consumer = FakeConsumer([])
    source = source_with(consumer, [KafkaConnectionError(), KafkaTimeoutError()])
    assert errors(source, "connect") == 2
    assert consumer.topics == ["t"]
    assert consumer.options["enable_auto_commit"] is False


def test_poll_groups_per_partition_and_splits_offset_gaps() -> None:
    polled = {
        TopicPartition("t", 1): [Record(5, b"a"), Record(6, None), Record(9, b"c")],
        TopicPartition("t", 0): [Record(0, b"x", None)],
    }
    source = source_with(FakeConsumer([polled]))
    batches = source.poll()
    assert [(b.meta["partition"], b.first_index, b.lines) for b in batches] == [
        (Partition("t", 0), 0, [b"x"]),
        (Partition("t", 1), 5, [b"a", b""]),
        (Partition("t", 1), 9, [b"c"]),
    ]
    assert list(batches[0].meta["keys"]) == [None]
    assert list(batches[1].meta["keys"]) == [b"k", b"k"]
    assert all(isinstance(b, RawBatch) for b in batches)


def test_a_failing_poll_is_counted_and_backed_off_not_raised() -> None:
    source = source_with(FakeConsumer([KafkaTimeoutError("x"), {}]))
    assert source.poll() == []
    assert errors(source, "poll") == 1


def test_no_connection_for_a_second_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(
        "driftstream.streamer.sources.kafka.source.time.monotonic", lambda: clock[0]
    )
    consumer = FakeConsumer([{}] * 10, connections=0.0)
    source = source_with(consumer)
    for _ in range(4):
        source.poll()
        clock[0] += 1.1
    assert errors(source, "poll") >= 2
    consumer.connections = 1.0
    source.poll()
    clock[0] += 1.1
    before = errors(source, "poll")
    source.poll()
    assert errors(source, "poll") == before


def test_commit_failure_is_false_and_counted() -> None:
    consumer = FakeConsumer([])
    source = source_with(consumer)
    assert source.commit({Partition("t", 0): 7})
    assert consumer.commits[0][TopicPartition("t", 0)].offset == 7
    consumer.fail_commit = True
    assert not source.commit({Partition("t", 0): 8})
    assert errors(source, "commit") == 1


def test_lag_in_records_and_in_seconds_from_the_last_processed_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seconds behind: the age of the record before the processed offset while records remain
    (the latest record's age is not known); 0 once caught up; unknown (left out) for a record
    without a timestamp or not read by this source."""
    monkeypatch.setattr("driftstream.streamer.sources.kafka.source.time.time", lambda: 1000.0)
    p0, p1 = TopicPartition("t", 0), TopicPartition("t", 1)
    polled = {
        p0: [Record(10, b"a", timestamp=900_000), Record(11, b"b", timestamp=940_500)],
        p1: [Record(3, b"c", timestamp=-1)],
    }
    consumer = FakeConsumer([polled])
    consumer.highwaters = {p0: 20, p1: 9}
    source = source_with(consumer)
    source.poll()
    lag = source.lag({Partition("t", 0): 12, Partition("t", 1): 4})
    assert lag == {
        Partition("t", 0): Lag(records=8, seconds=59.5),
        Partition("t", 1): Lag(records=5, seconds=None),  # the record had no timestamp
    }
    assert source.lag({Partition("t", 0): 10})[Partition("t", 0)].seconds is None  # not read
    consumer.highwaters = {p0: 12, p1: None}
    assert source.lag({Partition("t", 0): 12, Partition("t", 1): 4}) == {
        Partition("t", 0): Lag(records=0, seconds=0.0),  # caught up; p1: nothing fetched
    }


def test_lag_forgets_timestamps_behind_the_processed_offset_and_after_a_seek(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("driftstream.streamer.sources.kafka.source.time.time", lambda: 1000.0)
    p0 = TopicPartition("t", 0)
    consumer = FakeConsumer(
        [{p0: [Record(0, b"a", timestamp=990_000)]}, {p0: [Record(1, b"b", timestamp=995_000)]}]
    )
    source = source_with(consumer)
    source.poll()
    source.poll()
    assert source.lag({Partition("t", 0): 2})[Partition("t", 0)].seconds == 5.0
    assert source.lag({Partition("t", 0): 1})[Partition("t", 0)].seconds is None  # let go
    source.seek(Partition("t", 0), 0)
    assert source.lag({Partition("t", 0): 2})[Partition("t", 0)].seconds is None
