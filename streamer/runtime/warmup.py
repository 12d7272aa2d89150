"""Warm-up: run every compiled kernel once before the first real batch.

numba loads a kernel's machine code from its cache (or compiles it) at the kernel's first call.
A fresh monitor process would otherwise do that inside its first batches: the live benchmark
measured 700 ms of latency on the first records and 450 ms at the first window evaluation.
`warm_up` decodes and monitors capture lines drawn from the baseline itself (SageMaker's CSV
capture layout, the decoder's fast path) on a throwaway copy of the monitor, enough rows for one
window evaluation, so every kernel of the steady state is loaded before traffic arrives.
"""

from __future__ import annotations

import copy

import numpy as np

from driftstream.detectors.baseline.model import FeatureBaseline
from driftstream.detectors.monitor import Monitor
from driftstream.streamer.decode.capture import CaptureDecoder
from driftstream.streamer.sources.synthetic import capture_line


def _column(feature: FeatureBaseline, n: int, rng: np.random.Generator) -> list[str]:
    if feature.numeric is not None:
        spread = feature.numeric.std_dev or 1.0
        return [f"{v:.6g}" for v in rng.normal(feature.numeric.mean, spread, n).tolist()]
    categories = list(feature.categorical.counts) if feature.categorical is not None else []
    if not categories:
        return [""] * n
    return [categories[i] for i in rng.integers(0, len(categories), n).tolist()]


def sample_lines(decoder: CaptureDecoder, n: int, seed: int = 0) -> list[bytes]:
    """`n` capture lines (CSV input and output) with values drawn around the baseline's."""
    rng = np.random.default_rng(seed)
    baseline = decoder.baseline
    inputs = [_column(f, n, rng) for f in baseline.inputs]
    outputs = [_column(f, n, rng) for f in baseline.outputs]
    return [
        capture_line(
            ",".join(c[i] for c in inputs),
            ",".join(c[i] for c in outputs) if outputs else None,
            f"warm-up-{i}",
            "2026-01-01T00:00:00Z",
        )
        for i in range(n)
    ]


def warm_up(decoder: CaptureDecoder, prototype: Monitor) -> None:
    """Decode and monitor one window of sample lines on copies of `decoder` and `prototype`,
    which stay as they were (see the module docstring)."""
    quiet = copy.deepcopy(decoder)
    monitor = copy.deepcopy(prototype)
    monitor.process(quiet.decode(sample_lines(decoder, monitor.window), 0))
