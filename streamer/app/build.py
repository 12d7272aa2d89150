"""Assembles replay and live from a Config: baseline, decoder, monitor, where it runs, the sources
and the sinks the config names, and the metrics server."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from driftstream.detectors.baseline import Baseline, load_baseline
from driftstream.detectors.monitor import Monitor, MonitorView
from driftstream.sinks import aws
from driftstream.sinks.aws import AwsSettings
from driftstream.sinks.base import DeadLetterSink, Sink, SinkUnavailableError
from driftstream.sinks.cloudwatch import CloudWatchSink
from driftstream.sinks.events_file import EventsFileSink
from driftstream.sinks.kafka import KafkaDeadLetterSink, KafkaEventsSink
from driftstream.sinks.prometheus import PrometheusSink
from driftstream.sinks.retry import Backoff, BackoffSettings
from driftstream.sinks.signals.aws_targets import (
    EventBridgeSignalTarget,
    SageMakerPipelineSignalTarget,
    SnsSignalTarget,
)
from driftstream.sinks.signals.base import SignalTarget
from driftstream.sinks.signals.delivery import SignalDeliverySink
from driftstream.sinks.signals.file import FileSignalTarget
from driftstream.sinks.signals.kafka import KafkaSignalTarget
from driftstream.sinks.signals.outbox import OutboxError
from driftstream.sinks.signals.settings import (
    EventBridgeTarget,
    FileTarget,
    KafkaTarget,
    SageMakerPipelineTarget,
    SnsTarget,
    WebhookTarget,
)
from driftstream.sinks.signals.settings import SignalTarget as TargetSettings
from driftstream.sinks.signals.webhook import WebhookSignalTarget
from driftstream.streamer.app.config import Config, ConfigError
from driftstream.streamer.checkpoint.base import CheckpointStore, CheckpointUnavailableError
from driftstream.streamer.checkpoint.directory import DirectoryCheckpointStore
from driftstream.streamer.checkpoint.kafka import KafkaCheckpointStore
from driftstream.streamer.decode.base import FeatureLayout
from driftstream.streamer.decode.capture import CaptureDecoder, DecodeOptions
from driftstream.streamer.runtime.base import MonitorHost
from driftstream.streamer.runtime.host import InlineMonitorHost, ProcessMonitorHost
from driftstream.streamer.runtime.metrics import PartitionDriftCollector
from driftstream.streamer.runtime.service import Cadence, LiveService, log_retry
from driftstream.streamer.sources.kafka.logs import bootstrap_hint
from driftstream.streamer.sources.kafka.settings import KafkaSourceSettings
from driftstream.streamer.sources.kafka.source import KafkaSource, client_options
from driftstream.streamer.sources.kinesis.settings import KinesisSourceSettings
from driftstream.streamer.sources.kinesis.source import KinesisMetrics, KinesisSource, PositionStore
from driftstream.streamer.sources.metrics import LiveMetrics

log = structlog.get_logger(__name__)

# -- from build.py --


@dataclass
class Parts:
    baseline: Baseline
    decoder: CaptureDecoder
    monitor: Monitor
    metrics: PrometheusSink


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "driftstream" / "calibration"


def build_decoder(config: Config, baseline: Baseline) -> CaptureDecoder:
    return CaptureDecoder(
        baseline,
        DecodeOptions(
            max_record_bytes=config.decode.max_record_bytes,
            output_key=config.decode.output_key,
            instance_key=config.decode.instance_key,
        ),
    )


def build_monitor(config: Config, baseline: Baseline) -> Monitor:
    """A fresh monitor; calibrates on first use of a baseline (cached on disk after that)."""
    layout = FeatureLayout.from_baseline(baseline)
    detectors = config.detectors
    if detectors.calibration.cache_dir is None:
        detectors = detectors.model_copy(
            update={
                "calibration": detectors.calibration.model_copy(
                    update={"cache_dir": default_cache_dir()}
                )
            }
        )
    monitor = Monitor(
        baseline,
        layout.numeric,
        layout.categorical,
        detectors,
        endpoint=config.endpoint,
        config_identity=config.identity(),
    )
    log.info("monitor_ready", baseline=baseline.identity, **monitor.summary())
    return monitor


def serve_metrics(metrics: PrometheusSink, config: Config, *, metrics_required: bool) -> None:
    """Start /metrics. `metrics_required`: when the user asked for a port explicitly, a port in
    use is a configuration error; otherwise it is a warning and the run goes on without it."""
    try:
        metrics.setup()
    except OSError as exc:
        where = f"{config.metrics.host}:{config.metrics.port}"
        if metrics_required or exc.errno != errno.EADDRINUSE:
            raise ConfigError(
                f"metrics.port: cannot serve metrics on {where}: {exc.strerror}"
            ) from None
        log.warning("metrics_disabled", reason=f"{where} is in use", hint="pass --metrics-port")
        metrics.port = None


def load_configured_baseline(config: Config) -> Baseline:
    if config.baseline is None:
        raise ConfigError("no baseline: pass --baseline DIR or set `baseline:` in the config")
    return load_baseline(config.baseline)


def build_parts(config: Config, *, metrics_required: bool) -> Parts:
    """Load the baseline and build decoder, monitor and metrics sink.

    `metrics_required`: when the user asked for a port explicitly, a port in use is a
    configuration error; otherwise it is a warning and the run goes on without /metrics.
    """
    baseline = load_configured_baseline(config)
    decoder = build_decoder(config, baseline)
    monitor = build_monitor(config, baseline)
    metrics = PrometheusSink(
        config.endpoint,
        port=config.metrics.port if config.metrics.enabled else None,
        host=config.metrics.host,
    )
    # lambdas, not bound methods: load_state() replaces monitor.state
    metrics.watch(lambda: monitor.current, lambda: monitor.state.active.keys())  # noqa: PLW0108
    serve_metrics(metrics, config, metrics_required=metrics_required)
    return Parts(baseline, decoder, monitor, metrics)


# -- from live_tmp.py --


@dataclass
class LiveParts:
    service: LiveService
    metrics: PrometheusSink
    store: CheckpointStore
    sinks: list[Sink] = field(default_factory=list)
    dead_letters: DeadLetterSink | None = None

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        if self.dead_letters is not None:
            self.dead_letters.close()
        self.store.close()


@dataclass
class LiveCore:
    """What every live source shares: decoder, where decoding and monitors run, metrics."""

    decoder: CaptureDecoder
    host: MonitorHost
    metrics: PrometheusSink
    live_metrics: LiveMetrics


def build_core(config: Config) -> LiveCore:
    baseline = load_configured_baseline(config)
    decoder = build_decoder(config, baseline)
    # calibrated now, not inside a rebalance; each partition gets a copy
    prototype = build_monitor(config, baseline)
    host: MonitorHost
    if config.monitor_process:
        host = ProcessMonitorHost(decoder, prototype)
    else:
        host = InlineMonitorHost(decoder, prototype)
    metrics = PrometheusSink(
        config.endpoint,
        port=config.metrics.port if config.metrics.enabled else None,
        host=config.metrics.host,
    )
    return LiveCore(decoder, host, metrics, LiveMetrics(config.endpoint, metrics.registry))


def directory_store(config: Config) -> DirectoryCheckpointStore:
    store = DirectoryCheckpointStore(config.checkpoint.directory)
    try:
        store.setup()
    except CheckpointUnavailableError as exc:
        raise ConfigError(f"checkpoint.directory: {exc}") from None
    return store


def event_sinks(
    config: Config, core: LiveCore, extra: Sequence[Sink] = ()
) -> tuple[list[Sink], OutputSinks]:
    """events.jsonl (if configured), `extra`, CloudWatch and signals, then Prometheus."""
    sinks: list[Sink] = []
    if config.sinks.events_file is not None:
        sinks.append(EventsFileSink(config.sinks.events_file, append=True))
    sinks.extend(extra)
    outputs = build_output_sinks(config, core.decoder, core.metrics.registry)
    sinks.extend(outputs.sinks)
    sinks.append(core.metrics)
    return sinks, outputs


def start_live(
    config: Config,
    core: LiveCore,
    service: LiveService,
    outputs: OutputSinks,
    steps: Sequence[tuple[str, Callable[[], None]]],
    backoff: Backoff,
    stop: threading.Event,
) -> None:
    """Expose the service's monitors, serve /metrics, then run each set-up step, retrying with
    back-off while its service is away (until `stop`)."""
    core.metrics.registry.register(PartitionDriftCollector(config.endpoint, service.views))
    outputs.watch(lambda: service.views().values())
    serve_metrics(core.metrics, config, metrics_required="port" in config.metrics.model_fields_set)
    for operation, setup in steps:
        while not stop.is_set():
            try:
                setup()
                break
            except (SinkUnavailableError, CheckpointUnavailableError, OSError) as exc:
                core.live_metrics.broker_error(operation)
                delay = backoff.next_delay()
                hint = retry_hint(config)
                log_retry(
                    operation,
                    exc,
                    delay,
                    failures=backoff.failures,
                    hint=hint(str(exc)) if hint is not None else None,
                )
                stop.wait(delay)
    backoff.reset()


def retry_hint(config: Config) -> Callable[[str], str | None] | None:
    """What a failure's text may mean given the Kafka security settings (none without Kafka)."""
    kafka = config.sources.kafka
    if kafka is None:
        return None
    return lambda error: bootstrap_hint(kafka.security, error)


