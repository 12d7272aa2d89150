"""The service layer itself: each real service answers the way the project's code will use it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import boto3
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from prometheus_client import CollectorRegistry, Counter, start_http_server

from tests.services import MotoServer, PrometheusServer, free_port

pytestmark = pytest.mark.integration


def test_kafka_round_trip(kafka_bootstrap: str) -> None:
    topic = f"services-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="services-test")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        metadata = producer.send(topic, key=b"k", value=b'{"x": 1}').get(timeout=30)
    finally:
        producer.close()
    assert (metadata.topic, metadata.partition, metadata.offset) == (topic, 0, 0)

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"group-{topic}",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    try:
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
    finally:
        consumer.close()
    assert [(r.key, r.value, r.offset) for r in records] == [(b"k", b'{"x": 1}', 0)]


@pytest.fixture
def exporter() -> Iterator[tuple[str, Counter]]:
    """A prometheus_client HTTP exporter on a free port serving one counter."""
    registry = CollectorRegistry()
    counter = Counter(
        "driftstream_services_test_events", "Events counted by the service test", registry=registry
    )
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}", counter
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_prometheus_scrapes_exporter(
    exporter: tuple[str, Counter],
    prometheus_server: Callable[[Sequence[str]], PrometheusServer],
) -> None:
    target, counter = exporter
    counter.inc(7)
    prometheus = prometheus_server([target])

    prometheus.wait_until_up(target, timeout=60)
    result = prometheus.query(f'driftstream_services_test_events_total{{instance="{target}"}}')

    assert [(s["metric"]["job"], float(s["value"][1])) for s in result] == [
        (PrometheusServer.job_name, 7.0)
    ]


def test_moto_server_kinesis(moto_server: MotoServer) -> None:
    moto_server.reset()
    kinesis = boto3.client("kinesis", **moto_server.client_kwargs())

    kinesis.create_stream(StreamName="driftstream-capture", ShardCount=1)

    assert kinesis.list_streams()["StreamNames"] == ["driftstream-capture"]
    moto_server.reset()
    assert kinesis.list_streams()["StreamNames"] == []
