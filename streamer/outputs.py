"""Assembles the sinks of the `sinks.cloudwatch` and `sinks.signals` config sections.

Used by `driftstream replay` and by the live service (Kafka or Kinesis) alike; the caller adds the
returned sinks to its own, then tells the CloudWatch sink where the monitors' window statistics
are (`OutputSinks.watch`), because only it knows its monitors (one for a replay, one per
partition or shard live).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from detectors.monitor import Monitor, MonitorView
from sinks.base import Sink
from sinks.cloudwatch import CloudWatchSink
from sinks.signals.aws_targets import (
    EventBridgeSignalTarget,
    SageMakerPipelineSignalTarget,
    SnsSignalTarget,
)
from sinks.signals.base import SignalTarget
from sinks.signals.delivery import SignalDeliverySink
from sinks.signals.file import FileSignalTarget
from sinks.signals.kafka import KafkaSignalTarget
from sinks.signals.outbox import OutboxError
from sinks.signals.webhook import WebhookSignalTarget
from streamer import aws
from streamer.aws_settings import (
    AwsSettings,
    BackoffSettings,
    EventBridgeTarget,
    FileTarget,
    KafkaTarget,
    SageMakerPipelineTarget,
    SnsTarget,
    WebhookTarget,
)
from streamer.aws_settings import (
    SignalTarget as TargetSettings,
)
from streamer.config import Config, ConfigError
from streamer.decode import CaptureDecoder
from streamer.kafka_source import client_options


@dataclass
class OutputSinks:
    cloudwatch: CloudWatchSink | None = None
    signals: SignalDeliverySink | None = None

    @property
    def sinks(self) -> list[Sink]:
        return [s for s in (self.cloudwatch, self.signals) if s is not None]

    def watch(self, monitors: Callable[[], Iterable[Monitor | MonitorView]]) -> None:
        """Where the CloudWatch sink reads window statistics: the monitors `monitors()` returns
        at each publish (one for a replay; live, the latest readings of the held partitions)."""
        if self.cloudwatch is not None:
            reader = monitors
            self.cloudwatch.watch(lambda: [m.current for m in reader()])


def _client_factory(service: str, settings: AwsSettings) -> Any:
    return lambda: aws.client(service, settings)


def build_target(settings: TargetSettings, config: Config) -> SignalTarget:
    name = settings.target_name()
    match settings:
        case SnsTarget():
            return SnsSignalTarget(
                name,
                _client_factory("sns", config.aws),
                topic_arn=settings.topic_arn,
                subject=settings.subject,
            )
        case EventBridgeTarget():
            return EventBridgeSignalTarget(
                name,
                _client_factory("events", config.aws),
                event_bus=settings.event_bus,
                source=settings.source,
                detail_type=settings.detail_type,
            )
        case SageMakerPipelineTarget():
            return SageMakerPipelineSignalTarget(
                name,
                _client_factory("sagemaker", config.aws),
                pipeline_name=settings.pipeline_name,
                parameters=settings.parameters,
            )
        case KafkaTarget():
            if settings.bootstrap_servers is not None:
                options: dict[str, Any] = {"bootstrap_servers": list(settings.bootstrap_servers)}
            elif config.sources.kafka is not None:
                options = client_options(config.sources.kafka)
            else:
                raise ConfigError(
                    f"sinks.signals: kafka target {name!r} needs bootstrap_servers (or "
                    "sources.kafka, whose connection it then uses)"
                )
            return KafkaSignalTarget(
                name,
                topic=settings.topic,
                client_options=options,
                timeout_seconds=settings.timeout_seconds,
            )
        case WebhookTarget():
            return WebhookSignalTarget(
                name,
                url=settings.url,
                timeout_seconds=settings.timeout_seconds,
                secret=settings.secret,
                signature_header=settings.signature_header,
                headers=settings.headers,
            )
        case FileTarget():
            return FileSignalTarget(name, settings.path)
    raise ConfigError(f"sinks.signals: unknown target {settings!r}")  # pragma: no cover


def build_output_sinks(
    config: Config, decoder: CaptureDecoder, registry: CollectorRegistry
) -> OutputSinks:
    """The CloudWatch and signal-delivery sinks `config` asks for (not set up yet, except that
    the signal outbox is opened here: one that another process holds is a configuration error).
    """
    out = OutputSinks()
    cw = config.sinks.cloudwatch
    if cw is not None:
        out.cloudwatch = CloudWatchSink(
            cw,
            config.endpoint,
            [f.name for f in decoder.baseline.features],
            decoder.layout.numeric,
            _client_factory("cloudwatch", config.aws),
            registry=registry,
        )
        decoder.observe(out.cloudwatch.observe)
    if config.sinks.signals:
        targets: list[tuple[SignalTarget, BackoffSettings]] = [
            (build_target(t, config), t.retry) for t in config.sinks.signals
        ]
        out.signals = SignalDeliverySink(
            config.sinks.signal_outbox,
            targets,
            endpoint=config.endpoint,
            registry=registry,
            close_timeout=config.sinks.flush_timeout_seconds,
        )
        try:
            out.signals.outbox.open()
        except OutboxError as exc:
            raise ConfigError(f"sinks.signal_outbox: {exc}") from None
    return out
