"""Fuzzing the checkpoint reader (hypothesis): stored bytes to a restored monitor.

Whatever a stored checkpoint holds, `decode` raises CheckpointError with one line, or returns a
checkpoint of the right partition with a whole, non-negative offset; and opening a partition
from its monitor state raises MonitorStateError with one line, or restores it (with either
engine; a panic of river's Rust code is a BaseException and fails the test outright). The
example budget is fixed and the examples are derandomised, so CI runs the same cases every time.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftstream.detectors.baseline import build_baseline
from driftstream.detectors.monitor import Monitor
from driftstream.detectors.settings import CalibrationSettings, DetectorSettings, WindowSettings
from driftstream.streamer.checkpoint.base import Checkpoint, CheckpointError, decode, encode
from driftstream.streamer.decode.base import FeatureLayout
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.runtime.base import MonitorStateError
from driftstream.streamer.runtime.host import PartitionMonitors
from driftstream.streamer.sources.base import Partition
from driftstream.streamer.sources.synthetic import Change, Scenario, capture_lines, training_csv
from tests.mutations import JSON, mutated

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
P = Partition("captures", 3)


def _read(data: bytes) -> Checkpoint | None:
    """decode(data): the checkpoint, or None when refused in one line."""
    try:
        checkpoint = decode(data, where="cp/g/captures/3.json", group="g", partition=P)
    except CheckpointError as exc:
        assert "\n" not in str(exc), str(exc)
        return None
    assert (checkpoint.group, checkpoint.partition) == ("g", P)
    assert type(checkpoint.offset) is int and checkpoint.offset >= 0
    assert isinstance(checkpoint.monitor, dict)
    return checkpoint


ENVELOPE = orjson.loads(encode(Checkpoint("g", P, 1200, {"version": 1})))


def _stored(document: Any) -> bytes:
    """`document` stored as a hand edit would store it (encode's orjson refuses integers
    beyond 64 bits)."""
    return json.dumps(document).encode()


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=64),
        mutated(ENVELOPE).map(_stored),
        JSON.map(_stored),
        st.builds(lambda cut: encode(Checkpoint("g", P, 7, {}))[:cut], st.integers(0, 200)),
    )
)
def test_decode_reads_or_refuses_any_bytes(data: bytes) -> None:
    _read(data)


@pytest.fixture(scope="module", params=["batched", "river"])
def partition_monitors(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PartitionMonitors, dict[str, Any]]:
    """The host's monitors of one engine, and a real state of theirs after 1,500 records."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "t.csv").write_text(training_csv(3000, seed=1))
    baseline = build_baseline(root / "t.csv", root / "b", label_column="prediction")
    layout = FeatureLayout.from_baseline(baseline)
    settings_ = DetectorSettings(
        engine=request.param,
        window=WindowSettings(size=500, hop=250),
        calibration=CalibrationSettings(samples=10_000, cache_dir=root / "cal"),
    )
    prototype = Monitor(baseline, layout.numeric, layout.categorical, settings_)
    monitors = PartitionMonitors(CaptureDecoder(baseline), prototype)
    monitors.open(P, None)
    scenario = Scenario("s", 1500, (Change("mean_shift", "age", 1200, 3.0),))
    monitors.process([(P, 0, list(capture_lines(scenario)), {}, [])])
    state = orjson.loads(orjson.dumps(monitors.states([P])[P]))
    return monitors, state


def test_a_stored_checkpoint_opens_its_partition_or_stops_in_one_line(
    partition_monitors: tuple[PartitionMonitors, dict[str, Any]],
) -> None:
    monitors, state = partition_monitors

    @FUZZ
    @given(mutated(state))
    def check(monitor_state: Any) -> None:
        stored = _stored({**ENVELOPE, "offset": 1500, "monitor": monitor_state})
        checkpoint = _read(stored)
        if checkpoint is None:
            return
        try:
            view = monitors.open(P, copy.deepcopy(checkpoint.monitor))
        except MonitorStateError as exc:
            assert "\n" not in str(exc), str(exc)
            assert str(exc).startswith("checkpoint of captures/3 cannot be restored: ")
        else:
            assert view.rows_seen == checkpoint.monitor["rows_seen"]

    check()
