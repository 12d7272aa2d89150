"""Faults: the AWS endpoint goes away mid-run and comes back on the same port.

Each test runs its own ThreadedMotoServer, stops it mid-run and starts a new one on the same
port (moto keeps its state in the process, so the resources are still there). Monitoring goes on
meanwhile; buffered metrics and pending signals are delivered once the endpoint answers again;
the counters say what was dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from driftstream.detectors.events import Event
from driftstream.sinks.base import BatchingSink
from driftstream.sinks.cloudwatch import MODEL_MONITOR_NAMESPACE, CloudWatchSink
from driftstream.sinks.signals.delivery import SignalDeliverySink
from driftstream.streamer.app.build import build_live, build_replay
from driftstream.streamer.app.config import Config, load_config
from driftstream.streamer.sources.memory import IterSource
from tests.integration import aws_support as s
from tests.services import free_port

pytestmark = pytest.mark.integration


class Endpoint:
    """A moto server that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    s.use_dummy_keys(monkeypatch)
    e = Endpoint()
    e.start()
    yield e
    e.stop()


class _Collect(BatchingSink):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def write(self, batch: list[Event]) -> None:
        self.events.extend(batch)


def _config(tmp_path: Path, url: str, **sections: Any) -> Config:
    tree = s.base_config(url, metrics={"enabled": False}, **sections)
    tree["aws"].update({"max_attempts": 1, "connect_timeout_seconds": 1, "read_timeout_seconds": 5})
    return load_config(s.write_config(tmp_path / "c.yaml", tree))


