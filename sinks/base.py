"""The sink interface: where events go.

The processing loop calls `add(event)` for every event of a batch, then `flush()` once the batch
is done; a sink must have written (or durably queued) everything added before `flush` returns,
because the loop commits source positions after it. Delivery is at-least-once: after a restart a
sink may see the same events again (retrain signals carry an idempotency key for that). Client
set-up happens in `setup()`, not in `__init__`.

Rejected records themselves (their raw bytes) go to a DeadLetterSink, not through events: an event
is JSON for people and dashboards, a dead letter is the original record for re-processing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from driftstream.detectors.events import Event

if TYPE_CHECKING:
    from collections.abc import Sequence

    from driftstream.detectors.base import Document
    from driftstream.detectors.monitor import MonitorView


class SinkUnavailableError(RuntimeError):
    """A sink could not deliver what it was given (its service is away); the loop retries the
    flush after back-off and commits nothing meanwhile."""


class Sink(ABC):
    def setup(self) -> None:  # noqa: B027 - optional hook
        """Connect / open files; called once before the first event."""

    @abstractmethod
    def add(self, event: Event) -> None:
        """Accept one event (cheap; may buffer)."""

    @abstractmethod
    def flush(self) -> None:
        """Write everything added so far."""

    def add_documents(self, documents: Sequence[Document]) -> None:  # noqa: B027 - optional hook
        """Accept files for the report folder (Model Monitor reports: detectors/base.py,
        Watcher); like events, written by `flush`. Only the report-folder sink takes them."""

    def observe(self, view: MonitorView) -> None:  # noqa: B027 - optional hook
        """Called by the processing loop after every batch with the view of the partition's
        monitor that processed it (sinks that publish the monitor's readings, CloudWatch)."""

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


@dataclass(frozen=True)
class DeadLetter:
    """A record that could not be used, exactly as it was read, and where it was read from."""

    raw: bytes
    reason: str  # a streamer.decode.base.RejectReason value
    detail: str
    topic: str
    partition: int
    offset: int
    key: bytes | None = None


class DeadLetterSink(ABC):
    """Where rejected records go, raw bytes and all (the loop's `rejected` events carry no bytes).

    Same life cycle as Sink: `add` per rejected record, `flush` before source positions are
    committed (the loop's commit order), at-least-once.
    """

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Connect; called once before the first letter."""

    @abstractmethod
    def add(self, letter: DeadLetter) -> None:
        """Accept one rejected record (cheap; may buffer)."""

    @abstractmethod
    def flush(self) -> None:
        """Deliver everything added so far; raise when it could not (nothing is committed)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources; idempotent."""
