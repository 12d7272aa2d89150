"""Kafka sinks over a fake producer: what is produced, and holding on when the broker is away."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from kafka.future import Future

from driftstream.detectors.events import Event, EventKind
from driftstream.sinks.base import DeadLetter, SinkUnavailableError
from driftstream.sinks.events_file import EventsFileSink
from driftstream.sinks.kafka import KafkaDeadLetterSink, KafkaEventsSink


class FakeProducer:
    """Acknowledges what it is sent, unless told to fail the next sends."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.acked: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]] = []
        self.fail_next = 0
        self.too_large: set[bytes] = set()

    def send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Future:
        if value in self.too_large:
            raise MessageSizeTooLargeError("too large")
        if self.fail_next:
            self.fail_next -= 1
            return Future().failure(KafkaTimeoutError("broker away"))
        self.acked.append((topic, key, value, headers))
        return Future().success(None)

    def flush(self, timeout: float) -> None: ...
    def close(self, timeout: float) -> None: ...


def events_sink() -> tuple[KafkaEventsSink, FakeProducer]:
    producer = FakeProducer()
    sink = KafkaEventsSink("out", {}, endpoint="ep", producer_factory=lambda **o: producer)
    sink.setup()
    return sink, producer


def test_events_are_json_keyed_by_endpoint() -> None:
    sink, producer = events_sink()
    event = Event(
        EventKind.DRIFT,
        record_index=7,
        feature="age",
        detector="adwin",
        extra={"topic": "t", "partition": 0},
    )
    sink.add(event)
    sink.flush()
    ((topic, key, value, headers),) = producer.acked
    assert (topic, key) == ("out", b"ep")
    assert json.loads(value) == event.to_dict()
    assert headers == [("driftstream.kind", b"drift")]


def test_a_failed_flush_keeps_the_events_for_the_next() -> None:
    sink, producer = events_sink()
    for i in range(3):
        sink.add(Event(EventKind.VIOLATION, record_index=i))
    producer.fail_next = 2
    with pytest.raises(SinkUnavailableError):
        sink.flush()
    assert len(producer.acked) == 1
    sink.flush()
    assert sorted(json.loads(v)["record_index"] for _, _, v, _ in producer.acked) == [0, 1, 2]
    sink.flush()  # nothing pending: nothing sent again
    assert len(producer.acked) == 3


def test_dead_letters_are_the_raw_bytes_with_reason_headers() -> None:
    producer = FakeProducer()
    delivered: list[int] = []
    sink = KafkaDeadLetterSink(
        "dlq", {}, producer_factory=lambda **o: producer, on_delivered=delivered.append
    )
    sink.setup()
    sink.add(
        DeadLetter(
            raw=b"\x00not json",
            reason="invalid_json",
            detail="bad " * 400,
            topic="captures",
            partition=2,
            offset=41,
            key=b"ep",
        )
    )
    sink.flush()
    ((topic, key, value, headers),) = producer.acked
    assert (topic, key, value) == ("dlq", b"ep", b"\x00not json")
    h = dict(headers)
    assert h["driftstream.reason"] == b"invalid_json"
    assert (
        h["driftstream.source.topic"],
        h["driftstream.source.partition"],
        h["driftstream.source.offset"],
    ) == (b"captures", b"2", b"41")
    assert len(h["driftstream.detail"]) == 1000
    assert delivered == [1]


def test_a_dead_letter_the_broker_will_never_take_is_dropped_and_counted() -> None:
    producer = FakeProducer()
    producer.too_large = {b"huge"}
    dropped: list[int] = []
    sink = KafkaDeadLetterSink(
        "dlq", {}, producer_factory=lambda **o: producer, on_dropped=dropped.append
    )
    for raw in (b"a", b"huge", b"b"):
        sink.add(
            DeadLetter(raw=raw, reason="oversized", detail="", topic="t", partition=0, offset=0)
        )
    sink.flush()
    assert [v for _, _, v, _ in producer.acked] == [b"a", b"b"]
    assert dropped == [1]


def test_events_file_appends_and_cuts_a_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"kind":"drift","record_index":1}\n{"kind":"dri')
    sink = EventsFileSink(path, append=True)
    sink.setup()
    sink.add(Event(EventKind.DRIFT, record_index=2))
    sink.close()
    assert [json.loads(line)["record_index"] for line in path.read_text().splitlines()] == [1, 2]
    fresh = EventsFileSink(path)  # replay's default still starts the file afresh
    fresh.setup()
    fresh.flush()  # processing started
    fresh.close()
    assert path.read_bytes() == b""


def test_events_file_is_replaced_only_when_processing_starts(tmp_path: Path) -> None:
    """A run that fails or is stopped during set-up leaves the last run's events as they were
    (the loop's first flush, after its first batch, is when the file is replaced)."""
    path = tmp_path / "events.jsonl"
    earlier = b'{"kind":"drift","record_index":1}\n{"kind":"summary","records_read":9}\n'
    path.write_bytes(earlier)
    stopped = EventsFileSink(path)
    stopped.setup()
    stopped.close()
    assert path.read_bytes() == earlier

    sink = EventsFileSink(path)
    sink.setup()
    assert path.read_bytes() == earlier
    sink.flush()  # the first batch had no events: the file is replaced all the same
    assert path.read_bytes() == b""
    sink.add(Event(EventKind.DRIFT, record_index=7))
    sink.flush()
    sink.close()
    assert [json.loads(line)["record_index"] for line in path.read_text().splitlines()] == [7]


def test_events_file_setup_names_a_file_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").mkdir()
    with pytest.raises(OSError, match=r"events\.jsonl"):
        EventsFileSink(tmp_path / "events.jsonl").setup()
