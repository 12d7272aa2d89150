"""Detection quality of `driftstream replay`: false alarms and delays on changes at known records.

Every scenario is generated with streamer.synthetic (a change at a known record, or none), written
as data-capture JSON Lines and replayed through the real command line against one baseline built by
the real `driftstream baseline`; events.jsonl is the only thing read back. Nothing is configured:
these are the defaults a user gets (one false alarm per million records for the whole endpoint).

Scoring, per run (../shared/docs/detection.md, "Testing detection honestly"):
- an alarm is an event of kind drift, violation or retrain_signal;
- a false alarm is an alarm before the change, or on a feature other than the changed one (every
  alarm of the stationary stream; retrain signals, which name no single feature, always). The model
  score `prediction` follows `age`, `score_a` and `n_support_calls` (synthetic._score), so in a
  scenario changing one of those a `prediction` alarm after the change is a true detection;
- the delay is record_index of the first alarm on the changed feature at or after the change,
  minus the change record (for a ramp: from the start of the ramp); nothing within HORIZON records
  is a miss. Window checks report at the last record of their window, so their delay includes the
  wait for the next evaluation (every `hop` = 500 rows by default).
A trivial reference detector, "alarm every 1,000 records", is scored the same way.

Run: .venv/bin/python benchmarks/detection_quality.py [--json OUT] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cli_runner import build_baseline, code_revision, driftstream_command, run_cli

from driftstream.streamer.sources.synthetic import FEATURES, Change, Scenario, capture_lines

ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = ROOT / "out" / "detection"
ALARM_KINDS = frozenset({"drift", "violation", "retrain_signal"})
FAMILIES = ("adwin", "page_hinkley", "distribution", "completeness_check", "baseline_drift_check")
FAMILY_HEADERS = ("adwin", "ph", "distrib", "complete", "bdc")
MODEL_INPUTS = frozenset({"age", "score_a", "n_support_calls"})  # what `prediction` follows
CHANGE_AT = 20_000
STREAM_RECORDS = 40_000
STATIONARY_RECORDS = 200_000
HORIZON = 20_000
REFERENCE_PERIOD = 1_000
REPEAT_SEED_STEP = 1_000


@dataclass(frozen=True)
class Case:
    """One scenario and the delay target it is held to (None: reported, not judged)."""

    name: str
    n_records: int
    seed: int
    change: Change | None = None
    target_delay: int | None = None

    def scenario(self, repeat: int) -> Scenario:
        changes = () if self.change is None else (self.change,)
        seed = self.seed + repeat * REPEAT_SEED_STEP
        return Scenario(self.name, self.n_records, changes, seed=seed)

    @property
    def relevant(self) -> frozenset[str]:
        """Features whose alarms after the change are true detections."""
        if self.change is None:
            return frozenset()
        extra = {"prediction"} if self.change.feature in MODEL_INPUTS else set()
        return frozenset({self.change.feature, *extra})


def _change(kind: Any, feature: str, magnitude: float, ramp: int = 0) -> Change:
    return Change(kind, feature, CHANGE_AT, magnitude, ramp)


CASES: tuple[Case, ...] = (
    Case("stationary", STATIONARY_RECORDS, 100),
    Case(
        "mean +0.5σ balance (normal)",
        STREAM_RECORDS,
        101,
        _change("mean_shift", "balance", 0.5),
        target_delay=500,
    ),
    Case(
        "mean +0.5σ income (lognormal)",
        STREAM_RECORDS,
        102,
        _change("mean_shift", "income", 0.5),
        target_delay=500,
    ),
    Case(
        "mean +0.5σ latency_ms (exp)",
        STREAM_RECORDS,
        103,
        _change("mean_shift", "latency_ms", 0.5),
        target_delay=500,
    ),
    Case(
        "mean +0.5σ n_purchases (int)",
        STREAM_RECORDS,
        104,
        _change("mean_shift", "n_purchases", 0.5),
        target_delay=500,
    ),
    Case("variance ×2 score_b", STREAM_RECORDS, 105, _change("variance", "score_b", 2.0)),
    Case("ramp to +1σ/5k age", STREAM_RECORDS, 106, _change("ramp", "age", 1.0, ramp=5_000)),
    Case(
        "category mix 0.2 country",
        STREAM_RECORDS,
        107,
        _change("category_mix", "country", 0.2),
        target_delay=2_000,
    ),
    Case(
        "missing 20% session_seconds",
        STREAM_RECORDS,
        108,
        _change("missing", "session_seconds", 0.2),
        target_delay=2_000,
    ),
    Case("prediction +0.5σ", STREAM_RECORDS, 109, _change("prediction", "prediction", 0.5)),
)


@dataclass
class Hit:
    record_index: int
    delay: int
    feature: str
    detector: str


@dataclass
class RunResult:
    """The score of one replay of one scenario."""

    case: str
    seed: int
    records: int
    false_alarms: list[dict[str, Any]] = field(default_factory=list)
    first: Hit | None = None
    families: dict[str, int] = field(default_factory=dict)  # detector -> delay
    related: dict[str, Hit] = field(default_factory=dict)  # e.g. prediction after an age change
    events_by_kind: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    replay_seconds: float = 0.0


def score(case: Case, seed: int, events: Sequence[dict[str, Any]]) -> RunResult:
    """Score one run's events (see the module docstring for the definitions)."""
    result = RunResult(case.name, seed, case.n_records)
    at = case.change.at if case.change is not None else None
    changed = case.change.feature if case.change is not None else None
    for e in events:
        kind = str(e.get("kind"))
        if kind == "summary":
            continue
        result.events_by_kind[kind] = result.events_by_kind.get(kind, 0) + 1
        if kind == "rejected":
            result.rejected += 1
        if kind not in ALARM_KINDS:
            continue
        record = int(e.get("record_index", -1))
        feature = e.get("feature")
        detector = str(e.get("detector", kind))
        if at is None or record < at or feature not in case.relevant:
            result.false_alarms.append(
                {"record_index": record, "feature": feature, "detector": detector, "kind": kind}
            )
            continue
        delay = record - at
        if delay >= HORIZON:
            continue
        hit = Hit(record, delay, str(feature), detector)
        if feature == changed:
            if result.first is None or delay < result.first.delay:
                result.first = hit
            if detector in FAMILIES and detector not in result.families:
                result.families[detector] = delay
        elif feature not in result.related or delay < result.related[str(feature)].delay:
            result.related[str(feature)] = hit
    return result


