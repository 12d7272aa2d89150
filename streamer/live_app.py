"""Assembles `driftstream run` from a Config: Kafka source, checkpoint store, sinks, metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from sinks.base import DeadLetterSink, Sink, SinkUnavailableError
from sinks.events_file import EventsFileSink
from sinks.kafka import KafkaDeadLetterSink, KafkaEventsSink
from sinks.prometheus import PrometheusSink
from streamer.app import build_decoder, build_monitor, load_configured_baseline, serve_metrics
from streamer.backoff import Backoff
from streamer.base import CheckpointStore, MonitorHost
from streamer.checkpoint import (
    CheckpointUnavailableError,
    DirectoryCheckpointStore,
    KafkaCheckpointStore,
)
from streamer.config import Config, ConfigError, KafkaSourceSettings
from streamer.decode import CaptureDecoder
from streamer.kafka_logs import bootstrap_hint
from streamer.kafka_source import KafkaSource, client_options
from streamer.live import Cadence, LiveService, log_retry
from streamer.live_metrics import LiveMetrics, PartitionDriftCollector
from streamer.monitor_host import InlineMonitorHost, ProcessMonitorHost
from streamer.outputs import OutputSinks, build_output_sinks

log = structlog.get_logger(__name__)


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
