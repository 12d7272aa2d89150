"""Checkpointed state, checked before use: the schema of `Monitor.state_dict()` and its parts.

A checkpoint comes from outside the process (a file, a Kafka topic), so anything may be in it.
`Monitor.load_state` and every detector's `load_state` first validate the whole document: its
shape and types against the pydantic models here and beside each detector (strict: a JSON `true`
is not the number 1, `"3"` is not 3, NaN and infinity are not numbers; bounds; lengths that must
agree), then against what it is loaded into (feature and detector names, column counts, category
codes, the window). Only then is anything changed. A document that fails raises StateError with
one line naming the key at fault; one that passes is restored exactly as it says, and the monitor
runs from it. tests/detectors/test_state_fuzz.py throws random and mutated documents at both
engines to hold this.

Why pydantic rather than a JSON Schema: it is already a dependency, the models type the
validated values for the code that restores them, and the rules that matter most (a window's
width equals its buckets' sizes, every row has one value per column) are checks a schema
language cannot state and code would have to repeat.
"""

from __future__ import annotations

import base64
from itertools import pairwise
from typing import Annotated, Any, Literal, Self, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

#: row counts and record indices: far beyond any stream, and safe in an int64
MAX_INDEX = 2**62

Index = Annotated[StrictInt, Field(ge=0, le=MAX_INDEX)]
Finite = Annotated[float, Strict(), Field(allow_inf_nan=False)]
#: a float that state_dict() writes as null when it is NaN
MaybeFinite = Finite | None
#: a category code of a categorical feature (-1: missing); its upper bound is the feature's
Code = Annotated[StrictInt, Field(ge=-1, le=2**31)]

M = TypeVar("M", bound=BaseModel)


class StateError(ValueError):
    """A checkpointed state that cannot be restored; the message is one line naming the key."""


class StateModel(BaseModel):
    """A part of a state document: unknown keys are errors, values are never coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse(model: type[M], data: object, what: str) -> M:
    """`data` validated as `model`, or StateError("<what>: <key>: <problem>") on one line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise StateError(f"{what}: {_describe(errors[0])}{more}") from None


def _describe(error: ErrorDetails) -> str:
    where = "".join(
        f"[{part}]"
        if isinstance(part, int)
        else f".{part}"
        if part.isidentifier()
        else f"[{part!r}]"
        for part in error["loc"]
    ).lstrip(".")
    message = error["msg"].removeprefix("Value error, ")
    if not where:
        return message
    if error["type"] in ("missing", "extra_forbidden"):
        return f"{where}: {message}"
    shown = repr(error["input"])
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return f"{where}: {message}, got {shown}"


def pack(values: npt.NDArray[Any]) -> str:
    """A numeric array as base64 of its little-endian bytes: compact and exact in a JSON
    document (sketch levels, HyperLogLog registers); `unpack` reads it back."""
    little = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<"))
    return base64.b64encode(little.tobytes()).decode("ascii")


