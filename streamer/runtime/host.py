"""Where the live service decodes and monitors: in its own process, or in a child process.

Why a child process (the default of `driftstream run`): kafka-python parses records in pure
Python, about 14 µs of CPU a record, all of it holding the GIL. Decoding and monitoring take
about 7 µs a record, half of it Python holding the GIL too. On a thread of the same process the
two take turns (benchmarks/kafka_throughput.py measured monitoring costing 36 % of the bare
consumer's rate); in a child process they run beside the consumer on another core, and the
consumer only pays for handing the lines over (see docs/kafka.md for the figures).

ProcessMonitorHost: a child started with `spawn` (the parent has network threads, so no fork)
receives the decoder and a calibrated prototype monitor once, pickled; then it answers requests
on a pipe, one reply per request, in order. Only a batch is left in flight (`submit`, later
`collect`); every other request waits for its reply, and the loop collects before it sends one.
The child ignores SIGINT and SIGTERM (the parent finishes the batch and checkpoints, which needs
the child) and exits when the pipe closes: when the parent closes it or dies. It does so from its
first instruction: the parent blocks both signals while it starts the child, which inherits the
blocked mask through fork and exec and holds them pending until `serve` has set them to be
ignored (a Ctrl-C reaches the whole process group, the child included, and the child's start-up
of a few seconds is a wide window). A child that dies or raises is a MonitorHostError in the
parent, fatal like any unexpected error of the loop: the restart resumes from the last
checkpoint.

InlineMonitorHost does the same work in the caller's process, synchronously: for tests, and for
`monitor_process: false` (one-core machines, debugging).
"""

from __future__ import annotations

import copy
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any

import structlog

from driftstream.detectors.monitor import Monitor, MonitorView
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.decode.ground_truth import decode_ground_truth
from driftstream.streamer.runtime.base import (
    Finished,
    MonitorHost,
    MonitorHostError,
    MonitorStateError,
    Processed,
)
from driftstream.streamer.runtime.cost import ResourceUsage, own_usage
from driftstream.streamer.runtime.summary import rejection_events
from driftstream.streamer.runtime.warmup import warm_up
from driftstream.streamer.sources.base import Partition, RawBatch

log = structlog.get_logger(__name__)

#: what stops the service; the parent handles them, the child ignores them
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: partition, first index, lines, damaged, and ground truth released with them (record, line)
Work = tuple[Partition, int, list[bytes], dict[int, str], list[tuple[int, bytes]]]


class PartitionMonitors:
    """The decoder and one monitor per partition: the work either host does."""

    def __init__(self, decoder: CaptureDecoder, prototype: Monitor) -> None:
        self.decoder = decoder
        self.prototype = prototype
        self.monitors: dict[Partition, Monitor] = {}

    def open(self, partition: Partition, state: dict[str, Any] | None) -> MonitorView:
        monitor = copy.deepcopy(self.prototype)  # calibrated once, copied per partition
        if state is not None:
            try:
                monitor.load_state(state)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                raise MonitorStateError(
                    f"checkpoint of {partition} cannot be restored: {exc}"
                ) from None
        self.monitors[partition] = monitor
        return monitor.view()

    def process(self, work: Sequence[Work]) -> list[Processed]:
        out = []
        for partition, first_index, lines, damaged, ground_truth in work:
            monitor = self.monitors[partition]
            t0 = time.perf_counter()
            decoded = self.decoder.decode(lines, first_index, damaged)
            if ground_truth:
                decoded.ground_truth = decode_ground_truth(ground_truth)
            events = rejection_events(decoded) + monitor.process(decoded)
            events.sort(key=lambda e: e.record_index if e.record_index is not None else -1)
            out.append(
                Processed(
                    partition=partition,
                    first_index=first_index,
                    n_records=decoded.n_records,
                    records_used=decoded.records_used,
                    events=events,
                    rejections=decoded.rejections,
                    seconds=time.perf_counter() - t0,
                    view=monitor.view(),
                    documents=monitor.take_documents(),
                )
            )
        return out

    def states(self, partitions: Sequence[Partition]) -> dict[Partition, dict[str, Any]]:
        return {p: self.monitors[p].state_dict() for p in partitions}

    def finish(self, partitions: Sequence[Partition]) -> list[Finished]:
        out = []
        for p in partitions:
            monitor = self.monitors[p]
            events = monitor.finish()
            out.append(Finished(p, events, monitor.take_documents(), monitor.view()))
        return out

    def report_data(self, partitions: Sequence[Partition]) -> dict[Partition, dict[str, Any]]:
        return {p: self.monitors[p].report_data() for p in partitions}

    def drop(self, partition: Partition) -> None:
        self.monitors.pop(partition, None)


