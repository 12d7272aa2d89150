"""What monitoring costs (streamer/runtime/cost.py): this process's CPU seconds and peak memory,
plus those the monitor process sends with its replies, read at scrape time."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from driftstream.detectors.monitor import Monitor
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.runtime.cost import MonitoringCostCollector, ResourceUsage, own_usage
from driftstream.streamer.runtime.host import ProcessMonitorHost
from driftstream.streamer.sources.base import Partition, RawBatch
from driftstream.streamer.sources.synthetic import Scenario, capture_lines
from tests.streamer.live_doubles import small_monitor

P0 = Partition("captures", 0)


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[CaptureDecoder, Monitor]:
    return small_monitor(tmp_path_factory.mktemp("cost"))


@pytest.fixture
def process_host(parts: tuple[CaptureDecoder, Monitor]) -> Iterator[ProcessMonitorHost]:
    host = ProcessMonitorHost(*parts)
    host.start()
    yield host
    host.close()


def _cost(registry: CollectorRegistry) -> tuple[float, float]:
    cpu = registry.get_sample_value("driftstream_monitor_cpu_seconds_total", {"endpoint": "e"})
    peak = registry.get_sample_value("driftstream_monitor_peak_memory_bytes", {"endpoint": "e"})
    assert cpu is not None and peak is not None
    return cpu, peak


def test_own_usage_is_getrusage_in_seconds_and_bytes() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF)
    usage = own_usage()
    assert usage.cpu_seconds >= before.ru_utime + before.ru_stime
    assert usage.peak_memory_bytes >= before.ru_maxrss * 1024  # Linux: kibibytes
    assert usage.peak_memory_bytes > 10 * 2**20  # an interpreter with numpy: tens of MiB


def test_the_monitor_process_usage_is_added_to_this_process_usage() -> None:
    child = ResourceUsage(cpu_seconds=1000.0, peak_memory_bytes=2**40)
    alone, together = CollectorRegistry(), CollectorRegistry()
    alone.register(MonitoringCostCollector("e"))
    together.register(MonitoringCostCollector("e", lambda: child))
    before = own_usage()
    cpu_alone, peak_alone = _cost(alone)
    cpu_together, peak_together = _cost(together)
    after = own_usage()
    assert before.cpu_seconds <= cpu_alone <= after.cpu_seconds
    assert before.cpu_seconds + 1000.0 <= cpu_together <= after.cpu_seconds + 1000.0
    assert before.peak_memory_bytes <= peak_alone <= after.peak_memory_bytes
    assert before.peak_memory_bytes + 2**40 <= peak_together <= after.peak_memory_bytes + 2**40


def test_the_monitor_process_reports_its_usage_with_every_reply(
    process_host: ProcessMonitorHost,
) -> None:
    started = process_host.usage()
    assert started is not None  # sent with its first reply: ready
    assert started.cpu_seconds > 0  # it warmed up the detectors
    assert started.peak_memory_bytes > 10 * 2**20
    lines = list(capture_lines(Scenario("cost", 5000, (), seed=3)))
    process_host.open(P0, None)
    process_host.submit([RawBatch(0, lines, meta={"partition": P0})])
    process_host.collect()
    worked = process_host.usage()
    assert worked is not None
    assert worked.cpu_seconds > started.cpu_seconds  # 5,000 records decoded and monitored
    assert worked.peak_memory_bytes >= started.peak_memory_bytes
