"""Events: what the monitor tells the sinks. One JSON object per line in events.jsonl."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    DRIFT = "drift"
    VIOLATION = "violation"
    ANOMALY = "anomaly"
    RETRAIN_SIGNAL = "retrain_signal"
    REJECTED = "rejected"
    SUMMARY = "summary"


@dataclass(frozen=True)
class Event:
    """One event of the events.jsonl contract (docs/cli.md); `extra` adds keys."""

    kind: EventKind
    record_index: int | None = None
    feature: str | None = None
    detector: str | None = None
    value: float | None = None
    threshold: float | None = None
    reason: str | None = None
    event_id: str | None = None
    inference_time: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written for this event: contract keys first, absent ones left out."""
        out: dict[str, Any] = {"kind": self.kind.value}
        for key in (
            "record_index",
            "feature",
            "detector",
            "value",
            "threshold",
            "reason",
            "event_id",
            "inference_time",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out
