"""The sink interface: where events go.

The processing loop calls `add(event)` for every event of a batch, then `flush()` once the batch
is done; a sink must have written (or durably queued) everything added before `flush` returns,
because the loop commits source positions after it. Delivery is at-least-once: after a restart a
sink may see the same events again (retrain signals carry an idempotency key for that). Client
set-up happens in `setup()`, not in `__init__`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from detectors.events import Event


class Sink(ABC):
    def setup(self) -> None:  # noqa: B027 - optional hook
        """Connect / open files; called once before the first event."""

    @abstractmethod
    def add(self, event: Event) -> None:
        """Accept one event (cheap; may buffer)."""

    @abstractmethod
    def flush(self) -> None:
        """Write everything added so far."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources; idempotent."""


class BatchingSink(Sink):
    """A sink that writes whole batches: implement `write(batch)` only."""

    def __init__(self) -> None:
        self._pending: list[Event] = []

    def add(self, event: Event) -> None:
        self._pending.append(event)

    def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self.write(batch)

    @abstractmethod
    def write(self, batch: list[Event]) -> None:
        """Write `batch` in order; raise on failure (the loop will not commit)."""

    def close(self) -> None:
        self.flush()
