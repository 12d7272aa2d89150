"""Steps run once before driftstream serves: its compiled kernels, and a starter baseline.

    python -m driftstream.streamer.app.prepare kernels
        `make demo` and the image build (Dockerfile) run this.
    python -m driftstream.streamer.app.prepare baseline OUT [--from DIR]
        docker-compose.yml's one-shot `baseline` service runs this before the service starts.

Kernels. The decoder's and the detectors' hot loops are numba kernels, compiled on first use
for the types they are called with (lazily: only what runs is compiled, and importing costs
nothing) and cached on disk (`cache=True`: beside their module in `__pycache__`, or under
NUMBA_CACHE_DIR; numba recompiles when the source changes). A cold first run pays 6-9 s of
compilation on a 2-core machine (measured; this step takes 0.7 s when all are cached).
`kernels` pays it ahead, at install or image build: it runs a small generated replay through
the path every replay, demo and live run takes (calibration, decoding, the monitor, drift and
its resets), so the cache then holds exactly the compiled variants those runs load. The cache
is for the CPU it was compiled on: a container of an image built on a machine with another CPU
compiles the kernels again when it starts.

Baseline. With `--from DIR`, a baseline in DIR (statistics.json) is checked and copied to OUT;
without one there, OUT gets the demo's generated baseline, so `docker compose up` starts on a
fresh clone. A DIR that holds something else, or a baseline that does not load, is one line
and exit status 2: the service is not started, instead of restarting in a loop.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numba.core import event

from driftstream.detectors.baseline import BaselineError, build_baseline, load_baseline
from driftstream.detectors.baseline.files import STATISTICS
from driftstream.streamer.app.build import build_replay
from driftstream.streamer.app.config import load_config
from driftstream.streamer.app.demo import write_demo_baseline
from driftstream.streamer.app.logging import configure_logging, redact
from driftstream.streamer.sources.memory import IterSource
from driftstream.streamer.sources.synthetic import capture_line

EXIT_OK, EXIT_USAGE = 0, 2
KERNEL_RECORDS = 6_000  # past the first 2,000-row window and several 500-row hops
KERNEL_CHANGE_AT = 3_000


def _kernel_rows(n: int, change_at: int, seed: int) -> Iterator[tuple[str, str]]:
    """(input CSV, output) rows: three numeric columns (one integral, one with missing
    values) and two categorical ones; from `change_at` on, x0 shifts by 3σ and c0 changes mix,
    so the detectors alarm and reset as in any drift."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        drifted = i >= change_at
        x0 = rng.normal(3.0 if drifted else 0.0, 1.0)
        x1 = int(rng.poisson(3.0))
        x2 = "" if rng.random() < 0.05 else f"{rng.lognormal(1.0, 0.5):.4f}"
        c0 = str(rng.choice(["a", "b", "c"], p=[0.1, 0.3, 0.6] if drifted else [0.6, 0.3, 0.1]))
        c1 = str(rng.choice(["u", "v"]))
        score = 1.0 / (1.0 + np.exp(-x0))
        yield f"{x0:.5f},{x1},{x2},{c0},{c1}", f"{score:.5f}"


def compile_kernels() -> tuple[int, float]:
    """Compile every kernel a run uses (loading what numba already cached); returns how many
    were compiled now and the seconds taken. See the module docstring."""
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="driftstream-kernels-") as tmp,
        event.install_recorder("numba:compile") as recorder,
    ):
        root = Path(tmp)
        training = root / "training.csv"
        rows = _kernel_rows(4_000, change_at=4_000, seed=1)
        training.write_text("x0,x1,x2,c0,c1,prediction\n" + "".join(f"{x},{y}\n" for x, y in rows))
        build_baseline(training, root / "baseline", label_column="prediction")
        config = load_config(
            None,
            environ={},
            baseline=str(root / "baseline"),
            endpoint="kernels",
            **{
                "metrics.enabled": False,
                "detectors.calibration.cache_dir": str(root / "calibration"),
                "detectors.calibration.samples": 50_000,
            },
        )
        lines = (
            capture_line(x, y, f"kernels-{i}", "2026-11-01T00:00:00Z")
            for i, (x, y) in enumerate(_kernel_rows(KERNEL_RECORDS, KERNEL_CHANGE_AT, seed=2))
        )
        source = IterSource(lines, KERNEL_RECORDS, name="kernels", batch_size=1_000)
        run = build_replay(
            config, source, [], checkpoint_dir=root / "checkpoint", metrics_required=False
        )
        try:
            run.service.run()
        finally:
            run.close()
    compiled = {_kernel_name(ev) for _, ev in recorder.buffer}
    compiled.discard(None)
    return len(compiled), time.monotonic() - started


def _kernel_name(ev: Any) -> str | None:
    """driftstream's kernel a compile event is about (numba's own helpers are not counted)."""
    func = getattr(ev.data.get("dispatcher"), "py_func", None)
    module = str(getattr(func, "__module__", "") or "")
    if func is None or not module.startswith("driftstream."):
        return None
    return f"{module}.{func.__qualname__}"


def prepare_baseline(out: Path, source: Path | None) -> str:
    """Make OUT hold a baseline (see the module docstring); returns what was done, one line.
    Raises BaselineError, one line, for a source that is not a usable baseline."""
    given = source if source is not None else out
    if (given / STATISTICS).is_file():
        baseline = load_baseline(given)
        if source is not None:
            _replace_contents(out, source)
        return (
            f"baseline: using {given}/ ({len(baseline.features)} features, "
            f"identity {baseline.identity})"
        )
    if given.is_dir() and any(given.iterdir()):
        raise BaselineError(
            f"{given}/ holds no {STATISTICS}: write a baseline there with `driftstream baseline "
            f"TRAINING --out {given}`, or remove the folder to start with the demo's"
        )
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    baseline = write_demo_baseline(out)
    return (
        f"baseline: none in {given}/, so using the demo's generated baseline "
        f"({len(baseline.features)} features, those of `driftstream demo`); for your model, "
        f"write yours with `driftstream baseline TRAINING --out {given} --label-column prediction`"
    )


def _replace_contents(out: Path, source: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(source, out, dirs_exist_ok=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m driftstream.streamer.app.prepare", description=__doc__.splitlines()[0]
    )
    sub = p.add_subparsers(dest="step", required=True)
    sub.add_parser("kernels", help="compile the numba kernels into numba's cache")
    b = sub.add_parser("baseline", help="a baseline in OUT: DIR's, else the demo's")
    b.add_argument("out", type=Path)
    b.add_argument("--from", dest="source", type=Path, help="a baseline to copy, if it has one")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging("warning")
    if args.step == "kernels":
        compiled, seconds = compile_kernels()
        how = f"{compiled} compiled and cached" if compiled else "all loaded from numba's cache"
        print(f"kernels ready in {seconds:.1f} s: {how}")
        return EXIT_OK
    try:
        print(prepare_baseline(args.out, args.source))
    except BaselineError as exc:
        print(redact(f"driftstream prepare: error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
