"""The `driftstream` command (contract: ../shared/docs/cli.md).

Exit status: 0 on success (malformed records included: they are counted and reported), 2 for a
usage or configuration error with one line naming it, 1 for anything else. No traceback for an
expected error; set DRIFTSTREAM_DEBUG=1 to see one for an unexpected error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from driftstream.detectors.baseline import BaselineError, build_baseline
from driftstream.sinks.aws import AwsError
from driftstream.sinks.base import Sink
from driftstream.sinks.console import ConsoleSink
from driftstream.sinks.events_file import EventsFileSink
from driftstream.streamer.app.build import build_parts
from driftstream.streamer.app.config import Config, ConfigError, load_config
from driftstream.streamer.app.logging import configure_logging
from driftstream.streamer.app.progress import Progress
from driftstream.streamer.checkpoint.base import CheckpointError
from driftstream.streamer.runtime.summary import Pipeline, RunSummary
from driftstream.streamer.sources.base import Source
from driftstream.streamer.sources.files import FileSource, SourceError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
log = structlog.get_logger("driftstream")


class UsageError(ValueError):
    """Bad command-line usage; the message is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit 2 with usage; keep it one line
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="driftstream", description="Streaming drift monitoring for ML endpoints")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("baseline", help="write statistics.json and constraints.json")
    b.add_argument("data", type=Path, help="CSV or JSON Lines file, or a folder of them")
    b.add_argument("--out", type=Path, default=Path("baseline"), help="output folder")
    b.add_argument("--no-header", action="store_true", help="the CSV has no header row")
    b.add_argument("--label-column", help="the column holding the model output")

    r = sub.add_parser("replay", help="run captured records through the monitor")
    r.add_argument("source", help="capture .jsonl/.jsonl.gz file, folder, or s3://bucket/prefix")
    r.add_argument("--baseline", type=Path, help="folder with statistics.json/constraints.json")
    r.add_argument("--config", type=Path, help="YAML config file")
    r.add_argument("--events-out", type=Path, default=Path("events.jsonl"))
    r.add_argument("--speed", type=float, help="replay at X times the recorded pace")
    r.add_argument("--to", help="kafka://host:port/topic or kinesis://stream: re-publish instead")
    r.add_argument("--metrics-port", type=int, help="serve /metrics here (0: any free port)")

    run = sub.add_parser("run", help="the live service")
    run.add_argument("--config", type=Path, required=True)

    d = sub.add_parser("demo", help="generated traffic with a known drift; needs nothing else")
    d.add_argument("--records", type=int, default=60_000)
    d.add_argument("--rate", type=float, default=5_000.0, help="records per second")
    d.add_argument("--metrics-port", type=int, default=9108)
    d.add_argument("--events-out", type=Path, help="also write events.jsonl here")
    return p


def _install_stop_handlers(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def cmd_baseline(args: argparse.Namespace) -> int:
    baseline = build_baseline(
        args.data, args.out, header=not args.no_header, label_column=args.label_column
    )
    print(
        f"wrote {args.out / 'statistics.json'} and {args.out / 'constraints.json'}: "
        f"{len(baseline.features)} features, {int(baseline.item_count)} rows, "
        f"identity {baseline.identity}"
    )
    return EXIT_OK


def _replay_config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {}
    if args.baseline is not None:
        overrides["baseline"] = str(args.baseline)
    if args.metrics_port is not None:
        overrides["metrics.port"] = args.metrics_port
    return load_config(args.config, **overrides)


def cmd_replay(args: argparse.Namespace) -> int:
    if args.speed is not None and args.speed <= 0:
        raise UsageError("--speed must be > 0")
    if args.to is not None:
        return _republish(args)
    config = _replay_config(args)
    source = _capture_source(args.source, config)
    parts = build_parts(config, metrics_required=args.metrics_port is not None)
    stop = threading.Event()
    _install_stop_handlers(stop)
    sinks: list[Sink] = [EventsFileSink(args.events_out), parts.metrics]
    if config.sinks.cloudwatch is not None or config.sinks.signals:
        from driftstream.streamer.app.build import build_output_sinks

        outputs = build_output_sinks(config, parts.decoder, parts.metrics.registry)
        outputs.watch(lambda: [parts.monitor])
        sinks.extend(outputs.sinks)
    progress = Progress(source.total_bytes)
    if sys.stderr.isatty():
        sinks.append(ConsoleSink(progress.write))
    for sink in sinks:
        sink.setup()
    pipeline = Pipeline(
        source,
        parts.decoder,
        parts.monitor,
        sinks,
        batch_size=64 if args.speed else config.batch_size,
        telemetry=parts.metrics,
        progress=progress.hook,
        speed=args.speed,
        stop=stop,
    )
    try:
        summary = pipeline.run()
    finally:
        progress.close()
        for sink in sinks:
            sink.close()
        source.close()
    _print_summary(summary, args.events_out)
    return EXIT_OK


def _capture_source(spec: str, config: Config) -> Source:
    """A local file or folder, or s3://bucket/prefix (boto3 is imported only for the latter)."""
    if spec.startswith("s3://"):
        from driftstream.streamer.sources.s3 import capture_source

        return capture_source(spec, config.aws, max_line_bytes=config.decode.max_record_bytes)
    return FileSource(Path(spec), max_line_bytes=config.decode.max_record_bytes)


def _print_summary(summary: RunSummary, events_out: Path | None) -> None:
    rejected = sum(summary.rejected.values())
    rate = summary.records_read / summary.seconds if summary.seconds else 0.0
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(summary.events.items())) or "none"
    print(
        f"{summary.records_read} records read, {summary.records_used} used, {rejected} rejected "
        f"in {summary.seconds:.2f}s ({rate:,.0f} records/s); events: {kinds}"
        + (f"; written to {events_out}" if events_out else ""),
        file=sys.stderr,
    )


