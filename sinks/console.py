"""Detections printed for a person watching a terminal (demo, interactive replays)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from driftstream.detectors.events import Event, EventKind
from driftstream.sinks.base import BatchingSink

LOWER_IS_WORSE = frozenset({"completeness_check", "data_type_check", "categorical_values_check"})
SHOWN = (EventKind.DRIFT, EventKind.VIOLATION, EventKind.RETRAIN_SIGNAL, EventKind.ANOMALY)


def describe(event: Event) -> str:
    """One line for a person: where, what, how far."""
    where = f"record {event.record_index:>8}" if event.record_index is not None else ""
    what = event.kind.value
    if event.kind is EventKind.RETRAIN_SIGNAL:
        feats = ", ".join(event.extra.get("features", []))
        if event.extra.get("decision") == "deferred":
            return f"{where}  retrain deferred ({event.reason})  features: {feats}"
        held = "  (awaiting approval)" if event.extra.get("approval") == "required" else ""
        return (
            f"{where}  RETRAIN SIGNAL{held}  features: {feats}  "
            f"key={event.extra.get('idempotency_key')}"
        )
    stat = ""
    if event.value is not None and event.threshold is not None:
        # share-type checks breach by falling below their threshold
        sign = "<" if event.detector in LOWER_IS_WORSE else ">"
        stat = f"  {event.value:.4g} {sign} {event.threshold:.4g}"
    return f"{where}  {what:<9} {event.feature or '':<18} {event.detector or '':<24}{stat}"


class ConsoleSink(BatchingSink):
    def __init__(
        self, write: Callable[[str], None] | None = None, stream: TextIO | None = None
    ) -> None:
        super().__init__()
        out = stream or sys.stderr
        self._write = write or (lambda line: print(line, file=out))

    def add(self, event: Event) -> None:
        if event.kind in SHOWN:
            super().add(event)

    def write(self, batch: list[Event]) -> None:
        for event in batch:
            self._write(describe(event))
