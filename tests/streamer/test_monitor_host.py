"""Where decode + monitor run (streamer/runtime/host.py): the child process behaves like the
inline host, keeps state per partition, reports its own death, and warms up beforehand."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftstream.detectors.monitor import Monitor
from driftstream.sinks.cloudwatch import CloudWatchSettings, CloudWatchSink
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.runtime.base import MonitorHost, MonitorStateError, Processed
from driftstream.streamer.runtime.host import (
    InlineMonitorHost,
    MonitorHostError,
    ProcessMonitorHost,
)
from driftstream.streamer.runtime.warmup import sample_lines, warm_up
from driftstream.streamer.sources.base import Partition, RawBatch
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines
from tests.streamer.live_doubles import small_monitor

P0 = Partition("captures", 0)
P1 = Partition("captures", 1)
START_LIMIT = 120  # seconds; a start takes a few on a loaded machine


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaptureDecoder, Monitor]:
    return small_monitor(tmp_path_factory.mktemp("host"))


@pytest.fixture
def process_host(parts: tuple[CaptureDecoder, Monitor]) -> Iterator[ProcessMonitorHost]:
    host = ProcessMonitorHost(*parts)
    host.start()
    yield host
    host.close()


def batches(partition: Partition, lines: list[bytes], size: int = 700) -> list[RawBatch]:
    return [
        RawBatch(i, lines[i : i + size], meta={"partition": partition})
        for i in range(0, len(lines), size)
    ]


def drifting(seed: int, n: int = 3000) -> list[bytes]:
    changes = (Change("mean_shift", "age", 1000, 1.5), Change("category_mix", "plan", 1000, 0.5))
    lines = list(capture_lines(Scenario(f"h{seed}", n, changes, seed=seed)))
    lines[5] = b"not json"
    return lines


def run(host: MonitorHost, work: list[RawBatch]) -> list[Processed]:
    out: list[Processed] = []
    for i in range(0, len(work), 2):  # two batches per submit, like two partitions in a poll
        host.submit(work[i : i + 2])
        out += host.collect()
    return out


def summary(done: list[Processed]) -> list[tuple[object, ...]]:
    return [
        (
            p.partition,
            p.first_index,
            p.n_records,
            p.records_used,
            [(e.kind, e.feature, e.detector, e.record_index, e.value) for e in p.events],
            [(r.record_index, r.reason) for r in p.rejections],
            p.view.rows_seen,
            sorted(p.view.active),
        )
        for p in done
    ]


def test_the_child_process_reports_exactly_what_the_inline_host_reports(
    parts: tuple[CaptureDecoder, Monitor], process_host: ProcessMonitorHost
) -> None:
    inline = InlineMonitorHost(*parts)
    work = [
        b
        for pair in zip(batches(P0, drifting(1)), batches(P1, drifting(2)), strict=True)
        for b in pair
    ]
    for host in (inline, process_host):
        host.open(P0, None)
        host.open(P1, None)
    expected = summary(run(inline, work))
    assert sum(len(s[4]) for s in expected) > 4  # drift events and a rejection, at least
    assert summary(run(process_host, work)) == expected
    assert process_host.states([P0, P1]) == inline.states([P0, P1])


def test_state_restored_in_the_child_carries_on_like_an_uninterrupted_monitor(
    parts: tuple[CaptureDecoder, Monitor], process_host: ProcessMonitorHost
) -> None:
    lines = drifting(3)
    whole = InlineMonitorHost(*parts)
    whole.open(P0, None)
    events = [e for p in run(whole, batches(P0, lines)) for e in p.events]

    process_host.open(P0, None)
    first = run(process_host, batches(P0, lines[:1400]))
    state = process_host.states([P0])[P0]
    process_host.drop(P0)
    view = process_host.open(P0, state)
    assert view.rows_seen == state["rows_seen"] == 1399  # one malformed line
    rest = run(
        process_host,
        [RawBatch(b.first_index + 1400, b.lines, meta=b.meta) for b in batches(P0, lines[1400:])],
    )
    assert [e for p in first + rest for e in p.events] == events


def test_a_state_that_cannot_be_restored_is_a_monitor_state_error(
    process_host: ProcessMonitorHost,
) -> None:
    with pytest.raises(MonitorStateError, match=r"captures/0.*version 99"):
        process_host.open(P0, {"version": 99})
    process_host.open(P1, None)  # the child is still serving


def test_a_dead_child_is_a_monitor_host_error_naming_its_exit(
    process_host: ProcessMonitorHost,
) -> None:
    process_host.open(P0, None)
    assert process_host.pid is not None
    os.kill(process_host.pid, signal.SIGKILL)
    with pytest.raises(MonitorHostError, match=r"exited.*-9"):  # at the send or at the reply
        process_host.submit(batches(P0, drifting(4))[:1])
        process_host.collect()


def test_stop_signals_while_the_child_starts_do_not_kill_it(
    parts: tuple[CaptureDecoder, Monitor],
) -> None:
    """A Ctrl-C reaches the whole process group, the monitor process included, and it may come
    while that process is still starting (importing, unpickling, warming up: seconds). SIGINT
    and SIGTERM sent to it from its first moment on, until it is ready, change nothing. (Before,
    the first one killed it, and the parent then hung writing it its work: START_LIMIT.)"""
    host = ProcessMonitorHost(*parts)
    failed: list[BaseException] = []

    def start() -> None:
        try:
            host.start()
        except BaseException as exc:  # reported by the assertion below
            failed.append(exc)

    starter = threading.Thread(target=start, daemon=True)  # a failed start may hang for good
    starter.start()
    sent = 0
    deadline = time.monotonic() + START_LIMIT
    while starter.is_alive() and time.monotonic() < deadline:
        pid = host.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):  # it died: the start fails
                os.kill(pid, signal.SIGINT)
                os.kill(pid, signal.SIGTERM)
                sent += 1
        starter.join(0.005)
    assert not starter.is_alive(), f"the monitor process did not start in {START_LIMIT} s"
    try:
        assert failed == [], failed
        assert sent > 0  # signals did land while it started
        host.open(P0, None)
        done = run(host, batches(P0, drifting(7)))
        assert sum(p.n_records for p in done) == 3000
    finally:
        host.close()


def test_an_error_in_the_child_is_a_monitor_host_error(process_host: ProcessMonitorHost) -> None:
    # a partition never opened: the child's KeyError comes back, it does not hang or vanish
    process_host.submit(batches(P1, drifting(5))[:1])
    with pytest.raises(MonitorHostError, match="KeyError"):
        process_host.collect()


def test_other_requests_wait_until_the_batch_in_flight_is_collected(
    process_host: ProcessMonitorHost,
) -> None:
    process_host.open(P0, None)
    process_host.submit(batches(P0, drifting(6))[:1])
    with pytest.raises(RuntimeError, match="collect"):
        process_host.states([P0])
    assert len(process_host.collect()) == 1
    assert process_host.states([P0])[P0]["rows_seen"] == 699


def test_views_from_the_child_carry_each_batch_to_cloudwatch(
    parts: tuple[CaptureDecoder, Monitor], process_host: ProcessMonitorHost
) -> None:
    """CloudWatch's feature_data_* come from the views the loop hands the sinks: across the
    process boundary they sum up to exactly the decoded values."""
    decoder, _ = parts
    lines = drifting(7, n=1400)
    process_host.open(P0, None)
    done = run(process_host, batches(P0, lines))
    assert [p.view.records for p in done] == [700, 700]
    sink = CloudWatchSink(
        CloudWatchSettings(monitoring_schedule="dq"),
        "test",
        [f.name for f in decoder.baseline.features],
        decoder.layout.numeric,
        client_factory=lambda: None,
        registry=CollectorRegistry(),
    )
    for p in done:
        sink.observe(p.view)
    published = {d.payload["MetricName"]: d.payload for d in sink.collect()}
    numeric = decoder.decode(lines, 0).numeric  # the malformed line has no row
    for j, name in enumerate(decoder.layout.numeric):
        column = numeric[:, j][~np.isnan(numeric[:, j])]
        stats = published[f"feature_data_{name}"]["StatisticValues"]
        assert stats["SampleCount"] == column.size > 0
        assert stats["Sum"] == pytest.approx(column.sum(), rel=1e-12)
        assert (stats["Minimum"], stats["Maximum"]) == (column.min(), column.max())
    assert published["RecordsRead"]["Value"] == len(lines)


def test_warm_up_samples_decode_cleanly_and_leave_the_prototype_as_it_was(
    parts: tuple[CaptureDecoder, Monitor],
) -> None:
    decoder, prototype = parts
    lines = sample_lines(decoder, 500)
    batch = decoder.decode(lines, 0)
    assert (batch.n_rows, batch.rejections) == (500, [])
    assert not np.isnan(batch.numeric).all(axis=0).any()  # every numeric column has values
    assert all(v is not None for v in batch.categorical[0])

    before = prototype.view()
    warm_up(decoder, prototype)
    assert prototype.view() == before
    assert (before.rows_seen, before.records, before.values) == (0, 0, {})
