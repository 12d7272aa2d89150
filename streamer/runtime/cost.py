"""What monitoring costs: CPU seconds and peak memory of this process and of the monitor's own
process, read when Prometheus scrapes (nothing is counted per record).

Each process measures itself with getrusage(2): user + system CPU seconds, and the peak resident
set size the kernel keeps (ru_maxrss, so no short peak between two scrapes is missed). The monitor
child (ProcessMonitorHost, streamer/runtime/host.py) sends its figures with every reply, so the
parent knows them as of the child's latest batch without asking it.

- `driftstream_monitor_cpu_seconds_total{endpoint}`: this process plus the monitor child; per
  million records it is a recording rule (deploy/prometheus/rules.yml);
- `driftstream_monitor_peak_memory_bytes{endpoint}`: the sum of each process's own peak, so an
  upper bound of their peak together (the two need not peak at once), and what a container
  holding both must allow for.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: ru_maxrss is in kibibytes on Linux, in bytes on macOS
MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024


@dataclass(frozen=True)
class ResourceUsage:
    """A process's CPU seconds (user + system) and peak resident memory since it started."""

    cpu_seconds: float
    peak_memory_bytes: int

    def __add__(self, other: ResourceUsage) -> ResourceUsage:
        return ResourceUsage(
            self.cpu_seconds + other.cpu_seconds, self.peak_memory_bytes + other.peak_memory_bytes
        )


def own_usage() -> ResourceUsage:
    """This process's usage so far (one system call)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return ResourceUsage(r.ru_utime + r.ru_stime, r.ru_maxrss * MAXRSS_BYTES)


#: the monitor process's latest usage; None when monitoring runs in this process
ChildUsage = Callable[[], ResourceUsage | None]


class MonitoringCostCollector(Collector):
    """The cost gauges of one run (see the module docstring), read at scrape time."""

    def __init__(self, endpoint: str, child: ChildUsage = lambda: None) -> None:
        self.endpoint = endpoint
        self._child = child

    def collect(self) -> Iterable[Metric]:
        usage = own_usage()
        child = self._child()
        if child is not None:
            usage += child
        cpu = CounterMetricFamily(
            "driftstream_monitor_cpu_seconds",
            "CPU seconds (user + system) of this process and of the monitor process",
            labels=["endpoint"],
        )
        cpu.add_metric([self.endpoint], usage.cpu_seconds)
        memory = GaugeMetricFamily(
            "driftstream_monitor_peak_memory_bytes",
            "Peak resident memory of this process plus that of the monitor process",
            labels=["endpoint"],
        )
        memory.add_metric([self.endpoint], usage.peak_memory_bytes)
        return [cpu, memory]
