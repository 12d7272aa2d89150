"""Assembles the parts named by a Config: baseline, decoder, monitor, sinks, metrics server."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

import structlog

from detectors.baseline import Baseline, load_baseline
from detectors.monitor import Monitor
from sinks.prometheus import PrometheusSink
from streamer.batch import FeatureLayout
from streamer.config import Config, ConfigError
from streamer.decode import CaptureDecoder, DecodeOptions

log = structlog.get_logger(__name__)


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
