"""`driftstream demo`: generated traffic with a known drift half-way, monitored live."""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from driftstream.detectors.baseline import Baseline, build_baseline
from driftstream.detectors.events import Event, EventKind
from driftstream.sinks.base import BatchingSink, Sink
from driftstream.sinks.console import ConsoleSink
from driftstream.sinks.events_file import EventsFileSink
from driftstream.streamer.app.build import build_replay
from driftstream.streamer.app.config import Config, load_config
from driftstream.streamer.app.progress import Progress
from driftstream.streamer.sources.memory import IterSource
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines, training_csv

TRAINING_ROWS = 20_000


class _Collect(BatchingSink):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def write(self, batch: list[Event]) -> None:
        self.events.extend(batch)


def demo_changes(at: int) -> tuple[Change, ...]:
    return (
        Change("mean_shift", "age", at, 0.75),
        Change("mean_shift", "balance", at, 0.5),
        Change("variance", "score_b", at, 2.0),
        Change("category_mix", "country", at, 0.3),
        Change("category_mix", "device", at, 0.3),
        Change("missing", "session_seconds", at, 0.2),
    )


def run_demo(
    *,
    records: int,
    rate: float,
    metrics_port: int,
    events_out: Path | None,
    stop: threading.Event,
) -> int:
    say = print
    change_at = records // 2
    changes = demo_changes(change_at)
    with tempfile.TemporaryDirectory(prefix="driftstream-demo-") as tmp:
        config = _demo_config(Path(tmp), metrics_port)
        scenario = Scenario("demo", records, changes, seed=11, seconds_between=1.0 / rate)
        source = IterSource(
            capture_lines(scenario),
            records,
            name="demo",
            batch_size=max(64, int(rate // 20)),
            speed=1.0,
            stop=stop,
        )
        collect = _Collect()
        progress = Progress(records, unit="records", desc="demo", stream=sys.stdout)
        sinks: list[Sink] = [ConsoleSink(progress.write), collect]
        if events_out is not None:
            sinks.append(EventsFileSink(events_out))
        say("calibrating detectors to 1 false alarm per million records ...")
        run = build_replay(
            config,
            source,
            sinks,
            checkpoint_dir=Path(tmp) / "checkpoint",
            metrics_required=False,
            stop=stop,
            progress=progress.hook,
        )
        if run.metrics.bound_port is not None:
            say(f"metrics: http://127.0.0.1:{run.metrics.bound_port}/metrics")
        say(f"replaying {records:,} records at {rate:,.0f}/s; from record {change_at:,}:")
        for ch in changes:
            say(f"  - {ch.feature}: {ch.kind.replace('_', ' ')} {ch.magnitude:g}")
        try:
            summary = run.service.run()
        finally:
            progress.close()
            run.close()
    say("")
    say(f"done: {summary.records_read:,} records in {summary.seconds:.1f}s")
    _report(collect.events, changes, change_at)
    return 0


def write_demo_baseline(out_dir: Path) -> Baseline:
    """The demo's baseline (generated training rows, the same every time) written to `out_dir`.

    Also the starter baseline of `docker compose up` on a fresh clone (streamer/app/prepare.py).
    """
    with tempfile.TemporaryDirectory(prefix="driftstream-training-") as tmp:
        train = Path(tmp) / "training.csv"
        train.write_text(training_csv(TRAINING_ROWS, seed=1))
        return build_baseline(train, out_dir, label_column="prediction")


def _demo_config(tmp: Path, metrics_port: int) -> Config:
    """A baseline of generated training rows in `tmp`, and the demo's config around it."""
    baseline_dir = tmp / "baseline"
    baseline = write_demo_baseline(baseline_dir)
    print(
        f"baseline: {TRAINING_ROWS:,} generated training rows, {len(baseline.features)} "
        f"features (written to a temporary {baseline_dir.name}/)"
    )
    return load_config(
        None,
        environ={},
        baseline=str(baseline_dir),
        endpoint="demo",
        **{"metrics.port": metrics_port},
    )


def _report(events: list[Event], changes: tuple[Change, ...], change_at: int) -> None:
    changed = {c.feature for c in changes}
    first: dict[str, Event] = {}
    false_alarms = 0
    for e in events:
        if e.kind not in (EventKind.DRIFT, EventKind.VIOLATION) or e.record_index is None:
            continue
        if e.record_index < change_at or (e.feature not in changed and e.feature != "prediction"):
            false_alarms += 1
        elif e.feature is not None:
            first.setdefault(e.feature, e)
    print("what changed at record", f"{change_at:,}", "and when it was detected:")
    for ch in changes:
        hit = first.get(ch.feature)
        if hit is None or hit.record_index is None:
            print(f"  {ch.feature:<18} not detected")
        else:
            print(
                f"  {ch.feature:<18} {hit.detector:<24} "
                f"after {hit.record_index - change_at:>6,} records"
            )
    pred = first.get("prediction")
    if pred is not None:
        print(
            f"  {'prediction':<18} {pred.detector:<24} after "
            f"{(pred.record_index or 0) - change_at:>6,} records (follows age)"
        )
    signals = [
        e
        for e in events
        if e.kind is EventKind.RETRAIN_SIGNAL and e.extra.get("decision") != "deferred"
    ]
    for s in signals:
        print(f"retrain signal at record {s.record_index:,}: {', '.join(s.extra['features'])}")
    print(f"false alarms (before the change or on unchanged features): {false_alarms}")
