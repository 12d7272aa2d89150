"""The lag the live sources report (`Source.lag`), against a real Kafka broker and a moto server:
records and seconds behind for Kafka, seconds only (MillisBehindLatest) for Kinesis."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from kafka import KafkaProducer

from driftstream.sinks.aws import AwsSettings, client
from driftstream.streamer.sources.base import Lag, Partition, RawBatch, Source
from driftstream.streamer.sources.kafka.settings import KafkaSourceSettings
from driftstream.streamer.sources.kafka.source import KafkaSource
from driftstream.streamer.sources.kinesis.settings import KinesisSourceSettings
from driftstream.streamer.sources.kinesis.source import KinesisSource, PositionStore
from tests.integration import aws_support as s
from tests.integration.kafka_live import LiveSetup
from tests.services import MotoServer

pytestmark = [pytest.mark.integration]

READ_TIMEOUT_S = 60.0  # a bound, never waited out when the test passes
HOUR_MS = 3_600_000


class _Listener:
    def on_assigned(self, partitions: Sequence[Partition]) -> None: ...

    def on_revoked(self, partitions: Sequence[Partition]) -> Mapping[Partition, int]:
        return {}

    def on_lost(self, partitions: Sequence[Partition]) -> None: ...


def _next_batch(source: Source) -> RawBatch:
    deadline = time.monotonic() + READ_TIMEOUT_S
    while time.monotonic() < deadline:
        batches = source.poll()
        if batches:
            assert len(batches) == 1
            return batches[0]
    raise AssertionError(f"no records in {READ_TIMEOUT_S}s")


def _read_until(source: Source, end: int) -> None:
    deadline = time.monotonic() + READ_TIMEOUT_S
    last = 0
    while last < end and time.monotonic() < deadline:
        for batch in source.poll():
            last = batch.first_index + len(batch.lines)
    assert last == end, f"read up to {last} of {end}"


def test_kafka_lag_counts_the_records_behind_and_the_age_of_the_last_one_processed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Records stamped an hour ago: while some remain, the last processed is an hour behind."""
    setup = LiveSetup(kafka_bootstrap, tmp_path, tmp_path, tmp_path)
    setup.create_topics()
    stamped = int(time.time() * 1000) - HOUR_MS
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for i in range(30):
            producer.send(setup.topic, value=b"%d" % i, partition=0, timestamp_ms=stamped + i)
        producer.flush(timeout=60)
    finally:
        producer.close()
    settings = KafkaSourceSettings(
        bootstrap_servers=(kafka_bootstrap,),
        topics=(setup.topic,),
        group_id=setup.group,
        max_poll_records=10,
        poll_timeout_ms=200,
    )
    source = KafkaSource(settings, stop=threading.Event())
    source.setup(_Listener())
    try:
        first = _next_batch(source)
        partition = Partition(setup.topic, 0)
        end = first.first_index + len(first.lines)
        assert end < 30
        lag = source.lag({partition: end})[partition]
        assert lag.records == 30 - end
        # the record before `end` was stamped an hour ago (plus end - 1 ms), by this clock; the
        # upper bound only says it is that record's age, not the newest's
        assert lag.seconds is not None
        assert HOUR_MS / 1000 <= lag.seconds < HOUR_MS / 1000 + 600
        _read_until(source, 30)
        assert source.lag({partition: 30}) == {partition: Lag(records=0, seconds=0.0)}
    finally:
        source.close()


def test_kinesis_lag_is_millis_behind_latest_in_seconds_with_no_record_count(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records put 1.5 s apart: the first read of them is at least 1.5 s behind the newest."""
    s.use_dummy_keys(monkeypatch)
    kinesis = s.client(moto_server.endpoint_url, "kinesis")
    stream = s.unique("lag")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    put = [{"Data": b"%d" % i, "PartitionKey": "churn"} for i in range(10)]
    kinesis.put_records(StreamName=stream, Records=put[:5])
    time.sleep(1.5)  # moto stamps records with the time they are put
    kinesis.put_records(StreamName=stream, Records=put[5:])
    settings = AwsSettings(endpoint_url=moto_server.endpoint_url, region=s.REGION)
    source = KinesisSource(
        KinesisSourceSettings(stream_name=stream, max_records_per_call=5, poll_timeout_seconds=0.5),
        lambda: client("kinesis", settings),
        PositionStore(tmp_path / "positions.json", stream=stream, application="t"),
        stop=threading.Event(),
    )
    source.setup(_Listener())
    try:
        first = _next_batch(source)
        partition = first.meta["partition"]
        assert (partition, first.first_index, len(first.lines)) == (Partition(stream, 0), 0, 5)
        lag = source.lag({partition: 5})[partition]
        assert lag.records is None  # Kinesis sequence numbers cannot count records
        assert lag.seconds is not None and lag.seconds >= 1.5
        _read_until(source, 10)
        assert source.lag({partition: 10}) == {partition: Lag(records=None, seconds=0.0)}
    finally:
        source.close()
