"""The retrain-signal sink: record in the outbox, then deliver to every configured target.

Order of work for each signal (the loop calls `add`, then `flush`):
1. `flush` appends each new signal to the outbox and fsyncs it (a signal whose key the outbox
   already holds is a duplicate: a replay of the same records, or records read again after a
   restart; nothing is written and nothing is delivered again);
2. a background thread delivers every pending (signal, target) pair, oldest signal first per
   target, and records each delivery in the outbox as soon as the target accepted it;
3. a failed delivery is retried after back-off (per target, so a slow webhook does not hold up
   SNS); one that cannot succeed (refused as invalid, access denied) is given up until the next
   start, logged and counted.

`setup` starts the thread, which first delivers what earlier runs left pending. Monitoring never
waits for a target: only step 1 happens on the loop's thread. `close` gives pending deliveries up
to `close_timeout` seconds; what is still pending then stays in the outbox for the next start.

Only decisions to retrain are signals: a `retrain_signal` event with `decision: "deferred"` is
not delivered. With `approval_required` (`sinks.signal_approval: required`) each new signal is
recorded as held, and the thread delivers it once a person has approved it (it looks for new
decisions every `POLL_SECONDS` while any signal is held; sinks/signals/approval.py).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from driftstream.detectors.events import Event
from driftstream.sinks.base import Sink
from driftstream.sinks.retry import Backoff, BackoffSettings
from driftstream.sinks.signals.approval import POLL_SECONDS
from driftstream.sinks.signals.base import DeliveryError, Signal, SignalTarget, is_signal
from driftstream.sinks.signals.outbox import Outbox

log = structlog.get_logger(__name__)


class SignalMetrics:
    def __init__(self, endpoint: str, targets: Sequence[str], registry: CollectorRegistry):
        self.endpoint = endpoint
        self.recorded = Counter(
            "driftstream_signals_recorded",
            "Retrain signals written to the outbox",
            ["endpoint"],
            registry=registry,
        )
        self.duplicates = Counter(
            "driftstream_signals_duplicate",
            "Retrain signals decided again whose key the outbox already held (not re-delivered)",
            ["endpoint"],
            registry=registry,
        )
        self.deliveries = Counter(
            "driftstream_signal_deliveries",
            "Delivery attempts per target: delivered, failed (retried) or given_up",
            ["endpoint", "target", "outcome"],
            registry=registry,
        )
        self.pending = Gauge(
            "driftstream_signals_pending",
            "Signals not yet delivered to a target",
            ["endpoint", "target"],
            registry=registry,
        )
        self.awaiting = Gauge(
            "driftstream_signals_awaiting_approval",
            "Signals held for a person's decision (sinks.signal_approval: required)",
            ["endpoint"],
            registry=registry,
        )
        self.recorded.labels(endpoint)
        self.duplicates.labels(endpoint)
        self.awaiting.labels(endpoint).set(0)
        for t in targets:
            for outcome in ("delivered", "failed", "given_up"):
                self.deliveries.labels(endpoint, t, outcome)
            self.pending.labels(endpoint, t).set(0)


@dataclass
class _TargetState:
    target: SignalTarget
    backoff: Backoff
    retry_at: float = 0.0
    given_up: set[str] = field(default_factory=set)


class _Deliverer:
    """The delivery thread (see the module docstring)."""

    def __init__(
        self,
        outbox: Outbox,
        targets: Sequence[tuple[SignalTarget, BackoffSettings]],
        metrics: SignalMetrics,
        clock: Callable[[], float],
    ) -> None:
        self.outbox = outbox
        self.states = [
            _TargetState(t, Backoff(r.initial_seconds, r.max_seconds)) for t, r in targets
        ]
        self.metrics = metrics
        self.clock = clock
        self._cond = threading.Condition()
        self._closing = False
        self._deadline = math.inf
        self._wake = True
        self._thread = threading.Thread(target=self._run, name="signal-delivery", daemon=True)

    @property
    def names(self) -> list[str]:
        return [s.target.name for s in self.states]

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def close(self, timeout: float) -> None:
        with self._cond:
            self._closing = True
            self._deadline = self.clock() + timeout
            for s in self.states:
                s.retry_at = min(s.retry_at, self.clock())  # one more try before giving up
            self._wake = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout + 5.0)

    def deliverable(self) -> int:
        """(signal, target) pairs still to deliver in this run (given-up ones excluded)."""
        count = 0
        for signal, missing in self.outbox.pending(self.names):
            for s in self.states:
                if s.target.name in missing and signal.key not in s.given_up:
                    count += 1
        return count

    def _run(self) -> None:
        while True:
            next_due = self._round()
            with self._cond:
                if self._closing and (self.deliverable() == 0 or self.clock() >= self._deadline):
                    return
                if not self._wake:
                    wait = next_due - self.clock()
                    if self._closing:
                        wait = min(wait, self._deadline - self.clock())
                    elif self.outbox.held():
                        wait = min(wait, POLL_SECONDS)  # a person may approve meanwhile
                    if wait > 0:
                        self._cond.wait(None if math.isinf(wait) else wait)
                self._wake = False

    def _round(self) -> float:
        """Try every target that is due; return when the next retry is due (inf: none)."""
        if self.outbox.refresh_approvals():
            log.info("signal_decisions_read", held=len(self.outbox.held()))
        self.metrics.awaiting.labels(self.metrics.endpoint).set(len(self.outbox.held()))
        pending = self.outbox.pending(self.names)
        next_due = math.inf
        for state in self.states:
            name = state.target.name
            todo = [
                sig for sig, missing in pending if name in missing and sig.key not in state.given_up
            ]
            self.metrics.pending.labels(self.metrics.endpoint, name).set(len(todo))
            for signal in todo:
                if self.clock() < state.retry_at:
                    next_due = min(next_due, state.retry_at)
                    break  # keep this target's order: nothing newer before the failed one
                if not self._deliver(state, signal):
                    next_due = min(next_due, state.retry_at)
                    break
            self.metrics.pending.labels(self.metrics.endpoint, name).set(
                sum(
                    1
                    for sig, missing in self.outbox.pending([name])
                    if sig.key not in state.given_up
                )
            )
        return next_due

    def _deliver(self, state: _TargetState, signal: Signal) -> bool:
        name = state.target.name
        try:
            state.target.deliver(signal)
        except DeliveryError as exc:
            if not exc.retryable:
                state.given_up.add(signal.key)
                self.metrics.deliveries.labels(self.metrics.endpoint, name, "given_up").inc()
                log.error(
                    "signal_not_deliverable",
                    target=name,
                    key=signal.key,
                    error=str(exc),
                    hint="retried at the next start",
                )
                return True  # the next signal may still go through
            delay = state.backoff.next_delay()
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            state.retry_at = self.clock() + delay
            self.metrics.deliveries.labels(self.metrics.endpoint, name, "failed").inc()
            log.warning(
                "signal_delivery_failed",
                target=name,
                key=signal.key,
                error=str(exc),
                retry_in_s=round(delay, 2),
                failures=state.backoff.failures,
            )
            return False
        except Exception as exc:  # a bug in a target must not stop the other targets
            state.given_up.add(signal.key)
            self.metrics.deliveries.labels(self.metrics.endpoint, name, "given_up").inc()
            log.error(
                "signal_target_crashed",
                target=name,
                key=signal.key,
                error=f"{type(exc).__name__}: {exc}",
            )
            return True
        state.backoff.reset()
        state.retry_at = 0.0
        try:
            self.outbox.mark_delivered(signal.key, name)
        except OSError as exc:
            # delivered but not recorded: at-least-once, it may be delivered again after a restart
            log.warning(
                "signal_delivery_not_recorded", target=name, key=signal.key, error=exc.strerror
            )
        self.metrics.deliveries.labels(self.metrics.endpoint, name, "delivered").inc()
        log.info("signal_delivered", target=name, key=signal.key, endpoint=signal.endpoint)
        return True


class SignalDeliverySink(Sink):
    """Retrain signals to every configured target, durably and once (see the module docstring)."""

    def __init__(
        self,
        outbox_directory: Path,
        targets: Sequence[tuple[SignalTarget, BackoffSettings]],
        *,
        endpoint: str,
        registry: CollectorRegistry | None = None,
        close_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        approval_required: bool = False,
    ) -> None:
        names = [t.name for t, _ in targets]
        if len(set(names)) != len(names):
            raise ValueError(f"signal target names must be unique: {names}")
        self.outbox = Outbox(outbox_directory)
        self.targets = list(targets)
        self.close_timeout = close_timeout
        self.approval_required = approval_required
        self.metrics = SignalMetrics(
            endpoint, names, registry if registry is not None else CollectorRegistry()
        )
        self._deliverer = _Deliverer(self.outbox, self.targets, self.metrics, clock)
        self._new: list[Event] = []
        self._started = False

    def setup(self) -> None:
        """Open the outbox (OutboxError when another process holds it), set the targets up and
        start delivering, beginning with what earlier runs left pending."""
        if self._started:
            return
        self.outbox.open()
        for target, _ in self.targets:
            target.setup()
        left = self.outbox.pending(self._deliverer.names)
        if left:
            log.info("signals_pending_from_earlier_run", signals=len(left))
        held = self.outbox.held()
        if held:
            log.info(
                "signals_awaiting_approval",
                signals=len(held),
                hint="driftstream signals list; approve or reject each",
            )
        self._deliverer.start()
        self._started = True

    def add(self, event: Event) -> None:
        if is_signal(event):
            self._new.append(event)

    def flush(self) -> None:
        """Record new signals in the outbox (fsynced) and wake the delivery thread. Raises
        OSError when the outbox cannot be written: the loop then commits nothing."""
        if not self._new:
            return
        while self._new:
            signal = Signal.from_event(self._new[0], approval_required=self.approval_required)
            if self.outbox.record(signal):
                self.metrics.recorded.labels(self.metrics.endpoint).inc()
                log.info(
                    "signal_recorded",
                    key=signal.key,
                    endpoint=signal.endpoint,
                    features=signal.document.get("features"),
                    held_for_approval=signal.approval_required,
                )
            else:
                self.metrics.duplicates.labels(self.metrics.endpoint).inc()
                log.info(
                    "signal_duplicate",
                    key=signal.key,
                    hint="already in the outbox; not delivered again",
                )
            self._new.pop(0)
        self.metrics.awaiting.labels(self.metrics.endpoint).set(len(self.outbox.held()))
        self._deliverer.notify()

    def close(self) -> None:
        if not self._started:
            return
        self.flush()
        self._deliverer.close(self.close_timeout)
        left = self._deliverer.deliverable()
        if left:
            log.warning(
                "signals_pending_at_exit", deliveries=left, hint="delivered at the next start"
            )
        for target, _ in self.targets:
            target.close()
        self.outbox.close()
        self._started = False

    def wait_delivered(self, timeout: float) -> bool:
        """True once nothing deliverable is pending (for tests and demos)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._deliverer.deliverable() == 0:
                return True
            time.sleep(0.05)
        return self._deliverer.deliverable() == 0
