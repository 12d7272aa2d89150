"""Assembles `driftstream run` for `sources.kinesis`: the live service of streamer/live.py over a
Kinesis stream, with the directory checkpoint store of streamer/checkpoint.py.

Checkpoints: DIR/<application>/<stream>/<shard number>.json (detector state and the offset =
record position within the shard), and DIR/<application>/<stream>/kinesis-positions.json (the
sequence number at committed offsets, streamer/kinesis_source.py), DIR = checkpoint.directory.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable

import structlog

from detectors.monitor import Monitor
from sinks.base import Sink, SinkUnavailableError
from sinks.events_file import EventsFileSink
from sinks.prometheus import PrometheusSink
from streamer import aws
from streamer.app import build_decoder, build_monitor, load_configured_baseline, serve_metrics
from streamer.aws_settings import KinesisSourceSettings
from streamer.backoff import Backoff
from streamer.checkpoint import CheckpointUnavailableError, DirectoryCheckpointStore
from streamer.config import Config, ConfigError
from streamer.kinesis_source import KinesisMetrics, KinesisSource, PositionStore
from streamer.live import Cadence, LiveService
from streamer.live_app import LiveParts
from streamer.live_metrics import LiveMetrics, PartitionDriftCollector
from streamer.outputs import build_output_sinks

log = structlog.get_logger(__name__)

POSITIONS_FILE = "kinesis-positions.json"


def kinesis_settings(config: Config) -> KinesisSourceSettings:
    if config.sources.kinesis is None:
        raise ConfigError("no live source: set sources.kinesis (stream_name)")
    return config.sources.kinesis


def build_kinesis_live(config: Config, stop: threading.Event) -> LiveParts:
    """Everything `driftstream run` needs for a Kinesis stream, set up (retrying while sinks are
    away; a missing permission or an unknown stream surfaces as AwsError when the service
    starts reading)."""
    kinesis = kinesis_settings(config)
    baseline = load_configured_baseline(config)
    decoder = build_decoder(config, baseline)
    prototype = build_monitor(config, baseline)

    def new_monitor() -> Monitor:
        # a copy of a fresh, calibrated monitor: no calibration per shard
        return copy.deepcopy(prototype)

    metrics = PrometheusSink(
        config.endpoint,
        port=config.metrics.port if config.metrics.enabled else None,
        host=config.metrics.host,
    )
    live_metrics = LiveMetrics(config.endpoint, registry=metrics.registry)
    kinesis_metrics = KinesisMetrics(config.endpoint, kinesis.stream_name, metrics.registry)
    store = DirectoryCheckpointStore(config.checkpoint.directory)
    try:
        store.setup()
    except CheckpointUnavailableError as exc:
        raise ConfigError(f"checkpoint.directory: {exc}") from None
    positions = PositionStore(
        config.checkpoint.directory / kinesis.application / kinesis.stream_name / POSITIONS_FILE,
        stream=kinesis.stream_name,
        application=kinesis.application,
    )

    sinks: list[Sink] = []
    if config.sinks.events_file is not None:
        sinks.append(EventsFileSink(config.sinks.events_file, append=True))
    outputs = build_output_sinks(config, decoder, metrics.registry)
    sinks.extend(outputs.sinks)
    sinks.append(metrics)

    source = KinesisSource(
        kinesis,
        lambda: aws.client("kinesis", config.aws),
        positions,
        stop=stop,
        metrics=kinesis_metrics,
    )
    service = LiveService(
        source, decoder, new_monitor, sinks, store,
        group=kinesis.application, metrics=live_metrics, telemetry=metrics,
        cadence=Cadence(config.checkpoint.interval_seconds, config.checkpoint.every_records),
        backoff=Backoff(kinesis.retry.initial_seconds, kinesis.retry.max_seconds), stop=stop,
    )
    outputs.watch(lambda: service.monitors().values())
    metrics.registry.register(PartitionDriftCollector(config.endpoint, service.monitors))
    serve_metrics(metrics, config, metrics_required="port" in config.metrics.model_fields_set)
    parts = LiveParts(service, metrics, store, sinks)

    backoff = Backoff(kinesis.retry.initial_seconds, kinesis.retry.max_seconds)
    steps: list[tuple[str, Callable[[], None]]] = [("produce", s.setup) for s in sinks]
    for operation, setup in steps:
        while not stop.is_set():
            try:
                setup()
                break
            except (SinkUnavailableError, OSError) as exc:
                live_metrics.broker_error(operation)
                delay = backoff.next_delay()
                log.warning("retrying", operation=operation, error=type(exc).__name__,
                            detail=str(exc), retry_in_s=round(delay, 2))
                stop.wait(delay)
    log.info("live_ready", stream=kinesis.stream_name, application=kinesis.application,
             checkpoint=str(config.checkpoint.directory), metrics_port=metrics.bound_port)
    return parts
