"""CloudWatch metrics: Model Monitor's per-feature data metrics, and driftstream's own.

Model Monitor's metrics (namespace `aws/sagemaker/Endpoints/data-metrics`, dimensions
`Endpoint` and `MonitoringSchedule`), so alarms made for Model Monitor keep working:

- feature_baseline_drift_<feature>: the latest baseline_drift_check distance (L∞, in Model
  Monitor's robust or simple form, as constraints.json says);
- feature_non_null_<feature>: the share of non-missing values in the latest window (0..1);
- feature_data_<feature>: StatisticValues (SampleCount, Sum, Minimum, Maximum) of the values
  seen since the previous publish (numeric features);
- with model quality (docs/model-quality.md), in `aws/sagemaker/Endpoints/model-metrics` (same
  dimensions): each metric of the latest judged window under its Model Monitor name
  (`accuracy`, `f2`, `rmse`, ...).

driftstream's own metrics (namespace `cloudwatch.namespace`, default `driftstream`; dimension
`Endpoint`, plus `Kind` or `Reason` where named, plus `cloudwatch.dimensions`): `Started`,
`RecordsRead`, `RecordsRejected` (total, and by `Reason`), `Events` (by `Kind`),
`RecordsPerSecond`, `MetricsDropped`. docs/aws.md describes each.

Where the values come from: window statistics are read from the monitors' `current` through an
injected reader (as the Prometheus collector reads them), event counts from `add`, and the record
count and `feature_data_*` values from the monitor's view of each batch (`observe`, which the
processing loop calls after every batch: the monitor summarises the batch's numeric values per
feature), so detectors/ knows nothing about CloudWatch.

Publishing: `flush` (the loop's, after each batch) turns what was seen since the previous publish
into metric data at most every `interval_seconds`, time-stamped then, and queues them; a
background thread sends the queue in PutMetricData calls within CloudWatch's limits, enforced
here (1,000 metric data and 1 MB of request per call, 30 dimensions per metric), retrying with
back-off. The queue is kept per namespace (a call holds one): a namespace's data go once the
oldest has waited SEND_LINGER_SECONDS (or SEND_ROUND of them wait), and at close everything
left goes at once, within `close_timeout_seconds`. Before sending, the data of one metric in one
storage period are coalesced into one datum (`Values` and `Counts`, or one statistic set),
which CloudWatch aggregates exactly as the separate data, and the calls are filled to the
limits. While CloudWatch is unreachable the queue keeps at most `max_buffered` data, dropping
the oldest and counting them (Prometheus and logs); monitoring never waits for CloudWatch.

The sender shares the interpreter, and so the GIL, with the processing loop: every CPU second it
spends is one the loop may wait for. So it works outside the queue's lock, sizes each datum
sent once, sends coalesced data (a metric published at every batch costs one datum a minute,
not one per batch), and its client skips botocore's parameter validation (streamer/app/
build.py; the data are built and checked here). docs/aws.md has the figures.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import re
import threading
import time
import urllib.parse
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import botocore.exceptions
import numpy as np
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.retrain import is_deferral
from driftstream.sinks import aws
from driftstream.sinks.base import Sink
from driftstream.sinks.retry import Backoff, BackoffSettings

if TYPE_CHECKING:
    from driftstream.detectors.monitor import MonitorView, ValueSummary

log = structlog.get_logger(__name__)

CLOUDWATCH_MAX_DIMENSIONS = 30
# driftstream's own metrics carry Endpoint and at most one more (Kind or Reason)
_OWN_DIMENSIONS = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CloudWatchSettings(_Frozen):
    """Model Monitor's per-feature metrics and driftstream's own (see docs/aws.md)."""

    monitoring_schedule: str = Field(
        min_length=1, max_length=1024, description="the MonitoringSchedule dimension value"
    )
    namespace: str = Field(
        "driftstream", min_length=1, max_length=255, description="driftstream's own metrics"
    )
    dimensions: dict[str, str] = Field(
        default_factory=dict, description="extra dimensions on driftstream's own metrics"
    )
    interval_seconds: float = Field(60.0, ge=0, le=3600, description="0: at every flush")
    max_buffered: int = Field(100_000, ge=1, le=10_000_000, description="metric data points")
    storage_resolution: Literal[1, 60] = 60
    close_timeout_seconds: float = Field(10.0, ge=0, le=600)
    retry: BackoffSettings = BackoffSettings(initial_seconds=1.0, max_seconds=60.0)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if value.startswith(("AWS/", ":")):
            raise ValueError("a custom namespace cannot start with 'AWS/' or ':'")
        return value

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, value: dict[str, str]) -> dict[str, str]:
        room = CLOUDWATCH_MAX_DIMENSIONS - _OWN_DIMENSIONS
        if len(value) > room:
            raise ValueError(
                f"at most {room} extra dimensions (CloudWatch allows "
                f"{CLOUDWATCH_MAX_DIMENSIONS} per metric, driftstream uses {_OWN_DIMENSIONS})"
            )
        for name, dim_value in value.items():
            if not 1 <= len(name) <= 255 or not 1 <= len(dim_value) <= 1024:
                raise ValueError(f"dimension {name!r}: names 1-255, values 1-1024 characters")
            if name in ("Endpoint", "Kind", "Reason"):
                raise ValueError(f"dimension {name!r} is set by driftstream")
        return value


MODEL_MONITOR_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
#: Model Monitor's model-quality metrics (reference §4.2): the metric's own name (`accuracy`, `f2`)
MODEL_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
#: the readings that hold a model-quality window's metric values (detectors/quality/watcher.py)
MODEL_QUALITY_VALUES = "model_quality"
MAX_DATA_PER_CALL = 1000
#: distinct values in one datum's Values array ("up to 150 values per metric" in one call)
MAX_VALUES_PER_DATUM = 150
MAX_CALL_BYTES = 1_000_000
#: room left for the request's own fields (Action, Version, Namespace) and the protocol framing
CALL_OVERHEAD_BYTES = 2_000
MAX_METRIC_NAME = 255
MAX_VALUE = 2.0**360  # CloudWatch rejects larger magnitudes, and NaN / infinities
#: how long a namespace's data may wait for more to fill its calls: PutMetricData requests are
#: billed per call and each costs the sender's thread about 1 ms of CPU besides its data, while
#: alarms evaluate periods of 10 s at the finest
SEND_LINGER_SECONDS = 1.0
#: queued data the sender takes at once from a namespace (and sends sooner than the linger when
#: that many wait): coalesced, they fill one call or more
SEND_ROUND = 10 * MAX_DATA_PER_CALL

Current = Mapping[tuple[str, str], tuple[float, float]]
CurrentReader = Callable[[], Iterable[Current]]
ClientFactory = Callable[[], Any]


@dataclass(frozen=True)
class Datum:
    """One entry of PutMetricData's MetricData, and the namespace it goes to."""

    namespace: str
    payload: dict[str, Any]


