"""Throughput of `driftstream replay` against the obvious per-record, per-feature river loop.

Both contenders read the same stationary capture file (1,000,000 records by default: 10 numeric and
3 categorical inputs plus the model output, streamer.synthetic seed 3) and run as child processes,
so each one's peak memory can be taken alone:

(a) `driftstream replay FILE --baseline DIR --events-out EVENTS --metrics-port 0`, run once to warm
    the calibration and numba caches, then timed. Wall time covers the whole process: interpreter
    start, imports, baseline load, calibration-cache read, replay.
(b) the obvious loop (this file with --naive-worker): per line `json.loads`, split the CSV
    `data`, `float()` each numeric value, standardise it with the baseline's mean and std_dev, and
    update one `river.drift.ADWIN()` and one `river.drift.PageHinkley()` per numeric feature
    (prediction included), one value at a time. It does less than driftstream (no categorical
    features, no window checks, no events file, no metrics), which favours it. Its timer covers
    the loop only.

Peak memory: each contender is started through a tiny wrapper process (`python -c WRAPPER cmd…`)
that runs it and then reads resource.getrusage(RUSAGE_CHILDREN).ru_maxrss; the wrapper has one
child, so that is the contender's own peak. Not measured from this process directly: Linux carries
the parent's peak RSS into a forked child's ru_maxrss across exec, and this process can hold the
generated data (~1 GB), which would show as every child's peak.

Run: .venv/bin/python benchmarks/throughput.py [--runs N] [--profile auto|always|never] [--json OUT]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cli_runner import TRAINING_ROWS, build_baseline, code_revision, driftstream_command
from river.drift import ADWIN, PageHinkley

from driftstream.streamer.sources.synthetic import Scenario, capture_lines

ROOT = Path(__file__).resolve().parent
DEFAULT_OUT = ROOT / "out"
TARGET_RATE = 100_000.0  # records/s
TARGET_SPEEDUP = 2.0
NAIVE_CHECK_AT = 200_000  # the naive loop decides here whether the full file fits the budget


# -- data ------------------------------------------------------------------------------------


def count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
    return n


def ensure_capture(path: Path, n_records: int, seed: int) -> str:
    """Write the stationary capture file unless one with n_records lines is already there."""
    if path.exists() and count_lines(path) == n_records:
        return f"reused {path} ({n_records:,} records)"
    t0 = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        f.writelines(
            line + b"\n" for line in capture_lines(Scenario("throughput", n_records, seed=seed))
        )
    tmp.replace(path)
    return f"generated {path} ({n_records:,} records) in {time.perf_counter() - t0:.1f}s"


def write_head(src: Path, dst: Path, n_records: int) -> None:
    if dst.exists() and count_lines(dst) == n_records:
        return
    with src.open("rb") as fin, dst.open("wb") as fout:
        for i, line in enumerate(fin):
            if i >= n_records:
                break
            fout.write(line)


# -- measuring a child process ---------------------------------------------------------------------


@dataclass
class Measured:
    wall_seconds: float
    max_rss_mib: float
    stdout: str
    stderr: str


# Runs argv[2:], then writes its wall time and peak RSS (the wrapper's only child) to argv[1].
WRAPPER = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(sys.argv[1], "w") as f:
    json.dump({"rc": rc, "wall": wall, "maxrss_kib": rss}, f)
sys.exit(rc)
"""


def measure(cmd: list[str], log_stem: Path) -> Measured:
    """Run cmd to completion; its wall time and its own peak RSS (see the module docstring)."""
    out_path, err_path = log_stem.with_suffix(".stdout"), log_stem.with_suffix(".stderr")
    usage_path = log_stem.with_suffix(".rusage.json")
    with out_path.open("wb") as so, err_path.open("wb") as se:
        rc = subprocess.call(
            [sys.executable, "-c", WRAPPER, str(usage_path), *cmd], stdout=so, stderr=se
        )
    stdout, stderr = out_path.read_text(), err_path.read_text()
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {rc}:\n{stderr.strip()}")
    usage = json.loads(usage_path.read_text())
    return Measured(usage["wall"], usage["maxrss_kib"] / 1024.0, stdout, stderr)  # Linux: KiB


