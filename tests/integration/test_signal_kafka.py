"""The Kafka signal target on a real broker: the document arrives keyed by endpoint, with the
idempotency key in a header, once per delivery."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer

from driftstream.detectors.events import Event, EventKind
from driftstream.sinks.signals.base import Signal
from driftstream.sinks.signals.kafka import KafkaSignalTarget

pytestmark = pytest.mark.integration


def test_kafka_target_delivers_the_signal(kafka_bootstrap: str) -> None:
    topic = f"signals-{uuid.uuid4().hex[:8]}"
    event = Event(
        EventKind.RETRAIN_SIGNAL,
        record_index=7,
        value=0.5,
        threshold=0.3,
        extra={
            "idempotency_key": "k" * 32,
            "endpoint": "churn",
            "decision": "retrain",
            "features": ["age"],
            "evidence": {"baseline": "b"},
        },
    )
    signal = Signal.from_event(event)
    target = KafkaSignalTarget(
        f"kafka:{topic}",
        topic=topic,
        client_options={"bootstrap_servers": [kafka_bootstrap]},
        timeout_seconds=30,
    )
    target.setup()
    try:
        target.deliver(signal)
    finally:
        target.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[kafka_bootstrap],
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        group_id=None,
    )
    try:
        records = list(consumer)
    finally:
        consumer.close()
    assert len(records) == 1
    (record,) = records
    assert record.key == b"churn"
    assert record.value == signal.body
    assert dict(record.headers)["driftstream.idempotency_key"] == signal.key.encode()
