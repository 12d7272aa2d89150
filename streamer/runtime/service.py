"""The one processing loop: source → decode → monitor → sinks, a monitor per partition.

`driftstream run` (Kafka, Kinesis), `driftstream replay` (files, S3) and `driftstream demo`
(generated traffic) all run this service; a replay is a source of one partition whose offsets
are record indices (streamer/sources/single.py), so checkpoints, sinks, metrics, warm-up and
shutdown behave the same everywhere, and an interrupted replay resumes from its checkpoint.

Per poll, for each partition's run of records: decode it (the record index of a record is its
offset) and run that partition's monitor, both in the MonitorHost (live, by default a child
process, streamer/runtime/host.py, while this process polls the next records); then add the
events (tagged with what `source.event_tags` says: topic and partition, live) to every sink and
the rejected records' raw bytes to the dead-letter sink, and flush the sinks, so events appear
promptly. On a cadence (every `interval_seconds` or `every_records`, whichever first), when
partitions are revoked, and at shutdown, the work is made durable by `_commit_point` (the one
place the commit order is written down). A finite source ends the loop once it is exhausted and
its last batch delivered.

On assignment a partition's monitor is restored from the checkpoint store and the partition is
read from the checkpointed offset: the checkpoint, not the group's committed offset, is the truth,
because state and position are only correct together. A partition without a checkpoint starts
with a fresh monitor at the group's committed offset (else `auto_offset_reset`).

Failures of infrastructure (broker, checkpoint store, disk) are retried with back-off, counted in
LiveMetrics and logged; they never stop the service. A failure to flush or checkpoint means
nothing is committed; whatever was not checkpointed is read again after a restart or rebalance
(at-least-once: sinks may see an event twice, never miss one). A checkpoint that exists but cannot
be used (other version, other baseline) stops the service with CheckpointError.

Threading: rebalance callbacks arrive while the loop waits in `source.poll()` or `source.close()`
(see streamer/sources/kafka/source.py), so they never run during `_apply` and need no lock; they
collect the batch in flight first (`_join`), like everything that reads monitors or positions.
"""

from __future__ import annotations

import dataclasses
import gc
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from driftstream.detectors.base import Document
from driftstream.detectors.events import Event
from driftstream.detectors.monitor import MonitorView
from driftstream.sinks.base import DeadLetter, DeadLetterSink, Sink, SinkUnavailableError
from driftstream.sinks.prometheus import PrometheusSink
from driftstream.sinks.retry import Backoff
from driftstream.streamer.checkpoint.base import (
    AuxPosition,
    Checkpoint,
    CheckpointError,
    CheckpointStore,
    CheckpointUnavailableError,
)
from driftstream.streamer.runtime.base import (
    MonitorHost,
    MonitorHostError,
    MonitorStateError,
    Processed,
)
from driftstream.streamer.runtime.summary import ProgressHook, RunSummary, report_keys
from driftstream.streamer.sources.base import Partition, RawBatch, Source
from driftstream.streamer.sources.metrics import LiveMetrics

log = structlog.get_logger(__name__)

# what "the infrastructure is away" looks like from here: retried, never fatal
INFRA_ERRORS = (SinkUnavailableError, CheckpointUnavailableError, OSError)

Commit = Callable[[Mapping[Partition, int]], bool]


@dataclass
class _Held:
    """A partition this process holds: its monitor's latest readings and how far it got."""

    view: MonitorView
    next_offset: int | None  # after the last record processed; None: nothing read yet
    checkpointed: int | None  # offset of the last checkpoint written or restored
    #: side stream -> its position, as of the last record processed (ground truth; saved
    #: with next_offset: Checkpoint.aux_offsets)
    aux_offsets: dict[str, AuxPosition] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Cadence:
    """When to checkpoint besides revocation and shutdown: whichever comes first."""

    interval_seconds: float = 10.0
    every_records: int = 100_000


