"""The Kafka target: the signal document as one record, keyed by endpoint (kafka-python).

Headers `driftstream.kind: retrain_signal` and `driftstream.idempotency_key: <key>`. The
producer is idempotent with acks=all (kafka-python 3's defaults); a delivery returns once the
broker acknowledged the record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError

from driftstream.sinks.signals.base import DeliveryError, Signal, SignalTarget

ProducerFactory = Callable[..., Any]


class KafkaSignalTarget(SignalTarget):
    def __init__(
        self,
        name: str,
        *,
        topic: str,
        client_options: Mapping[str, Any],
        timeout_seconds: float,
        producer_factory: ProducerFactory = KafkaProducer,
    ) -> None:
        super().__init__(name)
        self.topic = topic
        self._options = dict(client_options)
        self.timeout_seconds = timeout_seconds
        self._factory = producer_factory
        self._producer: Any = None

    def deliver(self, signal: Signal) -> None:
        try:
            if self._producer is None:
                self._producer = self._factory(
                    **self._options, acks="all", max_block_ms=int(self.timeout_seconds * 1000)
                )
            future = self._producer.send(
                self.topic,
                key=signal.endpoint.encode(),
                value=signal.body,
                headers=[
                    ("driftstream.kind", b"retrain_signal"),
                    ("driftstream.idempotency_key", signal.key.encode()),
                ],
            )
            future.get(timeout=self.timeout_seconds)
        except MessageSizeTooLargeError as exc:
            raise DeliveryError(f"kafka topic {self.topic}: {exc}", retryable=False) from None
        except KafkaError as exc:
            raise DeliveryError(
                f"kafka topic {self.topic}: {type(exc).__name__}: {exc}", retryable=True
            ) from None

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError):
                producer.close(timeout=self.timeout_seconds)
