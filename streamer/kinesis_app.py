"""Assembles `driftstream run` for `sources.kinesis`: the live service of streamer/live.py over a
Kinesis stream, with the directory checkpoint store of streamer/checkpoint.py.

Checkpoints: DIR/<application>/<stream>/<shard number>.json (detector state and the offset =
record position within the shard), and DIR/<application>/<stream>/kinesis-positions.json (the
sequence number at committed offsets, streamer/kinesis_source.py), DIR = checkpoint.directory.
"""

from __future__ import annotations

import threading

import structlog

from streamer import aws
from streamer.aws_settings import KinesisSourceSettings
from streamer.backoff import Backoff
from streamer.config import Config, ConfigError
from streamer.kinesis_source import KinesisMetrics, KinesisSource, PositionStore
from streamer.live import Cadence, LiveService
from streamer.live_app import LiveParts, build_core, directory_store, event_sinks, start_live

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
    core = build_core(config)
    kinesis_metrics = KinesisMetrics(config.endpoint, kinesis.stream_name, core.metrics.registry)
    store = directory_store(config)
    positions = PositionStore(
        config.checkpoint.directory / kinesis.application / kinesis.stream_name / POSITIONS_FILE,
        stream=kinesis.stream_name,
        application=kinesis.application,
    )
    sinks, outputs = event_sinks(config, core)
    source = KinesisSource(
        kinesis,
        lambda: aws.client("kinesis", config.aws),
        positions,
        stop=stop,
        metrics=kinesis_metrics,
    )
    service = LiveService(
        source,
        core.host,
        sinks,
        store,
        group=kinesis.application,
        metrics=core.live_metrics,
        telemetry=core.metrics,
        cadence=Cadence(config.checkpoint.interval_seconds, config.checkpoint.every_records),
        backoff=Backoff(kinesis.retry.initial_seconds, kinesis.retry.max_seconds),
        stop=stop,
    )
    parts = LiveParts(service, core.metrics, store, sinks)
    backoff = Backoff(kinesis.retry.initial_seconds, kinesis.retry.max_seconds)
    start_live(config, core, service, outputs, [("produce", s.setup) for s in sinks], backoff, stop)
    if not stop.is_set():
        log.info(
            "live_ready",
            stream=kinesis.stream_name,
            application=kinesis.application,
            checkpoint=str(config.checkpoint.directory),
            metrics_port=core.metrics.bound_port,
        )
    return parts