class ProcessingService:
    """The processing loop (see the module docstring); a PartitionListener for its source."""

    def __init__(
        self,
        source: Source,
        host: MonitorHost,
        sinks: Sequence[Sink],
        store: CheckpointStore,
        *,
        group: str,
        metrics: LiveMetrics | None = None,
        dead_letters: DeadLetterSink | None = None,
        telemetry: PrometheusSink | None = None,
        cadence: Cadence = Cadence(),
        backoff: Backoff | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        retry_hint: Callable[[str], str | None] | None = None,
        progress: ProgressHook | None = None,
        summary: RunSummary | None = None,
    ) -> None:
        """`progress`: told (records, bytes) of every batch delivered (progress bars);
        `summary`: the counts so far of a stream resumed from a checkpoint."""
        self.source = source
        self.progress = progress
        self.retry_hint = retry_hint  # what a failure's text may mean (streamer.kafka_logs)
        self.host = host
        self.sinks = list(sinks)
        self.store = store
        self.group = group
        self.metrics = metrics if metrics is not None else LiveMetrics(group)
        self.dead_letters = dead_letters
        self.telemetry = telemetry
        self.cadence = cadence
        self.backoff = backoff or Backoff(0.5, 10.0)
        self.stop = stop or threading.Event()
        self.clock = clock
        self.summary = summary if summary is not None else RunSummary()
        self._held: dict[Partition, _Held] = {}
        self._unrestored: set[Partition] = set()
        self._fatal: CheckpointError | None = None
        self._broken = False  # an unexpected error: state may be inconsistent, never checkpoint
        self._sinks_behind = False
        self._since_checkpoint = 0
        self._last_checkpoint = clock()
        self._retry_at = 0.0
        # the batches of the last poll, decoded and monitored by the host while the next poll
        # is fetched
        self._inflight: list[RawBatch] = []
        self._last_views: dict[Partition, MonitorView] = {}

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """Process until `stop` is set; then flush, checkpoint, commit and leave the group.

        Raises CheckpointError (after a clean shutdown of the other partitions) when a stored
        checkpoint cannot be used.
        """
        started = time.perf_counter()
        fatal: CheckpointError | None = None
        try:
            try:
                self.host.start()
                self.source.setup(self)
                settle_heap()
                self._loop()
            except CheckpointError as exc:
                fatal = exc  # the other partitions still shut down cleanly
            finally:
                gc.unfreeze()  # the heap is the embedding process's again (tests, benchmarks)
            self._shutdown(started)
        except BaseException:
            self._abandon()
            raise
        if fatal is not None:
            raise fatal
        return self.summary

    def _abandon(self) -> None:
        """After an unexpected error: leave the group and stop the host without checkpointing
        (state may be inconsistent); a restart resumes from the last checkpoint."""
        self._broken = True
        self._inflight = []
        self.source.close()
        self.host.close()

    def _loop(self) -> None:
        try:
            while not self.stop.is_set():
                self._raise_fatal()
                if self._unrestored and self.clock() >= self._retry_at:
                    self._join()
                    self._restore_paused()
                if self._sinks_behind:
                    self._join()
                    if not self._flush_sinks():
                        continue  # no more records until what was read is delivered
                # overlaps the previous poll's processing; with a batch in flight, do not wait
                # for more records before delivering its events
                batches = self.source.poll(wait=not self._inflight)
                processed = self._join()
                self._raise_fatal()
                if processed and not self._flush_sinks():
                    self._inflight_batches(batches)
                    continue
                if self._checkpoint_due():
                    self._checkpoint_on_cadence()
                self._inflight_batches(batches)
                if not self._inflight and self.source.exhausted:
                    break  # a finite source, all of it delivered
        finally:
            self._join()

    def _inflight_batches(self, batches: list[RawBatch]) -> None:
        # a partition not held is paused until restored: its records are read again from the
        # restored offset
        mine = [b for b in batches if b.meta["partition"] in self._held]
        if mine:
            self.host.submit(mine)
            self._inflight = mine

    def _join(self) -> bool:
        """Collect the batches in flight and apply their results; True if there were any.

        Everything that reads or changes monitors and positions (flush, checkpoint, rebalance
        callbacks, shutdown) calls this first, so the host is never asked while it works."""
        inflight, self._inflight = self._inflight, []
        if not inflight:
            return False
        for raw, done in zip(inflight, self.host.collect(), strict=True):
            self._apply(raw, done)
        return True

    def _raise_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _apply(self, raw: RawBatch, done: Processed) -> None:
        """Deliver what decode + monitor made of `raw`: events, dead letters, counts."""
        partition = done.partition
        held = self._held[partition]
        held.view = done.view
        events = done.events
        tags = self.source.event_tags(partition)
        tagged = [tag(e, tags) for e in events] if tags else events
        documents = placed(done.documents, tags)
        for sink in self.sinks:
            for event in tagged:
                sink.add(event)
            if documents:
                sink.add_documents(documents)
            sink.observe(done.view)
        if self.dead_letters is not None:
            keys = raw.meta.get("keys")
            for r in done.rejections:
                i = r.record_index - raw.first_index
                self.dead_letters.add(
                    DeadLetter(
                        raw=raw.lines[i],
                        reason=r.reason.value,
                        detail=r.detail,
                        topic=partition.topic,
                        partition=partition.partition,
                        offset=r.record_index,
                        key=keys[i] if keys else None,
                    )
                )
        held.next_offset = raw.first_index + len(raw.lines)
        held.aux_offsets.update(raw.meta.get("aux_offsets", {}))
        self._since_checkpoint += len(raw.lines)
        s = self.summary
        s.records_read += done.n_records
        s.records_used += done.records_used
        rejected = Counter(r.reason.value for r in done.rejections)
        s.rejected.update(rejected)
        s.events.update(e.kind.value for e in events)
        if self.telemetry is not None:
            self.telemetry.observe_batch(done.n_records, done.records_used, rejected, done.seconds)
        if self.progress is not None:
            self.progress(done.n_records, raw.consumed_bytes)

    # -- making work durable -----------------------------------------------------------------

    def _commit_point(
        self, partitions: Sequence[Partition], trigger: str, commit: Commit | None
    ) -> dict[Partition, int]:
        """Make the work done on `partitions` durable. The commit order, in full:

        1. flush every sink and the dead-letter sink: the events (and rejected records) of
           every record processed so far are written or acknowledged;
        2. checkpoint: for each partition with new records, its monitor's state together with
           the next offset to read (and its side topics', `aux_offsets`: the ground truth whose
           labels are in that state) goes to the checkpoint store, which returns once it is
           durable; state and position are only ever saved together;
        3. commit to the consumer group exactly the checkpointed offsets (`commit`, or, on
           revoke, the source commits the returned offsets on its network thread).

        A failure in 1 or 2 raises (one of INFRA_ERRORS) before anything is committed; the
        caller retries later, and a restart re-reads from the previous checkpoint. A failed
        commit in 3 is only logged and counted: partitions are always read from their
        checkpoint on assignment, so the group's committed offset is advisory (tools, lag).
        """
        # 1.
        self._flush_all()
        # 2.
        changed = [
            p
            for p in partitions
            if (held := self._held.get(p)) is not None
            and held.next_offset is not None
            and held.next_offset != held.checkpointed
        ]
        states = self.host.states(changed) if changed else {}
        checkpoints = [
            Checkpoint(self.group, p, offset, states[p], dict(self._held[p].aux_offsets))
            for p in changed
            if (offset := self._held[p].next_offset) is not None
        ]
        self.store.save(checkpoints)
        for cp in checkpoints:
            self._held[cp.partition].checkpointed = cp.offset
            self.metrics.checkpoints.labels(self.metrics.endpoint, trigger).inc()
        # 3.
        offsets = {
            p: held.checkpointed
            for p in partitions
            if (held := self._held.get(p)) is not None and held.checkpointed is not None
        }
        if commit is not None and offsets:
            commit(offsets)
        if checkpoints:
            log.debug(
                "checkpointed",
                trigger=trigger,
                offsets={str(cp.partition): cp.offset for cp in checkpoints},
            )
        return offsets

    def _flush_all(self) -> None:
        for sink in self.sinks:
            sink.flush()
        if self.dead_letters is not None:
            self.dead_letters.flush()

    def _flush_sinks(self) -> bool:
        try:
            self._flush_all()
        except INFRA_ERRORS as exc:
            self._sinks_behind = True
            self._retry("produce", exc, wait=True)
            return False
        self._sinks_behind = False
        return True

    def _checkpoint_due(self) -> bool:
        if not self._held or self.clock() < self._retry_at:
            return False
        if self._since_checkpoint >= self.cadence.every_records:
            return True
        return self._since_checkpoint > 0 and (
            self.clock() - self._last_checkpoint >= self.cadence.interval_seconds
        )

    def _checkpoint_on_cadence(self) -> None:
        try:
            self._commit_point(list(self._held), "interval", self.source.commit)
        except INFRA_ERRORS as exc:
            self._retry("checkpoint", exc, wait=False)
            return
        self.backoff.reset()
        self._since_checkpoint = 0
        self._last_checkpoint = self.clock()
        self._report_lag()

    def _report_lag(self) -> None:
        processed = {p: h.next_offset for p, h in self._held.items() if h.next_offset is not None}
        for p, lag in self.source.lag(processed).items():
            self.metrics.set_lag(p, lag)

    def _retry(self, operation: str, exc: BaseException, *, wait: bool) -> None:
        """Count and log an infrastructure failure; back off (sleeping, or deferring)."""
        self.metrics.broker_error(operation)
        delay = self.backoff.next_delay()
        hint = self.retry_hint(str(exc)) if self.retry_hint is not None else None
        log_retry(operation, exc, delay, failures=self.backoff.failures, hint=hint)
        if wait:
            self.stop.wait(delay)
        else:
            self._retry_at = self.clock() + delay

    def _shutdown(self, started: float) -> None:
        self._join()
        held = list(self._held)
        if self.source.exhausted and not self._broken:
            self._finish(held)
        try:
            self._commit_point(held, "shutdown", self.source.commit)
        except INFRA_ERRORS as exc:
            self.metrics.broker_error("checkpoint")
            log.error(
                "shutdown_without_checkpoint",
                error=type(exc).__name__,
                detail=str(exc),
                hint="records since the last checkpoint are read again on restart",
            )
        try:
            self.summary.report = report_keys(self.host.report_data(held))
        except MonitorHostError as exc:
            log.warning("summary_without_trace", error=str(exc))
        self.summary.seconds = time.perf_counter() - started
        # a live source never ends: every stop of the live service is one
        self.summary.interrupted = self.stop.is_set() and not self.source.exhausted
        summary = self.summary.to_event()
        for sink in self.sinks:
            sink.add(summary)
        try:
            self._flush_all()
        except INFRA_ERRORS as exc:
            log.warning("summary_not_delivered", error=type(exc).__name__)
        self._last_views = self.views()  # what metrics and CloudWatch read after the run
        self._held.clear()  # what close() revokes next is already committed
        self._unrestored.clear()
        self.source.close()
        self.host.close()
        log.info("stopped", records=self.summary.records_read, partitions=[str(p) for p in held])

    def _finish(self, partitions: Sequence[Partition]) -> None:
        """The finite stream has ended: what the monitors' watchers still hold open (the last
        report window) becomes events and files now, before the final checkpoint. A stop of
        the live service is not an end: that state is checkpointed and goes on after it."""
        for done in self.host.finish(partitions):
            self._held[done.partition].view = done.view
            tags = self.source.event_tags(done.partition)
            events = [tag(e, tags) for e in done.events] if tags else done.events
            documents = placed(done.documents, tags)
            for sink in self.sinks:
                for event in events:
                    sink.add(event)
                if documents:
                    sink.add_documents(documents)
                sink.observe(done.view)
            self.summary.events.update(e.kind.value for e in events)

    # -- partitions coming and going (PartitionListener) -------------------------------------

    def on_assigned(self, partitions: Sequence[Partition]) -> None:
        self._join()
        for p in partitions:
            if p in self._held:
                continue  # kept through a cooperative rebalance: state and position stand
            self.metrics.rebalances.labels(self.metrics.endpoint, "assigned").inc()
            if not self._restore(p):
                self._unrestored.add(p)
                self.source.pause([p])
        self._count_assigned()

    def on_revoked(self, partitions: Sequence[Partition]) -> Mapping[Partition, int]:
        self._join()
        offsets: dict[Partition, int] = {}
        mine = [p for p in partitions if p in self._held]
        if mine and not self._broken:
            try:
                offsets = self._commit_point(mine, "revoke", None)
            except INFRA_ERRORS as exc:
                self.metrics.broker_error("checkpoint")
                log.warning(
                    "revoked_without_checkpoint",
                    error=type(exc).__name__,
                    detail=str(exc),
                    partitions=[str(p) for p in mine],
                    hint="the next owner reads them from their last checkpoint",
                )
        for p in partitions:
            self._drop(p, "revoked")
        return offsets

    def on_lost(self, partitions: Sequence[Partition]) -> None:
        self._join()
        # another member may already be processing them: write nothing for them
        for p in partitions:
            self._drop(p, "lost")

    def _restore(self, p: Partition) -> bool:
        try:
            cp = self.store.load(self.group, p)
        except CheckpointUnavailableError as exc:
            self.metrics.broker_error("restore")
            log.warning(
                "restore_failed",
                partition=str(p),
                error=type(exc).__name__,
                detail=str(exc),
                hint="paused until the checkpoint store answers",
            )
            return False
        except CheckpointError as exc:
            self._fatal = exc
            return False
        try:
            view = self.host.open(p, cp.monitor if cp is not None else None)
        except MonitorStateError as exc:
            self._fatal = CheckpointError(str(exc))
            return False
        aux = dict(cp.aux_offsets) if cp is not None else {}
        if cp is not None:
            self.source.seek(p, cp.offset)
            log.info(
                "partition_restored",
                partition=str(p),
                offset=cp.offset,
                rows_seen=view.rows_seen,
                **({"aux_offsets": aux} if aux else {}),
            )
        else:
            log.info(
                "partition_started",
                partition=str(p),
                hint="no checkpoint: from the group's committed offset, else the reset policy",
            )
        self.source.seek_aux(p, aux)
        offset = cp.offset if cp is not None else None
        self._held[p] = _Held(view, offset, offset, aux)
        return True

    def _restore_paused(self) -> None:
        for p in sorted(self._unrestored):
            if not self._restore(p):
                self._retry_at = self.clock() + self.backoff.next_delay()
                return
            self._unrestored.discard(p)
            self.source.resume([p])
        self.backoff.reset()

    def _drop(self, p: Partition, change: str) -> None:
        held = self._held.pop(p, None)
        if held is not None and not self._broken:
            self.host.drop(p)
        if held is not None or p in self._unrestored:
            self.metrics.rebalances.labels(self.metrics.endpoint, change).inc()
            log.info("partition_released", partition=str(p), change=change)
        self._unrestored.discard(p)
        self.metrics.forget(p)
        self._count_assigned()

    def _count_assigned(self) -> None:
        self.metrics.assigned.labels(self.metrics.endpoint).set(
            len(self._held) + len(self._unrestored)
        )

    # -- for metrics and tests ---------------------------------------------------------------

    def views(self) -> dict[Partition, MonitorView]:
        """Each held partition's monitor readings after its latest batch; after the run, the
        last readings of the partitions it held (a replay's final metrics publish reads them)."""
        if not self._held and self._last_views:
            return dict(self._last_views)
        return {p: h.view for p, h in list(self._held.items())}

    def positions(self) -> dict[Partition, int | None]:
        return {p: h.next_offset for p, h in self._held.items()}