@functools.lru_cache(maxsize=65_536)  # every publish names every feature again
def metric_name(prefix: str, feature: str) -> str:
    """`prefix` + feature name; characters outside printable ASCII become `_`, and the name is
    cut to CloudWatch's 255 characters."""
    clean = "".join(c if 32 < ord(c) < 127 else "_" for c in feature)
    return (prefix + clean)[:MAX_METRIC_NAME]


def metric_value(value: float) -> float | None:
    """A value CloudWatch accepts, or None (NaN and infinities are not sent)."""
    if not math.isfinite(value):
        return None
    return max(-MAX_VALUE, min(MAX_VALUE, value))


def encoded_size(datum: Datum) -> int:
    """Bytes `datum` takes in a PutMetricData request, bounded from above: its size in the
    query protocol (member paths spelled out, values URL-encoded), the most verbose of the
    protocols botocore may use for CloudWatch (query, JSON, CBOR).

    Counted without building the request: the sender sizes every datum it sends, on the
    interpreter the processing loop shares (urlencode took 17 µs a datum, this about 6 µs)."""
    return _encoded_size(len(_MEMBER_PREFIX), datum.payload)


_MEMBER_PREFIX = "MetricData.member.1000."
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")  # what urlencode leaves as it is


def _encoded_size(path: int, value: Any) -> int:
    """Size of `value`'s `path=value&` fields; `path`: the length of its member path so far,
    trailing dot included (payload keys and member indices need no escaping)."""
    total = 0
    if isinstance(value, dict):
        for k, v in value.items():
            total += _encoded_size(path + len(k) + 1, v)
        return total
    if isinstance(value, list):
        for i, v in enumerate(value, 1):
            total += _encoded_size(path + len("member.") + len(str(i)) + 1, v)
        return total
    text = str(value)
    quoted = len(text) if _UNRESERVED.fullmatch(text) else _quoted_length(text)
    return path + quoted + 1  # the path without its dot, "=", the value, "&"


