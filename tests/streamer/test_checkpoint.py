"""Checkpoint format and the local-directory store."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from driftstream.detectors.baseline import build_baseline
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.settings import CalibrationSettings, DetectorSettings
from driftstream.streamer.checkpoint.base import (
    CHECKPOINT_VERSION,
    Checkpoint,
    CheckpointError,
    CheckpointUnavailableError,
    decode,
    encode,
)
from driftstream.streamer.checkpoint.directory import DirectoryCheckpointStore
from driftstream.streamer.decode.base import FeatureLayout
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.base import Partition
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines, training_csv

P = Partition("captures", 3)


def checkpoint(offset: int = 42, group: str = "g") -> Checkpoint:
    state = {"version": 1, "rows_seen": offset, "tail": {"numeric": [[1.5, None]]}}
    return Checkpoint(group, P, offset, state)


def document(**changes: object) -> bytes:
    """A stored checkpoint of P for group g, with `changes` (None values included)."""
    doc = json.loads(encode(checkpoint()))
    doc.update(changes)
    return json.dumps(doc).encode()


def test_format_is_versioned_json_that_round_trips() -> None:
    data = encode(checkpoint())
    doc = json.loads(data)
    assert doc["version"] == CHECKPOINT_VERSION
    assert (doc["group"], doc["topic"], doc["partition"], doc["offset"]) == ("g", "captures", 3, 42)
    assert "written_at" in doc
    assert decode(data, where="x", group="g", partition=P) == checkpoint()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x04pickle", "is not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"version": 99}).encode(), "version 99"),
        (encode(checkpoint(group="other")), "belongs to"),
        (document(offset=-1), r"offset: Input should be greater than or equal to 0, got -1$"),
        # valid JSON, but wrong: strict types, every key, and bounds (issue 13)
        (document(version=True), "version True"),
        (document(partition=True), r"partition: Input should be a valid integer, got True$"),
        (document(offset=True), "offset: Input should be a valid integer"),
        (document(offset="12"), "offset: Input should be a valid integer"),
        (document(offset=1.0), "offset: Input should be a valid integer"),
        (document(offset=2**70), "offset: Input should be a valid integer"),  # a float in JSON
        (document(offset=2**63), "offset: Input should be less than or equal to"),
        (document(monitor=[]), "monitor: Input should be a valid dictionary"),
        (document(group=None), "group: Input should be a valid string"),
        (document(extra=1), "extra: Extra inputs are not permitted"),
        (document(written_at=None), "written_at: Input should be a valid string"),
    ],
)
def test_unusable_checkpoints_are_named(data: bytes, message: str) -> None:
    with pytest.raises(CheckpointError, match=message) as raised:
        decode(data, where="here", group="g", partition=P)
    assert "\n" not in str(raised.value)


def test_directory_store_keeps_the_latest_per_partition(tmp_path: Path) -> None:
    store = DirectoryCheckpointStore(tmp_path / "cp")
    store.setup()
    assert store.load("g", P) is None
    store.save([checkpoint(10)])
    store.save([checkpoint(20)])
    assert store.load("g", P) == checkpoint(20)
    assert store.path("g", P) == tmp_path / "cp" / "g" / "captures" / "3.json"
    # written atomically: no temporary files are left behind
    assert [p.name for p in store.path("g", P).parent.iterdir()] == ["3.json"]
    # another process (a new store on the same directory) sees it
    assert DirectoryCheckpointStore(tmp_path / "cp").load("g", P) == checkpoint(20)


@pytest.mark.parametrize("group", ["..", ".", "a/b", "weird group ü"])
def test_group_names_cannot_escape_the_directory(tmp_path: Path, group: str) -> None:
    store = DirectoryCheckpointStore(tmp_path / "cp")
    store.save([checkpoint(group=group)])
    path = store.path(group, P)
    assert path.resolve().is_relative_to((tmp_path / "cp").resolve())
    assert len(path.relative_to(tmp_path / "cp").parts) == 3
    assert store.load(group, P) == checkpoint(group=group)


def test_an_unwritable_directory_is_reported_not_raised_raw(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        store = DirectoryCheckpointStore(blocker / "cp")
    else:  # pragma: no cover - depends on who runs the tests
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        store = DirectoryCheckpointStore(locked / "cp")
    with pytest.raises(CheckpointUnavailableError):
        store.setup()
    with pytest.raises(CheckpointUnavailableError):
        store.save([checkpoint()])


def test_monitor_state_survives_the_format(tmp_path: Path) -> None:
    """A real monitor's state, through encode/decode, restores to the same behaviour."""
    (tmp_path / "t.csv").write_text(training_csv(3000, seed=1))
    baseline = build_baseline(tmp_path / "t.csv", tmp_path / "b", label_column="prediction")
    layout = FeatureLayout.from_baseline(baseline)
    settings = DetectorSettings(
        calibration=CalibrationSettings(samples=10_000, cache_dir=tmp_path / "cal")
    )
    monitor = Monitor(baseline, layout.numeric, layout.categorical, settings)
    twin = copy.deepcopy(monitor)
    decoder = CaptureDecoder(baseline)
    lines = list(capture_lines(Scenario("s", 3000, (Change("mean_shift", "age", 1000, 2.0),))))
    monitor.process(decoder.decode(lines[:1500], 0))
    store = DirectoryCheckpointStore(tmp_path / "cp")
    store.save([Checkpoint("g", P, 1500, monitor.state_dict())])
    loaded = store.load("g", P)
    assert loaded is not None
    twin.load_state(loaded.monitor)
    rest = decoder.decode(lines[1500:], 1500)
    assert twin.process(rest) == monitor.process(rest)
