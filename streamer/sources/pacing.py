"""Replay at a multiple of the recorded pace, read from the records' inferenceTime."""

from __future__ import annotations

import datetime as dt
import threading
import time


class Pacer:
    """Sleeps so records are processed at `speed` × the pace recorded in their inferenceTime."""

    def __init__(self, speed: float, stop: threading.Event) -> None:
        self.speed = speed
        self.stop = stop
        self._first: float | None = None
        self._wall0 = 0.0

    def wait_for(self, inference_time: str | None) -> None:
        if inference_time is None:
            return
        try:
            t = dt.datetime.fromisoformat(inference_time.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return  # an unreadable time does not hold the replay up
        if self._first is None:
            self._first, self._wall0 = t, time.monotonic()
            return
        due = self._wall0 + (t - self._first) / self.speed
        delay = due - time.monotonic()
        if delay > 0:
            self.stop.wait(delay)