def _sample(registry: Any, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return float(value) if value is not None else 0.0


def test_cloudwatch_and_signals_survive_an_outage(endpoint: Endpoint, tmp_path: Path) -> None:
    url = endpoint.url
    queue, queue_arn = s.sqs_queue(url, s.unique("q"))
    sns = s.client(url, "sns")
    topic = sns.create_topic(Name=s.unique("retrain"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    fast = {"initial_seconds": 0.2, "max_seconds": 1.0}
    config = _config(
        tmp_path,
        url,
        endpoint=s.unique("churn"),
        sinks={
            "cloudwatch": {
                "monitoring_schedule": "dq",
                "interval_seconds": 0,
                "max_buffered": 60,
                "retry": fast,
            },
            "signal_outbox": str(tmp_path / "outbox"),
            "signals": [
                {"type": "sns", "topic_arn": topic, "retry": fast},
                {"type": "file", "path": str(tmp_path / "signals.jsonl")},
            ],
            "flush_timeout_seconds": 1,
        },
    )
    lines = s.traffic()

    # the same records without any outage: what monitoring must still find
    reference = _Collect()
    ref_run = build_replay(
        config.model_copy(
            update={"sinks": config.sinks.model_copy(update={"cloudwatch": None, "signals": ()})}
        ),
        IterSource(lines),
        [reference],
        checkpoint_dir=tmp_path / "reference-checkpoint",
        metrics_required=False,
    )
    ref_run.service.run()
    ref_run.close()

    collect = _Collect()
    batches = [0]

    def after_batch(records: int, n_bytes: int) -> None:
        batches[0] += 1
        if batches[0] == 1:
            endpoint.stop()  # AWS goes away after the first batch

    run = build_replay(
        config,
        IterSource(lines, batch_size=1000),
        [collect],
        checkpoint_dir=tmp_path / "checkpoint",
        metrics_required=False,
        progress=after_batch,
    )
    registry = run.metrics.registry
    (cw,) = (x for x in run.sinks if isinstance(x, CloudWatchSink))
    (signals,) = (x for x in run.sinks if isinstance(x, SignalDeliverySink))
    run.service.run()

    # monitoring went on: the same events as without the outage
    assert [e.to_dict() for e in collect.events[:-1]] == [
        e.to_dict() for e in reference.events[:-1]
    ]
    key = next(
        e.extra["idempotency_key"]
        for e in collect.events
        if e.kind.value == "retrain_signal" and e.extra["decision"] == "retrain"
    )
    # the signal is in the outbox and in the local file, not yet on SNS
    assert signals.outbox.get(key) is not None
    file_target = f"file:{tmp_path / 'signals.jsonl'}"
    s.wait_for(lambda: signals.outbox.delivered(key, file_target), 10, "the file delivery")
    assert len((tmp_path / "signals.jsonl").read_text().splitlines()) == 1
    assert not signals.outbox.delivered(key, f"sns:{topic}")
    # 12 flushes of ~30 metric data each, 60 kept: the oldest were dropped and counted
    endpoint_label = config.endpoint
    overflow = _sample(
        registry,
        "driftstream_cloudwatch_metrics_dropped_total",
        endpoint=endpoint_label,
        reason="overflow",
    )
    assert overflow > 0
    assert (
        0
        < _sample(registry, "driftstream_cloudwatch_metrics_buffered", endpoint=endpoint_label)
        <= 60
    )
    assert (
        _sample(
            registry,
            "driftstream_signal_deliveries_total",
            endpoint=endpoint_label,
            target=f"sns:{topic}",
            outcome="failed",
        )
        >= 1
    )

    endpoint.start()  # back, same port, same state
    assert cw.wait_sent(30)
    assert signals.wait_delivered(30)
    (message,) = s.drain_queue(url, queue)
    assert json.loads(message)["idempotency_key"] == key
    assert signals.outbox.delivered(key, f"sns:{topic}")
    run.close()
    assert (
        _sample(
            registry,
            "driftstream_cloudwatch_metrics_dropped_total",
            endpoint=endpoint_label,
            reason="shutdown",
        )
        == 0
    )

    # what was kept reached CloudWatch, and so did the count of what was not
    cwc = s.client(url, "cloudwatch")
    now = dt.datetime.now(dt.UTC)
    dims = [
        {"Name": "Endpoint", "Value": endpoint_label},
        {"Name": "MonitoringSchedule", "Value": "dq"},
    ]
    points = cwc.get_metric_statistics(
        Namespace=MODEL_MONITOR_NAMESPACE,
        MetricName="feature_data_age",
        Dimensions=dims,
        StartTime=now - dt.timedelta(minutes=15),
        EndTime=now + dt.timedelta(minutes=5),
        Period=3600,
        Statistics=["SampleCount"],
    )["Datapoints"]
    assert points and points[0]["SampleCount"] >= 1000  # the last batches' values at least
    dropped = cwc.get_metric_statistics(
        Namespace="driftstream",
        MetricName="MetricsDropped",
        Dimensions=[{"Name": "Endpoint", "Value": endpoint_label}],
        StartTime=now - dt.timedelta(minutes=15),
        EndTime=now + dt.timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    assert dropped and dropped[0]["Sum"] <= overflow


def test_pending_signal_is_delivered_after_a_restart(endpoint: Endpoint, tmp_path: Path) -> None:
    """Decided while SNS is away, then the process ends: the next start delivers it."""
    url = endpoint.url
    queue, queue_arn = s.sqs_queue(url, s.unique("q"))
    sns = s.client(url, "sns")
    topic = sns.create_topic(Name=s.unique("retrain"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    config = _config(
        tmp_path,
        url,
        sinks={
            "signal_outbox": str(tmp_path / "outbox"),
            "flush_timeout_seconds": 0.5,
            "signals": [
                {
                    "type": "sns",
                    "topic_arn": topic,
                    "retry": {"initial_seconds": 0.2, "max_seconds": 0.5},
                }
            ],
        },
    )
    run = build_replay(
        config,
        IterSource(s.traffic()),
        [],
        checkpoint_dir=tmp_path / "checkpoint",
        metrics_required=False,
    )
    (signals,) = (x for x in run.sinks if isinstance(x, SignalDeliverySink))
    endpoint.stop()
    run.service.run()
    run.close()  # the process ends with the signal undelivered
    ((pending, missing),) = signals.outbox.pending([f"sns:{topic}"])
    assert missing == [f"sns:{topic}"]

    endpoint.start()
    # the next start: its sinks are set up (the outbox delivered) before any record is read
    restart = build_replay(
        config,
        IterSource(()),
        [],
        checkpoint_dir=tmp_path / "restart-checkpoint",
        metrics_required=False,
    )
    (restarted,) = (x for x in restart.sinks if isinstance(x, SignalDeliverySink))
    assert restarted.wait_delivered(30)
    restart.close()
    (message,) = s.drain_queue(url, queue)
    assert json.loads(message)["idempotency_key"] == pending.key
    assert restarted.outbox.pending([f"sns:{topic}"]) == []


def test_kinesis_source_rides_out_an_outage(endpoint: Endpoint, tmp_path: Path) -> None:
    """The stream's endpoint stops for ~3 s mid-stream: the service backs off, resumes, and
    processes every record once."""
    url = endpoint.url
    stream = s.unique("captures")
    kinesis = s.client(url, "kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    lines = s.traffic()[:6000]
    for i in range(0, len(lines), 500):
        kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": line, "PartitionKey": "churn"} for line in lines[i : i + 500]],
        )
    config = _config(
        tmp_path,
        url,
        sources={
            "kinesis": {
                "stream_name": stream,
                "max_records_per_call": 500,
                "idle_poll_seconds": 0.2,
                "retry": {"initial_seconds": 0.2, "max_seconds": 1.0},
            }
        },
        checkpoint={"directory": str(tmp_path / "ckpt"), "interval_seconds": 0.3},
        sinks={"events_file": str(tmp_path / "events.jsonl")},
    )
    stop = threading.Event()
    run = build_live(config, stop)
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(summary=run.service.run()))
    runner.start()
    try:

        def processed() -> int:
            return sum(v or 0 for v in run.service.positions().values())

        s.wait_for(lambda: processed() >= 1500, 60, "the first records")
        endpoint.stop()
        stop.wait(3.0)
        assert processed() < len(lines)
        endpoint.start()
        s.wait_for(lambda: processed() >= len(lines), 60, "every record after the outage")
    finally:
        stop.set()
        runner.join(60)
        run.close()
    registry = run.metrics.registry
    errors = _sample(
        registry,
        "driftstream_kinesis_errors_total",
        endpoint="churn",
        stream=stream,
        operation="get_records",
    )
    assert errors >= 1
    assert result["summary"].records_read == len(lines)
    # the shard's lag, in seconds only (MillisBehindLatest: every record was put before the
    # run, so it is at most their spread); Kinesis cannot count records behind
    shard = {"endpoint": "churn", "topic": stream, "partition": "0"}
    behind = registry.get_sample_value("driftstream_consumer_lag_seconds", shard)
    assert behind is not None and 0 <= behind < 60
    assert registry.get_sample_value("driftstream_consumer_lag_records", shard) is None
