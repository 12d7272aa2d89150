"""The drift gauges: every registered detector's statistic is exported, whatever the engine."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from driftstream.detectors.monitor import Monitor
from driftstream.sinks.prometheus import PrometheusSink
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.runtime.metrics import PartitionDriftCollector
from driftstream.streamer.sources.base import Partition
from driftstream.streamer.sources.synthetic import Scenario, capture_lines
from tests.streamer.live_doubles import small_monitor


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaptureDecoder, Monitor]:
    return small_monitor(tmp_path_factory.mktemp("prometheus"))


def _monitor(parts: tuple[CaptureDecoder, Monitor], engine: str) -> Monitor:
    _, built = parts
    settings = built.settings.model_copy(update={"engine": engine})
    return Monitor(built.baseline, built.numeric_columns, built.categorical_columns, settings)


@pytest.mark.parametrize("engine", ["batched", "river"])
def test_every_detector_statistic_is_a_gauge_after_a_batch(
    parts: tuple[CaptureDecoder, Monitor], engine: str
) -> None:
    decoder, _ = parts
    monitor = _monitor(parts, engine)
    registry = CollectorRegistry()
    sink = PrometheusSink("churn", registry=registry)
    sink.watch(lambda: monitor.current, monitor.state.active.keys)
    # the live service's collector reads the partitions' views (its own registry: same names)
    live = CollectorRegistry()
    live.register(PartitionDriftCollector("churn", lambda: {Partition("captures", 0): view}))

    view = monitor.view()
    assert registry.get_sample_value("driftstream_drift_statistic", _labels("adwin")) is None
    monitor.process(decoder.decode(list(capture_lines(Scenario("p", 3000))), 0))
    view = monitor.view()

    for detector in ("adwin", "page_hinkley", "distribution", "completeness_check"):
        labels = _labels(detector)
        statistic = registry.get_sample_value("driftstream_drift_statistic", labels)
        threshold = registry.get_sample_value("driftstream_drift_threshold", labels)
        assert statistic is not None and math.isfinite(statistic), detector
        assert threshold is not None and math.isfinite(threshold), detector
        assert (statistic, threshold) == monitor.current[("age", detector)]
        where = {**labels, "topic": "captures", "partition": "0"}
        assert live.get_sample_value("driftstream_drift_statistic", where) == statistic


def _labels(detector: str) -> dict[str, str]:
    return {"endpoint": "churn", "feature": "age", "detector": detector}
