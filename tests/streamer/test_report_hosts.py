"""Watchers at the end of a stream through both monitor hosts (Monitor.finish, host.finish), and
the live service's report files, which go under their partition."""

from __future__ import annotations

import pytest

from driftstream.detectors.base import Document
from driftstream.detectors.constraints import ConstraintReports, WindowSpec
from driftstream.detectors.monitor import Monitor
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.runtime.base import MonitorHost
from driftstream.streamer.runtime.host import InlineMonitorHost, ProcessMonitorHost
from driftstream.streamer.runtime.service import placed
from driftstream.streamer.sources.base import Partition, RawBatch
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines
from tests.streamer.live_doubles import small_monitor

P0 = Partition("captures", 0)
P1 = Partition("captures", 1)


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaptureDecoder, Monitor]:
    decoder, base = small_monitor(tmp_path_factory.mktemp("report-hosts"))
    watcher = ConstraintReports(
        base.baseline, base.numeric_columns, base.categorical_columns, WindowSpec.parse("1m")
    )
    monitor = Monitor(
        base.baseline,
        base.numeric_columns,
        base.categorical_columns,
        base.settings,
        watchers=[watcher],
    )
    return decoder, monitor


def _stream(host: MonitorHost) -> list[tuple[Partition, list[object], list[Document]]]:
    """Two partitions of 90 s of traffic each (age moved in the second), then the end."""
    lines = {
        P0: list(capture_lines(Scenario("a", 900, seconds_between=0.1))),
        P1: list(capture_lines(Scenario("b", 900, (Change("mean_shift", "age", 0, 3.0),), 3))),
    }
    host.start()
    try:
        documents: dict[Partition, list[Document]] = {P0: [], P1: []}
        for p in (P0, P1):
            host.open(p, None)
        for i in range(0, 900, 300):
            host.submit([RawBatch(i, lines[p][i : i + 300], meta={"partition": p}) for p in lines])
            for done in host.collect():
                documents[done.partition] += done.documents
        out = []
        for finished in host.finish([P0, P1]):
            documents[finished.partition] += finished.documents
            events = [(e.feature, e.detector, e.record_index) for e in finished.events]
            out.append((finished.partition, events, documents[finished.partition]))
        return out
    finally:
        host.close()


def test_the_end_of_the_stream_closes_each_partitions_window(
    parts: tuple[CaptureDecoder, Monitor],
) -> None:
    inline = _stream(InlineMonitorHost(*parts))
    (p0, events0, documents0), (p1, events1, documents1) = inline
    assert (p0, p1) == (P0, P1)
    # P0: 90 s from 00:00: the 00:00 window closed by a record, the 00:01 one at the end
    assert [d.path for d in documents0] == [
        "2026/11/01/00/00/constraint_violations.json",
        "2026/11/01/00/00/statistics.json",
        "2026/11/01/00/01/constraint_violations.json",
        "2026/11/01/00/01/statistics.json",
    ]
    assert events0 == []  # clean traffic
    # P1: 9 s of traffic, one window, closed at the end, its last record the events'
    assert [d.path for d in documents1][-2:] == [
        "2026/11/01/00/00/constraint_violations.json",
        "2026/11/01/00/00/statistics.json",
    ]
    assert ("age", "baseline_drift_check", 899) in events1
    # the child process's files and events are the same, to their content
    process = _stream(ProcessMonitorHost(*parts))
    assert [(p, e, [(d.path, d.content) for d in docs]) for p, e, docs in process] == [
        (p, e, [(d.path, d.content) for d in docs]) for p, e, docs in inline
    ]


def test_a_live_partitions_files_go_under_it() -> None:
    documents = [Document("2026/11/01/00/00/statistics.json", {"a": 1})]
    assert placed(documents, {}) == documents
    assert placed(documents, {"topic": "captures", "partition": 3}) == [
        Document("captures/3/2026/11/01/00/00/statistics.json", None)
    ]
