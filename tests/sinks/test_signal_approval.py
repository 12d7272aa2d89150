"""Approval mode with small targets of our own: a signal is held until a person approves it,
delivered once per target then (also after a restart), never once rejected; decisions are
final, recorded with who, when and why, and made while the service runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest

from driftstream.detectors.events import Event, EventKind
from driftstream.sinks.retry import BackoffSettings
from driftstream.sinks.signals.approval import (
    APPROVALS_FILE,
    APPROVED,
    REJECTED,
    ApprovalError,
    Approvals,
)
from driftstream.sinks.signals.base import Signal, SignalTarget
from driftstream.sinks.signals.delivery import SignalDeliverySink
from driftstream.sinks.signals.outbox import SIGNALS_FILE
from driftstream.sinks.signals.store import SignalStore

FAST = BackoffSettings(initial_seconds=0.01, max_seconds=0.02)
K1, K2 = "1" * 32, "2" * 32


def signal_event(key: str, record: int = 100) -> Event:
    return Event(
        EventKind.RETRAIN_SIGNAL,
        record_index=record,
        value=0.5,
        threshold=0.3,
        extra={
            "idempotency_key": key,
            "endpoint": "churn",
            "decision": "retrain",
            "trigger": "drift",
            "features": ["age"],
            "evidence": {"baseline": "b1"},
            "lineage": {"baseline": {"identity": "b1"}, "config": "c1", "endpoint": "churn"},
            "approval": "required",
        },
    )


class Recording(SignalTarget):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.delivered: list[Signal] = []
        self.lock = threading.Lock()

    def deliver(self, signal: Signal) -> None:
        with self.lock:
            self.delivered.append(signal)

    @property
    def keys(self) -> list[str]:
        with self.lock:
            return [s.key for s in self.delivered]


def sink(outbox: Path, *targets: SignalTarget) -> SignalDeliverySink:
    return SignalDeliverySink(
        outbox,
        [(t, FAST) for t in targets],
        endpoint="churn",
        close_timeout=2.0,
        approval_required=True,
    )


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_held_until_approved_while_running_then_delivered_once_per_target(
    tmp_path: Path,
) -> None:
    box = tmp_path / "box"
    a, b = Recording("a"), Recording("b")
    s = sink(box, a, b)
    s.setup()
    s.add(signal_event(K1))
    s.add(signal_event(K2, 200))
    s.add(  # "not now" is no signal: never recorded
        Event(
            EventKind.RETRAIN_SIGNAL,
            record_index=50,
            reason="not_persistent",
            extra={"decision": "deferred"},
        )
    )
    s.flush()
    assert s.wait_delivered(2)  # nothing deliverable: both are held
    assert a.keys == b.keys == []
    assert [sig.key for sig in s.outbox.held()] == [K1, K2]
    assert s.metrics.awaiting.labels("churn")._value.get() == 2
    recorded = [orjson.loads(line) for line in (box / SIGNALS_FILE).read_bytes().splitlines()]
    assert [r["signal"]["approval"] for r in recorded] == [{"required": True}] * 2

    # a person decides from another process's view of the store while the service runs
    store = SignalStore(box)
    stored, new = store.decide(K1[:6], APPROVED, "alice", "drift confirmed")
    assert new and stored.key == K1
    store.decide(K2, REJECTED, "bob", "a holiday, not a change")
    wait_for(lambda: a.keys == [K1] and b.keys == [K1])
    delivered = a.delivered[0].document
    assert delivered["approval"]["required"] is True
    assert (delivered["approval"]["status"], delivered["approval"]["by"]) == ("approved", "alice")
    assert delivered["approval"]["reason"] == "drift confirmed"
    assert delivered["lineage"]["config"] == "c1"
    wait_for(lambda: s.metrics.awaiting.labels("churn")._value.get() == 0)
    s.close()
    assert {x.key: x.status for x in store.signals()} == {K1: "approved", K2: "rejected"}
    assert set(store.find(K1).deliveries) == {"a", "b"}

    # restarted, and the same records decide both again: nothing is delivered twice, the
    # rejected signal never
    a2, b2 = Recording("a"), Recording("b")
    again = sink(box, a2, b2)
    again.setup()
    again.add(signal_event(K1))
    again.add(signal_event(K2, 200))
    again.flush()
    assert again.wait_delivered(2)
    again.close()
    assert a2.keys == b2.keys == []


def test_approved_while_stopped_is_delivered_at_the_next_start(tmp_path: Path) -> None:
    box = tmp_path / "box"
    first = sink(box, Recording("a"))
    first.setup()
    first.add(signal_event(K1))
    first.flush()
    first.close()
    SignalStore(box).decide(K1, APPROVED, "alice", None)
    target = Recording("a")
    restarted = sink(box, target)
    restarted.setup()
    wait_for(lambda: target.keys == [K1])
    restarted.close()
    assert target.delivered[0].document["approval"]["by"] == "alice"


def test_a_decision_is_final(tmp_path: Path) -> None:
    box = tmp_path / "box"
    s = sink(box, Recording("a"))
    s.setup()
    s.add(signal_event(K1))
    s.flush()
    store = SignalStore(box)
    store.decide(K1, REJECTED, "bob", "no")
    with pytest.raises(ApprovalError, match=r"already rejected by bob at .*; a decision is final"):
        store.decide(K1, APPROVED, "alice", None)
    stored, new = store.decide(K1, REJECTED, "carol", "me too")
    assert not new and stored.approval is not None and stored.approval.by == "bob"
    with pytest.raises(ApprovalError, match=r"^no signal 'ffff' in "):
        store.find("ffff")
    s.close()
    lines = (box / APPROVALS_FILE).read_bytes().splitlines()
    assert len(lines) == 1  # neither refused nor repeated decisions were written


def test_signals_recorded_without_approval_need_none(tmp_path: Path) -> None:
    box = tmp_path / "box"
    target = Recording("a")
    s = SignalDeliverySink(box, [(target, FAST)], endpoint="churn", close_timeout=2.0)
    s.setup()
    s.add(signal_event(K1))
    s.flush()
    wait_for(lambda: target.keys == [K1])
    s.close()
    assert "approval" not in target.delivered[0].document
    store = SignalStore(box)
    assert store.find(K1).status == "automatic"
    with pytest.raises(ApprovalError, match="recorded without approval"):
        store.decide(K1, APPROVED, "alice", None)


def test_a_decision_being_written_is_read_once_complete(tmp_path: Path) -> None:
    approvals = Approvals(tmp_path)
    line = orjson.dumps({"key": K1, "status": "approved", "by": "a", "at": "t", "reason": None})
    path = tmp_path / APPROVALS_FILE
    path.write_bytes(line[:20])  # a writer is half-way through
    assert not approvals.refresh() and approvals.get(K1) is None
    path.write_bytes(line + b"\n")
    assert approvals.refresh() and approvals.get(K1) is not None
    assert approvals.get(K1).status == "approved"  # type: ignore[union-attr]


def test_reviewers_deciding_at_once_record_one_decision(tmp_path: Path) -> None:
    box = tmp_path / "box"
    s = sink(box, Recording("a"))
    s.setup()
    s.add(signal_event(K1))
    s.flush()
    results: list[str] = []
    errors: list[str] = []

    def decide(status: str, who: str) -> None:
        try:
            stored, _ = SignalStore(box).decide(K1, status, who, None)
            results.append(stored.approval.status)  # type: ignore[union-attr]
        except ApprovalError as exc:
            errors.append(str(exc))

    threads = [
        threading.Thread(target=decide, args=(APPROVED if i % 2 else REJECTED, f"u{i}"))
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s.close()
    assert len((box / APPROVALS_FILE).read_bytes().splitlines()) == 1
    final = SignalStore(box).find(K1).status
    assert set(results) == {final}
    assert len(results) + len(errors) == 8


def test_a_decision_after_a_torn_line_is_kept(tmp_path: Path) -> None:
    """A reviewer's process killed mid-write leaves half a line: the next decision starts on a
    line of its own, and both readers find it."""
    (tmp_path / APPROVALS_FILE).write_bytes(b'{"key": "' + K2.encode())
    approval, new = Approvals(tmp_path).decide(K1, APPROVED, "alice", None)
    assert new
    fresh = Approvals(tmp_path)
    assert fresh.refresh()
    assert fresh.get(K1) == approval and fresh.get(K2) is None