def _work(batches: Sequence[RawBatch]) -> list[Work]:
    return [
        (b.meta["partition"], b.first_index, b.lines, b.damaged, b.meta.get("ground_truth", []))
        for b in batches
    ]


class InlineMonitorHost(MonitorHost):
    """Decode and monitor in the caller's process, at `submit`."""

    def __init__(self, decoder: CaptureDecoder, prototype: Monitor) -> None:
        self._monitors = PartitionMonitors(decoder, prototype)
        self._done: list[Processed] = []

    def start(self) -> None:
        warm_up(self._monitors.decoder, self._monitors.prototype)

    @property
    def monitors(self) -> dict[Partition, Monitor]:
        """The partitions' monitors themselves (tests)."""
        return self._monitors.monitors

    def open(self, partition: Partition, state: dict[str, Any] | None) -> MonitorView:
        return self._monitors.open(partition, state)

    def submit(self, batches: Sequence[RawBatch]) -> None:
        self._done.extend(self._monitors.process(_work(batches)))

    def collect(self) -> list[Processed]:
        done, self._done = self._done, []
        return done

    def states(self, partitions: Sequence[Partition]) -> dict[Partition, dict[str, Any]]:
        return self._monitors.states(partitions)

    def finish(self, partitions: Sequence[Partition]) -> list[Finished]:
        return self._monitors.finish(partitions)

    def report_data(self, partitions: Sequence[Partition]) -> dict[Partition, dict[str, Any]]:
        return self._monitors.report_data(partitions)

    def drop(self, partition: Partition) -> None:
        self._monitors.drop(partition)