def reference_events(case: Case) -> list[dict[str, Any]]:
    """The trivial detector: an alarm after every 1,000th record, on the changed feature."""
    feature = case.change.feature if case.change is not None else FEATURES[0]
    return [
        {"kind": "drift", "record_index": i, "feature": feature, "detector": "every_1000"}
        for i in range(REFERENCE_PERIOD - 1, case.n_records, REFERENCE_PERIOD)
    ]


# -- running the real command line -------------------------------------------------------------


def write_capture(scenario: Scenario, path: Path) -> None:
    with path.open("wb") as f:
        f.writelines(line + b"\n" for line in capture_lines(scenario))


def replay(capture: Path, baseline: Path, events_out: Path) -> tuple[list[dict[str, Any]], float]:
    t0 = time.perf_counter()
    run_cli(
        [
            "replay",
            str(capture),
            "--baseline",
            str(baseline),
            "--events-out",
            str(events_out),
            "--metrics-port",
            "0",
        ]
    )
    seconds = time.perf_counter() - t0
    with events_out.open() as f:
        events = [json.loads(line) for line in f if line.strip()]
    return events, seconds


def check_summary(events: Sequence[dict[str, Any]], expected: int, where: Path) -> None:
    summary = events[-1] if events else {}
    if summary.get("kind") != "summary" or summary.get("records_read") != expected:
        raise SystemExit(f"{where}: last event is not a summary of {expected} records: {summary}")


# -- aggregation and printing ----------------------------------------------------------------