def _republish(args: argparse.Namespace) -> int:
    """`replay SOURCE --to kafka://host:port/topic`: publish the captured lines, keyed by the
    config's endpoint, with the config's Kafka security settings when it has them."""
    if args.to.startswith("kinesis://"):
        return _republish_kinesis(args)
    if not args.to.startswith("kafka://"):
        raise UsageError(f"--to {args.to}: expected kafka://host:port/topic or kinesis://stream")
    from driftstream.streamer.publish.kafka import parse_kafka_target, publish
    from driftstream.streamer.sources.kafka.source import client_options

    try:
        target = parse_kafka_target(args.to)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = load_config(args.config)
    source = _capture_source(args.source, config)
    options = client_options(config.sources.kafka) if config.sources.kafka is not None else {}
    stop = threading.Event()
    _install_stop_handlers(stop)
    try:
        summary = publish(
            source,
            target,
            key=config.endpoint.encode(),
            client_options=options,
            speed=args.speed,
            stop=stop,
        )
    finally:
        source.close()
    print(summary.line(target, config.endpoint.encode()), file=sys.stderr)
    if summary.failed:
        print(
            f"driftstream: failed: {summary.failed} records were not acknowledged", file=sys.stderr
        )
        return EXIT_FAILURE
    return EXIT_OK


def _republish_kinesis(args: argparse.Namespace) -> int:
    """`replay SOURCE --to kinesis://stream`: streamer/kinesis_publish.py."""
    from driftstream.streamer.publish.kinesis import parse_kinesis_target, replay_to_kinesis

    try:
        stream = parse_kinesis_target(args.to)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = load_config(args.config)
    stop = threading.Event()
    _install_stop_handlers(stop)
    summary = replay_to_kinesis(
        args.source,
        stream,
        aws_settings=config.aws,
        partition_key=config.endpoint,
        speed=args.speed,
        stop=stop,
    )
    print(summary.line(stream, config.endpoint), file=sys.stderr)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from driftstream.streamer.app.build import build_kinesis_live, build_live, kafka_settings
    from driftstream.streamer.sources.kafka.logs import configure_client_logging

    config = load_config(args.config)
    if config.sources.kinesis is None:
        kafka_settings(config)  # a config without a live source is a usage error, before anything
    configure_client_logging(args.log_level)
    stop = threading.Event()
    _install_stop_handlers(stop)
    if config.sources.kinesis is not None:
        parts = build_kinesis_live(config, stop)
    else:
        parts = build_live(config, stop)
    try:
        if stop.is_set():
            # stopped while still setting up (a broker never reached): nothing was read, and
            # nothing is owed to any sink
            log.warning("stopped_before_start", hint="no record was read")
            summary = parts.service.summary
        else:
            summary = parts.service.run()
    finally:
        parts.close()
    _print_summary(summary, config.sinks.events_file)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from driftstream.streamer.app.demo import run_demo

    if args.records < 10_000:
        raise UsageError("--records must be at least 10000 (the drift starts half-way)")
    if args.rate <= 0:
        raise UsageError("--rate must be > 0")
    stop = threading.Event()
    _install_stop_handlers(stop)
    return run_demo(
        records=args.records,
        rate=args.rate,
        metrics_port=args.metrics_port,
        events_out=args.events_out,
        stop=stop,
    )


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "baseline": cmd_baseline,
    "replay": cmd_replay,
    "run": cmd_run,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        print(f"driftstream: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(args.log_level)
    try:
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, AwsError, BaselineError, SourceError, CheckpointError) as exc:
        print(f"driftstream: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        if os.environ.get("DRIFTSTREAM_DEBUG"):
            raise
        print(f"driftstream: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