# -- (a) driftstream --------------------------------------------------------------------------


@dataclass
class ReplayRun:
    wall_seconds: float
    records_per_second: float
    pipeline_seconds: float  # the summary event's `seconds`: the processing loop alone
    pipeline_records_per_second: float
    max_rss_mib: float
    events: dict[str, int]
    load_before: float
    load_after: float


def replay_once(capture: Path, baseline: Path, out: Path, n_records: int, tag: str) -> ReplayRun:
    events_out = out / f"throughput_events_{tag}.jsonl"
    cmd = [
        *driftstream_command(),
        "replay",
        str(capture),
        "--baseline",
        str(baseline),
        "--events-out",
        str(events_out),
        "--metrics-port",
        "0",
    ]
    load_before = os.getloadavg()[0]
    m = measure(cmd, out / f"throughput_replay_{tag}")
    with events_out.open("rb") as f:
        last = f.readlines()[-1]
    summary = json.loads(last)
    if summary.get("kind") != "summary" or summary.get("records_read") != n_records:
        raise SystemExit(f"{events_out}: unexpected last event {summary}")
    seconds = float(summary["seconds"])
    return ReplayRun(
        m.wall_seconds,
        n_records / m.wall_seconds,
        seconds,
        n_records / seconds,
        m.max_rss_mib,
        dict(summary.get("events", {})),
        load_before,
        os.getloadavg()[0],
    )


def load_text(load: float) -> str:
    return f"{load:.2f}"


# -- (b) the obvious loop -------------------------------------------------------------------------


def load_standardisation(baseline: Path) -> tuple[list[str], dict[str, tuple[float, float]]]:
    """Input column names (CSV order) and mean/std_dev of every numeric feature."""
    stats = json.loads((baseline / "statistics.json").read_text())
    inputs = [f["name"] for f in stats["features"] if f["name"] != "prediction"]
    numeric = {
        f["name"]: (
            float(f["numerical_statistics"]["mean"]),
            float(f["numerical_statistics"]["std_dev"]),
        )
        for f in stats["features"]
        if "numerical_statistics" in f
    }
    return inputs, numeric


def naive_loop(
    capture: Path, baseline: Path, n_records: int, budget_seconds: float
) -> dict[str, Any]:
    """The per-record, per-feature loop; stops after NAIVE_CHECK_AT if the rest would not fit."""
    inputs, numeric = load_standardisation(baseline)
    columns = [*inputs, "prediction"]  # the model output is appended after the inputs
    watched = [
        (j, numeric[name][0], numeric[name][1], ADWIN(), PageHinkley())  # type: ignore[no-untyped-call]
        for j, name in enumerate(columns)
        if name in numeric
    ]
    alarms = 0
    n = 0
    stopped_early = False
    t0 = time.perf_counter()
    with capture.open("rb") as f:
        for line in f:
            record = json.loads(line)
            capture_data = record["captureData"]
            values = capture_data["endpointInput"]["data"].split(",")
            values.append(capture_data["endpointOutput"]["data"])
            for j, mean, std, adwin, ph in watched:
                raw = values[j]
                if not raw:
                    continue
                z = (float(raw) - mean) / std
                adwin.update(z)  # type: ignore[no-untyped-call]  # river is untyped
                ph.update(z)  # type: ignore[no-untyped-call]
                alarms += adwin.drift_detected + ph.drift_detected
            n += 1
            if n == NAIVE_CHECK_AT and n < n_records:
                projected = (time.perf_counter() - t0) * n_records / n
                if projected > budget_seconds:
                    stopped_early = True
                    break
    seconds = time.perf_counter() - t0
    return {
        "records": n,
        "seconds": seconds,
        "records_per_second": n / seconds,
        "stopped_early": stopped_early,
        "features": len(watched),
        "alarms": alarms,
    }