def _quantile(values: Sequence[int], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _delays(values: Sequence[int], runs: int) -> str:
    """One delay, or median/p90 with the share of runs that detected, over several runs."""
    if not values:
        return "missed" if runs else "-"
    if runs == 1:
        return f"{values[0]:,}"
    text = f"{statistics.median(values):,.0f}/{_quantile(values, 0.9):,.0f}"
    return text if len(values) == runs else f"{text} ({len(values)}/{runs})"


@dataclass
class Row:
    case: Case
    runs: list[RunResult]

    @property
    def false_alarms(self) -> int:
        return sum(len(r.false_alarms) for r in self.runs)

    @property
    def records(self) -> int:
        return sum(r.records for r in self.runs)

    def first_delays(self) -> list[int]:
        return [r.first.delay for r in self.runs if r.first is not None]

    def family_delays(self, family: str) -> list[int]:
        return [r.families[family] for r in self.runs if family in r.families]

    def first_text(self) -> str:
        if self.case.change is None:
            return "-"
        delays = self.first_delays()
        if not delays:
            return "missed"
        if len(self.runs) == 1:
            hit = self.runs[0].first
            assert hit is not None
            return f"{hit.delay:,} {hit.detector}"
        return _delays(delays, len(self.runs))

    def family_text(self, family: str) -> str:
        if self.case.change is None:
            return "-"
        delays = self.family_delays(family)
        return _delays(delays, len(self.runs)) if delays else "-"

    def meets_target(self) -> bool | None:
        if self.case.target_delay is None:
            return None
        delays = self.first_delays()
        return len(delays) == len(self.runs) and max(delays) <= self.case.target_delay


def print_table(rows: Sequence[Row], reference: Sequence[Row]) -> None:
    head = ["scenario", "records", "false al.", "first alarm: delay by", *FAMILY_HEADERS]
    widths = [30, 9, 9, 30, 9, 9, 9, 9, 9]
    line = "  ".join(
        h.ljust(w) if i in (0, 3) else h.rjust(w)
        for i, (h, w) in enumerate(zip(head, widths, strict=True))
    )
    print(line)
    print("-" * len(line))

    def emit(name: str, row: Row) -> None:
        cells = [
            name,
            f"{row.records:,}",
            str(row.false_alarms),
            row.first_text(),
            *(row.family_text(f) for f in FAMILIES),
        ]
        print(
            "  ".join(
                c.ljust(w) if i in (0, 3) else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )

    for row in rows:
        emit(row.case.name, row)
    print("-" * len(line))
    for row in reference:
        emit(f"REF every 1k: {row.case.name}"[:30], row)


def _events_text(alarms: Iterable[dict[str, Any]]) -> str:
    return ", ".join(
        f"{a['feature'] or '(record)'}/{a['detector']}@{a['record_index']:,}" for a in alarms
    )


def print_details(rows: Sequence[Row]) -> None:
    print("\nFalse alarms (feature/detector@record):")
    any_false = False
    for row in rows:
        for run in row.runs:
            if run.false_alarms:
                any_false = True
                shown = run.false_alarms[:12]
                more = len(run.false_alarms) - len(shown)
                print(
                    f"  {row.case.name} (seed {run.seed}): {_events_text(shown)}"
                    + (f" … and {more} more" if more > 0 else "")
                )
    if not any_false:
        print("  none")
    print("\nRelated true detections (model output follows the changed input):")
    any_related = False
    for row in rows:
        for run in row.runs:
            for hit in run.related.values():
                any_related = True
                print(
                    f"  {row.case.name} (seed {run.seed}): {hit.feature} by {hit.detector} "
                    f"after {hit.delay:,} records"
                )
    if not any_related:
        print("  none")
    rejected = sum(r.rejected for row in rows for r in row.runs)
    if rejected:
        print(f"\nWARNING: {rejected} records were rejected by the decoder; scores may be off")


def print_targets(rows: Sequence[Row]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    stationary = [r for r in rows if r.case.change is None]
    for row in stationary:
        ok = row.false_alarms == 0
        runs = len(row.runs)
        noisy = sum(1 for r in row.runs if r.false_alarms)
        observed: str | int = (
            row.false_alarms
            if runs == 1
            else (f"{row.false_alarms} false alarm(s), in {noisy} of {runs} runs")
        )
        targets.append(
            {
                "target": f"zero false alarms on {row.case.n_records:,} stationary "
                "records" + (f" (every one of {runs} runs)" if runs > 1 else ""),
                "scenario": row.case.name,
                "observed": observed,
                "pass": ok,
            }
        )
    for row in rows:
        verdict = row.meets_target()
        if verdict is None:
            continue
        delays = row.first_delays()
        observed = (
            max(delays)
            if len(delays) == len(row.runs)
            else f"missed in {len(row.runs) - len(delays)}/{len(row.runs)} runs"
        )
        targets.append(
            {
                "target": f"detected within {row.case.target_delay:,} records",
                "scenario": row.case.name,
                "observed": observed,
                "pass": verdict,
            }
        )
    print("\nTargets:")
    for t in targets:
        observed = t["observed"]
        shown = f"{observed:,}" if isinstance(observed, int) else observed
        print(
            f"  {'PASS' if t['pass'] else 'FAIL'}  {t['scenario']}: {t['target']} "
            f"(observed: {shown})"
        )
    return targets


def print_verdicts(rows: Sequence[Row]) -> None:
    missed = [r.case.name for r in rows if r.case.change is not None and not r.first_delays()]
    partly = [
        r.case.name
        for r in rows
        if r.case.change is not None and 0 < len(r.first_delays()) < len(r.runs)
    ]
    print(f"\nNot caught within {HORIZON:,} records: {', '.join(missed) if missed else 'none'}")
    if partly:
        print(f"Caught in only some runs: {', '.join(partly)}")
    total_false = sum(r.false_alarms for r in rows)
    total_records = sum(r.records for r in rows)
    print(
        f"All false alarms: {total_false} over {total_records:,} records streamed "
        f"({total_false / total_records * 1e6:.2f} per million; the default budget is 1 per "
        "million for the whole endpoint)"
    )


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Replay synthetic scenarios with known changes through `driftstream replay` "
        "and report false alarms and detection delays against the targets.",
    )
    p.add_argument(
        "--out-dir",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where capture files, baseline and events go (default {DEFAULT_OUT})",
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON here")
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs per scenario with different seeds; >1 reports median/p90 delays",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="replays run at the same time (default: min(2, cores))",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="run only scenarios whose name contains TEXT (repeatable)",
    )
    args = p.parse_args(argv)
    if args.repeats < 1 or args.jobs < 1:
        p.error("--repeats and --jobs must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    cases = [c for c in CASES if not args.only or any(t in c.name for t in args.only)]
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"driftstream: {' '.join(driftstream_command())} at {code_revision()}"
    )
    baseline = build_baseline(out)

    jobs: list[tuple[Case, int, Scenario, Path]] = []
    t0 = time.perf_counter()
    for i, case in enumerate(cases):
        for repeat in range(args.repeats):
            scenario = case.scenario(repeat)
            capture = out / f"case{i:02d}_r{repeat}.jsonl"
            write_capture(scenario, capture)
            jobs.append((case, repeat, scenario, capture))
    print(
        f"generated {len(jobs)} capture files in {time.perf_counter() - t0:.1f}s; replaying "
        f"with {args.jobs} at a time"
    )

    def run(job: tuple[Case, int, Scenario, Path]) -> RunResult:
        case, _, scenario, capture = job
        events_out = capture.with_suffix(".events.jsonl")
        events, seconds = replay(capture, baseline, events_out)
        check_summary(events, scenario.n_records, events_out)
        result = score(case, scenario.seed, events)
        result.replay_seconds = seconds
        return result

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run, jobs))

    rows = [
        Row(case, [r for (c, _, _, _), r in zip(jobs, results, strict=True) if c is case])
        for case in cases
    ]
    # the reference's score is the same on every change scenario: show it on the stationary
    # stream and on the first change
    shown = [c for c in cases if c.change is None][:1] + [c for c in cases if c.change][:1]
    reference = [Row(case, [score(case, case.seed, reference_events(case))]) for case in shown]
    print()
    print_table(rows, reference)
    print(
        "\nColumns: false al. = alarms before the change or on other features (stationary: all "
        "alarms); delays in records after the change; per family: first alarm of adwin, "
        "page_hinkley (ph), distribution, completeness_check, baseline_drift_check (bdc) on the "
        f"changed feature; '-' = that family did not fire; 'missed' = nothing within "
        f"{HORIZON:,} records."
        + (" With --repeats: median/p90 (runs detected/runs)." if args.repeats > 1 else "")
    )
    print_details(rows)
    targets = print_targets(rows)
    print_verdicts(rows)

    if args.json is not None:
        payload = {
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
            "code": code_revision(),
            "definitions": __doc__,
            "horizon": HORIZON,
            "scenarios": [
                {
                    "name": row.case.name,
                    "change": asdict(row.case.change) if row.case.change else None,
                    "target_delay": row.case.target_delay,
                    "runs": [asdict(r) for r in row.runs],
                }
                for row in rows
            ],
            "reference_every_1000": [
                {"name": row.case.name, "runs": [asdict(r) for r in row.runs]} for row in reference
            ],
            "targets": targets,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
