"""Model Monitor's data-quality report per window: the Watcher behind `--violations-out`.

Records are cut into windows (detectors/constraints/window.py). Every row of a window is added
to the window's statistics (profile.py), every record rejected for its column count to its
column counts; when the window closes, its statistics are checked against the baseline's
constraints (checks.py) and it hands over two files for the report folder,
`<folder>/constraint_violations.json` (`{"violations": [...]}`, an empty list when clean) and
`<folder>/statistics.json`, and returns one `violation` event per violation.

When a window closes:
- a duration window, when a record of a later window arrives (that record is the event's
  `record_index`); a record whose inferenceTime falls in an earlier window than the one in
  progress (late, or from a skewed clock) joins the one in progress, since a closed window's
  report is never rewritten; a record without inferenceTime joins the one in progress too (the
  first window, before any record had one);
- a record window, on its last record (or, where record indices skip, such as compacted Kafka
  topics, when a record of a later window arrives);
- any window, when the stream ends (`finish`: the end of a replay). A stop of the live service
  is not an end: the open window is checkpointed with the monitor and goes on after a restart.

The open window (its statistics, sketches included) is part of the checkpointed state, so a
restarted or resumed run writes the reports and events of an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, StrictInt, StrictStr

from driftstream.detectors.base import Document, RowBatch, Watcher
from driftstream.detectors.baseline.files import statistics_document
from driftstream.detectors.baseline.model import Baseline
from driftstream.detectors.constraints.checks import (
    BASELINE_DRIFT_CHECK,
    CATEGORICAL_VALUES_CHECK,
    COMPLETENESS_CHECK,
    DATA_TYPE_CHECK,
    EXTRA_COLUMN_CHECK,
    MISSING_COLUMN_CHECK,
    ColumnCounts,
    Violation,
    evaluate,
)
from driftstream.detectors.constraints.profile import WindowProfile
from driftstream.detectors.constraints.window import (
    FIRST_SECOND,
    LAST_SECOND,
    NO_KEY,
    REMEMBERED_FOLDERS,
    WindowFolders,
    WindowSpec,
    duration_folder,
    epoch_seconds,
    iso,
    window_keys,
)
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.state import Index, StateError, StateModel, parse

VIOLATIONS_FILE = "constraint_violations.json"
STATISTICS_FILE = "statistics.json"
COLUMN_COUNT = "column_count"  # streamer.decode.base.RejectReason.COLUMN_COUNT

_NONE = NO_KEY  # no window key known (no inferenceTime yet)


@dataclass
class _Window:
    """The window in progress."""

    key: int | None  # inferenceTime // size, or record index // size; None: not known yet
    first_record: int
    last_record: int
    profile: WindowProfile
    counts: ColumnCounts
    start: int | None = None  # record windows: inferenceTime of the first record having one
    last_time: str | None = None  # inferenceTime of the last record having one


class _Records:
    """A batch's records in record order: its rows' and its rejected records', with each one's
    inferenceTime (text, and UTC seconds; `known` where it has one) and where it came from
    (`order`: below `n_rows` a row of the batch, else a rejection)."""

    def __init__(self, batch: RowBatch, epoch: Callable[[str | None], int | None]) -> None:
        self.n_rows = int(batch.row_record.shape[0])
        self.rejections = list(batch.rejections)
        index = np.concatenate(
            [
                batch.row_record,
                np.fromiter((r.record_index for r in self.rejections), np.int64),
            ]
        )
        self.times = [*batch.inference_time, *(r.inference_time for r in self.rejections)]
        # rows of one record, and records of one second, share their text: parse each once
        parsed = {t: _NONE if (s := epoch(t)) is None else s for t in set(self.times)}
        seconds = np.fromiter(map(parsed.__getitem__, self.times), np.int64, len(self.times))
        self.order = np.argsort(index, kind="stable")
        self.index = index[self.order]
        self.seconds = seconds[self.order]
        self.known = self.seconds != _NONE
        self.size = int(self.index.shape[0])

    def at(self, position: int) -> tuple[int, str | None]:
        """Record index and inferenceTime of the record at `position` in record order."""
        return int(self.index[position]), self.times[int(self.order[position])]


def _event(violation: Violation, trigger: tuple[int, str | None], extra: dict[str, Any]) -> Event:
    return Event(
        EventKind.VIOLATION,
        record_index=trigger[0],
        feature=violation.feature_name,
        detector=violation.constraint_check_type,
        value=violation.value,
        threshold=violation.threshold,
        inference_time=trigger[1],
        extra=extra,
    )


class ConstraintReports(Watcher):
    """Model Monitor's constraint_violations.json and statistics.json per window (see the module
    docstring). `numeric` and `categorical` are the decoded matrices' columns (FeatureLayout)."""

    name: ClassVar[str] = "constraint_reports"

    def __init__(
        self,
        baseline: Baseline,
        numeric: Sequence[str],
        categorical: Sequence[str],
        window: WindowSpec,
    ) -> None:
        self.baseline = baseline
        self.numeric = tuple(numeric)
        self.categorical = tuple(categorical)
        self.window = window
        self.n_inputs = len(baseline.inputs)
        self._open: _Window | None = None
        self._latest_time: int | None = None  # the latest inferenceTime seen so far
        self._folders = WindowFolders()
        self._documents: list[Document] = []
        self._seconds: dict[str, int | None] = {}  # inferenceTime text -> seconds (a cache)

    # -- the Watcher contract ----------------------------------------------------------------

    def process(self, batch: RowBatch, first_row: int) -> list[Event]:
        records = _Records(batch, self._epoch)
        if records.size == 0:
            return []
        keys = self._keys(records.index, records.seconds)
        events: list[Event] = []
        cuts = (np.flatnonzero(np.diff(keys)) + 1).tolist()
        for a, b in zip([0, *cuts], [*cuts, records.size], strict=True):
            key = int(keys[a])
            events += self._enter(None if key == _NONE else key, records.at(a))
            window = self._open
            assert window is not None
            self._add(window, batch, records, a, b)
            if not self.window.by_time and window.last_record == self._last_index(window):
                events += self._close(records.at(b - 1))
        return events

    def _add(self, window: _Window, batch: RowBatch, records: _Records, a: int, b: int) -> None:
        """Records a..b (in record order) of the batch, all of `window`, into it."""
        part = records.order[a:b]
        rows = part[part < records.n_rows]
        if rows.shape[0]:  # a record's rows are consecutive, and so are consecutive records'
            r0, r1 = int(rows[0]), int(rows[-1]) + 1
            window.profile.add(batch.numeric[r0:r1], batch.categorical[r0:r1])
        for i in (part[part >= records.n_rows] - records.n_rows).tolist():
            rejection = records.rejections[i]
            if rejection.reason == COLUMN_COUNT and rejection.columns is not None:
                window.counts.add_rejected(rejection.columns, self.n_inputs)
        segment = records.index[a:b]
        window.counts.records += 1 + int(np.count_nonzero(np.diff(segment)))
        window.last_record = int(segment[-1])
        timed = np.flatnonzero(records.known[a:b])
        if timed.shape[0]:
            if window.start is None:
                window.start = int(records.seconds[a + timed[0]])
            window.last_time = records.at(a + int(timed[-1]))[1]
            latest = int(records.seconds[a + timed].max())
            if self._latest_time is None or latest > self._latest_time:
                self._latest_time = latest

    def finish(self) -> list[Event]:
        if self._open is None:
            return []
        return self._close((self._open.last_record, self._open.last_time))

    def documents(self) -> list[Document]:
        docs, self._documents = self._documents, []
        return docs

    def event_labels(self) -> list[tuple[EventKind, str | None, str | None]]:
        labels: list[tuple[EventKind, str | None, str | None]] = []
        for feature in self.baseline.features:
            if not feature.evaluate_constraints:
                continue
            checks = [COMPLETENESS_CHECK, BASELINE_DRIFT_CHECK]
            if feature.inferred_type == "Integral":
                checks.append(DATA_TYPE_CHECK)
            if feature.domain:
                checks.append(CATEGORICAL_VALUES_CHECK)
            labels += [(EventKind.VIOLATION, feature.name, check) for check in checks]
        if self.baseline.monitoring.evaluate_constraints:
            labels += [
                (EventKind.VIOLATION, f.name, MISSING_COLUMN_CHECK) for f in self.baseline.inputs
            ]
            labels.append(
                (EventKind.VIOLATION, f"_c{len(self.baseline.features)}", EXTRA_COLUMN_CHECK)
            )
        return labels

    # -- windows -------------------------------------------------------------------------------

    def _epoch(self, text: str | None) -> int | None:
        if text is None:
            return None
        if text not in self._seconds:
            if len(self._seconds) > 100_000:  # a stream of distinct seconds: keep it bounded
                self._seconds.clear()
            self._seconds[text] = epoch_seconds(text)
        return self._seconds[text]

    def _keys(
        self, records: npt.NDArray[np.int64], seconds: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        current = self._open.key if self._open is not None else None
        return window_keys(self.window, current, records, seconds)

    def _last_index(self, window: _Window) -> int:
        assert window.key is not None  # record windows always know theirs
        return (window.key + 1) * self.window.size - 1

    def _enter(self, key: int | None, trigger: tuple[int, str | None]) -> list[Event]:
        """Make the window of `key` the open one, closing the open one if it is another: then
        `trigger` (record index, inferenceTime), the first record of the new one, closed it."""
        events: list[Event] = []
        window = self._open
        if window is not None and window.key is not None and key != window.key:
            events = self._close(trigger)
            window = None
        if window is None:
            self._open = _Window(
                key,
                trigger[0],
                trigger[0],
                WindowProfile(self.baseline.features, self.numeric, self.categorical),
                ColumnCounts(),
            )
        elif window.key is None:
            window.key = key
        return events

    def _close(self, trigger: tuple[int, str | None]) -> list[Event]:
        """Close the open window: its two files, and its violations as events of `trigger`
        (record index, inferenceTime), the record that closed it."""
        window = self._open
        assert window is not None
        self._open = None
        folder = self._folder(window)
        profile = window.profile.profile()
        violations = evaluate(self.baseline, window.profile, profile, window.counts)
        self._documents += [
            Document(
                f"{folder}/{VIOLATIONS_FILE}", {"violations": [v.to_json() for v in violations]}
            ),
            Document(f"{folder}/{STATISTICS_FILE}", statistics_document(profile)),
        ]
        extra = {
            "window_start": iso(self._start(window)),
            "window_records": [window.first_record, window.last_record],
            "report": f"{folder}/{VIOLATIONS_FILE}",
        }
        return [_event(v, trigger, extra) for v in violations]

    def _start(self, window: _Window) -> int:
        if self.window.by_time:
            # (a window of year 1 may start before the first second a datetime holds)
            return max(window.key * self.window.size, FIRST_SECOND) if window.key is not None else 0
        if window.start is not None:
            return window.start
        return self._latest_time if self._latest_time is not None else 0

    def _folder(self, window: _Window) -> str:
        start = self._start(window)
        if self.window.by_time:
            return duration_folder(start, self.window)
        return self._folders.folder(start, window.first_record)

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        window = self._open
        return {
            "window": str(self.window),
            "latest_time": self._latest_time,
            "folders": list(self._folders.used),
            "open": None
            if window is None
            else {
                "key": window.key,
                "start": window.start,
                "last_time": window.last_time,
                "first_record": window.first_record,
                "last_record": window.last_record,
                "counts": [
                    window.counts.records,
                    window.counts.short,
                    window.counts.fewest,
                    window.counts.long,
                    window.counts.most,
                ],
                "profile": window.profile.state_dict(),
            },
        }

    def load_state(self, state: dict[str, Any]) -> None:
        doc = parse(_ReportsState, state, "constraint reports")
        if doc.window != str(self.window):
            raise StateError(
                f"constraint reports: the checkpoint cut windows of {doc.window}, this run "
                f"{self.window}; delete the checkpoint to start afresh"
            )
        window: _Window | None = None
        if doc.open is not None:
            saved = doc.open
            if saved.last_record < saved.first_record:
                raise StateError("constraint reports: open.last_record is before its first")
            if saved.key is None and not self.window.by_time:
                raise StateError("constraint reports: open.key: a record window has a key")
            if (
                self.window.by_time
                and saved.key is not None
                and not FIRST_SECOND - self.window.size
                < saved.key * self.window.size
                <= LAST_SECOND
            ):
                raise StateError("constraint reports: open.key: no time starts that window")
            profile = WindowProfile(self.baseline.features, self.numeric, self.categorical)
            profile.load_state(saved.profile, "constraint reports: open.profile")
            records, short, fewest, long, most = saved.counts
            if short + long > records or (fewest is None) != (short == 0):
                raise StateError("constraint reports: open.counts do not add up")
            if (most is None) != (long == 0):
                raise StateError("constraint reports: open.counts do not add up")
            window = _Window(
                saved.key,
                saved.first_record,
                saved.last_record,
                profile,
                ColumnCounts(records, short, fewest, long, most),
                saved.start,
                saved.last_time,
            )
        self._open = window
        self._latest_time = doc.latest_time
        self._folders = WindowFolders(list(doc.folders))


#: UTC seconds since the epoch a datetime can hold (years 1 to 9999)
Seconds = Annotated[StrictInt, Field(ge=FIRST_SECOND, le=LAST_SECOND)]
Key = Annotated[StrictInt, Field(ge=FIRST_SECOND, le=1 << 62)]


class _OpenState(StateModel):
    key: Key | None
    start: Seconds | None
    last_time: StrictStr | None
    first_record: Index
    last_record: Index
    counts: tuple[Index, Index, Index | None, Index, Index | None]
    profile: dict[StrictStr, Any]


class _ReportsState(StateModel):
    window: StrictStr
    latest_time: Seconds | None
    folders: Annotated[list[StrictStr], Field(max_length=REMEMBERED_FOLDERS)]
    open: _OpenState | None
