"""The source interface: where captured records come from.

A source hands out consecutive batches of raw capture lines. `next_batch()` never blocks for
long: it returns what is ready (possibly an empty batch), or None once a finite source is
exhausted. `snapshot()` is the position *after* the last line returned (file + byte offset,
Kafka offset + 1, Kinesis sequence number): what a checkpoint stores so a restart resumes there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawBatch:
    """Lines [first_index, first_index + len(lines)) of the stream, as read."""

    first_index: int
    lines: list[bytes]
    #: bytes consumed from the underlying storage for these lines (progress reporting)
    consumed_bytes: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    """A stream of captured records (see the module docstring for the contract)."""

    #: total bytes to read when known (progress bars); None for unbounded sources
    total_bytes: int | None = None

    def setup(self) -> None:  # noqa: B027 - optional hook, most sources need nothing
        """Open connections or files; called once before the first `next_batch`."""

    @abstractmethod
    def next_batch(self, max_records: int) -> RawBatch | None:
        """Up to `max_records` lines that are ready; None when a finite source is exhausted."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Position after the last line returned, as JSON-compatible data."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; idempotent."""
