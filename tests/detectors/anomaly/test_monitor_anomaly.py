"""The anomaly watcher inside a Monitor: its share of the false-alarm budget, its readings and
counts in the view, and its state checkpointed with the monitor's."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from driftstream.detectors.anomaly import AnomalySettings, AnomalyWatcher
from driftstream.detectors.baseline import Baseline
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import Monitor
from tests.detectors.anomaly.test_watcher import batch, traffic


def _monitor(make_monitor: Callable[..., Monitor]) -> Monitor:
    base = make_monitor()
    watcher = AnomalyWatcher(
        base.baseline, base.numeric_columns, base.categorical_columns, AnomalySettings(enabled=True)
    )
    return Monitor(
        base.baseline,
        base.numeric_columns,
        base.categorical_columns,
        base.settings,
        watchers=[watcher],
    )


def _run(monitor: Monitor, baseline: Baseline, start: int, stop: int) -> list[Event]:
    x, c, _ = traffic(baseline, 12_000, seed=17, outlier_share=0.03, from_record=5_000)
    events: list[Event] = []
    for s in range(start, stop, 2000):
        events += monitor.process(batch(x, c, s, min(s + 2000, stop)))
    return events


def test_the_watcher_spends_one_share_of_the_budget_and_is_checkpointed(
    make_monitor: Callable[..., Monitor], synthetic_baseline: Baseline
) -> None:
    plain = make_monitor()
    monitor = _monitor(make_monitor)
    assert monitor.n_sources == plain.n_sources + 1
    watcher = monitor.watchers[0]
    assert isinstance(watcher, AnomalyWatcher)
    assert watcher.readings()[("anomaly_rate", "anomaly_rate")][1] == math.log(1 / monitor.beta)
    labels = monitor.event_labels()
    assert (EventKind.ANOMALY, None, "anomaly") in labels
    assert (EventKind.DRIFT, None, "anomaly_rate") in labels

    whole = _run(monitor, synthetic_baseline, 0, 12_000)
    assert [e.record_index for e in whole] == sorted(e.record_index or 0 for e in whole)
    assert [e.detector for e in whole if e.kind is EventKind.DRIFT] == ["anomaly_rate"]
    view = monitor.view()
    assert ("anomaly_rate", "anomaly_rate") in view.current
    assert view.counts[("anomaly", "rows_scored")] == 12_000

    first = _monitor(make_monitor)
    part = _run(first, synthetic_baseline, 0, 6_000)
    saved = json.loads(json.dumps(first.state_dict(), allow_nan=False))
    second = _monitor(make_monitor)
    second.load_state(saved)
    part += _run(second, synthetic_baseline, 6_000, 12_000)
    assert [e.to_dict() for e in part] == [e.to_dict() for e in whole]
