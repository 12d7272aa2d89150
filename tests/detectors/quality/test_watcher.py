"""The model-quality watcher in a monitor, fed as a replay feeds it: captures read from a file,
ground truth from an S3-style folder released as the captures' inferenceTime passes each label's
hour, decoded as the monitor host decodes them.

The stream: 40,000 records a second apart (synthetic inputs; the model's score), labels
collected 10 minutes after each inference, filed under the hour of collection, so each becomes
available when that hour is over. From record 20,000 the relation between the inputs and the
label changes (accuracy 0.86 → 0.68) while inputs and predictions keep their distribution.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as sk

from driftstream.detectors.constraints.window import WindowSpec
from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.quality.baseline import build_model_quality
from driftstream.detectors.quality.files import ModelQualityBaseline
from driftstream.detectors.quality.metrics import ProblemType
from driftstream.detectors.quality.settings import JoinSettings, ModelQualitySettings
from driftstream.detectors.quality.watcher import CHECK, ONLINE, VALUES, ModelQuality
from driftstream.sinks.aws import AwsSettings
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.decode.ground_truth import decode_ground_truth
from driftstream.streamer.sources.files import FileSource
from driftstream.streamer.sources.ground_truth import ground_truth_feed
from driftstream.streamer.sources.synthetic import Scenario, generate
from tests.detectors.quality import labelled

N = 40_000
CHANGE = 20_000
SECONDS = 1.0
DELAY = 600.0
SEED = 7


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory) -> ModelQualityBaseline:
    root = tmp_path_factory.mktemp("mq")
    (root / "training.csv").write_text(labelled.training_csv(20_000, seed=1))
    built, dropped = build_model_quality(
        root / "training.csv",
        root / "model_quality",
        prediction_column="prediction",
        ground_truth_column="label",
        problem=ProblemType.BINARY,
    )
    assert dropped == 0
    return built


@dataclass
class Stream:
    captures: Path
    ground_truth: Path
    labels: np.ndarray


def write_stream(
    root: Path,
    *,
    keep: np.ndarray | None = None,
    extra: list[bytes] | None = None,
    change_at: int | None = CHANGE,
) -> Stream:
    root.mkdir(parents=True, exist_ok=True)
    scenario = Scenario("labelled", N, seed=SEED, seconds_between=SECONDS)
    (root / "capture.jsonl").write_bytes(b"\n".join(labelled.captures(scenario)) + b"\n")
    labels = labelled.truth(N, SEED, change_at)
    labelled.write_ground_truth(
        root / "gt",
        labels,
        seconds_between=SECONDS,
        delay_seconds=DELAY,
        keep=keep,
        extra=extra or [],
    )
    return Stream(root / "capture.jsonl", root / "gt", labels)


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    return write_stream(tmp_path_factory.mktemp("stream"))


Factory = Callable[..., Monitor]


@pytest.fixture
def monitor_with(make_monitor: Callable[..., Monitor], quality: ModelQualityBaseline) -> Factory:
    def make(window: str = "1h", **settings: Any) -> Monitor:
        base = make_monitor()
        watcher = ModelQuality(
            quality,
            base.numeric_columns,
            base.categorical_columns,
            WindowSpec.parse(window),
            ModelQualitySettings(ground_truth="gt", **settings),
            base.settings,
        )
        return Monitor(
            base.baseline,
            base.numeric_columns,
            base.categorical_columns,
            base.settings,
            watchers=[watcher],
        )

    return make


def replay(
    monitor: Monitor,
    stream: Stream,
    *,
    batch_size: int = 4096,
    stop_at: int | None = None,
    start_at: int = 0,
    after_batch: Callable[[], None] = lambda: None,
) -> list[Event]:
    """What the replay does with the monitor: captures in batches, each with the labels the
    feed releases with it, decoded as the host decodes them; from `start_at` (seeking as a
    resumed replay does), up to `stop_at`."""
    source = FileSource(stream.captures, batch_size=batch_size)
    source.ground_truth = ground_truth_feed(str(stream.ground_truth), AwsSettings())
    if start_at:
        source.seek(source.partition, start_at)
    decoder = CaptureDecoder(monitor.baseline)
    events: list[Event] = []
    while stop_at is None or source._next < stop_at:
        limit = batch_size if stop_at is None else min(batch_size, stop_at - source._next)
        source.batch_size = limit
        polled = source.poll()
        if not polled:
            break
        (raw,) = polled
        decoded = decoder.decode(raw.lines, raw.first_index)
        decoded.ground_truth = decode_ground_truth(raw.meta["ground_truth"])
        events.extend(monitor.process(decoded))
        after_batch()
    source.close()
    return [e for e in events if (e.detector or "").startswith("model_quality")]


def first_post_change_release() -> int:
    """The record at which the first label of a record after the change becomes available:
    the end of the hour in which it was collected."""
    collected = CHANGE * SECONDS + DELAY
    return int(math.ceil((collected + 1) / 3600) * 3600 / SECONDS)


def test_the_quality_loss_is_caught_soon_after_its_labels_arrive_and_not_before(
    monitor_with: Factory, stream: Stream
) -> None:
    monitor = monitor_with()
    events = replay(monitor, stream)
    released = first_post_change_release()
    drift = [e for e in events if e.detector == ONLINE]
    violations = [e for e in events if e.detector == CHECK]
    print(
        f"\nchange at record {CHANGE}; its first labels available at record {released}; "
        f"online detection at {[e.record_index for e in drift]}; "
        f"window violations {[(e.extra['metric'], e.record_index) for e in violations]}"
    )
    assert drift, "the online detector missed the quality loss"
    assert violations, "no window check saw the quality loss"
    # nothing before labels of the changed relation could be known
    assert min(e.record_index or 0 for e in events) >= released
    first = drift[0]
    assert first.kind is EventKind.DRIFT
    assert first.extra == {"metric": "accuracy"}
    assert first.value is not None and first.threshold is not None
    assert first.value > first.threshold
    delay = (first.record_index or 0) - CHANGE
    print(
        f"detection delay: {delay} records after the change, {delay - (released - CHANGE)} "
        "after its first labels arrived"
    )
    assert first.record_index == released  # caught with the first hour of late labels
    assert len(drift) == 1  # one alarm per change
    accuracy = next(e for e in violations if e.extra["metric"] == "accuracy")
    assert accuracy.kind is EventKind.VIOLATION
    assert accuracy.value is not None and accuracy.threshold is not None
    assert accuracy.value < accuracy.threshold
    assert accuracy.extra["comparison_operator"] == "LessThanThreshold"
    counts = monitor.watchers[0].counts()
    assert counts["labels_rejected"] == 0
    assert counts["labels_unusable"] == 0
    assert counts["predictions_without_id"] == 0


def test_a_window_s_metrics_equal_scikit_learns_on_its_pairs(
    monitor_with: Factory, stream: Stream
) -> None:
    """Record windows of 3,600 records: the window [21,600, 25,200) holds the labels released
    at record 21,600 (they come after that record, so not in the window before), those
    collected in hour 5: of records 17,400 to 20,999."""
    monitor = monitor_with(window="3600r")
    replay(monitor, stream, stop_at=25_200)
    readings = monitor.watchers[0].readings()
    ids = np.arange(17_400, 21_000)
    numeric, _ = generate(N, SEED)
    score = np.array([float(f"{v:.6g}") for v in numeric["prediction"][ids]])
    truth = stream.labels[ids]
    called = score > 0.5
    assert readings[("accuracy", VALUES)][0] == pytest.approx(sk.accuracy_score(truth, called))
    assert readings[("f1", VALUES)][0] == pytest.approx(sk.f1_score(truth, called))
    assert readings[("auc", VALUES)][0] == pytest.approx(sk.roc_auc_score(truth, score))
    assert readings[("precision", VALUES)][0] == pytest.approx(sk.precision_score(truth, called))
    assert math.isnan(readings[("accuracy", VALUES)][1])


def test_events_do_not_depend_on_how_the_stream_is_cut(
    monitor_with: Factory, stream: Stream
) -> None:
    one = replay(monitor_with(), stream, batch_size=4096)
    other = replay(monitor_with(), stream, batch_size=1000)
    assert [e.to_dict() for e in one] == [e.to_dict() for e in other]


def test_a_checkpoint_mid_stream_restores_the_same_events(
    monitor_with: Factory, stream: Stream
) -> None:
    whole = replay(monitor_with(), stream)
    first = monitor_with()
    before = replay(first, stream, stop_at=21_000)  # labels wait in the join buffer now
    state = json.loads(json.dumps(first.state_dict()))
    assert state["watchers"]["model_quality"]["predictions"]
    second = monitor_with()
    second.load_state(state)
    after = replay(second, stream, start_at=21_000)
    assert [e.to_dict() for e in before + after] == [e.to_dict() for e in whole]
    assert second.watchers[0].counts() == replay_counts(monitor_with, stream)


def replay_counts(monitor_with: Factory, stream: Stream) -> dict[str, int]:
    monitor = monitor_with()
    replay(monitor, stream)
    return monitor.watchers[0].counts()


def test_unmatched_labels_and_expired_predictions_are_counted_and_memory_stays_bounded(
    monitor_with: Factory, tmp_path: Path
) -> None:
    keep = np.random.default_rng(3).random(N) >= 0.1  # a tenth of the records get no label
    strangers = [labelled.ground_truth_line(f"unknown-{i}", 1) for i in range(25)]
    garbage = [b"not json", b'{"groundTruthData": {"data": "1"}}']
    # a label is released once the hour it was collected in is over; the last hours' never are
    collected = np.arange(N) * SECONDS + DELAY
    released = (np.floor(collected / 3600) + 1) * 3600 <= (N - 1) * SECONDS
    labels_released = int((keep & released).sum())
    stream = write_stream(tmp_path, keep=keep, extra=strangers + garbage)
    monitor = monitor_with(join=JoinSettings(ttl_records=10_000, max_pending_predictions=9_000))
    watcher = monitor.watchers[0]
    assert isinstance(watcher, ModelQuality)
    source_events = replay(monitor, stream)
    assert source_events  # still watching
    largest = len(watcher._predictions)
    counts = watcher.counts()
    assert largest <= 9_000
    assert counts["labels_rejected"] == 2  # the two lines that are not ground truth
    assert counts["labels_received"] == labels_released + 25
    assert counts["labels_unmatched"] == 25  # dropped after 10,000 records unmatched
    matched = counts["labels_matched"]
    # a prediction is matched, expired (by age or by the bound), or still waiting at the end
    assert matched + counts["predictions_expired"] + len(watcher._predictions) == N
    assert matched == labels_released  # every released label of a record found its record
    assert counts["pairs"] == matched
    waiting = len(watcher._predictions)
    finished = monitor.finish()
    assert all(e.detector == CHECK for e in finished)
    done = watcher.counts()
    assert done["predictions_pending_at_end"] == waiting
    assert len(watcher._predictions) == 0


def test_the_join_buffer_never_outgrows_its_bounds(monitor_with: Factory, tmp_path: Path) -> None:
    """Labels wait up to 70 minutes; a buffer of 2,000 predictions holds about 33: the oldest
    are pushed out (expired), and their labels, arriving later, wait among at most 500 labels
    until they are pushed out in turn (unmatched)."""
    stream = write_stream(tmp_path)
    join = JoinSettings(max_pending_predictions=2_000, max_pending_labels=500)
    monitor = monitor_with(join=join)
    watcher = monitor.watchers[0]
    assert isinstance(watcher, ModelQuality)
    sizes: list[tuple[int, int]] = []
    replay(
        monitor,
        stream,
        after_batch=lambda: sizes.append((len(watcher._predictions), len(watcher._labels))),
    )
    assert max(p for p, _ in sizes) == 2_000
    assert max(lab for _, lab in sizes) == 500
    counts = watcher.counts()
    assert counts["predictions_expired"] > 0
    assert counts["labels_unmatched"] > 0
    waiting_predictions, waiting_labels = sizes[-1]
    assert counts["labels_matched"] + counts["predictions_expired"] + waiting_predictions == N
    assert (
        counts["labels_matched"] + counts["labels_unmatched"] + waiting_labels
        == counts["labels_received"]
    )


def test_a_model_as_good_as_its_baseline_raises_no_quality_event(
    monitor_with: Factory, tmp_path: Path
) -> None:
    """The same stream without the change: every window holds the baseline's accuracy up to
    sampling error, and neither check cries wolf (thresholds are the baseline's own values)."""
    stream = write_stream(tmp_path, change_at=None)
    for window in ("1h", "2000r"):
        monitor = monitor_with(window=window)
        assert replay(monitor, stream) == [], window
        readings = monitor.watchers[0].readings()
        assert readings[("accuracy", VALUES)][0] == pytest.approx(0.86, abs=0.03)
