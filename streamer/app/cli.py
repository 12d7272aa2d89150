"""The `driftstream` command (contract: docs/cli.md).

Exit status: 0 on success (malformed records included: they are counted and reported), 2 for a
usage or configuration error with one line naming it, 1 for anything else. No traceback for an
expected error; set DRIFTSTREAM_DEBUG=1 to see one for an unexpected error.
"""

from __future__ import annotations

import argparse
import importlib.metadata
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
from driftstream.streamer.app import resume
from driftstream.streamer.app.config import Config, ConfigError, load_config
from driftstream.streamer.app.logging import configure_logging
from driftstream.streamer.app.progress import Progress
from driftstream.streamer.checkpoint.base import CheckpointError
from driftstream.streamer.runtime.summary import RunSummary
from driftstream.streamer.sources.files import CaptureObjectsSource, FileSource, SourceError
from driftstream.streamer.sources.single import SeekError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
log = structlog.get_logger("driftstream")


class UsageError(ValueError):
    """Bad command-line usage; the message is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit 2 with usage; keep it one line
        raise UsageError(message)


def _version() -> str:
    try:
        return importlib.metadata.version("driftstream")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="driftstream", description="Streaming drift monitoring for ML endpoints")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument("--version", action="version", version=f"driftstream {_version()}")
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
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted replay from its last checkpoint (same events as one run)",
    )

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
        if args.resume:
            raise UsageError("--resume continues a monitored replay; it does not apply to --to")
        return _republish(args)
    from driftstream.streamer.app.build import REPLAY_GROUP, build_replay

    config = _replay_config(args)
    stop = threading.Event()
    _install_stop_handlers(stop)
    source = _capture_source(
        args.source,
        config,
        batch_size=64 if args.speed else config.batch_size,
        speed=args.speed,
        stop=stop,
    )
    so_far: RunSummary | None = None
    if not args.resume:
        resume.discard(args.events_out)
    elif (offset := resume.resume_offset(args.events_out, REPLAY_GROUP, source.partition)) is None:
        log.warning("nothing_to_resume", hint="no checkpoint: replaying from the first record")
    else:
        so_far = resume.cut_events(args.events_out, offset)
        log.info("resuming", record_index=offset, events_kept=sum(so_far.events.values()))
    progress = Progress(source.total_bytes)
    sinks: list[Sink] = [EventsFileSink(args.events_out, append=so_far is not None)]
    if sys.stderr.isatty():
        sinks.append(ConsoleSink(progress.write))
    run = build_replay(
        config,
        source,
        sinks,
        checkpoint_dir=resume.checkpoint_dir(args.events_out),
        metrics_required=args.metrics_port is not None,
        stop=stop,
        progress=progress.hook,
        summary=so_far,
    )
    try:
        summary = run.service.run()
    finally:
        progress.close()
        run.close()
        source.close()
    if not stop.is_set():
        resume.discard(args.events_out)  # finished: nothing left to resume
    _print_summary(summary, args.events_out)
    return EXIT_OK


def _capture_source(
    spec: str,
    config: Config,
    *,
    batch_size: int = 4096,
    speed: float | None = None,
    stop: threading.Event | None = None,
) -> CaptureObjectsSource:
    """A local file or folder, or s3://bucket/prefix (boto3 is imported only for the latter)."""
    max_line_bytes = config.decode.max_record_bytes
    if spec.startswith("s3://"):
        from driftstream.streamer.sources.s3 import capture_source

        return capture_source(
            spec,
            config.aws,
            max_line_bytes=max_line_bytes,
            batch_size=batch_size,
            speed=speed,
            stop=stop,
        )
    return FileSource(
        Path(spec), max_line_bytes=max_line_bytes, batch_size=batch_size, speed=speed, stop=stop
    )


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
    """`replay SOURCE --to kinesis://stream`: streamer/publish/kinesis.py."""
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
    from driftstream.streamer.app.build import build_live, live_source_name
    from driftstream.streamer.sources.kafka.logs import configure_client_logging

    config = load_config(args.config)
    live_source_name(config)  # a config without a live source is a usage error, before anything
    configure_client_logging(args.log_level)
    stop = threading.Event()
    _install_stop_handlers(stop)
    run = build_live(config, stop)
    try:
        if stop.is_set():
            # stopped while still setting up (a broker never reached): nothing was read, and
            # nothing is owed to any sink
            log.warning("stopped_before_start", hint="no record was read")
            summary = run.service.summary
        else:
            summary = run.service.run()
    finally:
        run.close()
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


#: errors that are the user's to fix: one line, exit 2, no traceback
EXPECTED_ERRORS = (
    UsageError,
    ConfigError,
    AwsError,
    BaselineError,
    SourceError,
    CheckpointError,
    SeekError,
    resume.ResumeError,
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
    except EXPECTED_ERRORS as exc:
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