class ProcessMonitorHost(MonitorHost):
    """Decode and monitor in a child process (see the module docstring)."""

    def __init__(
        self,
        decoder: CaptureDecoder,
        prototype: Monitor,
        *,
        start_timeout: float = 300.0,
        setup_logging: Callable[[], None] | None = None,
    ) -> None:
        """`setup_logging`: run first in the child (picklable: a module-level function or a
        functools.partial of one), so its logs look like the parent's."""
        self.decoder = decoder
        self.prototype = prototype
        self.start_timeout = start_timeout
        self.setup_logging = setup_logging
        self._conn: Connection | None = None
        self._process: Any = None  # multiprocessing's SpawnProcess
        self._in_flight = 0
        self._usage: ResourceUsage | None = None

    def start(self) -> None:
        if self._conn is not None:
            return
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe()
        self._process = ctx.Process(
            target=serve,
            args=(theirs, self.decoder, self.prototype, self.setup_logging),
            name="driftstream-monitor",
            daemon=True,
        )
        # the child starts with the stop signals blocked (see the module docstring); here they
        # are only held back until start() returns, then handled as ever. multiprocessing's
        # resource tracker starts its own process this way (bpo-33613) and unblocks them after:
        # it is started first, so that its start cannot unblock them under the child's.
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        theirs.close()  # the child's end: its death is EOF here
        self._conn = mine
        if not mine.poll(self.start_timeout):
            self.close()
            raise MonitorHostError(f"the monitor process did not start in {self.start_timeout} s")
        self._reply()
        log.info("monitor_process_started", pid=self._process.pid)

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def usage(self) -> ResourceUsage | None:
        """The child's CPU seconds and peak memory as of its latest reply (streamer/runtime/
        cost.py); None before it started. Safe from another thread (a scrape)."""
        return self._usage

    def open(self, partition: Partition, state: dict[str, Any] | None) -> MonitorView:
        view: MonitorView = self._call("open", partition, state)
        return view

    def submit(self, batches: Sequence[RawBatch]) -> None:
        if batches:
            self._send(("process", (_work(batches),)))
            self._in_flight += 1

    def collect(self) -> list[Processed]:
        out: list[Processed] = []
        while self._in_flight:
            self._in_flight -= 1
            out.extend(self._reply())
        return out

    def states(self, partitions: Sequence[Partition]) -> dict[Partition, dict[str, Any]]:
        states: dict[Partition, dict[str, Any]] = self._call("states", list(partitions))
        return states

    def finish(self, partitions: Sequence[Partition]) -> list[Finished]:
        finished: list[Finished] = self._call("finish", list(partitions))
        return finished

    def report_data(self, partitions: Sequence[Partition]) -> dict[Partition, dict[str, Any]]:
        data: dict[Partition, dict[str, Any]] = self._call("report_data", list(partitions))
        return data

    def drop(self, partition: Partition) -> None:
        self._call("drop", partition)

    def close(self) -> None:
        self._in_flight = 0  # whatever was in flight is abandoned with the process
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()  # the child exits at EOF
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None

    # -- the pipe ------------------------------------------------------------------------------

    def _call(self, op: str, *args: Any) -> Any:
        if self._in_flight:
            raise RuntimeError(f"{op} while a batch is in flight: collect() first")
        self._send((op, args))
        return self._reply()

    def _send(self, request: tuple[str, tuple[Any, ...]]) -> None:
        if self._conn is None:
            raise MonitorHostError("the monitor process is not running")
        try:
            self._conn.send(request)
        except OSError as exc:  # BrokenPipeError: the child is gone
            raise self._died() from exc

    def _reply(self) -> Any:
        if self._conn is None:
            raise MonitorHostError("the monitor process is not running")
        try:
            status, value, self._usage = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._died() from exc
        if status == "ok":
            return value
        if status == "state_error":
            raise MonitorStateError(value)
        log.error("monitor_process_failed", traceback=value)
        raise MonitorHostError(f"the monitor process failed: {value.strip().splitlines()[-1]}")

    def _died(self) -> MonitorHostError:
        code = None
        if self._process is not None:
            self._process.join(timeout=1)
            code = self._process.exitcode
        return MonitorHostError(f"the monitor process exited (exit code {code})")


def serve(
    conn: Connection,
    decoder: CaptureDecoder,
    prototype: Monitor,
    setup_logging: Callable[[], None] | None,
) -> None:
    """The child: answer requests on `conn` until it closes (see the module docstring)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)  # discards one pending since the start
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    from driftstream.streamer.runtime.service import settle_heap

    if setup_logging is not None:  # a fresh process: the entry point's log set-up
        setup_logging()
    monitors = PartitionMonitors(decoder, prototype)
    warm_up(decoder, prototype)
    settle_heap()
    conn.send(("ok", None, own_usage()))
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        calls: dict[str, Callable[..., Any]] = {
            "open": monitors.open,
            "process": monitors.process,
            "states": monitors.states,
            "finish": monitors.finish,
            "report_data": monitors.report_data,
            "drop": monitors.drop,
        }
        try:
            reply: tuple[str, Any] = ("ok", calls[op](*args))
        except MonitorStateError as exc:
            reply = ("state_error", str(exc))
        except Exception:  # sent to the parent, which stops the service
            reply = ("error", traceback.format_exc())
        try:
            conn.send((*reply, own_usage()))  # what this process cost so far, every time
        except OSError:
            return