@dataclass
class NaiveRun:
    records: int
    loop_seconds: float
    records_per_second: float
    stopped_early: bool
    wall_seconds: float
    max_rss_mib: float
    features: int
    alarms: int
    load_before: float
    load_after: float


def naive_once(
    capture: Path, baseline: Path, out: Path, n_records: int, budget_seconds: float
) -> NaiveRun:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--naive-worker",
        "--capture",
        str(capture),
        "--baseline",
        str(baseline),
        "--records",
        str(n_records),
        "--naive-budget",
        str(budget_seconds),
    ]
    load_before = os.getloadavg()[0]
    m = measure(cmd, out / "throughput_naive")
    r = json.loads(m.stdout.strip().splitlines()[-1])
    return NaiveRun(
        r["records"],
        r["seconds"],
        r["records_per_second"],
        r["stopped_early"],
        m.wall_seconds,
        m.max_rss_mib,
        r["features"],
        r["alarms"],
        load_before,
        os.getloadavg()[0],
    )


# -- profiling -------------------------------------------------------------------------------


def profile_replay(capture: Path, baseline: Path, out: Path, n_records: int, top: int) -> str:
    """cProfile of `driftstream replay` on the first n_records; top functions, two orders."""
    head = out / f"throughput_head_{n_records}.jsonl"
    write_head(capture, head, n_records)
    prof = out / "throughput_replay.prof"
    cmd = [
        sys.executable,
        "-m",
        "cProfile",
        "-o",
        str(prof),
        "-m",
        "driftstream.streamer.app.cli",
        "replay",
        str(head),
        "--baseline",
        str(baseline),
        "--events-out",
        str(out / "throughput_events_profile.jsonl"),
        "--metrics-port",
        "0",
    ]
    m = measure(cmd, out / "throughput_profile")
    # cProfile swallows the command's SystemExit, so success is read from the events file
    events_out = out / "throughput_events_profile.jsonl"
    last = events_out.read_bytes().splitlines()[-1:] if events_out.exists() else []
    summary = json.loads(last[0]) if last else {}
    if summary.get("kind") != "summary" or summary.get("records_read") != n_records:
        raise SystemExit(f"profiled replay did not complete:\n{m.stderr.strip()}")
    buf = io.StringIO()
    buf.write(
        f"cProfile of driftstream replay on {n_records:,} records "
        f"(wall {m.wall_seconds:.1f}s under the profiler; {m.stderr.strip()})\n"
    )
    own_code = r"/(streamer|detectors|sinks)/"
    for order, restrict in (("cumulative", None), ("tottime", None), ("cumulative", own_code)):
        where = " (driftstream's own modules only)" if restrict else ""
        buf.write(f"\n--- top {top} by {order}{where} ---\n")
        stats = pstats.Stats(str(prof), stream=buf)
        stats.sort_stats(order)
        if restrict:
            stats.print_stats(restrict, top)
        else:
            stats.print_stats(top)
    buf.write(stage_breakdown(pstats.Stats(str(prof)), top=8))
    # drop pstats' header boilerplate lines that name the file
    return "\n".join(line for line in buf.getvalue().splitlines() if not line.endswith(".prof"))


STAGES = (  # (file suffix, function): the processing loop, then its costliest parts
    ("streamer/runtime/service.py", "run"),
    ("detectors/monitor.py", "process"),
    ("detectors/monitor.py", "_evaluate_window"),
    ("detectors/monitor.py", "_run_sequential"),
    ("streamer/decode/capture.py", "decode"),
)


