"""The local file target: one JSON line per signal, appended and fsynced."""

from __future__ import annotations

import os
from pathlib import Path

from driftstream.sinks.signals.base import DeliveryError, Signal, SignalTarget


class FileSignalTarget(SignalTarget):
    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = path

    def setup(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def deliver(self, signal: Signal) -> None:
        try:
            with self.path.open("ab") as f:
                f.write(signal.body + b"\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise DeliveryError(f"file {self.path}: {exc.strerror}", retryable=True) from None
