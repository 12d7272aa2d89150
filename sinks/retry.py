"""Exponential back-off for infrastructure that is away (a broker down, a disk full), and its
settings; used by sources and sinks alike."""

from __future__ import annotations

import random
import threading

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Backoff:
    """Delays that double from `initial` up to `maximum`, with ±20 % jitter; `reset()` on success.

    `wait(stop)` sleeps the next delay but returns at once when `stop` is set, so a SIGTERM
    during an outage still shuts the service down promptly.
    """

    def __init__(self, initial: float, maximum: float, *, jitter: float = 0.2) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self.failures = 0

    def next_delay(self) -> float:
        """The delay after one more failure."""
        base = min(self.maximum, self.initial * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return base * (1.0 + self.jitter * (2.0 * random.random() - 1.0))

    def wait(self, stop: threading.Event) -> float:
        delay = self.next_delay()
        stop.wait(delay)
        return delay

    def reset(self) -> None:
        self.failures = 0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BackoffSettings(_Frozen):
    """Back-off after a failure: doubles from `initial_seconds` up to `max_seconds`."""

    initial_seconds: float = Field(0.5, gt=0, le=60)
    max_seconds: float = Field(10.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _ordered(self) -> BackoffSettings:
        if self.max_seconds < self.initial_seconds:
            raise ValueError("max_seconds must be >= initial_seconds")
        return self