@functools.lru_cache(maxsize=4096)
def _quoted_length(text: str) -> int:
    """URL-encoded length of a value that needs escaping: mostly the publish's time stamp and
    the dimension values, the same for every datum of a publish."""
    return len(urllib.parse.quote_plus(text))


def plan_calls(
    data: Sequence[Datum],
    *,
    max_data: int = MAX_DATA_PER_CALL,
    max_bytes: int = MAX_CALL_BYTES - CALL_OVERHEAD_BYTES,
) -> list[tuple[str, list[Datum]]]:
    """Split `data` into PutMetricData calls: one namespace per call, each namespace's data in
    the order given (namespaces in order of first appearance), every call filled up to
    `max_data` data or `max_bytes` of encoded data, whichever comes first."""
    by_namespace: dict[str, list[Datum]] = {}
    for datum in data:
        by_namespace.setdefault(datum.namespace, []).append(datum)
    calls: list[tuple[str, list[Datum]]] = []
    for namespace, group in by_namespace.items():
        current: list[Datum] = []
        size = 0
        for datum in group:
            n = encoded_size(datum)
            if current and (len(current) >= max_data or size + n > max_bytes):
                calls.append((namespace, current))
                current, size = [], 0
            current.append(datum)
            size += n
        if current:
            calls.append((namespace, current))
    return calls


def coalesce(data: Sequence[Datum]) -> list[tuple[Datum, list[int]]]:
    """Merge the data of one metric (namespace, name, dimensions, unit, resolution) whose time
    stamps fall in the same storage period (the minute; the second at resolution 1) into one
    datum that CloudWatch aggregates exactly as the separate data: values into `Values` and
    `Counts` (at most MAX_VALUES_PER_DATUM distinct values a datum), statistic sets added up.
    Returns each datum to send with the positions in `data` of those it holds, in order of
    first appearance. `data` is left as it is (a failed call puts it back unchanged)."""
    merged: list[tuple[Datum, list[int]]] = []
    positions: list[dict[float, int]] = []  # per merged datum: where each value is in Values
    taking: dict[tuple[Any, ...], int] = {}  # metric and period -> the merged datum taking more
    for i, datum in enumerate(data):
        key = _metric_period(datum)
        j = taking.get(key)
        if j is not None:
            target, held = merged[j]
            if len(held) == 1:  # the first merge: a copy to add to, never the queued datum
                target = Datum(target.namespace, _open(target.payload, positions[j]))
                merged[j] = (target, held)
            if _absorb(target.payload, positions[j], datum.payload):
                held.append(i)
                continue
        taking[key] = len(merged)
        merged.append((datum, [i]))
        positions.append({})
    return merged