def stage_breakdown(stats: pstats.Stats, top: int) -> str:
    """Cumulative seconds of what each stage calls: where the processing loop's time goes."""
    stats.calc_callees()
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # pstats keeps it untyped
    callees: dict[Any, Any] = stats.all_callees  # type: ignore[attr-defined]
    lines = ["\n--- where the time goes: callees of each stage, by cumulative seconds ---"]
    for suffix, func in STAGES:
        for key in (k for k in raw if k[0].endswith(suffix) and k[2] == func):
            lines.append(
                f"{suffix}:{key[1]}({func}): {raw[key][3]:.3f}s cumulative, {raw[key][1]} calls"
            )
            ranked = sorted(callees.get(key, {}).items(), key=lambda kv: -kv[1][3])[:top]
            for (file, line, name), (_, calls, _, cum) in ranked:
                where = f"{Path(file).name}:{line}({name})" if line else name
                lines.append(f"    {cum:8.3f}s  {calls:>7} calls  {where}")
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "cpu": cpu,
        "platform": platform.platform(),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time `driftstream replay` against the obvious per-record river loop on the "
        "same stationary capture file; report records/s, peak memory and PASS/FAIL.",
    )
    p.add_argument("--records", type=int, default=1_000_000, help="capture records (1,000,000)")
    p.add_argument("--seed", type=int, default=3, help="synthetic scenario seed (3)")
    p.add_argument(
        "--out-dir",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where the capture file, baseline and logs go ({DEFAULT_OUT})",
    )
    p.add_argument(
        "--runs",
        type=int,
        default=1,
        help="timed driftstream runs after the warm-up; the median is judged (1)",
    )
    p.add_argument(
        "--naive-budget",
        type=float,
        default=180.0,
        help="seconds the obvious loop may take on the whole file; if the first "
        f"{NAIVE_CHECK_AT:,} records project beyond it, it is timed on those (180)",
    )
    p.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="cProfile driftstream replay: auto = only when a target fails",
    )
    p.add_argument(
        "--profile-records",
        type=int,
        default=200_000,
        help="records in the profiled replay (200,000)",
    )
    p.add_argument("--profile-top", type=int, default=15, help="functions listed per order (15)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON here")
    # internal: the obvious loop, run as its own child process so its memory is its own
    p.add_argument("--naive-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--capture", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--baseline", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.records < 1 or args.runs < 1:
        p.error("--records and --runs must be >= 1")
    return args


def _mib(x: float) -> str:
    return f"{x:,.0f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.naive_worker:
        print(json.dumps(naive_loop(args.capture, args.baseline, args.records, args.naive_budget)))
        return 0

    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(
        f"machine: {info['cores']} cores (os.cpu_count()), {info['cpu']}; "
        f"Python {info['python']}; {info['platform']}"
    )
    print(f"code: {code_revision()}")
    capture = out / "throughput.jsonl"
    print(ensure_capture(capture, args.records, args.seed))
    baseline = build_baseline(out, "throughput_")
    print(f"baseline: {baseline} (training_csv({TRAINING_ROWS}, seed=1))")
    print("peak memory: getrusage(RUSAGE_CHILDREN).ru_maxrss in a one-child wrapper process")

    t0 = time.perf_counter()
    warm = replay_once(capture, baseline, out, args.records, "warmup")
    print(f"\nwarm-up replay (caches): {time.perf_counter() - t0:.1f}s wall")
    runs: list[ReplayRun] = []
    for i in range(args.runs):
        runs.append(replay_once(capture, baseline, out, args.records, f"run{i}"))
        print(
            f"timed replay {i + 1}/{args.runs}: {runs[-1].wall_seconds:.2f}s wall "
            f"(load average before/after: {load_text(runs[-1].load_before)}/"
            f"{load_text(runs[-1].load_after)} on {os.cpu_count()} cores)",
            flush=True,
        )
    ds = sorted(runs, key=lambda r: r.wall_seconds)[len(runs) // 2]  # the median run
    print("naive loop running…", flush=True)
    naive = naive_once(capture, baseline, out, args.records, args.naive_budget)

    print(f"\n{'':32}{'records':>11}{'seconds':>10}{'records/s':>12}{'peak RSS':>11}")
    print(
        f"{'driftstream replay (wall)':32}{args.records:>11,}{ds.wall_seconds:>10.2f}"
        f"{ds.records_per_second:>12,.0f}{_mib(ds.max_rss_mib):>11}"
    )
    print(
        f"{'  of which processing loop':32}{args.records:>11,}{ds.pipeline_seconds:>10.2f}"
        f"{ds.pipeline_records_per_second:>12,.0f}{'':>11}"
    )
    print(
        f"{'obvious river loop (loop only)':32}{naive.records:>11,}{naive.loop_seconds:>10.2f}"
        f"{naive.records_per_second:>12,.0f}{_mib(naive.max_rss_mib):>11}"
    )
    if len(runs) > 1:
        walls = ", ".join(f"{r.wall_seconds:.2f}" for r in runs)
        best = min(runs, key=lambda r: r.wall_seconds)
        print(
            f"driftstream timed runs (s wall): {walls}; the median run is shown and judged; "
            f"best {best.records_per_second:,.0f} records/s "
            f"({best.pipeline_records_per_second:,.0f} in the processing loop)"
        )
    if naive.stopped_early:
        print(
            f"NOTE: the obvious loop was timed over the first {naive.records:,} records only: "
            f"the whole file was projected at "
            f"{naive.loop_seconds * args.records / naive.records:,.0f}s "
            f"(> {args.naive_budget:.0f}s budget)"
        )
    print(
        f"obvious loop: {naive.loop_seconds:.2f}s loop, {naive.wall_seconds:.2f}s wall (load "
        f"average before/after: {load_text(naive.load_before)}/{load_text(naive.load_after)})"
    )
    print(
        f"obvious loop: {naive.features} numeric features × (ADWIN + PageHinkley), river "
        f"defaults; {naive.alarms:,} alarms on this stationary stream "
        f"(driftstream: {ds.events or 'no events'})"
    )

    speedup = ds.records_per_second / naive.records_per_second
    speedup_loop = ds.pipeline_records_per_second / naive.records_per_second
    print(f"\nspeed-up, driftstream wall (start-up included) / obvious loop: {speedup:.2f}×")
    print(f"speed-up, driftstream processing loop / obvious loop:         {speedup_loop:.2f}×")
    targets = [
        (
            "driftstream replay ≥ 100,000 records/s (wall, start-up included)",
            ds.records_per_second,
            TARGET_RATE,
            ds.records_per_second >= TARGET_RATE,
        ),
        (
            "driftstream replay ≥ 2× the obvious loop (wall vs loop only)",
            speedup,
            TARGET_SPEEDUP,
            speedup >= TARGET_SPEEDUP,
        ),
    ]
    print("\nTargets:")
    for name, observed, goal, ok in targets:
        short = (
            f" ({observed / goal - 1:+.0%} vs target; processing loop alone: "
            f"{ds.pipeline_records_per_second:,.0f} records/s, {speedup_loop:.2f}×)"
            if not ok
            else ""
        )
        shown = f"{observed:,.0f}" if goal > 10 else f"{observed:.2f}×"
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: observed {shown}{short}")

    failed = not all(ok for *_, ok in targets)
    profile_text = None
    if args.profile == "always" or (args.profile == "auto" and failed):
        n_prof = min(args.profile_records, args.records)
        print(f"\nprofiling driftstream replay on {n_prof:,} records…", flush=True)
        profile_text = profile_replay(capture, baseline, out, n_prof, args.profile_top)
        print(profile_text)

    if args.json is not None:
        payload = {
            "machine": info,
            "code": code_revision(),
            "records": args.records,
            "warmup": asdict(warm),
            "driftstream_runs": [asdict(r) for r in runs],
            "driftstream": asdict(ds),
            "naive": asdict(naive),
            "speedup_wall_vs_loop": speedup,
            "speedup_processing_vs_loop": speedup_loop,
            "targets": [
                {"target": n, "observed": o, "goal": g, "pass": ok} for n, o, g, ok in targets
            ],
            "profile": profile_text,
            "median_wall_seconds": statistics.median(r.wall_seconds for r in runs),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
