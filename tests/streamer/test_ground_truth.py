"""Ground truth for a replay: Model Monitor's records decoded (the real SDK sample included),
released with the captures as their inferenceTime passes each label's time, and joined to the
captured records (the real SDK capture sample and its actuals)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import numpy as np
import orjson
import pytest
from sklearn import metrics as sk

from driftstream.detectors.constraints.window import WindowSpec
from driftstream.detectors.quality.baseline import baseline_from_pairs
from driftstream.detectors.quality.metrics import Pairs, ProblemType
from driftstream.detectors.quality.settings import ModelQualitySettings
from driftstream.detectors.quality.watcher import VALUES, ModelQuality
from driftstream.detectors.settings import CalibrationSettings, DetectorSettings
from driftstream.sinks.aws import AwsSettings
from driftstream.streamer.decode.base import FeatureLayout
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.decode.ground_truth import decode_ground_truth
from driftstream.streamer.sources.files import FileSource, SourceError
from driftstream.streamer.sources.ground_truth import ground_truth_feed
from driftstream.streamer.sources.synthetic import capture_line
from tests.streamer.test_decode import baseline, numeric

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "model_monitor"  # copies: README there
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def label(event_id: str, data: str = "1", **metadata: str) -> bytes:
    return orjson.dumps(
        {
            "groundTruthData": {"data": data, "encoding": "CSV"},
            "eventMetadata": {"eventId": event_id, **metadata},
            "eventVersion": "0",
        }
    )


def test_the_real_sdk_actuals_decode() -> None:
    lines = (SAMPLES / "sdk_tests_actuals.jsonl").read_bytes().splitlines()
    truth = decode_ground_truth([(i, line) for i, line in enumerate(lines)])
    assert len(truth) == 44
    assert truth.rejected == {}
    assert truth.event_id[0] == "74b0dd56-e7c8-368e-94b1-14a138a96000"
    assert {v for values in truth.values for v in values} == {"0", "1"}
    assert truth.record.tolist() == list(range(44))


def test_label_encodings_and_unreadable_records() -> None:
    json_labels = '{"instances": [{"label": 0}, {"label": 1.5}, {"label": true}]}'
    items = [
        label("a", "1\n"),
        label("b", "0,0.3\n1,0.9"),
        orjson.dumps(
            {
                "groundTruthData": {"data": json_labels, "encoding": "JSON"},
                "eventMetadata": {"eventId": "c"},
            }
        ),
        orjson.dumps(
            {
                "groundTruthData": {"data": base64.b64encode(b"7").decode(), "encoding": "BASE64"},
                "eventMetadata": {"eventId": "d"},
            }
        ),
        b"{not json",
        label("", "1"),
        orjson.dumps({"eventMetadata": {"eventId": "e"}}),
        orjson.dumps(
            {"groundTruthData": {"data": "1", "encoding": "XML"}, "eventMetadata": {"eventId": "f"}}
        ),
    ]
    truth = decode_ground_truth([(10, line) for line in items])
    assert truth.event_id == ("a", "b", "c", "d")
    assert truth.values == (("1",), ("0", "1"), ("0", "1.5", "true"), ("7",))
    assert truth.rejected == {
        "invalid_json": 1,
        "no_event_id": 1,
        "not_ground_truth": 1,
        "unsupported_encoding": 1,
    }


def captures(n: int, seconds: float) -> list[bytes]:
    stamp = [
        (START + dt.timedelta(seconds=i * seconds)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(n)
    ]
    return [capture_line("1", "0.5", f"e{i}", stamp[i]) for i in range(n)]


def releases(source: FileSource) -> list[tuple[int, str]]:
    out = []
    while polled := source.poll():
        out += [
            (r, orjson.loads(line)["eventMetadata"]["eventId"])
            for r, line in polled[0].meta["ground_truth"]
        ]
    return out


def test_labels_are_released_when_the_captures_pass_their_time(tmp_path: Path) -> None:
    """Captures a minute apart for three hours. Files outside the hour layout are read first
    (as captures are ordered): an untimed label there (the SDK's placeholder time is no time)
    comes with the first record, one whose record says it is of an inference at 00:30 with
    record 30. Labels filed under hour 00 are available at 01:00 (record 60), under hour 01 at
    02:00 (record 120)."""
    (tmp_path / "capture.jsonl").write_bytes(b"\n".join(captures(180, 60.0)) + b"\n")
    gt = tmp_path / "gt"
    (gt / "2026/11/01/01").mkdir(parents=True)
    (gt / "2026/11/01/00").mkdir(parents=True)
    (gt / "2026/11/01/01/b.jsonl").write_bytes(label("late") + b"\n")
    (gt / "2026/11/01/00/a.jsonl").write_bytes(label("h0") + b"\n" + label("h0b") + b"\n")
    (gt / "flat").mkdir()
    (gt / "flat/0.jsonl").write_bytes(
        label("untimed", inferenceTime="{%s}")
        + b"\n"
        + label("timed", inferenceTime="2026-11-01T00:30:00Z")
        + b"\n"
    )
    source = FileSource(tmp_path / "capture.jsonl", batch_size=50)
    source.ground_truth = ground_truth_feed(str(gt), AwsSettings())
    assert releases(source) == [
        (0, "untimed"),
        (30, "timed"),
        (60, "h0"),
        (60, "h0b"),
        (120, "late"),
    ]


def test_a_flat_file_of_timed_labels_releases_each_at_its_time(tmp_path: Path) -> None:
    (tmp_path / "capture.jsonl").write_bytes(b"\n".join(captures(100, 60.0)) + b"\n")
    lines = [label("untimed")] + [
        label(f"t{m}", inferenceTime=(START + dt.timedelta(minutes=m)).isoformat())
        for m in (5, 5, 42, 99, 500)
    ]
    (tmp_path / "gt.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    source = FileSource(tmp_path / "capture.jsonl", batch_size=7)
    source.ground_truth = ground_truth_feed(str(tmp_path / "gt.jsonl"), AwsSettings())
    assert releases(source) == [(0, "untimed"), (5, "t5"), (5, "t5"), (42, "t42"), (99, "t99")]


def test_seeking_releases_exactly_what_a_whole_run_released_before(tmp_path: Path) -> None:
    """A resumed replay seeks to its checkpoint: the labels released before it are dropped (the
    checkpoint's join buffer holds them), the rest come as in the uninterrupted run."""
    (tmp_path / "capture.jsonl").write_bytes(b"\n".join(captures(400, 30.0)) + b"\n")
    rng = np.random.default_rng(2)
    lines = [
        label(f"x{i}", inferenceTime=(START + dt.timedelta(seconds=float(t))).isoformat())
        for i, t in enumerate(np.sort(rng.uniform(0, 12_000, 300)))
    ]
    (tmp_path / "gt.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    def run(seek: int) -> list[tuple[int, str]]:
        source = FileSource(tmp_path / "capture.jsonl", batch_size=64)
        source.ground_truth = ground_truth_feed(str(tmp_path / "gt.jsonl"), AwsSettings())
        if seek:
            source.seek(source.partition, seek)
        return releases(source)

    whole = run(0)
    assert len(whole) == 300
    assert run(137) == [(r, k) for r, k in whole if r >= 137]


def test_nothing_to_read_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^--ground-truth: .*does not exist"):
        ground_truth_feed(str(tmp_path / "missing"), AwsSettings())


def test_the_real_sdk_captures_join_their_actuals(tmp_path: Path) -> None:
    """sdk_tests_capture.jsonl (7 inputs, a probability) and sdk_tests_actuals.jsonl share
    their 44 eventIds: every label finds its prediction, and the window's metrics are
    scikit-learn's on those pairs."""
    schema = baseline(numeric("prediction"), *(numeric(f"_c{i}") for i in range(7)))
    layout = FeatureLayout.from_baseline(schema)
    rng = np.random.default_rng(0)
    score = rng.random(500)
    quality = baseline_from_pairs(
        Pairs(ProblemType.BINARY, (rng.random(500) < score).astype(float), score)
    )
    watcher = ModelQuality(
        quality,
        layout.numeric,
        layout.categorical,
        WindowSpec.parse("1000r"),
        ModelQualitySettings(min_pairs=10),
        DetectorSettings(calibration=CalibrationSettings(samples=20_000, cache_dir=tmp_path)),
    )
    captured = (SAMPLES / "sdk_tests_capture.jsonl").read_bytes().splitlines()
    actuals = (SAMPLES / "sdk_tests_actuals.jsonl").read_bytes().splitlines()
    batch = CaptureDecoder(schema).decode(captured, 0)
    assert batch.rejections == []
    batch.ground_truth = decode_ground_truth([(43, line) for line in actuals])
    watcher.process(batch, 0)
    watcher.finish()
    counts = watcher.counts()
    assert counts["labels_received"] == counts["labels_matched"] == counts["pairs"] == 44
    assert counts["predictions_pending_at_end"] == 0
    probability = batch.numeric[:, layout.numeric.index("prediction")]
    labels_by_id = {
        orjson.loads(x)["eventMetadata"]["eventId"]: int(orjson.loads(x)["groundTruthData"]["data"])
        for x in actuals
    }
    truth = np.array([labels_by_id[e] for e in batch.event_id])
    readings = watcher.readings()
    expected = sk.accuracy_score(truth, probability > 0.5)
    assert readings[("accuracy", VALUES)][0] == pytest.approx(expected)
    assert readings[("auc", VALUES)][0] == pytest.approx(sk.roc_auc_score(truth, probability))
