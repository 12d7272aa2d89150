"""Exponential back-off for infrastructure that is away (a broker down, a disk full)."""

from __future__ import annotations

import random
import threading


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