def log_retry(
    operation: str, exc: BaseException, delay: float, *, failures: int, hint: str | None = None
) -> None:
    """The live service's one `retrying` line, for the loop and for set-up alike."""
    log.warning(
        "retrying",
        operation=operation,
        error=type(exc).__name__,
        detail=str(exc),
        retry_in_s=round(delay, 2),
        failures=failures,
        **({"hint": hint} if hint else {}),
    )


def settle_heap() -> None:
    """Collect start-up garbage, then take everything alive (modules, baseline, calibrated
    monitors) out of the garbage collector's sight. Full collections then trace only what the
    loop itself keeps; otherwise each one traces ~150,000 start-up objects (about 80 ms on the
    benchmark machine) while the consumer waits."""
    gc.collect()
    gc.freeze()


def tag(event: Event, tags: Mapping[str, Any]) -> Event:
    """`event` with where it came from (extra keys of events.jsonl: topic and partition)."""
    return dataclasses.replace(event, extra={**event.extra, **tags})


def placed(documents: Sequence[Document], tags: Mapping[str, Any]) -> list[Document]:
    """Report-folder files of a partition of a live source under `<topic>/<partition>/`, so
    that partitions do not write over each other's windows; a replay's (no tags) as they are."""
    if not tags or not documents:
        return list(documents)
    prefix = f"{tags['topic']}/{tags['partition']}/"
    return [Document(prefix + d.path, d.content) for d in documents]
