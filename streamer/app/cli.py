"""The `driftstream` command (contract: docs/cli.md).

Exit status: 0 on success (malformed records included: they are counted and reported), 2 for a
usage or configuration error with one line naming it, 1 for anything else, including a run that
read records but could use none of them (one line with the top rejection reasons), 130 after
Ctrl-C (SIGINT). SIGTERM asks for a clean stop: exit 0. No traceback for an expected error; set
DRIFTSTREAM_DEBUG=1 to see one for an unexpected error.

Start-up is cheap: this module imports only the standard library, and each command imports what
it needs when it runs, so `--help` and `--version` answer at once. SIGINT and SIGTERM are
handled from the first thing `main` does, before anything heavy is imported (`StopSignals`).
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftstream.detectors.baseline import Baseline
    from driftstream.streamer.app.config import Config
    from driftstream.streamer.runtime.summary import RunSummary
    from driftstream.streamer.sources.files import CaptureObjectsSource

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as shells report a Ctrl-C


class UsageError(ValueError):
    """Bad command-line usage; the message is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit 2 with usage; keep it one line
        raise UsageError(message)


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("driftstream")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`: looks the version up only when asked (the lookup costs start-up time)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"driftstream {_version()}")  # on stdout, as argparse's own version action
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="driftstream", description="Streaming drift monitoring for ML endpoints")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.add_argument("--version", action=_VersionAction)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("baseline", help="write statistics.json and constraints.json")
    b.add_argument("data", type=Path, help="CSV or JSON Lines file, or a folder of them")
    b.add_argument("--out", type=Path, default=Path("baseline"), help="output folder")
    b.add_argument("--no-header", action="store_true", help="the CSV has no header row")
    b.add_argument("--label-column", help="the column holding the model output")
    b.add_argument(
        "--ground-truth-column",
        help="the column holding the true label (not a feature): also writes DIR/model_quality/",
    )
    b.add_argument(
        "--problem-type",
        choices=["BinaryClassification", "MulticlassClassification", "Regression"],
        help="with --ground-truth-column: which model-quality metrics",
    )
    b.add_argument(
        "--probability-threshold",
        type=float,
        default=0.5,
        help="BinaryClassification: the model output is a probability, positive above this",
    )
    b.add_argument(
        "--bias-config",
        type=Path,
        metavar="FILE",
        help="a Clarify analysis config: also writes DIR/analysis.json, the post-training bias "
        "metrics of the model output (the bias-drift baseline)",
    )

    r = sub.add_parser("replay", help="run captured records through the monitor")
    r.add_argument("source", help="capture .jsonl/.jsonl.gz file, folder, or s3://bucket/prefix")
    r.add_argument("--baseline", type=Path, help="folder with statistics.json/constraints.json")
    r.add_argument("--config", type=Path, help="YAML config file")
    r.add_argument("--events-out", type=Path, default=Path("events.jsonl"))
    r.add_argument("--speed", type=float, help="replay at X times the recorded pace")
    r.add_argument("--to", help="kafka://host:port/topic or kinesis://stream: re-publish instead")
    r.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics on this port (0: any free port); without it (or `metrics:` in the "
        "config), a replay serves no metrics",
    )
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted replay from its last checkpoint (same events as one run)",
    )
    r.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="then write the HTML report of the events to FILE (as `driftstream report` does)",
    )
    r.add_argument(
        "--violations-out",
        metavar="DIR",
        help="Model Monitor's constraint_violations.json and statistics.json of every window "
        "under DIR/yyyy/mm/dd/hh/mm/ (a folder or s3://bucket/prefix)",
    )
    r.add_argument(
        "--ground-truth",
        metavar="GT",
        help="Model Monitor ground-truth records (a file, a folder or s3://bucket/prefix), "
        "joined to the captures: model quality against the baseline's model_quality/",
    )
    r.add_argument(
        "--violations-window",
        metavar="W",
        help="the report window: a duration of inferenceTime (30s, 5m, 1h; default 1h) or a "
        "record count (10000r)",
    )

    run = sub.add_parser("run", help="the live service")
    run.add_argument("--config", type=Path, required=True)

    d = sub.add_parser("demo", help="generated traffic with a known drift; needs nothing else")
    d.add_argument("--records", type=int, default=60_000)
    d.add_argument("--rate", type=float, default=5_000.0, help="records per second")
    d.add_argument("--metrics-port", type=int, default=9108)
    d.add_argument("--events-out", type=Path, help="also write events.jsonl here")

    rep = sub.add_parser("report", help="a self-contained HTML page of an events.jsonl")
    rep.add_argument("events", type=Path, help="events.jsonl written by replay, run or demo")
    rep.add_argument(
        "-o", "--out", type=Path, help="the HTML file (default: EVENTS with the suffix .html)"
    )
    rep.add_argument("--baseline", type=Path, help="baseline folder: named and summarised")

    sig = sub.add_parser("signals", help="retrain signals held for approval: list, show, decide")
    sig.add_argument("action", choices=["list", "show", "approve", "reject"])
    sig.add_argument("id", nargs="?", metavar="ID", help="a signal's key (or its beginning)")
    sig.add_argument("--config", type=Path, help="YAML config file: its sinks.signal_outbox")
    sig.add_argument("--reason", metavar="TEXT", help="why (approve, reject): kept with it")
    return p


class StopSignals:
    """SIGINT and SIGTERM ask for a clean stop: they set `event`, which the running command
    watches (the processing loop finishes its batch, checkpoints and writes its summary).

    Installed by `main` before anything else, so a signal that arrives during start-up (while
    modules load, the baseline is calibrated or the broker is reached) is a clean stop too,
    never a death by the signal. A command that does not watch `event` (`baseline`) calls
    `interrupt_at_once`: the next signal then raises KeyboardInterrupt where it lands.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None  # the first stop signal received
        self._raise = False

    def install(self) -> StopSignals:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def interrupt_at_once(self) -> None:
        """From now on a stop signal raises KeyboardInterrupt (a command that cannot stop
        cleanly part-way); one that already arrived raises it here."""
        self._raise = True
        if self.event.is_set():
            raise KeyboardInterrupt

    @property
    def interrupted(self) -> bool:
        """Ctrl-C (SIGINT) arrived: the exit status is 130."""
        return self.signum == signal.SIGINT

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        self.event.set()
        if self._raise:
            raise KeyboardInterrupt


def cmd_baseline(args: argparse.Namespace, stop: StopSignals) -> int:
    from driftstream.detectors.baseline import build_baseline

    if (args.ground_truth_column is None) != (args.problem_type is None):
        raise UsageError("--ground-truth-column and --problem-type go together")
    if args.bias_config is not None:
        from driftstream.detectors.bias import load_bias_config

        load_bias_config(args.bias_config)  # a bad config fails before any file is written
    stop.interrupt_at_once()
    baseline = build_baseline(
        args.data,
        args.out,
        header=not args.no_header,
        label_column=args.label_column,
        ground_truth_column=args.ground_truth_column,
        on_warning=lambda w: print(f"driftstream: warning: {w.message}", file=sys.stderr),
    )
    print(
        f"wrote {args.out / 'statistics.json'} and {args.out / 'constraints.json'}: "
        f"{len(baseline.features)} features, {int(baseline.item_count)} rows, "
        f"identity {baseline.identity}"
    )
    if args.ground_truth_column is not None:
        _model_quality_baseline(args)
    if args.bias_config is not None:
        _bias_baseline(args, baseline)
    return EXIT_OK


def _bias_baseline(args: argparse.Namespace, baseline: Baseline) -> None:
    """`baseline --bias-config FILE`: DIR/analysis.json (detectors/bias)."""
    from driftstream.detectors.bias import ANALYSIS, build_bias_baseline

    built = build_bias_baseline(
        args.data,
        args.out,
        args.bias_config,
        baseline,
        header=not args.no_header,
        label_column=args.label_column,
        on_warning=lambda message: print(f"driftstream: warning: {message}", file=sys.stderr),
    )
    metrics = sorted({m.name for f in built.analysis.facets for m in f.metrics})
    print(
        f"wrote {args.out / ANALYSIS}: {', '.join(metrics)} of {len(built.analysis.facets)} "
        f"facet group{'' if len(built.analysis.facets) == 1 else 's'}"
    )


def _model_quality_baseline(args: argparse.Namespace) -> None:
    """`baseline --ground-truth-column --problem-type`: DIR/model_quality/ (detectors/quality)."""
    from driftstream.detectors.baseline import PREDICTION
    from driftstream.detectors.quality.baseline import build_model_quality, problem_type
    from driftstream.detectors.quality.files import MODEL_QUALITY

    out = args.out / MODEL_QUALITY
    quality, dropped = build_model_quality(
        args.data,
        out,
        prediction_column=args.label_column or PREDICTION,
        ground_truth_column=args.ground_truth_column,
        problem=problem_type(args.problem_type),
        probability_threshold=args.probability_threshold,
        header=not args.no_header,
    )
    if dropped:
        print(
            f"driftstream: warning: {dropped:,} rows have no usable model output or ground "
            "truth; model quality is computed without them",
            file=sys.stderr,
        )
    print(
        f"wrote {out}: {quality.problem.value}, {int(quality.item_count)} pairs, "
        f"{len(quality.constraints)} constraints"
    )


def _replay_config(args: argparse.Namespace) -> Config:
    """The replay's config. A replay serves /metrics only when asked: `--metrics-port N`, or
    `metrics:` in the config file (or a DRIFTSTREAM__METRICS__ override)."""
    from driftstream.streamer.app.config import load_config

    overrides: dict[str, Any] = {}
    if args.baseline is not None:
        overrides["baseline"] = str(args.baseline)
    if args.metrics_port is not None:
        overrides["metrics.port"] = args.metrics_port
    if args.violations_out is not None:
        overrides["reports.violations_out"] = args.violations_out
    if args.ground_truth is not None:
        overrides["model_quality.ground_truth"] = args.ground_truth
    if args.violations_window is not None:
        overrides["reports.violations_window"] = _violations_window(args.violations_window)
    config = load_config(args.config, **overrides)
    if args.violations_window is not None and config.reports.violations_out is None:
        raise UsageError("--violations-window needs --violations-out (or reports.violations_out)")
    if "metrics" not in config.model_fields_set:
        metrics = config.metrics.model_copy(update={"enabled": False})
        config = config.model_copy(update={"metrics": metrics})
    return config


def _violations_window(text: str) -> str:
    """`--violations-window`, checked (docs/model-monitor-reports.md)."""
    from driftstream.detectors.constraints.window import WindowSpec

    try:
        WindowSpec.parse(text)
    except ValueError as exc:
        raise UsageError(f"--violations-window: {exc}") from None
    return text


def cmd_replay(args: argparse.Namespace, stop: StopSignals) -> int:
    if args.speed is not None and args.speed <= 0:
        raise UsageError("--speed must be > 0")
    if args.to is not None:
        if args.resume:
            raise UsageError("--resume continues a monitored replay; it does not apply to --to")
        if args.violations_out is not None:
            raise UsageError("--violations-out reports a monitored replay; not with --to")
        return _republish(args, stop.event)
    from driftstream.sinks.base import Sink
    from driftstream.sinks.console import ConsoleSink
    from driftstream.sinks.events_file import EventsFileSink
    from driftstream.streamer.app import resume
    from driftstream.streamer.app.build import build_replay
    from driftstream.streamer.app.progress import Progress

    config = _replay_config(args)
    if stop.event.is_set():
        return _stopped_before_start(args.events_out)
    source = _capture_source(
        args.source,
        config,
        batch_size=64 if args.speed else config.batch_size,
        speed=args.speed,
        stop=stop.event,
    )
    so_far = _start_or_resume(args, source)
    progress = Progress(source.total_bytes)
    # the events file is replaced (or, resuming, continued) when processing starts, not here
    sinks: list[Sink] = [EventsFileSink(args.events_out, append=so_far is not None)]
    if sys.stderr.isatty():
        sinks.append(ConsoleSink(progress.write))
    run = build_replay(
        config,
        source,
        sinks,
        checkpoint_dir=resume.checkpoint_dir(args.events_out),
        metrics_required=config.metrics.enabled,
        stop=stop.event,
        progress=progress.hook,
        summary=so_far,
    )
    try:
        _print_metrics_address(config.metrics.host, run.metrics.bound_port)
        if stop.event.is_set():  # during set-up (calibration): nothing read, nothing written
            if not args.resume:
                resume.discard(args.events_out)  # the empty checkpoint folder just made
            return _stopped_before_start(args.events_out)
        summary = run.service.run()
    finally:
        progress.close()
        run.close()
        source.close()
    if not stop.event.is_set():
        resume.discard(args.events_out)  # finished: nothing left to resume
    status = _outcome(summary, args.events_out)
    if args.report is not None:
        _write_report(args.events_out, args.report, config.baseline)
    return status


def _start_or_resume(args: argparse.Namespace, source: CaptureObjectsSource) -> RunSummary | None:
    """Without --resume, forget an earlier replay's checkpoint; with it, cut the events file
    back to the checkpoint and return the counts so far (None: no checkpoint, start afresh)."""
    import structlog

    from driftstream.streamer.app import resume
    from driftstream.streamer.app.build import REPLAY_GROUP

    log = structlog.get_logger("driftstream")
    if not args.resume:
        resume.discard(args.events_out)
        return None
    offset = resume.resume_offset(args.events_out, REPLAY_GROUP, source.partition)
    if offset is None:
        log.warning("nothing_to_resume", hint="no checkpoint: replaying from the first record")
        return None
    so_far = resume.cut_events(args.events_out, offset)
    log.info("resuming", record_index=offset, events_kept=sum(so_far.events.values()))
    return so_far


def _stopped_before_start(events_out: Path | None) -> int:
    """A stop signal arrived before the first record was read."""
    kept = f"; {events_out} left as it was" if events_out is not None else ""
    print(f"driftstream: stopped before the first record{kept}", file=sys.stderr)
    return EXIT_OK


def _print_metrics_address(host: str, port: int | None) -> None:
    """Where /metrics is served (the port bound, also when 0 asked for any free one)."""
    if port is not None:
        print(f"driftstream: metrics on http://{host}:{port}/metrics", file=sys.stderr)


def _outcome(summary: RunSummary, events_out: Path | None) -> int:
    """The run's one line on stderr, and its exit status: EXIT_FAILURE when records were read
    but none could be used (random bytes, the wrong baseline), the line then naming the top
    rejection reasons; else EXIT_OK (which `main` turns into 130 after a Ctrl-C)."""
    if summary.records_read == 0 or summary.records_used > 0:
        _print_summary(summary, events_out)
        return EXIT_OK
    top = sorted(summary.rejected.items(), key=lambda item: (-item[1], item[0]))
    reasons = ", ".join(f"{reason} {n}" for reason, n in top[:3])
    if len(top) > 3:
        reasons += f", {len(top) - 3} other reasons"
    print(
        f"driftstream: failed: no record could be used: {summary.records_read} read, "
        f"{summary.rejected.total()} rejected ({reasons})",
        file=sys.stderr,
    )
    return EXIT_FAILURE


def _capture_source(
    spec: str,
    config: Config,
    *,
    batch_size: int = 4096,
    speed: float | None = None,
    stop: threading.Event | None = None,
) -> CaptureObjectsSource:
    """A local file or folder, or s3://bucket/prefix (boto3 is imported only for the latter)."""
    from driftstream.streamer.sources.s3 import capture_source

    return capture_source(
        spec,
        config.aws,
        max_line_bytes=config.decode.max_record_bytes,
        batch_size=batch_size,
        speed=speed,
        stop=stop,
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


def _republish(args: argparse.Namespace, stop: threading.Event) -> int:
    """`replay SOURCE --to kafka://host:port/topic`: publish the captured lines, keyed by the
    config's endpoint, with the config's Kafka security settings when it has them."""
    if args.to.startswith("kinesis://"):
        return _republish_kinesis(args, stop)
    if not args.to.startswith("kafka://"):
        raise UsageError(f"--to {args.to}: expected kafka://host:port/topic or kinesis://stream")
    from driftstream.streamer.app.config import load_config
    from driftstream.streamer.publish.kafka import parse_kafka_target, publish
    from driftstream.streamer.sources.kafka.source import client_options

    try:
        target = parse_kafka_target(args.to)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = load_config(args.config)
    source = _capture_source(args.source, config)
    options = client_options(config.sources.kafka) if config.sources.kafka is not None else {}
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


def _republish_kinesis(args: argparse.Namespace, stop: threading.Event) -> int:
    """`replay SOURCE --to kinesis://stream`: streamer/publish/kinesis.py."""
    from driftstream.streamer.app.config import load_config
    from driftstream.streamer.publish.kinesis import parse_kinesis_target, replay_to_kinesis

    try:
        stream = parse_kinesis_target(args.to)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = load_config(args.config)
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


def cmd_run(args: argparse.Namespace, stop: StopSignals) -> int:
    """The live service. A stop signal during set-up ends it before it reads anything: at once
    when it came before the set-up began, else when the step under way (calibrating the
    baseline, reaching the broker) ends."""
    from driftstream.streamer.app.build import build_live, live_source_name
    from driftstream.streamer.app.config import load_config
    from driftstream.streamer.sources.kafka.logs import configure_client_logging

    config = load_config(args.config)
    live_source_name(config)  # a config without a live source is a usage error, before anything
    if stop.event.is_set():
        from driftstream.streamer.runtime.summary import RunSummary

        return _live_stopped_before_start(RunSummary(), config.sinks.events_file)
    configure_client_logging(args.log_level)
    run = build_live(config, stop.event)
    try:
        _print_metrics_address(config.metrics.host, run.metrics.bound_port)
        if stop.event.is_set():
            # stopped while still setting up (a broker never reached): nothing was read, and
            # nothing is owed to any sink
            return _live_stopped_before_start(run.service.summary, config.sinks.events_file)
        summary = run.service.run()
    finally:
        run.close()
    return _outcome(summary, config.sinks.events_file)


def _live_stopped_before_start(summary: RunSummary, events_file: Path | None) -> int:
    import structlog

    structlog.get_logger("driftstream").warning("stopped_before_start", hint="no record was read")
    return _outcome(summary, events_file)


def cmd_demo(args: argparse.Namespace, stop: StopSignals) -> int:
    from driftstream.streamer.app.demo import run_demo

    if args.records < 10_000:
        raise UsageError("--records must be at least 10000 (the drift starts half-way)")
    if args.rate <= 0:
        raise UsageError("--rate must be > 0")
    return run_demo(
        records=args.records,
        rate=args.rate,
        metrics_port=args.metrics_port,
        events_out=args.events_out,
        stop=stop.event,
    )


def cmd_report(args: argparse.Namespace, stop: StopSignals) -> int:
    """`report EVENTS`: the HTML page, written atomically (an interrupted report leaves no
    half-written page)."""
    if not args.events.is_file():
        problem = "not a file" if args.events.exists() else "no such file"
        raise UsageError(f"{args.events}: {problem} (expected an events.jsonl)")
    out: Path = args.out if args.out is not None else args.events.with_suffix(".html")
    if out.resolve() == args.events.resolve():
        raise UsageError(f"{out}: the report would replace the events file; name another with -o")
    stop.interrupt_at_once()
    _write_report(args.events, out, args.baseline)
    return EXIT_OK


def _write_report(events: Path, out: Path, baseline: Path | None) -> None:
    from driftstream.sinks.report import ReportError, write_report

    try:
        write_report(events, out, baseline_dir=baseline)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    print(f"driftstream: report written to {out}", file=sys.stderr)


def cmd_signals(args: argparse.Namespace, stop: StopSignals) -> int:
    """`signals list|show|approve|reject` (streamer/app/signals.py, docs/signals.md)."""
    from driftstream.sinks.signals.approval import ApprovalError
    from driftstream.streamer.app.config import load_config
    from driftstream.streamer.app.signals import check_arguments, run_signals

    problem = check_arguments(args.action, args.id, args.reason)
    if problem is not None:
        raise UsageError(problem)
    directory = load_config(args.config).sinks.signal_outbox
    stop.interrupt_at_once()
    try:
        run_signals(args.action, args.id, directory, args.reason)
    except ApprovalError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK


def expected_errors() -> tuple[type[Exception], ...]:
    """The errors that are the user's to fix: one line, exit 2, no traceback. (Imported when an
    error is being reported, so that start-up imports only what the command needs.)"""
    from driftstream.detectors.baseline import BaselineError
    from driftstream.sinks.aws import AwsError
    from driftstream.streamer.app.config import ConfigError
    from driftstream.streamer.app.resume import ResumeError
    from driftstream.streamer.checkpoint.base import CheckpointError
    from driftstream.streamer.sources.files import SourceError
    from driftstream.streamer.sources.single import SeekError

    return (
        UsageError,
        ConfigError,
        AwsError,
        BaselineError,
        SourceError,
        CheckpointError,
        SeekError,
        ResumeError,
    )


COMMANDS: dict[str, Callable[[argparse.Namespace, StopSignals], int]] = {
    "baseline": cmd_baseline,
    "replay": cmd_replay,
    "run": cmd_run,
    "demo": cmd_demo,
    "report": cmd_report,
    "signals": cmd_signals,
}


def _print_error(line: str) -> None:
    """An error line on stderr with secrets masked (`redact`, streamer/app/logging.py)."""
    from driftstream.streamer.app.logging import redact

    print(redact(line), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. The exit status: see the module docstring."""
    stop = StopSignals().install()  # first of all: from here on a stop signal is a clean stop
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        _print_error(f"driftstream: error: {exc}")
        return EXIT_USAGE
    from driftstream.streamer.app.logging import configure_logging

    configure_logging(args.log_level)
    try:
        status = COMMANDS[args.command](args, stop)
    except KeyboardInterrupt:  # a command that stops at once (see StopSignals)
        return 128 + (stop.signum or signal.SIGINT)
    except Exception as exc:
        if isinstance(exc, expected_errors()):
            _print_error(f"driftstream: error: {exc}")
            return EXIT_USAGE
        if os.environ.get("DRIFTSTREAM_DEBUG"):
            raise
        _print_error(f"driftstream: failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILURE
    return EXIT_INTERRUPTED if status == EXIT_OK and stop.interrupted else status


if __name__ == "__main__":
    sys.exit(main())
