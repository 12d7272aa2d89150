"""The retrain signal as delivered, and the interface of a delivery target.

Every target sends the same document, the signal's canonical JSON (`Signal.body`):

    {"type": "driftstream.retrain_signal", "version": 1,
     "idempotency_key": "…32 hex…", "endpoint": "churn", "decision": "retrain",
     "features": ["age", "country", …], "record_index": 12000,
     "inference_time": "2026-11-01T00:02:00Z", "value": 0.43, "threshold": 0.3,
     "evidence": {"features": {"age": {"detector": …, "value": …, "threshold": …,
                                       "record_index": …}, …},
                  "feature_share": 0.43, "min_feature_share": 0.3,
                  "record_range": [8000, 12000], "time_range": [t0, t1],
                  "baseline": "…", "config": "…"},
     "decided_at": "2026-11-26T10:00:00.000000+00:00"}

plus `"source": {"topic": …, "partition": …}` when the live service read it from a partition or
shard; `"trigger"` (`drift` or `quality`) and `"lineage"` (baseline, config, endpoint, detectors)
from the retrain policy (detectors/retrain.py; docs/signals.md); and, with
`sinks.signal_approval: required`, `"approval": {"required": true}`, completed with `status`,
`by`, `at` and `reason` when a person approved it (sinks/signals/approval.py): only then is it
delivered. A target implements `deliver(signal)`: it returns once the destination has accepted
the signal, or raises DeliveryError saying whether a retry can help. Targets never decide whether
a signal was already delivered: the outbox does (sinks/signals/outbox.py).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import orjson

from driftstream.detectors.events import Event, EventKind

SIGNAL_TYPE = "driftstream.retrain_signal"
SIGNAL_VERSION = 1


class DeliveryError(RuntimeError):
    """A target could not deliver a signal; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Signal:
    key: str
    document: dict[str, Any]

    @property
    def endpoint(self) -> str:
        return str(self.document.get("endpoint", ""))

    @property
    def approval_required(self) -> bool:
        approval = self.document.get("approval")
        return isinstance(approval, dict) and approval.get("required") is True

    @property
    def body(self) -> bytes:
        """The canonical JSON every target sends (sorted keys, UTF-8)."""
        return orjson.dumps(self.document, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_event(
        cls,
        event: Event,
        decided_at: dt.datetime | None = None,
        *,
        approval_required: bool = False,
    ) -> Signal:
        if not is_signal(event):
            raise ValueError(
                f"not a retrain signal: {event.kind.value} {event.extra.get('decision')}"
            )
        extra = event.extra
        when = decided_at or dt.datetime.now(dt.UTC)
        document: dict[str, Any] = {
            "type": SIGNAL_TYPE,
            "version": SIGNAL_VERSION,
            "idempotency_key": extra["idempotency_key"],
            "endpoint": extra.get("endpoint"),
            "decision": extra.get("decision", "retrain"),
            "features": list(extra.get("features", [])),
            "record_index": event.record_index,
            "inference_time": event.inference_time,
            "value": event.value,
            "threshold": event.threshold,
            "evidence": extra.get("evidence", {}),
            "decided_at": when.isoformat(),
        }
        if "topic" in extra or "partition" in extra:
            document["source"] = {"topic": extra.get("topic"), "partition": extra.get("partition")}
        for key in ("trigger", "lineage"):
            if key in extra:
                document[key] = extra[key]
        if approval_required:
            document["approval"] = {"required": True}
        return cls(str(extra["idempotency_key"]), document)

    def field(self, path: str) -> Any:
        """The value at a dotted path of the document (`endpoint`, `evidence.baseline`)."""
        node: Any = self.document
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


def is_signal(event: Event) -> bool:
    """A retrain decision to deliver: `decision: "retrain"` (events before the policy said
    "deferred" had no decision key and were all signals)."""
    return (
        event.kind is EventKind.RETRAIN_SIGNAL
        and event.extra.get("decision", "retrain") == "retrain"
        and "idempotency_key" in event.extra
    )


class SignalTarget(ABC):
    """Somewhere signals are delivered. `name` is stable across restarts: the outbox records
    deliveries by it. Called from the delivery thread only, one signal at a time."""

    def __init__(self, name: str) -> None:
        self.name = name

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Make clients (no delivery yet); called once before the first `deliver`."""

    @abstractmethod
    def deliver(self, signal: Signal) -> None:
        """Return once the destination accepted `signal`; else raise DeliveryError."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients; idempotent."""
