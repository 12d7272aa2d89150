"""`replay --to kafka://`: target parsing, bytes unchanged, keyed, in order, paced."""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kafka.future import Future

from driftstream.streamer.publish.kafka import KafkaTarget, parse_kafka_target, publish
from driftstream.streamer.sources.files import FileSource
from driftstream.streamer.sources.synthetic import Scenario, capture_lines


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("kafka://127.0.0.1:9092/captures", KafkaTarget(("127.0.0.1:9092",), "captures")),
        ("kafka://a:1,b:2/t.x-y", KafkaTarget(("a:1", "b:2"), "t.x-y")),
    ],
)
def test_targets(text: str, target: KafkaTarget) -> None:
    assert parse_kafka_target(text) == target


@pytest.mark.parametrize(
    "text", ["kafka://host/t", "kafka://h:1/", "kafka://h:1/a/b", "http://h:1/t"]
)
def test_bad_targets(text: str) -> None:
    with pytest.raises(ValueError, match="--to"):
        parse_kafka_target(text)


class FakeMetadata:
    partition = 0


class FakeProducer:
    def __init__(self, **options: Any) -> None:
        self.options = options
        self.sent: list[tuple[str, bytes | None, bytes, float]] = []

    def send(self, topic: str, key: bytes | None, value: bytes) -> Future:
        self.sent.append((topic, key, value, time.monotonic()))
        return Future().success(FakeMetadata())

    def flush(self) -> None: ...
    def close(self) -> None: ...


def test_every_line_is_published_unchanged_in_order(tmp_path: Path) -> None:
    lines = [*capture_lines(Scenario("p", 20)), b"not json", b""]
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    producers: list[FakeProducer] = []

    def factory(**options: Any) -> FakeProducer:
        producers.append(FakeProducer(**options))
        return producers[-1]

    summary = publish(
        FileSource(path),
        KafkaTarget(("h:1",), "t"),
        key=b"ep",
        client_options={},
        producer_factory=factory,
    )
    (producer,) = producers
    assert [(t, k, v) for t, k, v, _ in producer.sent] == [(b"t".decode(), b"ep", x) for x in lines]
    assert producer.options["acks"] == "all"
    assert (summary.records, summary.acknowledged, summary.failed) == (22, 22, 0)
    assert "published 22 of 22 records" in summary.line(KafkaTarget(("h:1",), "t"), b"ep")


def test_a_damaged_file_keeps_the_record_positions_aligned(tmp_path: Path) -> None:
    """A truncated .jsonl.gz before a good file: what was read of its broken line is published
    as one record, so offset i of the topic is still record i of `replay` of the folder."""
    lines = list(capture_lines(Scenario("p", 400)))
    compressed = gzip.compress(b"\n".join(lines[:300]) + b"\n")
    (tmp_path / "2026" / "11" / "01" / "00").mkdir(parents=True)
    (tmp_path / "2026" / "11" / "01" / "01").mkdir(parents=True)
    (tmp_path / "2026" / "11" / "01" / "00" / "a.jsonl.gz").write_bytes(
        compressed[: len(compressed) // 2]
    )
    (tmp_path / "2026" / "11" / "01" / "01" / "b.jsonl").write_bytes(b"\n".join(lines[300:]))
    producer = FakeProducer()
    summary = publish(
        FileSource(tmp_path),
        KafkaTarget(("h:1",), "t"),
        key=b"ep",
        client_options={},
        producer_factory=lambda **options: producer,
    )
    sent = [v for _, _, v, _ in producer.sent]
    readable = len(sent) - 1 - 100
    assert 0 < readable < 300
    assert sent[:readable] == lines[:readable]
    assert lines[readable].startswith(sent[readable])  # the broken line, as far as it was read
    assert sent[readable + 1 :] == lines[300:]
    assert summary.records == summary.acknowledged == len(sent)


def test_speed_follows_the_recorded_pace(tmp_path: Path) -> None:
    # records one second apart in inferenceTime, replayed 10x: ~0.1 s apart
    lines = list(capture_lines(Scenario("p", 4, seconds_between=1.0)))
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    producer = FakeProducer()
    publish(
        FileSource(path),
        KafkaTarget(("h:1",), "t"),
        key=b"ep",
        client_options={},
        speed=10.0,
        producer_factory=lambda **o: producer,
    )
    times = [t for *_, t in producer.sent]
    assert times[-1] - times[0] == pytest.approx(0.3, abs=0.08)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("kafka://nohost/t", "is not host:port"),
        ("s3://bucket", "expected kafka://host:port/topic"),
    ],
)
def test_replay_to_usage_errors_exit_2(tmp_path: Path, target: str, message: str) -> None:
    (tmp_path / "c.jsonl").write_bytes(b"\n".join(capture_lines(Scenario("u", 3))) + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "driftstream.streamer.app.cli", "replay", "c.jsonl", "--to", target],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