def _metric_period(datum: Datum) -> tuple[Any, ...]:
    p = datum.payload
    dims = tuple((d["Name"], d["Value"]) for d in p.get("Dimensions", ()))
    resolution = p.get("StorageResolution", 60)
    stamp = p.get("Timestamp")
    period = int(stamp.timestamp() // resolution) if isinstance(stamp, dt.datetime) else stamp
    statistic_set = "StatisticValues" in p
    return (
        datum.namespace,
        p["MetricName"],
        dims,
        p.get("Unit"),
        resolution,
        period,
        statistic_set,
    )


def _open(payload: dict[str, Any], positions: dict[float, int]) -> dict[str, Any]:
    """A copy of `payload` that more values or statistic sets can be added to."""
    out = dict(payload)
    if "StatisticValues" in out:
        out["StatisticValues"] = dict(out["StatisticValues"])
    else:
        value = out.pop("Value")
        out["Values"], out["Counts"] = [value], [1.0]
        positions[value] = 0
    return out


def _absorb(target: dict[str, Any], positions: dict[float, int], payload: dict[str, Any]) -> bool:
    """Add `payload` (same metric and period) to `target` (made by `_open`); False when target
    holds MAX_VALUES_PER_DATUM distinct values already and `payload` brings another."""
    if "StatisticValues" in payload:
        mine, theirs = target["StatisticValues"], payload["StatisticValues"]
        mine["SampleCount"] += theirs["SampleCount"]
        mine["Sum"] += theirs["Sum"]
        mine["Minimum"] = min(mine["Minimum"], theirs["Minimum"])
        mine["Maximum"] = max(mine["Maximum"], theirs["Maximum"])
        return True
    value = payload["Value"]
    at = positions.get(value)
    if at is not None:
        target["Counts"][at] += 1.0
    elif len(target["Values"]) < MAX_VALUES_PER_DATUM:
        positions[value] = len(target["Values"])
        target["Values"].append(value)
        target["Counts"].append(1.0)
    else:
        return False
    return True


class FeatureValues:
    """SampleCount, Sum, Minimum and Maximum of each numeric feature since the last `take`."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._column = {name: j for j, name in enumerate(self.names)}
        self._reset()

    def _reset(self) -> None:
        n = len(self.names)
        self.count = np.zeros(n, dtype=np.int64)
        self.total = np.zeros(n)
        self.low = np.full(n, np.inf)
        self.high = np.full(n, -np.inf)

    def add(self, values: Mapping[str, ValueSummary]) -> None:
        """Add one batch's summaries (MonitorView.values); other features are ignored."""
        for name, v in values.items():
            j = self._column.get(name)
            if j is not None:
                self.count[j] += v.count
                self.total[j] += v.total
                self.low[j] = min(self.low[j], v.minimum)
                self.high[j] = max(self.high[j], v.maximum)

    def take(self) -> list[tuple[str, int, float, float, float]]:
        """(name, count, sum, min, max) of features with values; then start afresh."""
        out = [
            (name, int(c), float(s), float(lo), float(hi))
            for name, c, s, lo, hi in zip(
                self.names, self.count, self.total, self.low, self.high, strict=True
            )
            if c > 0
        ]
        self._reset()
        return out


class CloudWatchMetrics:
    """Prometheus metrics about the sink itself."""

    def __init__(self, endpoint: str, registry: CollectorRegistry) -> None:
        self.endpoint = endpoint
        self.sent = Counter(
            "driftstream_cloudwatch_metrics_sent",
            "Metric data accepted by CloudWatch",
            ["endpoint"],
            registry=registry,
        )
        self.dropped = Counter(
            "driftstream_cloudwatch_metrics_dropped",
            "Metric data never sent: buffer overflow, refused by CloudWatch, or left at exit",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.failures = Counter(
            "driftstream_cloudwatch_put_failures",
            "PutMetricData calls that failed",
            ["endpoint", "kind"],
            registry=registry,
        )
        self.buffered = Gauge(
            "driftstream_cloudwatch_metrics_buffered",
            "Metric data waiting to be sent",
            ["endpoint"],
            registry=registry,
        )
        for reason in ("overflow", "refused", "shutdown"):
            self.dropped.labels(endpoint, reason)
        for kind in ("throttled", "transient", "refused"):
            self.failures.labels(endpoint, kind)


class _Queued(NamedTuple):
    arrival: int  # order across namespaces: the oldest datum is sent first and dropped first
    at: float  # time.monotonic() when queued
    datum: Datum


class MetricQueue:
    """Metric data waiting to be sent: one FIFO per namespace, since a call holds a single
    namespace, so each call can be filled from its namespace whatever the interleaving."""

    def __init__(self) -> None:
        self._by_namespace: dict[str, deque[_Queued]] = {}
        self._arrivals = itertools.count()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def extend(self, data: Sequence[Datum], now: float) -> None:
        arrivals = self._arrivals
        for datum in data:
            queue = self._by_namespace.get(datum.namespace)
            if queue is None:
                queue = self._by_namespace[datum.namespace] = deque()
            queue.append(_Queued(next(arrivals), now, datum))
        self._size += len(data)

    def put_back(self, items: Sequence[_Queued]) -> None:
        """Return data taken by `take` to the front of their namespace, in their order."""
        if items:
            self._by_namespace[items[0].datum.namespace].extendleft(reversed(items))
            self._size += len(items)

    def drop_oldest(self, n: int) -> None:
        for _ in range(min(n, self._size)):
            head = self._oldest(list(self._by_namespace.values()))
            assert head is not None  # the queue holds `_size` > 0 data
            head.popleft()
            self._size -= 1

    def next_due(self, now: float, linger: float, full: int) -> tuple[deque[_Queued] | None, float]:
        """The namespace queue due to be sent (the oldest among those holding `full` data or
        whose head waited `linger`), or None and the seconds until one is due (inf: empty)."""
        due = [
            q
            for q in self._by_namespace.values()
            if q and (len(q) >= full or now - q[0].at >= linger)
        ]
        if due:
            return self._oldest(due), 0.0
        heads = [q[0].at for q in self._by_namespace.values() if q]
        return None, (min(heads) + linger - now) if heads else math.inf

    def take(self, queue: deque[_Queued], limit: int) -> list[_Queued]:
        """Up to `limit` data from the front of `queue` (one of `next_due`'s)."""
        taken = [queue.popleft() for _ in range(min(limit, len(queue)))]
        self._size -= len(taken)
        return taken

    def clear(self) -> int:
        left, self._size = self._size, 0
        self._by_namespace.clear()
        return left

    @staticmethod
    def _oldest(queues: Sequence[deque[_Queued]]) -> deque[_Queued] | None:
        heads = [q for q in queues if q]
        return min(heads, key=lambda q: q[0].arrival) if heads else None


class MetricSender:
    """Sends queued metric data from a background thread (see the module docstring): `put`
    never blocks for longer than appending to the queue, `start` once, `close` gives what is
    left `timeout` seconds.

    A namespace's data go when its oldest has waited `linger` seconds, when SEND_ROUND of
    them wait, or at close: up to SEND_ROUND at once, coalesced (`coalesce`: one datum per
    metric and storage period) and cut into calls filled to CloudWatch's limits (`plan_calls`).
    The thread coalesces, sizes and sends without holding the queue's lock, so the processing
    loop's `put` never waits for CloudWatch or for that work. At most `max_buffered` data wait
    in the queue, besides the round being sent.
    """

    def __init__(
        self,
        client: Any,
        *,
        max_buffered: int,
        backoff: Backoff,
        metrics: CloudWatchMetrics,
        on_dropped: Callable[[int], None] = lambda n: None,
        linger: float = SEND_LINGER_SECONDS,
    ) -> None:
        self.client = client
        self.max_buffered = max_buffered
        self.backoff = backoff
        self.metrics = metrics
        self.on_dropped = on_dropped
        self.linger = linger
        self._queue = MetricQueue()
        self._cond = threading.Condition()
        self._closing = False
        self._deadline = math.inf
        self._busy = False
        self._retry_at = 0.0
        self._thread = threading.Thread(target=self._run, name="cloudwatch-sender", daemon=True)
        self._last_overflow_log = -math.inf

    def start(self) -> None:
        self._thread.start()

    def put(self, data: Sequence[Datum]) -> None:
        with self._cond:
            idle = not len(self._queue)
            self._queue.extend(data, time.monotonic())
            self._trim()
            # otherwise the sender's timed wait ends when the oldest has lingered: waking it at
            # every publish would make the loop wait for the GIL it takes
            if idle or len(self._queue) >= SEND_ROUND:
                self._cond.notify_all()

    def _trim(self) -> None:
        over = len(self._queue) - self.max_buffered
        if over > 0:
            self._queue.drop_oldest(over)
            self.metrics.dropped.labels(self.metrics.endpoint, "overflow").inc(over)
            self.on_dropped(over)
            now = time.monotonic()
            if now - self._last_overflow_log >= 60:
                self._last_overflow_log = now
                log.warning(
                    "cloudwatch_buffer_full",
                    dropped=over,
                    kept=len(self._queue),
                    hint="CloudWatch is unreachable; oldest metric data are dropped",
                )
        self.metrics.buffered.labels(self.metrics.endpoint).set(len(self._queue))

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (1 if self._busy else 0)

    def wait_idle(self, timeout: float) -> bool:
        """Block until the queue is empty and nothing is in flight (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._queue) or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout: float) -> None:
        """Send everything still queued, at once, for at most `timeout` seconds; what is left
        then is dropped and counted (`reason="shutdown"`)."""
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._retry_at = 0.0  # one more try at once
            self._cond.notify_all()
        self._thread.join(timeout + 1.0)
        with self._cond:
            left = self._queue.clear()
        if left:
            self.metrics.dropped.labels(self.metrics.endpoint, "shutdown").inc(left)
            log.warning("cloudwatch_unsent_at_exit", dropped=left)

    def _run(self) -> None:
        while True:
            taken = self._next_round()
            if taken is None:
                return
            unsent = self._send_all(taken)
            with self._cond:
                self._busy = False
                if unsent:
                    self._queue.put_back(unsent)
                    self._trim()
                    self._retry_at = time.monotonic() + self.backoff.next_delay()
                self.metrics.buffered.labels(self.metrics.endpoint).set(len(self._queue))
                self._cond.notify_all()

    def _send_all(self, taken: list[_Queued]) -> list[_Queued]:
        """Send the data taken (one namespace), coalesced, in as few calls as the limits
        allow; return those to retry (the failed call's and any after it, and at close those
        the time left no room for), in their order."""
        merged = coalesce([q.datum for q in taken])
        done = 0
        for namespace, batch in plan_calls([datum for datum, _ in merged]):
            samples = sum(len(positions) for _, positions in merged[done : done + len(batch)])
            if self._out_of_time() or not self._send(namespace, batch, samples):
                left = [i for _, positions in merged[done:] for i in positions]
                return [taken[i] for i in sorted(left)]
            done += len(batch)
        return []

    def _out_of_time(self) -> bool:
        with self._cond:
            return self._closing and time.monotonic() >= self._deadline

    def _next_round(self) -> list[_Queued] | None:
        """Wait until a namespace is due (see the class docstring) and take up to SEND_ROUND
        of its data; None when closing and nothing is left or the time is up."""
        with self._cond:
            while True:
                now = time.monotonic()
                if self._closing and (not len(self._queue) or now >= self._deadline):
                    return None
                linger = 0.0 if self._closing else self.linger
                queue, wait = self._queue.next_due(now, linger, SEND_ROUND)
                if queue is not None and now >= self._retry_at:
                    self._busy = True
                    return self._queue.take(queue, SEND_ROUND)
                timeout = max(wait, self._retry_at - now) if len(self._queue) else math.inf
                if self._closing:
                    timeout = min(timeout, self._deadline - now)
                self._cond.wait(None if math.isinf(timeout) else timeout)

    def _send(self, namespace: str, batch: list[Datum], samples: int) -> bool:
        """One PutMetricData call of `batch`, which holds `samples` queued data (coalesced);
        False when it should be retried. Counters count queued data, not merged ones."""
        try:
            self.client.put_metric_data(Namespace=namespace, MetricData=[d.payload for d in batch])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if aws.is_fatal(exc):
                self.metrics.failures.labels(self.metrics.endpoint, "refused").inc()
                self.metrics.dropped.labels(self.metrics.endpoint, "refused").inc(samples)
                self.on_dropped(samples)
                log.error(
                    "cloudwatch_refused",
                    namespace=namespace,
                    data=samples,
                    error=aws.describe(exc),
                )
                return True  # retrying the same request cannot help
            kind = "throttled" if aws.is_throttle(exc) else "transient"
            self.metrics.failures.labels(self.metrics.endpoint, kind).inc()
            log.warning(
                "cloudwatch_unavailable",
                error=aws.describe(exc),
                buffered=len(self._queue) + samples,
                failures=self.backoff.failures + 1,
            )
            return False
        self.backoff.reset()
        self.metrics.sent.labels(self.metrics.endpoint).inc(samples)
        return True


class CloudWatchSink(Sink):
    """Publishes the metrics of the module docstring for one endpoint."""

    def __init__(
        self,
        settings: CloudWatchSettings,
        endpoint: str,
        features: Sequence[str],
        numeric_features: Sequence[str],
        client_factory: ClientFactory,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self.features = tuple(features)
        self.values = FeatureValues(numeric_features)
        self._client_factory = client_factory
        self.metrics = CloudWatchMetrics(
            endpoint, registry if registry is not None else CollectorRegistry()
        )
        self.clock = clock
        self.now = now
        self._current: CurrentReader = lambda: ()
        self._sender: MetricSender | None = None
        self._last_publish = clock()
        self._records = 0
        self._events: Tally[str] = Tally()
        self._rejected: Tally[str] = Tally()
        self._dropped = 0
        self._lock = threading.Lock()
        own = {"Endpoint": endpoint, **settings.dimensions}
        self._own_dimensions = [{"Name": k, "Value": v} for k, v in own.items()]
        self._mm_dimensions = [
            {"Name": "Endpoint", "Value": endpoint},
            {"Name": "MonitoringSchedule", "Value": settings.monitoring_schedule},
        ]

    def watch(self, current: CurrentReader) -> None:
        """Read the monitors' window statistics from `current` (one mapping per monitor)."""
        self._current = current

    def observe(self, view: MonitorView) -> None:
        """Count the batch's records and add its values (Sink.observe: after every batch)."""
        self.values.add(view.values)
        self._records += view.records

    # -- Sink ----------------------------------------------------------------------------

    def setup(self) -> None:
        """Make the client and send `Started` at once: missing credentials or permissions stop
        the start-up with one line (AwsError); an unreachable CloudWatch does not."""
        if self._sender is not None:
            return
        client = self._client_factory()
        started = self._own("Started", 1.0, "Count")
        try:
            client.put_metric_data(Namespace=started.namespace, MetricData=[started.payload])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            if aws.is_fatal(exc):
                raise aws.fatal("sinks.cloudwatch: PutMetricData", exc) from None
            log.warning(
                "cloudwatch_unavailable",
                error=aws.describe(exc),
                hint="metrics are buffered until it answers",
            )
            self.metrics.failures.labels(self.endpoint, "transient").inc()
            pending = [started]
        else:
            self.metrics.sent.labels(self.endpoint).inc()
            pending = []
        backoff = Backoff(self.settings.retry.initial_seconds, self.settings.retry.max_seconds)
        self._sender = MetricSender(
            client,
            max_buffered=self.settings.max_buffered,
            backoff=backoff,
            metrics=self.metrics,
            on_dropped=self._count_dropped,
        )
        if pending:
            self._sender.put(pending)
        self._sender.start()

    def add(self, event: Event) -> None:
        if event.kind is EventKind.SUMMARY or is_deferral(event):
            return  # a retrain decision "not now" is no signal
        self._events[event.kind.value] += 1
        if event.kind is EventKind.REJECTED and event.reason:
            self._rejected[event.reason] += 1

    def flush(self) -> None:
        """Queue what was seen since the previous publish, at most every interval_seconds."""
        if self.clock() - self._last_publish >= self.settings.interval_seconds:
            self.publish()

    def close(self) -> None:
        if self._sender is None:
            return
        self.publish()
        sender, self._sender = self._sender, None
        sender.close(self.settings.close_timeout_seconds)

    # -- publishing ----------------------------------------------------------------------

    def publish(self) -> None:
        """Turn everything seen since the previous publish into metric data and queue them."""
        data = self.collect()
        if self._sender is not None and data:
            self._sender.put(data)

    def collect(self) -> list[Datum]:
        """The metric data of everything seen since the previous call (see the docstring)."""
        now_mono = self.clock()
        elapsed = max(now_mono - self._last_publish, 1e-9)
        self._last_publish = now_mono
        stamp = self.now()
        data: list[Datum] = []
        if self._records:
            data.extend(self._window_metrics(stamp))
            data.extend(self._feature_data(stamp))
        records, self._records = self._records, 0
        data.extend(self._own_metrics(records, elapsed, stamp))
        return data

    def _window_metrics(self, stamp: dt.datetime) -> list[Datum]:
        """feature_baseline_drift_* and feature_non_null_*: the monitors' latest readings."""
        data: list[Datum] = []
        for current in list(self._current()):
            snapshot = dict(current)  # the loop thread may add keys meanwhile
            for feature in self.features:
                for detector, prefix in (
                    ("baseline_drift_check", "feature_baseline_drift_"),
                    ("completeness_check", "feature_non_null_"),
                ):
                    stat = snapshot.get((feature, detector))
                    value = metric_value(stat[0]) if stat is not None else None
                    if value is not None:
                        data.append(self._mm(metric_name(prefix, feature), value, stamp))
            for (metric, detector), (statistic, _) in sorted(snapshot.items()):
                value = metric_value(statistic)
                if detector == MODEL_QUALITY_VALUES and value is not None:
                    data.append(
                        self._mm(metric_name("", metric), value, stamp, MODEL_METRICS_NAMESPACE)
                    )
        return data

    def _feature_data(self, stamp: dt.datetime) -> list[Datum]:
        """feature_data_*: the values seen since the previous publish, as statistic sets."""
        data: list[Datum] = []
        for name, count, total, low, high in self.values.take():
            stats = [metric_value(v) for v in (total, low, high)]
            if None in stats:
                continue
            data.append(
                Datum(
                    MODEL_MONITOR_NAMESPACE,
                    {
                        "MetricName": metric_name("feature_data_", name),
                        "Dimensions": self._mm_dimensions,
                        "Timestamp": stamp,
                        "StatisticValues": {
                            "SampleCount": float(count),
                            "Sum": stats[0],
                            "Minimum": stats[1],
                            "Maximum": stats[2],
                        },
                        "StorageResolution": self.settings.storage_resolution,
                    },
                )
            )
        return data

    def _own_metrics(self, records: int, elapsed: float, stamp: dt.datetime) -> list[Datum]:
        """driftstream's own counts since the previous publish; the counters start afresh."""
        rejected = sum(self._rejected.values())
        data = [
            self._own("RecordsRead", float(records), "Count", stamp=stamp),
            self._own("RecordsRejected", float(rejected), "Count", stamp=stamp),
        ]
        for reason, n in sorted(self._rejected.items()):
            data.append(self._own("RecordsRejected", float(n), "Count", stamp, Reason=reason))
        for kind, n in sorted(self._events.items()):
            data.append(self._own("Events", float(n), "Count", stamp, Kind=kind))
        data.append(self._own("RecordsPerSecond", records / elapsed, "Count/Second", stamp=stamp))
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        if dropped:
            data.append(self._own("MetricsDropped", float(dropped), "Count", stamp=stamp))
        self._events.clear()
        self._rejected.clear()
        return data

    def _mm(
        self,
        name: str,
        value: float,
        stamp: dt.datetime,
        namespace: str = MODEL_MONITOR_NAMESPACE,
    ) -> Datum:
        return Datum(
            namespace,
            {
                "MetricName": name,
                "Dimensions": self._mm_dimensions,
                "Timestamp": stamp,
                "Value": value,
                "Unit": "None",
                "StorageResolution": self.settings.storage_resolution,
            },
        )

    def _own(
        self,
        name: str,
        value: float,
        unit: str,
        stamp: dt.datetime | None = None,
        **extra: str,
    ) -> Datum:
        dimensions = [*self._own_dimensions, *({"Name": k, "Value": v} for k, v in extra.items())]
        if len(dimensions) > CLOUDWATCH_MAX_DIMENSIONS:  # settings validation prevents it
            raise ValueError(f"{name}: more than {CLOUDWATCH_MAX_DIMENSIONS} dimensions")
        return Datum(
            self.settings.namespace,
            {
                "MetricName": name,
                "Dimensions": dimensions,
                "Timestamp": stamp or self.now(),
                "Value": value,
                "Unit": unit,
                "StorageResolution": self.settings.storage_resolution,
            },
        )

    def _count_dropped(self, n: int) -> None:
        with self._lock:
            self._dropped += n

    # -- for tests and shutdown ----------------------------------------------------------

    def wait_sent(self, timeout: float) -> bool:
        """True once everything queued so far was sent (or dropped)."""
        return self._sender.wait_idle(timeout) if self._sender is not None else True