def kafka_settings(config: Config) -> KafkaSourceSettings:
    if config.sources.kafka is None:
        raise ConfigError("no live source: set sources.kafka (bootstrap_servers, topics)")
    return config.sources.kafka


def build_live(config: Config, stop: threading.Event) -> LiveParts:
    """Everything `driftstream run` needs, set up and connected (retrying while the broker is
    away; returns early, unconnected, when `stop` is set meanwhile)."""
    kafka = kafka_settings(config)
    core = build_core(config)
    options = client_options(kafka)
    backoff = Backoff(kafka.retry.initial_seconds, kafka.retry.max_seconds)

    store: CheckpointStore
    if config.checkpoint.kafka_topic is not None:
        store = KafkaCheckpointStore(
            config.checkpoint.kafka_topic,
            options,
            timeout_seconds=kafka.request_timeout_ms / 1000,
        )
    else:
        store = directory_store(config)

    extra: list[Sink] = []
    if config.sinks.output_topic is not None:
        extra.append(
            KafkaEventsSink(
                config.sinks.output_topic,
                options,
                endpoint=config.endpoint,
                flush_timeout_seconds=config.sinks.flush_timeout_seconds,
            )
        )
    sinks, outputs = event_sinks(config, core, extra)
    dead_letters: DeadLetterSink | None = None
    if config.sinks.dead_letter_topic is not None:
        counter = core.live_metrics.dead_letters
        dead_letters = KafkaDeadLetterSink(
            config.sinks.dead_letter_topic,
            options,
            max_request_size=config.decode.max_record_bytes + 65_536,
            flush_timeout_seconds=config.sinks.flush_timeout_seconds,
            on_delivered=counter.labels(config.endpoint, "produced").inc,
            on_dropped=counter.labels(config.endpoint, "dropped").inc,
        )

    source = KafkaSource(kafka, stop=stop, metrics=core.live_metrics)
    service = LiveService(
        source,
        core.host,
        sinks,
        store,
        group=kafka.group_id,
        metrics=core.live_metrics,
        dead_letters=dead_letters,
        telemetry=core.metrics,
        cadence=Cadence(config.checkpoint.interval_seconds, config.checkpoint.every_records),
        backoff=backoff,
        stop=stop,
        retry_hint=retry_hint(config),
    )
    parts = LiveParts(service, core.metrics, store, sinks, dead_letters)
    steps: list[tuple[str, Callable[[], None]]] = [("checkpoint", store.setup)]
    steps += [("produce", s.setup) for s in sinks]
    if dead_letters is not None:
        steps.append(("produce", dead_letters.setup))
    start_live(config, core, service, outputs, steps, backoff, stop)
    if not stop.is_set():
        log.info(
            "live_ready",
            topics=list(kafka.topics),
            group=kafka.group_id,
            checkpoint=config.checkpoint.kafka_topic or str(config.checkpoint.directory),
            metrics_port=core.metrics.bound_port,
        )
    return parts


# -- from kinesis_tmp.py --

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


# -- from outputs_tmp.py --
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
