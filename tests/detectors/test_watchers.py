"""The Watcher plumbing of the monitor: events, documents handed over once, readings, event
labels and checkpointed state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from driftstream.detectors.base import Document, RowBatch, Watcher
from driftstream.detectors.baseline import Baseline
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.state import StateError
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.synthetic import Scenario, capture_lines


class Counting(Watcher):
    """Counts rows; one violation event and one document every 1,000 rows."""

    name: ClassVar[str] = "counting"

    def __init__(self) -> None:
        self.rows = 0
        self._docs: list[Document] = []

    def process(self, batch: RowBatch, first_row: int) -> list[Event]:
        events = []
        for row in range(batch.row_record.shape[0]):
            self.rows += 1
            if self.rows % 1000 == 0:
                record = int(batch.row_record[row])
                events.append(Event(EventKind.VIOLATION, record_index=record, detector=self.name))
                self._docs.append(Document(f"w/{self.rows}.json", {"rows": self.rows}))
        return events

    def documents(self) -> list[Document]:
        docs, self._docs = self._docs, []
        return docs

    def readings(self) -> dict[tuple[str, str], tuple[float, float]]:
        return {("rows", self.name): (float(self.rows), 1e9)}

    def event_labels(self) -> list[tuple[EventKind, str | None, str | None]]:
        return [(EventKind.VIOLATION, None, self.name)]

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state.get("rows"), int):
            raise StateError("rows must be an integer")
        self.rows = state["rows"]


def _monitor(make_monitor: Callable[..., Monitor]) -> Monitor:
    base = make_monitor()
    return Monitor(
        base.baseline,
        base.numeric_columns,
        base.categorical_columns,
        base.settings,
        watchers=[Counting()],
    )


def test_a_watcher_adds_events_documents_readings_and_state(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    decoder = CaptureDecoder(synthetic_baseline)
    lines = list(capture_lines(Scenario("w", 2500)))
    monitor = _monitor(make_monitor)
    assert (EventKind.VIOLATION, None, "counting") in monitor.event_labels()
    events = monitor.process(decoder.decode(lines[:1500], 0))
    assert [(e.kind, e.record_index) for e in events if e.detector == "counting"] == [
        (EventKind.VIOLATION, 999)
    ]
    assert monitor.take_documents() == [Document("w/1000.json", None)]
    assert monitor.take_documents() == []
    assert monitor.view().current[("rows", "counting")] == (1500.0, 1e9)

    state = monitor.state_dict()
    assert state["watchers"] == {"counting": {"rows": 1500}}
    again = _monitor(make_monitor)
    again.load_state(state)
    events = again.process(decoder.decode(lines[1500:], 1500))
    assert [e.record_index for e in events if e.detector == "counting"] == [1999]


def test_a_bad_watcher_state_changes_nothing(make_monitor: Callable[..., Monitor]) -> None:
    monitor = _monitor(make_monitor)
    state = monitor.state_dict()
    with pytest.raises(StateError, match=r"watchers\['counting'\]: rows must be an integer"):
        monitor.load_state({**state, "watchers": {"counting": {"rows": "many"}}})
    with pytest.raises(StateError, match="no watcher 'other'"):
        monitor.load_state({**state, "watchers": {"other": {}}})
    assert monitor.watchers[0].state_dict() == {"rows": 0}
    # a checkpoint written before watchers existed restores, the watcher starting fresh
    legacy = {k: v for k, v in state.items() if k != "watchers"}
    monitor.load_state(legacy)
    assert monitor.watchers[0].state_dict() == {"rows": 0}