def unpack(text: object, dtype: type[np.generic], what: str) -> npt.NDArray[Any]:
    """The array `pack` wrote, of `dtype`; StateError naming `what` for anything else."""
    kind = np.dtype(dtype).newbyteorder("<")
    if not isinstance(text, str):
        raise StateError(f"{what}: expected a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise StateError(f"{what}: not base64") from None
    if len(raw) % kind.itemsize:
        raise StateError(f"{what}: {len(raw)} bytes is not a whole number of {kind.name} values")
    return np.frombuffer(raw, dtype=kind).astype(dtype)


def _key(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    return f".{part}" if part.isidentifier() else f"[{part!r}]"


class TailState(StateModel):
    """The last `window.size` rows, where the next windows begin (monitor._Tail)."""

    numeric: list[list[MaybeFinite]]
    categorical: list[list[Code]]
    record: list[Index]
    time: list[StrictStr | None]
    id: list[StrictStr | None]

    @model_validator(mode="after")
    def _one_entry_per_row(self) -> Self:
        rows = len(self.record)
        if any(len(part) != rows for part in (self.numeric, self.categorical, self.time, self.id)):
            raise ValueError(
                "numeric, categorical, record, time and id must hold one entry per row"
            )
        if any(later < earlier for earlier, later in pairwise(self.record)):
            raise ValueError("record indices must not decrease")
        return self


#: a feature in drift at the policy's last window evaluation: name, detector, value,
#: threshold, record index
DriftedEntry = tuple[StrictStr, StrictStr, MaybeFinite, MaybeFinite, Index]
#: a model-quality or bias event kept as context: detector, metric, facet, value, threshold,
#: record index, inferenceTime
ContextEntry = tuple[
    StrictStr, StrictStr, StrictStr | None, MaybeFinite, MaybeFinite, Index, StrictStr | None
]


class PolicyState(StateModel):
    """The retrain policy's streak, cool-down, budget and evidence (detectors/retrain.py). The
    keys after `cooldown_until` came with the configurable policy; a checkpoint made before it
    lacks them and restores with no budget spent, no deferral emitted and no evidence kept."""

    streak_row: Index | None
    streak_record: Index | None
    streak_time: StrictStr | None
    cooldown_until: Annotated[StrictInt, Field(ge=-1, le=MAX_INDEX)]
    cooldown_until_seconds: Finite | None = None
    #: when the signals of the last 24 hours were decided (epoch seconds), for the budget
    signal_seconds: Annotated[list[Finite], Field(max_length=100_000)] = []
    #: the drift deferral last emitted (the next is emitted when the reason changes)
    deferred: (
        Literal["below_effect_size", "not_persistent", "cooling_down", "over_budget"] | None
    ) = None
    drifted: list[DriftedEntry] = []
    context: Annotated[list[ContextEntry], Field(max_length=32)] = []

    @model_validator(mode="after")
    def _one_streak(self) -> Self:
        if (self.streak_row is None) != (self.streak_record is None):
            raise ValueError("streak_row and streak_record are set together or not at all")
        if self.streak_row is None and self.streak_time is not None:
            raise ValueError("streak_time without a streak")
        return self


CheckKind = Literal["drift", "violation"]
#: a breached window check: feature, check, event kind, value, threshold
ActiveEntry = tuple[StrictStr, StrictStr, CheckKind, MaybeFinite, MaybeFinite]
#: a sequential detector's recent alarm: row, detector, value, threshold, record index
AlarmEntry = tuple[Index, StrictStr, MaybeFinite, MaybeFinite, Index]


class MonitorStateDocument(StateModel):
    """What `Monitor.state_dict()` writes (version 1); detectors' states are checked by them."""

    version: StrictInt
    baseline: StrictStr
    rows_seen: Index
    active: list[ActiveEntry]
    alarms: dict[StrictStr, list[AlarmEntry]]
    sequential: dict[StrictStr, dict[StrictStr, dict[StrictStr, Any]]]
    policy: PolicyState
    tail: TailState
    #: each watcher's own state by its name (detectors/base.py: Watcher); absent before watchers
    watchers: dict[StrictStr, dict[StrictStr, Any]] = {}

    @model_validator(mode="after")
    def _rows_within_rows_seen(self) -> Self:
        for feature, alarms in self.alarms.items():
            if any(alarm[0] >= self.rows_seen for alarm in alarms):
                raise ValueError(f"an alarm of {feature!r} lies beyond rows_seen {self.rows_seen}")
        streak = self.policy.streak_row
        if streak is not None and streak > self.rows_seen:
            raise ValueError(f"policy.streak_row lies beyond rows_seen {self.rows_seen}")
        if len(self.tail.record) > self.rows_seen:
            raise ValueError(f"the tail holds more rows than rows_seen {self.rows_seen}")
        return self
