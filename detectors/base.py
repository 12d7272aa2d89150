"""The detector interface: river's drift-detector contract, plus batches and checkpoints.

A detector watches one stream of standardised values. It follows river's contract
(`update(x)`, read-only `drift_detected`, `_reset()`; hyperparameters are public attributes named
like the constructor arguments, runtime state is private) and adds two things driftstream needs:

- `update_many(xs)`: feed a whole batch, get back the positions where an alarm was raised. The
  default loops over `update`; batched implementations override it and must give the same
  positions (tests/detectors/test_equivalence.py proves it against river).
- `state_dict()` / `load_state(d)`: the runtime state as JSON-compatible data (never pickle), so
  detector state can be checkpointed with the source positions it belongs to.

Alarm lifecycle (the same for every detector): when `update` raises an alarm, `drift_detected` is
True until the next `update`, which first resets the detector (river's behaviour); the detector
then re-learns from the values that follow, and its warm-up (`grace_period` / `min_instances`)
suppresses alarms until it has seen enough of them. A change that persists therefore raises one
alarm per detector, not one per record.

Readings: every detector exposes `statistic` and `threshold`, what it compares right now (an alarm
is `statistic > threshold`), NaN while undefined (too few values since the last reset, and right
after an alarm), and `samples`, how many values the statistic rests on. Metrics and the report's
trace read them after every batch and every `hop` rows, so they must be cheap to read. Window
checks (detectors/window_checks.py) expose the same readings through `WindowCheck`.

New detectors are registered in detectors/registry.py; tests/detectors/test_contract.py runs the
contract suite over every registered one.

Watchers: what watches the records as a whole rather than one feature's stream (Model Monitor
constraint reports per window, model quality against ground truth, bias drift per facet). A
`Watcher` sees every decoded batch of its partition in order, beside the per-feature detectors,
and returns events; it may also hand over `Document`s, files for the report folder
(`--violations-out`), and checkpoints its state with the monitor's.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self, TypeVar

import numpy as np
import numpy.typing as npt

from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.ground_truth import GroundTruth

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]


class DriftDetector(ABC):
    """A univariate change detector (see the module docstring for the contract)."""

    #: name used in events, metrics and config (`adwin`, `page_hinkley`)
    name: ClassVar[str]
    #: the hyperparameter counting the values a fresh detector must see before it may alarm
    warm_up: ClassVar[str]

    def __init__(self) -> None:
        self._drift_detected = False
        self._alarm_values: FloatArray = np.empty(0)
        self._alarm_thresholds: FloatArray = np.empty(0)

    @property
    def drift_detected(self) -> bool:
        """True right after the `update` that raised an alarm."""
        return self._drift_detected

    @property
    def alarm_statistics(self) -> tuple[FloatArray, FloatArray]:
        """(value, threshold) that crossed, per alarm of the last `update_many` (NaN if unknown)."""
        return self._alarm_values, self._alarm_thresholds

    @property
    @abstractmethod
    def statistic(self) -> float:
        """The value compared with `threshold` after the last update; NaN while undefined."""

    @property
    @abstractmethod
    def threshold(self) -> float:
        """What `statistic` must exceed for an alarm; NaN while undefined."""

    @property
    @abstractmethod
    def samples(self) -> int:
        """The values `statistic` rests on: those seen since the last reset, or the part of them
        the detector still holds (ADWIN's window)."""

    @abstractmethod
    def update(self, x: float) -> None:
        """Add one value; resets first if the previous update raised an alarm."""

    @abstractmethod
    def _reset(self) -> None:
        """Forget everything learnt; keep the hyperparameters."""

    def update_many(self, xs: FloatArray) -> IndexArray:
        """Add values in order; return the positions in `xs` that raised an alarm."""
        hits: list[int] = []
        stats: list[tuple[float, float]] = []
        for i, x in enumerate(xs.tolist()):
            self.update(x)
            if self._drift_detected:
                hits.append(i)
                stats.append(self._alarm_statistic())
        self._alarm_values = np.asarray([v for v, _ in stats], dtype=np.float64)
        self._alarm_thresholds = np.asarray([t for _, t in stats], dtype=np.float64)
        return np.asarray(hits, dtype=np.int64)

    def _alarm_statistic(self) -> tuple[float, float]:
        """(value, threshold) right after an alarm; NaN where the implementation hides them."""
        return (float("nan"), float("nan"))

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Runtime state as JSON-compatible values."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (from an instance with the same parameters).

        `state` comes from a checkpoint, so anything may be in it: validate all of it first
        (a detectors.state.StateModel, and whatever the detector's own invariants are), and
        raise detectors.state.StateError, one line, changing nothing, for a state this detector
        cannot be in. tests/detectors/test_state_fuzz.py fuzzes every registered detector."""

    def _get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def clone(self, **overrides: Any) -> Self:
        """A fresh detector with the same hyperparameters (optionally some changed)."""
        return type(self)(**{**self._get_params(), **overrides})

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({params})"


@dataclass(frozen=True)
class CheckResult:
    """One evaluation of a window check: `value` compared with `threshold`, and the verdict."""

    feature: str
    detector: str
    kind: EventKind
    breached: bool
    value: float
    threshold: float


Window_contra = TypeVar("Window_contra", contravariant=True)


class WindowCheck(Protocol[Window_contra]):
    """A check of one feature on a sliding window of rows against the baseline.

    The monitor calls `evaluate` every `hop` rows with the feature's last `size` rows (the
    window's type depends on the feature: detectors/window_checks.py); the check returns its
    result, or None when the window cannot be judged (too few values). `name` labels its
    events and metrics, `kind` is the kind of its events; `statistic` and `threshold` are the
    values of its last result (NaN before the first), `samples` the values it was computed from
    (0 before the first), what metrics read, as they read a DriftDetector's.
    """

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> EventKind: ...
    @property
    def feature(self) -> str: ...
    @property
    def statistic(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def samples(self) -> int: ...
    def evaluate(self, window: Window_contra, /) -> CheckResult | None: ...


def check_choice(name: str, value: object, valid: tuple[object, ...]) -> None:
    """Raise ValueError naming the valid values when `value` is not one of them."""
    if value not in valid:
        raise ValueError(f"invalid {name} {value!r}; valid values are {list(valid)}")


def check_positive(name: str, value: float, *, strict: bool = True) -> None:
    if not (value > 0 if strict else value >= 0):
        bound = "> 0" if strict else ">= 0"
        raise ValueError(f"invalid {name} {value!r}; it must be {bound}")


class RejectedRecord(Protocol):
    """A record of the batch that could not be used (streamer.decode.base.Rejection fits)."""

    @property
    def record_index(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def inference_time(self) -> str | None: ...
    @property
    def columns(self) -> int | None:
        """For reason `column_count`: how many input columns (values) its row had."""
        ...


class RowBatch(Protocol):
    """What the monitor and watchers read from a decoded batch (streamer.decode.base.DecodedBatch
    fits): rows in record order, each with the index of its record, and the records that could
    not be used (in record order)."""

    @property
    def n_records(self) -> int: ...
    @property
    def first_index(self) -> int: ...  # the record index of its first record, rejected or not
    @property
    def row_record(self) -> npt.NDArray[np.int64]: ...
    @property
    def numeric(self) -> npt.NDArray[np.float64]: ...
    @property
    def categorical(self) -> npt.NDArray[np.object_]: ...
    @property
    def inference_time(self) -> list[str | None]: ...
    @property
    def event_id(self) -> list[str | None]: ...
    @property
    def rejections(self) -> Sequence[RejectedRecord]: ...
    @property
    def inference_id(self) -> list[str | None]: ...  # per row; None where none was passed
    @property
    def ground_truth(self) -> GroundTruth: ...  # labels released with these records


@dataclass(frozen=True)
class Document:
    """A file for the report folder: `path` relative to it ('/'-separated, e.g.
    "2026/11/01/00/00/constraint_violations.json"), `content` JSON-compatible."""

    path: str
    content: Any = field(compare=False)


class Watcher(ABC):
    """Watches the records of one partition as a whole, beside the per-feature detectors (see
    the module docstring). The monitor calls `process` with every batch in order, after its
    own detectors, a batch whose records were all rejected included; `finish` once when the
    stream has ended; `name` keys its checkpointed state."""

    name: ClassVar[str]

    @abstractmethod
    def process(self, batch: RowBatch, first_row: int) -> list[Event]:
        """Events of this batch (any order: the monitor sorts); `first_row` is the global
        index of the batch's first row."""

    def finish(self) -> list[Event]:
        """The stream has ended (a replay's last record is processed; never for a live source,
        whose stops are not the end: its state is checkpointed and goes on after a restart):
        close what is still open, such as the last window. Events as `process`'s; files through
        `documents()` as ever. Called once, before the final checkpoint."""
        return []

    def documents(self) -> list[Document]:
        """Files made since the last call (each handed over once)."""
        return []

    def observations(self) -> list[Event]:
        """Measurements made since the last call for the retrain policy only, not events of
        the run (a window's model-quality metrics, violated or not: the policy's own quality
        thresholds judge them). Each handed over once."""
        return []

    def alarm_sources(self) -> int:
        """Alarm sources this watcher adds to the false-alarm budget (detectors/calibration.py):
        the monitor splits the budget over its own and these, then calls `calibrate`."""
        return 0

    def calibrate(self, per_source_rate: float) -> None:  # noqa: B027 - optional hook
        """Called once by the monitor at construction with β, the per-record false-alarm rate
        each alarm source may spend (detectors/calibration.py `per_source_rate`)."""

    def counts(self) -> dict[str, int]:
        """Running totals since the stream began (checkpointed, never decreasing), by name:
        Prometheus counters and the run summary."""
        return {}

    def readings(self) -> dict[tuple[str, str], tuple[float, float]]:
        """Latest (statistic, threshold) per (feature or metric, detector), for metrics."""
        return {}

    def event_labels(self) -> list[tuple[EventKind, str | None, str | None]]:
        """(kind, feature, detector) of every event `process` can emit (Monitor.event_labels)."""
        return []

    def state_dict(self) -> dict[str, Any]:
        """State as JSON-compatible data."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - stateless by default
        """Restore `state_dict()` output; raise detectors.state.StateError (one line, nothing
        changed) for a state this watcher cannot be in."""
