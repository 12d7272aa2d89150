"""What a run did (the `summary` event), and the `rejected` events of a decoded batch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from driftstream.detectors.events import Event, EventKind
from driftstream.streamer.checkpoint.base import Partition
from driftstream.streamer.decode.base import DecodedBatch


@dataclass
class RunSummary:
    records_read: int = 0
    records_used: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    #: a stop (SIGINT, SIGTERM) ended the run before its source did
    interrupted: bool = False
    #: `trace` and `distributions` for the report (report_keys), when the monitors gave them
    report: dict[str, Any] = field(default_factory=dict)

    def to_event(self) -> Event:
        """The `summary` event; `interrupted: true` only when it was (a run that read its
        source to the end writes the same summary as before the key existed)."""
        extra = {
            "records_read": self.records_read,
            "records_used": self.records_used,
            "records_rejected": dict(sorted(self.rejected.items())),
            "events": dict(sorted(self.events.items())),
            "seconds": round(self.seconds, 3),
        }
        if self.interrupted:
            extra["interrupted"] = True
        extra.update(self.report)
        return Event(EventKind.SUMMARY, extra=extra)


def report_keys(data: Mapping[Partition, dict[str, Any]]) -> dict[str, Any]:
    """The summary's `trace` and `distributions` from each partition's Monitor.report_data(),
    and each watcher's counts under its name.

    One partition (every replay): as the monitor gave them. Several: each trace series names
    its partition, and the distributions add up the partitions' counts (their bins come from
    the same baseline; a feature binned on its own values keeps the first partition's)."""
    if not data:
        return {}
    several = len(data) > 1
    series: list[dict[str, Any]] = []
    merged: dict[str, dict[str, Any]] = {}
    watchers: dict[str, Counter[str]] = {}
    window = 0
    for part, report in sorted(data.items()):
        for s in report["trace"]:
            series.append({**s, "partition": str(part)} if several else s)
        window += report["distributions"]["window"]
        for feature in report["distributions"]["features"]:
            _add_counts(merged, feature)
        for name, counts in report.get("watchers", {}).items():
            watchers.setdefault(name, Counter()).update(counts)
    return {
        "trace": {"series": series},
        "distributions": {"window": window, "features": list(merged.values())},
        # the watchers' counts under their names, added up over partitions (`model_quality`)
        **{name: dict(sorted(counts.items())) for name, counts in sorted(watchers.items())},
    }


def _add_counts(merged: dict[str, dict[str, Any]], feature: dict[str, Any]) -> None:
    name = feature["feature"]
    held = merged.get(name)
    if held is None:
        merged[name] = {**feature, "recent": list(feature["recent"])}
        return
    bins = "edges" if feature["kind"] == "numeric" else "categories"
    if held[bins] != feature[bins]:
        return
    held["recent"] = [a + b for a, b in zip(held["recent"], feature["recent"], strict=True)]
    for key in ("below", "above", "missing"):
        if key in held:
            held[key] += feature[key]


def rejection_events(batch: DecodedBatch) -> list[Event]:
    return [
        Event(
            EventKind.REJECTED,
            record_index=r.record_index,
            reason=r.reason.value,
            event_id=r.event_id,
            inference_time=r.inference_time,
            extra={"detail": r.detail},
        )
        for r in batch.rejections
    ]


ProgressHook = Callable[[int, int], None]  # (records, bytes) done in this batch
