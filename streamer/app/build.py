"""Assembles every run from a Config: `driftstream run`, `replay` and `demo` are the same
ProcessingService (streamer/runtime/service.py) over different sources and sinks.

- `build_core`: baseline, decoder, the calibrated prototype monitor (each partition gets a copy),
  where decoding and monitoring run (a MonitorHost), the Prometheus sink and what monitoring
  costs (streamer/runtime/cost.py);
- `LIVE_SOURCES`: the table of live sources, one builder per `sources.<name>` config section,
  each giving the source, its checkpoint store and the sinks that need its connection;
- `event_sinks` and `build_output_sinks`: the sinks the config names (events file, CloudWatch,
  retrain signals, Prometheus);
- `build_live(config, stop)` and `build_replay(config, source, ...)`: the service, set up.

Modules that need a client library (kafka-python, boto3) are imported by the builder that uses
them, so a replay of local files never imports either.
"""

from __future__ import annotations

import errno
import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from driftstream.detectors.base import Watcher
from driftstream.detectors.baseline import Baseline, load_baseline
from driftstream.detectors.monitor import Monitor, MonitorView
from driftstream.detectors.retrain import PolicyError
from driftstream.sinks import aws
from driftstream.sinks.aws import AwsSettings
from driftstream.sinks.base import DeadLetterSink, Sink, SinkUnavailableError
from driftstream.sinks.cloudwatch import CloudWatchSink
from driftstream.sinks.events_file import EventsFileSink
from driftstream.sinks.prometheus import PrometheusSink
from driftstream.sinks.report_folder import ReportFolderSink
from driftstream.sinks.retry import Backoff, BackoffSettings
from driftstream.sinks.signals.aws_targets import (
    EventBridgeSignalTarget,
    SageMakerPipelineSignalTarget,
    SnsSignalTarget,
)
from driftstream.sinks.signals.base import SignalTarget
from driftstream.sinks.signals.delivery import SignalDeliverySink
from driftstream.sinks.signals.file import FileSignalTarget
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
from driftstream.streamer.app.logging import configure_logging
from driftstream.streamer.checkpoint.base import CheckpointStore, CheckpointUnavailableError
from driftstream.streamer.checkpoint.directory import DirectoryCheckpointStore
from driftstream.streamer.decode.base import FeatureLayout, RejectReason
from driftstream.streamer.decode.capture import CaptureDecoder, DecodeOptions
from driftstream.streamer.runtime.base import MonitorHost
from driftstream.streamer.runtime.cost import MonitoringCostCollector
from driftstream.streamer.runtime.host import InlineMonitorHost, ProcessMonitorHost
from driftstream.streamer.runtime.metrics import PartitionDriftCollector
from driftstream.streamer.runtime.service import Cadence, ProcessingService, log_retry
from driftstream.streamer.runtime.summary import ProgressHook, RunSummary
from driftstream.streamer.sources.base import Source
from driftstream.streamer.sources.metrics import LiveMetrics
from driftstream.streamer.sources.single import OnePartitionSource

log = structlog.get_logger(__name__)

#: the group name of replay checkpoints (a replay's partition is named after its source)
REPLAY_GROUP = "replay"


# -- what every run shares ----------------------------------------------------------------------


@dataclass
class Core:
    """Decoder, where decoding and monitors run, and the metrics every run has."""

    baseline: Baseline
    decoder: CaptureDecoder
    host: MonitorHost
    metrics: PrometheusSink
    live_metrics: LiveMetrics


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "driftstream" / "calibration"


