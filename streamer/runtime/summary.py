"""The processing loop: source → decode → monitor → sinks, one batch at a time."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import Monitor
from driftstream.sinks.base import Sink
from driftstream.sinks.prometheus import PrometheusSink
from driftstream.streamer.decode.base import DecodedBatch
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.base import Source
from driftstream.streamer.sources.pacing import Pacer


@dataclass
class RunSummary:
    records_read: int = 0
    records_used: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def to_event(self) -> Event:
        return Event(
            EventKind.SUMMARY,
            extra={
                "records_read": self.records_read,
                "records_used": self.records_used,
                "records_rejected": dict(sorted(self.rejected.items())),
                "events": dict(sorted(self.events.items())),
                "seconds": round(self.seconds, 3),
            },
        )


def rejection_events(batch: DecodedBatch) -> list[Event]:
    return [
        Event(
            EventKind.REJECTED,
            record_index=r.record_index,
            reason=r.reason.value,
            event_id=r.event_id,
            inference_time=r.inference_time,
            extra={"detail": r.detail},
        )
        for r in batch.rejections
    ]


ProgressHook = Callable[[int, int], None]  # (records, bytes) done in this batch


class Pipeline:
    """Runs a source through the decoder, the monitor and the sinks until done or stopped.

    Per batch, in this order:
    1. decode the raw lines (malformed ones become `rejected` events);
    2. run the monitor; events of the batch are ordered by record index;
    3. `add` every event to every sink, then `flush` every sink;
    4. report counters to Prometheus and progress.
    Sources with positions to commit (Kafka, Kinesis) commit only after step 3.
    """

    def __init__(
        self,
        source: Source,
        decoder: CaptureDecoder,
        monitor: Monitor,
        sinks: Sequence[Sink],
        *,
        batch_size: int = 4096,
        telemetry: PrometheusSink | None = None,
        progress: ProgressHook | None = None,
        speed: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.decoder = decoder
        self.monitor = monitor
        self.sinks = list(sinks)
        self.batch_size = batch_size
        self.telemetry = telemetry
        self.progress = progress
        self.stop = stop or threading.Event()
        self.pacer = Pacer(speed, self.stop) if speed else None
        self.summary = RunSummary()

    def run(self) -> RunSummary:
        """Process until the source is exhausted or `stop` is set; then emit the summary."""
        started = time.perf_counter()
        while not self.stop.is_set():
            raw = self.source.next_batch(self.batch_size)
            if raw is None:
                break
            if not raw.lines:
                self.stop.wait(0.05)
                continue
            t0 = time.perf_counter()
            decoded = self.decoder.decode(raw.lines, raw.first_index)
            if self.pacer is not None and decoded.inference_time:
                self.pacer.wait_for(decoded.inference_time[-1])
            events = rejection_events(decoded) + self.monitor.process(decoded)
            events.sort(key=lambda e: e.record_index if e.record_index is not None else -1)
            self._deliver(events)
            self._count(decoded, events)
            if self.telemetry is not None:
                rejected = Counter(r.reason.value for r in decoded.rejections)
                self.telemetry.observe_batch(
                    decoded.n_records, decoded.records_used, rejected, time.perf_counter() - t0
                )
            if self.progress is not None:
                self.progress(decoded.n_records, raw.consumed_bytes)
        self.summary.seconds = time.perf_counter() - started
        self._deliver([self.summary.to_event()])
        return self.summary

    def _deliver(self, events: list[Event]) -> None:
        for sink in self.sinks:
            for event in events:
                sink.add(event)
        for sink in self.sinks:
            sink.flush()

    def _count(self, decoded: DecodedBatch, events: list[Event]) -> None:
        s = self.summary
        s.records_read += decoded.n_records
        s.records_used += decoded.records_used
        s.rejected.update(r.reason.value for r in decoded.rejections)
        s.events.update(e.kind.value for e in events)

    def status(self) -> dict[str, Any]:
        return {"records_read": self.summary.records_read, "events": dict(self.summary.events)}
