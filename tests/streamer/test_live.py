"""The processing loop (streamer/runtime/service.py) with small doubles: commit order, restore,
revoke, failures."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry

from driftstream.detectors.events import Event
from driftstream.detectors.monitor import Monitor
from driftstream.sinks.retry import Backoff
from driftstream.streamer.checkpoint.base import Checkpoint, CheckpointError
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.runtime.base import MonitorHost
from driftstream.streamer.runtime.host import (
    InlineMonitorHost,
    MonitorHostError,
    ProcessMonitorHost,
)
from driftstream.streamer.runtime.service import Cadence, ProcessingService
from driftstream.streamer.runtime.summary import rejection_events
from driftstream.streamer.sources.base import Partition
from driftstream.streamer.sources.metrics import LiveMetrics
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines
from tests.streamer.live_doubles import (
    Calls,
    CollectDeadLetters,
    CollectSink,
    FakeSource,
    MemoryStore,
    small_monitor,
)

P0 = Partition("captures", 0)
P1 = Partition("captures", 1)
GROUP = "g"
MALFORMED = {7: b"not json", 1999: b'{"captureData": {}}', 3001: b""}
EventKey = tuple[str, str | None, str | None, int | None]


@dataclass
class World:
    decoder: CaptureDecoder
    prototype: Monitor

    def new_monitor(self) -> Monitor:
        return copy.deepcopy(self.prototype)

    def host(self, kind: str) -> MonitorHost:
        if kind == "process":
            return ProcessMonitorHost(self.decoder, self.prototype)
        return InlineMonitorHost(self.decoder, self.prototype)


# the tests that cover the loop's whole protocol with the host (open, submit/collect, states,
# drop) run on both hosts: the child process must behave exactly like the inline one
HOSTS = pytest.mark.parametrize("host", ["inline", "process"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(*small_monitor(tmp_path_factory.mktemp("live")))


def stream(seed: int, n: int = 4000) -> list[bytes]:
    changes = (Change("mean_shift", "age", 1500, 1.5), Change("category_mix", "plan", 1500, 0.5))
    lines = list(capture_lines(Scenario(f"s{seed}", n, changes, seed=seed)))
    for at, bad in MALFORMED.items():
        lines[at] = bad
    return lines


def reference(world: World, lines: list[bytes], start: int = 0, state: Any = None) -> set[EventKey]:
    """What one monitor reports for lines[start:] (after `state`, when given)."""
    monitor = world.new_monitor()
    if state is not None:
        monitor.load_state(state)
    out: list[Event] = []
    for i in range(start, len(lines), 512):
        decoded = world.decoder.decode(lines[i : i + 512], i)
        out += rejection_events(decoded) + monitor.process(decoded)
    return {event_key(e) for e in out}


def event_key(e: Event) -> EventKey:
    return (e.kind.value, e.feature, e.detector, e.record_index)


def keys_of(events: list[Event], partition: int | None = None) -> set[EventKey]:
    return {
        event_key(e)
        for e in events
        if e.kind.value != "summary"
        and (partition is None or e.extra.get("partition") == partition)
    }


@dataclass
class Rig:
    service: ProcessingService
    source: FakeSource
    store: MemoryStore
    sink: CollectSink
    dead: CollectDeadLetters
    calls: Calls
    metrics: LiveMetrics

    def errors(self, operation: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "driftstream_broker_errors_total", {"endpoint": "test", "operation": operation}
        )
        return value or 0.0


def rig(
    world: World,
    records: dict[Partition, list[bytes]],
    script: dict[int, Callable[[FakeSource], None]],
    *,
    store: MemoryStore | None = None,
    every_records: int = 700,
    host: str = "inline",
) -> Rig:
    calls = Calls()
    stop = threading.Event()
    source = FakeSource(records, calls, stop, script=script)
    store = store or MemoryStore(calls)
    store.calls = calls
    sink = CollectSink(calls)
    dead = CollectDeadLetters()
    metrics = LiveMetrics("test", CollectorRegistry())
    service = ProcessingService(
        source,
        world.host(host),
        [sink],
        store,
        group=GROUP,
        metrics=metrics,
        dead_letters=dead,
        cadence=Cadence(interval_seconds=3600, every_records=every_records),
        backoff=Backoff(0.001, 0.002),
        stop=stop,
    )
    return Rig(service, source, store, sink, dead, calls, metrics)


def assign(*partitions: Partition) -> Callable[[FakeSource], None]:
    return lambda source: source.assign(list(partitions))


@HOSTS
def test_uninterrupted_run_reports_what_one_monitor_reports(world: World, host: str) -> None:
    lines = stream(1)
    r = rig(world, {P0: lines}, {1: assign(P0)}, host=host)
    summary = r.service.run()

    assert keys_of(r.sink.events) == reference(world, lines)
    assert all(
        (e.extra["topic"], e.extra["partition"]) == ("captures", 0)
        for e in r.sink.events
        if e.kind.value != "summary"
    )
    assert r.sink.events[-1].kind.value == "summary"
    assert summary.records_read == len(lines)
    assert summary.rejected.total() == len(MALFORMED)
    assert r.source.committed == {P0: len(lines)}
    assert r.store.saved[(GROUP, P0)].offset == len(lines)
    assert r.source.closed


def assert_commit_order(calls: Calls) -> int:
    """Every commit comes right after a checkpoint save, which comes right after a flush, and
    commits exactly the offsets last checkpointed. Returns the number of commits."""
    names = calls.names()
    latest: dict[str, int] = {}
    commits = 0
    for i, (name, detail) in enumerate(calls.log):
        if name == "save":
            assert isinstance(detail, dict)
            latest.update(detail)
        elif name == "commit":
            commits += 1
            assert names[i - 2 : i] == ["flush", "save"], names[max(0, i - 4) : i + 1]
            assert isinstance(detail, dict)
            assert {str(p): off for p, off in detail.items()} == {
                str(p): latest[str(p)] for p in detail
            }
    return commits


def test_commit_order_is_flush_then_checkpoint_then_commit(world: World) -> None:
    r = rig(world, {P0: stream(1)}, {1: assign(P0)})
    r.service.run()
    assert assert_commit_order(r.calls) >= 6  # every 700 records, then at shutdown


def test_dead_letters_carry_the_raw_bytes_and_where_they_came_from(world: World) -> None:
    lines = stream(1)
    r = rig(world, {P0: lines}, {1: assign(P0)})
    r.service.run()
    assert {d.offset: d.raw for d in r.dead.delivered} == MALFORMED
    assert {(d.topic, d.partition, d.key) for d in r.dead.delivered} == {("captures", 0, b"key-0")}
    rejected = {e.record_index: e.reason for e in r.sink.events if e.kind.value == "rejected"}
    assert {d.offset: d.reason for d in r.dead.delivered} == rejected


@HOSTS
def test_restart_resumes_from_the_checkpoint_with_the_same_events(world: World, host: str) -> None:
    lines = stream(2)

    def crash(source: FakeSource) -> None:
        raise RuntimeError("kill -9")

    first = rig(world, {P0: lines}, {1: assign(P0), 25: crash}, host=host)
    with pytest.raises(RuntimeError, match="kill -9"):
        first.service.run()
    checkpoint = first.store.saved[(GROUP, P0)]
    # the crash came after records that were never checkpointed
    assert 0 < checkpoint.offset < first.source.positions.get(P0, len(lines)) <= len(lines)
    assert "commit" not in first.calls.names()[-1:]

    second = rig(world, {P0: lines}, {1: assign(P0)}, store=first.store, host=host)
    second.service.run()
    assert ("seek", (P0, checkpoint.offset)) in second.calls.log
    replayed = keys_of(second.sink.events)
    assert all(k[3] is not None and k[3] >= checkpoint.offset for k in replayed)
    assert keys_of(first.sink.events) | replayed == reference(world, lines)
    assert replayed == reference(world, lines, checkpoint.offset, checkpoint.monitor)
    final = second.store.saved[(GROUP, P0)]
    assert final.monitor["rows_seen"] == len(lines) - len(MALFORMED)


@HOSTS
def test_revoke_flushes_checkpoints_commits_and_hands_state_on(world: World, host: str) -> None:
    records = {P0: stream(3), P1: stream(4)}

    def rebalance(source: FakeSource) -> None:
        source.revoke()
        source.assign([P1])

    r = rig(world, records, {1: assign(P0, P1), 10: rebalance}, host=host)
    r.service.run()
    assert_commit_order(r.calls)
    revoked_commit = next(detail for name, detail in r.calls.log if name == "revoked")
    assert isinstance(revoked_commit, dict) and set(revoked_commit) == {P0, P1}
    # P1 came back: read on from its checkpoint, with its state, so nothing changed for it
    assert ("seek", (P1, revoked_commit[P1])) in r.calls.log
    assert keys_of(r.sink.events, partition=1) == reference(world, records[P1])
    # P0 went: it stopped where its checkpoint says, and is no longer monitored here
    assert r.store.saved[(GROUP, P0)].offset == revoked_commit[P0] < len(records[P0])
    assert r.source.committed[P1] == len(records[P1])


def test_lost_partitions_are_dropped_without_a_checkpoint(world: World) -> None:
    def lose(source: FakeSource) -> None:
        assert source.listener is not None
        source.listener.on_lost([P0])
        source.assigned = []

    r = rig(world, {P0: stream(1)}, {1: assign(P0), 4: lose})
    saved_before = dict(r.store.saved)
    r.service.run()
    assert r.store.saved == saved_before == {}
    assert "commit" not in r.calls.names()


def test_sink_outage_holds_commits_back_until_delivered(world: World) -> None:
    lines = stream(1)

    def outage(source: FakeSource) -> None:
        sink.failing = 3

    r = rig(world, {P0: lines}, {1: assign(P0), 6: outage})
    sink = r.sink
    r.service.run()
    assert r.errors("produce") == 3
    assert keys_of(r.sink.events) == reference(world, lines)  # nothing lost
    assert assert_commit_order(r.calls) >= 6


def test_retry_lines_carry_the_hint_for_the_failure(world: World) -> None:
    def outage(source: FakeSource) -> None:
        r.sink.failing = 2

    r = rig(world, {P0: stream(1)}, {1: assign(P0), 6: outage})
    r.service.retry_hint = lambda error: f"hint for: {error}"
    with structlog.testing.capture_logs() as logs:
        r.service.run()
    retries = [e for e in logs if e["event"] == "retrying"]
    assert len(retries) == 2
    assert all(
        e["operation"] == "produce" and e["hint"] == f"hint for: {e['detail']}" for e in retries
    )


def test_checkpoint_store_outage_on_assignment_pauses_until_restored(world: World) -> None:
    lines = stream(5)
    store = MemoryStore(Calls())
    first = rig(world, {P0: lines[:2100]}, {1: assign(P0)}, store=store)
    first.service.run()
    checkpoint = store.saved[(GROUP, P0)]
    assert checkpoint.offset == 2100

    store.unavailable = 2
    second = rig(world, {P0: lines}, {1: assign(P0)}, store=store)
    second.service.run()
    assert second.errors("restore") == 2
    assert ("seek", (P0, 2100)) in second.calls.log
    assert keys_of(second.sink.events) == reference(world, lines, 2100, checkpoint.monitor)
    assert store.saved[(GROUP, P0)].monitor["rows_seen"] == len(lines) - len(MALFORMED)


@HOSTS
def test_checkpoint_of_another_version_stops_the_service(world: World, host: str) -> None:
    store = MemoryStore(Calls())
    store.saved[(GROUP, P0)] = Checkpoint(GROUP, P0, 10, {"version": 99})
    r = rig(world, {P0: stream(1), P1: stream(2)}, {1: assign(P0, P1)}, store=store, host=host)
    with pytest.raises(CheckpointError, match="captures/0"):
        r.service.run()
    assert keys_of(r.sink.events, partition=0) == set()
    assert r.source.closed


def test_checkpoint_cadence_counts_and_lag(world: World) -> None:
    lags: list[float | None] = []

    def read_lag(source: FakeSource) -> None:
        lags.append(
            registry.get_sample_value(
                "driftstream_consumer_lag_records",
                {"endpoint": "test", "topic": "captures", "partition": "0"},
            )
        )

    # a poll's records are processed while the next poll fetches, so the checkpoint at 4,000
    # records (40 polls of 100) is written after poll 41 returns: read the gauge in poll 42
    r = rig(world, {P0: stream(1)}, {1: assign(P0), 16: read_lag, 42: read_lag}, every_records=1000)
    registry = r.metrics.registry
    r.service.run()
    interval = registry.get_sample_value(
        "driftstream_checkpoints_total", {"endpoint": "test", "trigger": "interval"}
    )
    assert interval == 4  # 4,000 records, every 1,000
    assert lags == [3000, 0]  # at the checkpoints of 1,000 and 4,000 records


def test_failed_commit_is_not_fatal_and_the_checkpoint_stands(world: World) -> None:
    lines = stream(1)
    r = rig(world, {P0: lines}, {1: assign(P0)})
    r.source.commit_ok = False
    r.service.run()
    assert r.source.committed == {}
    assert r.store.saved[(GROUP, P0)].offset == len(lines)


def test_gap_in_offsets_keeps_record_index_equal_to_offset(world: World) -> None:
    lines = stream(1, 3200)
    r = rig(world, {P0: lines}, {1: assign(P0)})
    # a compacted topic: offsets 200-1999 are gone
    r.source.script[3] = lambda s: s.seek(P0, 2000)
    r.service.run()
    rejected = {e.record_index for e in r.sink.events if e.kind.value == "rejected"}
    assert rejected == {7, 3001}
    assert r.store.saved[(GROUP, P0)].offset == len(lines)
    assert r.store.saved[(GROUP, P0)].monitor["rows_seen"] == len(lines) - 1800 - 2


class _FailingStates(InlineMonitorHost):
    """A host whose process dies when asked for the monitors' states."""

    def states(self, partitions: Sequence[Partition]) -> dict[Partition, dict[str, Any]]:
        raise MonitorHostError("the monitor process exited (exit code -9)")


def test_a_dead_monitor_process_stops_the_service_without_committing(world: World) -> None:
    r = rig(world, {P0: stream(1)}, {1: assign(P0)}, every_records=10**9)
    r.service.host = _FailingStates(world.decoder, world.prototype)
    with pytest.raises(MonitorHostError, match="exited"):
        r.service.run()  # the shutdown checkpoint asks for the states
    assert r.source.closed
    assert "commit" not in r.calls.names() and "save" not in r.calls.names()
    assert r.source.committed == {}


def test_with_a_batch_in_flight_the_next_poll_does_not_wait_for_more_records(
    world: World,
) -> None:
    lines = list(capture_lines(Scenario("w", 250, seed=1)))  # polls of 100, 100, 50, then none
    r = rig(world, {P0: lines}, {1: assign(P0)})
    r.service.run()
    # poll 1 returns records: 2 and 3 (records in flight) return at once; poll 4 follows the
    # last batch (in flight), poll 5 has nothing in flight and may wait for new records
    assert r.source.waits[:5] == [True, False, False, False, True]