def build_decoder(config: Config, baseline: Baseline) -> CaptureDecoder:
    return CaptureDecoder(
        baseline,
        DecodeOptions(
            max_record_bytes=config.decode.max_record_bytes,
            output_key=config.decode.output_key,
            instance_key=config.decode.instance_key,
            rejection_excerpts=config.decode.rejection_excerpts,
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
    try:
        monitor = Monitor(
            baseline,
            layout.numeric,
            layout.categorical,
            detectors,
            endpoint=config.endpoint,
            config_identity=config.identity(),
            watchers=build_watchers(config, baseline, layout),
            lineage={"baseline": {"location": str(config.baseline)}} if config.baseline else {},
            approval_required=config.sinks.signal_approval == "required",
        )
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    log.info("monitor_ready", baseline=baseline.identity, **monitor.summary())
    return monitor


def build_watchers(config: Config, baseline: Baseline, layout: FeatureLayout) -> list[Watcher]:
    """The watchers the config and baseline ask for (detectors/base.py: Watcher): Model Monitor
    constraint reports, model quality, bias drift, anomaly scores. Each capability adds its builder
    here."""
    watchers: list[Watcher] = []
    if config.reports.violations_out is not None:
        watchers.append(_constraint_reports(config, baseline, layout))
    if config.baseline is not None and (config.baseline / "analysis.json").is_file():
        watchers.append(_bias_drift(config, baseline, layout))
    if config.model_quality.ground_truth is not None or live_ground_truth(config) is not None:
        watchers.append(_model_quality(config, layout))
    if config.anomaly.enabled:
        watchers.append(_anomaly(config, baseline, layout))
    return watchers


def _anomaly(config: Config, baseline: Baseline, layout: FeatureLayout) -> Watcher:
    """`anomaly.enabled`: per-record anomaly scores and their rate's drift (detectors/anomaly)."""
    from driftstream.detectors.anomaly import AnomalyWatcher

    try:
        return AnomalyWatcher(
            baseline,
            layout.numeric,
            layout.categorical,
            config.anomaly,
            false_alarms_per_million=config.detectors.false_alarms_per_million,
        )
    except ValueError as exc:
        raise ConfigError(f"anomaly.enabled: {exc}") from None


def live_ground_truth(config: Config) -> str | None:
    """The ground truth read beside the captures: `sources.kafka.ground_truth_topic` or
    `sources.kinesis.ground_truth_stream`, as the key that names it."""
    kafka, kinesis = config.sources.kafka, config.sources.kinesis
    if kafka is not None and kafka.ground_truth_topic is not None:
        return "sources.kafka.ground_truth_topic"
    if kinesis is not None and kinesis.ground_truth_stream is not None:
        return "sources.kinesis.ground_truth_stream"
    return None


def _model_quality(config: Config, layout: FeatureLayout) -> Watcher:
    """`model_quality.ground_truth` (`replay --ground-truth`), `sources.kafka.
    ground_truth_topic` or `sources.kinesis.ground_truth_stream` (`run`): model quality
    against the baseline's model_quality/ (detectors/quality)."""
    from driftstream.detectors.constraints import WindowSpec
    from driftstream.detectors.quality.files import MODEL_QUALITY, load_model_quality
    from driftstream.detectors.quality.watcher import ModelQuality

    folder = config.baseline / MODEL_QUALITY if config.baseline is not None else None
    if folder is None or not (folder / "statistics.json").is_file():
        given = (
            "--ground-truth (model_quality.ground_truth)"
            if config.model_quality.ground_truth is not None
            else live_ground_truth(config)
        )
        raise ConfigError(
            f"{given} needs a baseline with model_quality/: "
            "driftstream baseline DATA --ground-truth-column NAME --problem-type TYPE"
        )
    settings = config.model_quality
    window = WindowSpec.parse(settings.window or config.reports.violations_window)
    return ModelQuality(
        load_model_quality(folder),
        layout.numeric,
        layout.categorical,
        window,
        settings,
        config.detectors,
    )


def _bias_drift(config: Config, baseline: Baseline, layout: FeatureLayout) -> Watcher:
    """The baseline folder has analysis.json: bias drift per report window (detectors/bias)."""
    from driftstream.detectors.bias import BiasDrift, load_bias_drift_baseline
    from driftstream.detectors.constraints import WindowSpec

    assert config.baseline is not None
    return BiasDrift(
        load_bias_drift_baseline(config.baseline, baseline),
        layout.numeric,
        layout.categorical,
        WindowSpec.parse(config.reports.violations_window),
        false_alarms_per_million=config.detectors.false_alarms_per_million,
    )


def _constraint_reports(config: Config, baseline: Baseline, layout: FeatureLayout) -> Watcher:
    """`reports.violations_out`: Model Monitor's report per window (detectors/constraints)."""
    from driftstream.detectors.constraints import ConstraintReports, WindowSpec

    window = WindowSpec.parse(config.reports.violations_window)
    return ConstraintReports(baseline, layout.numeric, layout.categorical, window)


def load_configured_baseline(config: Config) -> Baseline:
    if config.baseline is None:
        raise ConfigError("no baseline: pass --baseline DIR or set `baseline:` in the config")
    return load_baseline(config.baseline)


def build_core(config: Config, *, monitor_process: bool) -> Core:
    """Load the baseline, calibrate the prototype monitor (now, not inside a rebalance) and
    choose where it runs: a child process beside the consumer, or this process."""
    baseline = load_configured_baseline(config)
    decoder = build_decoder(config, baseline)
    prototype = build_monitor(config, baseline)
    host: MonitorHost
    metrics = PrometheusSink(
        config.endpoint,
        port=config.metrics.port if config.metrics.enabled else None,
        host=config.metrics.host,
        event_labels=prototype.event_labels(),
        reasons=[reason.value for reason in RejectReason],
    )
    if monitor_process:
        host = ProcessMonitorHost(
            decoder, prototype, setup_logging=functools.partial(configure_logging, "warning")
        )
        cost = MonitoringCostCollector(config.endpoint, host.usage)
    else:
        host = InlineMonitorHost(decoder, prototype)
        cost = MonitoringCostCollector(config.endpoint)
    metrics.registry.register(cost)
    return Core(baseline, decoder, host, metrics, LiveMetrics(config.endpoint, metrics.registry))


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


def directory_store(directory: Path, key: str) -> DirectoryCheckpointStore:
    store = DirectoryCheckpointStore(directory)
    try:
        store.setup()
    except CheckpointUnavailableError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return store


def cadence(config: Config) -> Cadence:
    return Cadence(config.checkpoint.interval_seconds, config.checkpoint.every_records)


def event_sinks(
    config: Config, core: Core, extra: Sequence[Sink] = ()
) -> tuple[list[Sink], OutputSinks]:
    """`extra`, CloudWatch and signals, then Prometheus (last: it counts what the others did)."""
    sinks: list[Sink] = list(extra)
    outputs = build_output_sinks(config, core.decoder, core.metrics.registry)
    sinks.extend(outputs.sinks)
    sinks.append(core.metrics)
    return sinks, outputs


@dataclass
class Run:
    """A service ready to `run()`, with what must be closed after it."""

    service: ProcessingService
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


# -- the table of live sources ------------------------------------------------------------------


@dataclass
class LiveSource:
    """What a live source's builder gives the service."""

    source: Source
    store: CheckpointStore
    group: str
    backoff: Backoff
    sinks: list[Sink] = field(default_factory=list)  # sinks that use the source's connection
    dead_letters: DeadLetterSink | None = None
    retry_hint: Callable[[str], str | None] | None = None
    ready: dict[str, Any] = field(default_factory=dict)  # for the `live_ready` log line


def _kafka(config: Config, core: Core, stop: threading.Event) -> LiveSource:
    """`sources.kafka`: a consumer group; checkpoints in a directory or a compacted topic;
    output and dead-letter topics on the same cluster."""
    from driftstream.sinks.kafka import KafkaDeadLetterSink, KafkaEventsSink
    from driftstream.streamer.checkpoint.kafka import KafkaCheckpointStore
    from driftstream.streamer.sources.kafka.logs import bootstrap_hint
    from driftstream.streamer.sources.kafka.source import KafkaSource, client_options

    kafka = config.sources.kafka
    assert kafka is not None  # the table is keyed by the section that is set
    options = client_options(kafka)
    store: CheckpointStore
    if config.checkpoint.kafka_topic is not None:
        store = KafkaCheckpointStore(
            config.checkpoint.kafka_topic, options, timeout_seconds=kafka.request_timeout_ms / 1000
        )
    else:
        store = directory_store(config.checkpoint.directory, "checkpoint.directory")
    live = LiveSource(
        KafkaSource(kafka, stop=stop, metrics=core.live_metrics),
        store,
        kafka.group_id,
        Backoff(kafka.retry.initial_seconds, kafka.retry.max_seconds),
        retry_hint=functools.partial(bootstrap_hint, kafka.security),
        ready={
            "topics": list(kafka.topics),
            "ground_truth_topic": kafka.ground_truth_topic,
            "group": kafka.group_id,
            "checkpoint": config.checkpoint.kafka_topic or str(config.checkpoint.directory),
        },
    )
    flush_timeout = config.sinks.flush_timeout_seconds
    if config.sinks.output_topic is not None:
        live.sinks.append(
            KafkaEventsSink(
                config.sinks.output_topic,
                options,
                endpoint=config.endpoint,
                flush_timeout_seconds=flush_timeout,
            )
        )
    if config.sinks.dead_letter_topic is not None:
        counter = core.live_metrics.dead_letters
        live.dead_letters = KafkaDeadLetterSink(
            config.sinks.dead_letter_topic,
            options,
            max_request_size=config.decode.max_record_bytes + 65_536,
            flush_timeout_seconds=flush_timeout,
            on_delivered=counter.labels(config.endpoint, "produced").inc,
            on_dropped=counter.labels(config.endpoint, "dropped").inc,
        )
    return live


#: Kinesis shard positions (sequence numbers at committed offsets), beside the checkpoints:
#: DIR/<application>/<stream>/kinesis-positions.json
POSITIONS_FILE = "kinesis-positions.json"


def _kinesis(config: Config, core: Core, stop: threading.Event) -> LiveSource:
    """`sources.kinesis`: every shard of a stream; checkpoints and shard positions in a
    directory (a missing permission or an unknown stream surfaces as AwsError when the
    service starts reading)."""
    from driftstream.sinks import aws
    from driftstream.streamer.sources.kinesis.source import (
        KinesisMetrics,
        KinesisSource,
        PositionStore,
    )

    kinesis = config.sources.kinesis
    assert kinesis is not None  # the table is keyed by the section that is set
    directory = config.checkpoint.directory
    positions = PositionStore(
        directory / kinesis.application / kinesis.stream_name / POSITIONS_FILE,
        stream=kinesis.stream_name,
        application=kinesis.application,
    )
    source = KinesisSource(
        kinesis,
        lambda: aws.client("kinesis", config.aws),
        positions,
        stop=stop,
        metrics=KinesisMetrics(config.endpoint, kinesis.stream_name, core.metrics.registry),
    )
    return LiveSource(
        source,
        directory_store(directory, "checkpoint.directory"),
        kinesis.application,
        Backoff(kinesis.retry.initial_seconds, kinesis.retry.max_seconds),
        ready={
            "stream": kinesis.stream_name,
            "ground_truth_stream": kinesis.ground_truth_stream,
            "application": kinesis.application,
            "checkpoint": str(directory),
        },
    )


LiveSourceBuilder = Callable[[Config, Core, threading.Event], LiveSource]
#: `sources.<name>` -> its builder; a new live source is one module under streamer/sources/,
#: its settings in streamer/app/config.py's SourcesSettings, and one line here
LIVE_SOURCES: dict[str, LiveSourceBuilder] = {"kafka": _kafka, "kinesis": _kinesis}


def live_source_name(config: Config) -> str:
    """The configured live source; ConfigError (one line) when there is none."""
    for name in LIVE_SOURCES:
        if getattr(config.sources, name) is not None:
            return name
    raise ConfigError(f"no live source: set {' or '.join(f'sources.{n}' for n in LIVE_SOURCES)}")


# -- assembling a run -----------------------------------------------------------------------------


def build_live(config: Config, stop: threading.Event) -> Run:
    """Everything `driftstream run` needs, set up and connected (retrying while the broker or
    a sink is away; returns early, unconnected, when `stop` is set meanwhile)."""
    if config.model_quality.ground_truth is not None:
        raise ConfigError(
            "model_quality.ground_truth: ground truth from files is for `driftstream replay`; "
            "live, set sources.kafka.ground_truth_topic or sources.kinesis.ground_truth_stream "
            "(docs/model-quality.md)"
        )
    core = build_core(config, monitor_process=config.monitor_process)
    live = LIVE_SOURCES[live_source_name(config)](config, core, stop)
    extra: list[Sink] = []
    if config.sinks.events_file is not None:
        extra.append(EventsFileSink(config.sinks.events_file, append=True))
    sinks, outputs = event_sinks(config, core, [*extra, *live.sinks])
    service = ProcessingService(
        live.source,
        core.host,
        sinks,
        live.store,
        group=live.group,
        metrics=core.live_metrics,
        dead_letters=live.dead_letters,
        telemetry=core.metrics,
        cadence=cadence(config),
        backoff=live.backoff,
        stop=stop,
        retry_hint=live.retry_hint,
    )
    core.metrics.registry.register(PartitionDriftCollector(config.endpoint, service.views))
    outputs.watch(lambda: service.views().values())
    serve_metrics(core.metrics, config, metrics_required="port" in config.metrics.model_fields_set)
    steps: list[tuple[str, Callable[[], None]]] = [("checkpoint", live.store.setup)]
    steps += [("produce", s.setup) for s in sinks]
    if live.dead_letters is not None:
        steps.append(("produce", live.dead_letters.setup))
    _set_up(steps, core, live, stop)
    if not stop.is_set():
        log.info("live_ready", **live.ready, metrics_port=core.metrics.bound_port)
    return Run(service, core.metrics, live.store, sinks, live.dead_letters)


def _set_up(
    steps: Sequence[tuple[str, Callable[[], None]]],
    core: Core,
    live: LiveSource,
    stop: threading.Event,
) -> None:
    """Run each set-up step, retrying with back-off while its service is away (until `stop`)."""
    backoff = live.backoff
    for operation, setup in steps:
        while not stop.is_set():
            try:
                setup()
                break
            except (SinkUnavailableError, CheckpointUnavailableError, OSError) as exc:
                core.live_metrics.broker_error(operation)
                delay = backoff.next_delay()
                hint = live.retry_hint(str(exc)) if live.retry_hint is not None else None
                log_retry(operation, exc, delay, failures=backoff.failures, hint=hint)
                stop.wait(delay)
    backoff.reset()


def build_replay(
    config: Config,
    source: OnePartitionSource,
    sinks: Sequence[Sink],
    *,
    checkpoint_dir: Path,
    metrics_required: bool,
    stop: threading.Event | None = None,
    progress: ProgressHook | None = None,
    summary: RunSummary | None = None,
) -> Run:
    """A replay of `source` (files, S3, generated traffic) into `sinks` plus the sinks the
    config names, decoding and monitoring in this process, checkpointing in `checkpoint_dir`
    (a checkpoint there is resumed from: the caller removes it to start afresh).

    The sinks are set up here; a sink that cannot be set up is an error, not retried."""
    core = build_core(config, monitor_process=False)
    if config.model_quality.ground_truth is not None:
        from driftstream.streamer.sources.ground_truth import ground_truth_feed

        source.ground_truth = ground_truth_feed(
            config.model_quality.ground_truth,
            config.aws,
            max_line_bytes=config.decode.max_record_bytes,
        )
    store = directory_store(checkpoint_dir, "replay checkpoint")
    all_sinks, outputs = event_sinks(config, core, sinks)
    service = ProcessingService(
        source,
        core.host,
        all_sinks,
        store,
        group=REPLAY_GROUP,
        metrics=core.live_metrics,
        telemetry=core.metrics,
        cadence=cadence(config),
        stop=stop,
        progress=progress,
        summary=summary,
    )

    def view() -> MonitorView:
        views = service.views()
        return next(iter(views.values())) if views else MonitorView(0, {}, frozenset())

    # the replay's drift gauges, without topic and partition labels (one partition)
    core.metrics.watch(view)
    outputs.watch(lambda: service.views().values())
    serve_metrics(core.metrics, config, metrics_required=metrics_required)
    for sink in all_sinks:
        sink.setup()
    return Run(service, core.metrics, store, all_sinks)


# -- the sinks of `sinks.cloudwatch` and `sinks.signals` ----------------------------------------


@dataclass
class OutputSinks:
    cloudwatch: CloudWatchSink | None = None
    signals: SignalDeliverySink | None = None
    reports: ReportFolderSink | None = None  # the watchers' files: `reports.violations_out`

    @property
    def sinks(self) -> list[Sink]:
        return [s for s in (self.cloudwatch, self.signals, self.reports) if s is not None]

    def watch(self, monitors: Callable[[], Iterable[Monitor | MonitorView]]) -> None:
        """Where the CloudWatch sink reads window statistics: the monitors `monitors()` returns
        at each publish (one for a replay; live, the latest readings of the held partitions)."""
        if self.cloudwatch is not None:
            reader = monitors
            self.cloudwatch.watch(lambda: [m.current for m in reader()])


def _client_factory(service: str, settings: AwsSettings, **options: Any) -> Any:
    return lambda: aws.client(service, settings, **options)


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
            from driftstream.sinks.signals.kafka import KafkaSignalTarget
            from driftstream.streamer.sources.kafka.source import client_options

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
    target = config.reports.violations_out
    if target is not None:
        out.reports = ReportFolderSink(target, _client_factory("s3", config.aws))
    cw = config.sinks.cloudwatch
    if cw is not None:
        out.cloudwatch = CloudWatchSink(
            cw,
            config.endpoint,
            [f.name for f in decoder.baseline.features],
            decoder.layout.numeric,
            # the sink builds and checks its data itself (names, values, dimensions, sizes);
            # botocore's validation would double the sender's CPU, taken from the loop's GIL
            _client_factory("cloudwatch", config.aws, parameter_validation=False),
            registry=registry,
        )
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
            approval_required=config.sinks.signal_approval == "required",
        )
        try:
            out.signals.outbox.open()
        except OutboxError as exc:
            raise ConfigError(f"sinks.signal_outbox: {exc}") from None
    return out
