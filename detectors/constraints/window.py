"""Report windows: which records a constraint report covers, and the folder it is filed under.

A window is a duration of inferenceTime (`30s`, `5m`, `1h`: a record belongs to the window that
starts at its inferenceTime floored to the window length, in UTC seconds since the epoch) or a
count of records (`10000r`: records [0, 10000), [10000, 20000), ... by record index, the
position in the stream that events carry, rejected records included).

Folders (relative to the report folder, the window's start in UTC): `yyyy/mm/dd/hh/mm/`, as
Model Monitor files its hourly reports. Two windows must never share a folder, so:
- a duration window shorter than a minute that does not start on a whole minute gets one level
  more, its start's second: `yyyy/mm/dd/hh/mm/ss/`;
- a record window starts at the inferenceTime of its first record that has one (else the last
  one seen before it, else the epoch); when an earlier window of the stream already used that
  minute's folder (many windows a minute), it gets one level more, its first record index:
  `yyyy/mm/dd/hh/mm/records-<index>/`. `WindowFolders` remembers the folders used.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: the UTC seconds since the epoch a datetime can hold (years 1 to 9999)
FIRST_SECOND = (dt.datetime.min.replace(tzinfo=dt.UTC) - EPOCH) // dt.timedelta(seconds=1)
LAST_SECOND = (dt.datetime.max.replace(tzinfo=dt.UTC) - EPOCH) // dt.timedelta(seconds=1)
DEFAULT_WINDOW = "1h"
#: record windows remember this many folders they used (to keep the next ones out of them)
REMEMBERED_FOLDERS = 64

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SPEC = re.compile(r"^\s*([1-9][0-9]*)\s*([smhdr])\s*$")


@dataclass(frozen=True)
class WindowSpec:
    """How records are cut into report windows: `size` seconds of inferenceTime, or `size`
    records."""

    unit: Literal["seconds", "records"]
    size: int

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        """`30s`, `5m`, `1h`, `1d` or `10000r`; ValueError naming the forms otherwise."""
        match = _SPEC.match(text)
        if match is None:
            raise ValueError(
                f"{text!r} is not a window: expected a duration (30s, 5m, 1h, 1d) or a record "
                "count (10000r)"
            )
        number, unit = int(match.group(1)), match.group(2)
        if unit == "r":
            return cls("records", number)
        return cls("seconds", number * _UNITS[unit])

    @property
    def by_time(self) -> bool:
        return self.unit == "seconds"

    def __str__(self) -> str:
        return f"{self.size}r" if self.unit == "records" else f"{self.size}s"


def epoch_seconds(inference_time: str | None) -> int | None:
    """inferenceTime (ISO 8601, `2022-04-18T00:21:48Z`) as whole UTC seconds since the epoch;
    None when absent, unreadable or outside years 1 to 9999 in UTC (such a record joins the
    window in progress). A time without a zone is taken as UTC, as SageMaker writes UTC."""
    if not inference_time:
        return None
    try:
        when = dt.datetime.fromisoformat(inference_time)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    seconds = (when - EPOCH) // dt.timedelta(seconds=1)
    # a zone offset can carry year 1 or 9999 past what a UTC datetime holds
    return seconds if FIRST_SECOND <= seconds <= LAST_SECOND else None


def iso(seconds: int) -> str:
    """UTC seconds since the epoch as inferenceTime writes them."""
    return (EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def minute_folder(seconds: int) -> str:
    """`yyyy/mm/dd/hh/mm` of a UTC time."""
    return (EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y/%m/%d/%H/%M")


def duration_folder(start: int, spec: WindowSpec) -> str:
    """The folder of the duration window starting at `start` (see the module docstring)."""
    folder = minute_folder(start)
    if spec.size < 60 and start % 60:
        folder += f"/{start % 60:02d}"
    return folder


class WindowFolders:
    """The folders record windows used lately, so that a window starting in a minute an earlier
    one already took is filed apart (see the module docstring)."""

    def __init__(self, used: list[str] | None = None) -> None:
        self.used: deque[str] = deque(used or (), maxlen=REMEMBERED_FOLDERS)

    def folder(self, start: int, first_record: int) -> str:
        """The folder of the record window starting at `start` whose first record is
        `first_record`; remembered."""
        folder = minute_folder(start)
        if folder in self.used:
            folder += f"/records-{first_record}"
        self.used.append(folder)
        return folder


#: no window key known (no inferenceTime seen yet)
NO_KEY = int(np.iinfo(np.int64).min)


def window_keys(
    spec: WindowSpec,
    current: int | None,
    records: npt.NDArray[np.int64],
    seconds: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Each record's window key, in record order, the same for every watcher that cuts the
    stream into windows (constraint reports, bias drift): record windows by index; time windows
    by inferenceTime (`seconds`, NO_KEY where a record has none). Windows only move forward from
    `current` (the open window's key): a late record joins the open window, and so does one
    without a time; before any record with a time, those without join the first window one
    opens."""
    size = spec.size
    if not spec.by_time:
        keys = records // size
    else:
        keys = np.where(seconds != NO_KEY, seconds // size, NO_KEY)
    start = np.asarray([NO_KEY if current is None else current], dtype=np.int64)
    keys = np.maximum.accumulate(np.concatenate([start, keys]))[1:]
    unknown = keys == NO_KEY
    if unknown.any() and not unknown.all():
        keys[unknown] = keys[~unknown][0]
    return keys
