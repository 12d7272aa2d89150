"""What a run did (the `summary` event), and the `rejected` events of a decoded batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from driftstream.detectors.events import Event, EventKind
from driftstream.streamer.decode.base import DecodedBatch


@dataclass
class RunSummary:
    records_read: int = 0
    records_used: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    #: a stop (SIGINT, SIGTERM) ended the run before its source did
    interrupted: bool = False

    def to_event(self) -> Event:
        """The `summary` event; `interrupted: true` only when it was (a run that read its
        source to the end writes the same summary as before the key existed)."""
        extra = {
            "records_read": self.records_read,
            "records_used": self.records_used,
            "records_rejected": dict(sorted(self.rejected.items())),
            "events": dict(sorted(self.events.items())),
            "seconds": round(self.seconds, 3),
        }
        if self.interrupted:
            extra["interrupted"] = True
        return Event(EventKind.SUMMARY, extra=extra)


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
