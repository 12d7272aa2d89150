"""Kafka sinks: events as JSON to an output topic, rejected records to a dead-letter topic.

Both buffer in `add` and produce in `flush`, which returns only when the broker acknowledged
everything (acks=all, idempotent producer) or raises SinkUnavailableError, keeping what was not
acknowledged for the next flush. The loop commits source offsets only after a flush succeeded.
Delivery is at-least-once: a retried flush or a restart may produce a record twice.

Output topic: key = endpoint, value = the event's events.jsonl object, header
`driftstream.kind`. Dead-letter topic: key = the original record's key, value = the original
bytes, unchanged; headers `driftstream.reason` (a RejectReason value), `driftstream.detail`,
`driftstream.source.topic`, `driftstream.source.partition`, `driftstream.source.offset`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from driftstream.detectors.events import Event
from driftstream.sinks.base import DeadLetter, DeadLetterSink, Sink, SinkUnavailableError

log = structlog.get_logger(__name__)

DETAIL_HEADER_BYTES = 1000  # a detail quotes at most a short excerpt; keep headers small
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)

ProducerFactory = Callable[..., Any]
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class _Outgoing:
    key: bytes | None
    value: bytes
    headers: Headers


class _Producing:
    """Records waiting for the broker's acknowledgement, shared by both sinks."""

    def __init__(
        self,
        topic: str,
        client_options: Mapping[str, Any],
        *,
        flush_timeout_seconds: float,
        max_request_size: int,
        linger_ms: int,
        factory: ProducerFactory,
        on_dropped: Callable[[_Outgoing, Exception], None],
    ) -> None:
        self.topic = topic
        self.options = dict(client_options)
        self.flush_timeout_seconds = flush_timeout_seconds
        self.max_request_size = max_request_size
        self.linger_ms = linger_ms
        self._factory = factory
        self._on_dropped = on_dropped
        self._producer: Any = None
        self.pending: deque[_Outgoing] = deque()
        self._in_flight: list[tuple[_Outgoing, Any]] = []

    def setup(self) -> None:
        if self._producer is not None:
            return
        try:
            self._producer = self._factory(
                **self.options,
                acks="all",
                linger_ms=self.linger_ms,
                max_request_size=self.max_request_size,
                max_block_ms=int(self.flush_timeout_seconds * 1000),
            )
        except KafkaError as exc:
            raise SinkUnavailableError(f"topic {self.topic}: {type(exc).__name__}: {exc}") from exc

    def flush(self) -> int:
        """Produce everything pending and wait for it; return how many were acknowledged."""
        if not self.pending and not self._in_flight:
            return 0
        self.setup()
        try:
            while self.pending:
                item = self.pending.popleft()
                try:
                    future = self._producer.send(
                        self.topic, key=item.key, value=item.value, headers=item.headers
                    )
                except _TOO_LARGE as exc:
                    self._on_dropped(item, exc)
                    continue
                except KafkaError:
                    self.pending.appendleft(item)
                    raise
                self._in_flight.append((item, future))
            self._producer.flush(timeout=self.flush_timeout_seconds)
        except KafkaError as exc:
            self._settle()
            raise SinkUnavailableError(f"topic {self.topic}: {type(exc).__name__}: {exc}") from exc
        acknowledged = self._settle()
        if self.pending or self._in_flight:
            raise SinkUnavailableError(
                f"topic {self.topic}: {len(self.pending) + len(self._in_flight)} records not "
                "acknowledged yet"
            )
        return acknowledged

    def _settle(self) -> int:
        """Sort in-flight records: acknowledged ones leave, failed ones go back to pending."""
        still: list[tuple[_Outgoing, Any]] = []
        done = 0
        for item, future in self._in_flight:
            if not future.is_done:
                still.append((item, future))
            elif future.succeeded():
                done += 1
            elif isinstance(future.exception, _TOO_LARGE):
                self._on_dropped(item, future.exception)
            else:
                self.pending.append(item)
        self._in_flight = still
        return done

    def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                producer.close(timeout=self.flush_timeout_seconds)
            except KafkaError as exc:
                log.warning("producer_close_failed", topic=self.topic, error=type(exc).__name__)


class KafkaEventsSink(Sink):
    """Every event as a JSON record on the output topic, keyed by endpoint."""

    def __init__(
        self,
        topic: str,
        client_options: Mapping[str, Any],
        *,
        endpoint: str,
        flush_timeout_seconds: float = 10.0,
        producer_factory: ProducerFactory = KafkaProducer,
    ) -> None:
        self.topic = topic
        self._key = endpoint.encode()
        self._out = _Producing(
            topic,
            client_options,
            flush_timeout_seconds=flush_timeout_seconds,
            max_request_size=1_048_576,
            linger_ms=5,
            factory=producer_factory,
            on_dropped=self._dropped,
        )

    def setup(self) -> None:
        self._out.setup()

    def add(self, event: Event) -> None:
        self._out.pending.append(
            _Outgoing(
                self._key,
                orjson.dumps(event.to_dict()),
                [("driftstream.kind", event.kind.value.encode())],
            )
        )

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        try:
            self._out.flush()
        except SinkUnavailableError as exc:
            log.warning("events_not_delivered", topic=self.topic, detail=str(exc))
        self._out.close()

    def _dropped(self, item: _Outgoing, exc: Exception) -> None:
        log.error(
            "event_dropped", topic=self.topic, reason=type(exc).__name__, bytes=len(item.value)
        )


class KafkaDeadLetterSink(DeadLetterSink):
    """Rejected records, bytes unchanged, on the dead-letter topic with the reason in headers."""

    def __init__(
        self,
        topic: str,
        client_options: Mapping[str, Any],
        *,
        max_request_size: int = 2 * 1_048_576,
        flush_timeout_seconds: float = 10.0,
        producer_factory: ProducerFactory = KafkaProducer,
        on_delivered: Callable[[int], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.topic = topic
        self._on_delivered = on_delivered
        self._on_dropped_count = on_dropped
        self._out = _Producing(
            topic,
            client_options,
            flush_timeout_seconds=flush_timeout_seconds,
            max_request_size=max_request_size,
            linger_ms=5,
            factory=producer_factory,
            on_dropped=self._dropped,
        )

    def setup(self) -> None:
        self._out.setup()

    def add(self, letter: DeadLetter) -> None:
        detail = letter.detail.encode("utf-8", "replace")[:DETAIL_HEADER_BYTES]
        self._out.pending.append(
            _Outgoing(
                letter.key,
                letter.raw,
                [
                    ("driftstream.reason", letter.reason.encode()),
                    ("driftstream.detail", detail),
                    ("driftstream.source.topic", letter.topic.encode()),
                    ("driftstream.source.partition", str(letter.partition).encode()),
                    ("driftstream.source.offset", str(letter.offset).encode()),
                ],
            )
        )

    def flush(self) -> None:
        delivered = self._out.flush()
        if delivered and self._on_delivered is not None:
            self._on_delivered(delivered)

    def close(self) -> None:
        try:
            self.flush()
        except SinkUnavailableError as exc:
            log.warning("dead_letters_not_delivered", topic=self.topic, detail=str(exc))
        self._out.close()

    def _dropped(self, item: _Outgoing, exc: Exception) -> None:
        # the broker will never take it: retrying would stop the service for one record
        log.error(
            "dead_letter_dropped",
            topic=self.topic,
            reason=type(exc).__name__,
            bytes=len(item.value),
            hint="raise the topic's max.message.bytes",
        )
        if self._on_dropped_count is not None:
            self._on_dropped_count(1)
