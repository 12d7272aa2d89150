"""What the benchmark scripts share: finding and running the installed `driftstream` command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from driftstream.streamer.sources.synthetic import training_csv

ROOT = Path(__file__).resolve().parent
TRAINING_ROWS = 20_000


def driftstream_command() -> list[str]:
    exe = Path(sys.executable).with_name("driftstream")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("driftstream")
    return [found] if found else [sys.executable, "-m", "driftstream.streamer.app.cli"]


def code_revision() -> str:
    """The commit being measured, marked dirty when the working tree has changes."""
    try:
        proc = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() or "unknown"


def run_cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `driftstream ARGS`; exit with its stderr when it fails."""
    proc = subprocess.run(
        [*driftstream_command(), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"driftstream {' '.join(args)} exited {proc.returncode}:\n{proc.stderr.strip()}"
        )
    return proc


def build_baseline(out: Path, prefix: str = "") -> Path:
    """`driftstream baseline` over generated training rows; returns the baseline folder."""
    training = out / f"{prefix}training.csv"
    training.write_text(training_csv(TRAINING_ROWS, seed=1))
    baseline = out / f"{prefix}baseline"
    run_cli(["baseline", str(training), "--out", str(baseline), "--label-column", "prediction"])
    return baseline
