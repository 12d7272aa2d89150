"""Thresholds calibrated from the baseline to a false-alarm rate the user understands.

The user sets one knob: the expected number of false alarms per million records for the whole
endpoint, F (default 1). How it becomes thresholds:

1. Budget. With d alarm sources (feature × detector pairs, window checks included) assumed
   independent, each source gets a per-record false-alarm rate β = 1 − (1 − F/10⁶)^(1/d), i.e. an
   in-control average run length ARL0 = 1/β records (conservative when features are correlated).
   A window check evaluated every `hop` records gets a per-evaluation probability
   α = β·hop / WINDOW_SAFETY (see WINDOW_SAFETY for why).
2. Simulation. For each numeric feature, a stationary stream is drawn from the baseline itself
   (weighted sampling of the KLL sketch items: a bootstrap of the training distribution, heavy tails
   and integer ties included), standardised and clipped exactly as the monitor will feed it.
3. Fit and extrapolate. The detector is run over that stream at a few settings where false alarms
   are frequent enough to count; ARL0 is measured at each, and a curve is fitted:
   - Page-Hinkley (α = 1): ln ARL0 is linear in λ (Siegmund's approximation for CUSUM-type
     statistics; measured here within 2× up to λ = 20 on normal, lognormal and Poisson data).
   - ADWIN: ln ARL0 is linear in ln(1/δ) over the fitted range, but the slope falls towards 1 for
     small δ (measured: a free fit over-estimated ARL0 at δ = 0.003 by 2.2×), so the slope used
     beyond the fitted range is capped at 1.
   The threshold is solved for a target of ARL0 × `safety` (4 for Page-Hinkley, 2 for ADWIN), so
   the measured false-alarm rate lands at or below the configured one.

Assumptions, stated once: records are independent and identically distributed when nothing
changes (sessions or autocorrelated traffic raise the real false-alarm rate); the baseline is a
fair sample of in-control traffic; features are independent for the budget split.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from driftstream.detectors.base import DriftDetector, FloatArray
from driftstream.detectors.baseline.model import NumericStats
from driftstream.detectors.settings import CalibrationSettings

CALIBRATION_VERSION = 1
PH_GRID = (8.0, 10.0, 12.0, 14.0)
ADWIN_GRID = (1.0, 0.3, 0.1)
PH_SAFETY = 4.0
ADWIN_SAFETY = 2.0
ADWIN_MAX_SLOPE = 1.0
# Window tests compare with ONE fixed, finite baseline sample. Their α holds on average over
# baselines, but conditionally on a given baseline the tail is heavier (measured: 1.7× at
# α = 1e-3, 3× at 1e-4 for a χ² test against 20,000 baseline rows), so α is divided by this.
WINDOW_SAFETY = 10.0


def per_source_rate(false_alarms_per_million: float, n_sources: int) -> float:
    """β: per-record false-alarm probability of one alarm source (see the module docstring)."""
    if false_alarms_per_million <= 0:
        raise ValueError("false_alarms_per_million must be > 0")
    p = min(false_alarms_per_million / 1e6, 0.5)
    return float(-math.expm1(math.log1p(-p) / max(n_sources, 1)))


def ks_critical(alpha: float) -> float:
    """c(α) of the two-sample Kolmogorov-Smirnov test: D > c(α)·sqrt((n+m)/(n·m)) rejects."""
    return math.sqrt(-math.log(alpha / 2.0) / 2.0)


@dataclass(frozen=True)
class Fit:
    """ln ARL0 = intercept + slope·u, u = λ (Page-Hinkley) or ln(1/δ) (ADWIN)."""

    intercept: float
    slope: float
    u_max: float  # largest u that was measured; beyond it the slope may be capped


def _run_lengths(
    sample: FloatArray, settings: tuple[float, ...], proto: DriftDetector, param: str
) -> list[float]:
    arl = []
    for value in settings:
        det = proto.clone(**{param: value})
        n = len(det.update_many(sample))
        # with no alarm at all, the run length is at least the stream length
        arl.append(sample.shape[0] / max(n, 1))
    return arl


FitFunction = Callable[[FloatArray, DriftDetector], Fit]
"""Measures a detector's ARL0 on a stationary sample and fits a curve (`fit_page_hinkley`)."""
SolveFunction = Callable[[Fit, float], float]
"""The detector's parameter whose extrapolated ARL0 meets a target (`page_hinkley_threshold`)."""


def standardise(x: FloatArray, mean: float, scale: float, clip_sigma: float) -> FloatArray:
    """(x − mean) / scale, clipped to ±clip_sigma: what sequential detectors are fed."""
    return np.clip((x - mean) / scale, -clip_sigma, clip_sigma)


def fit_feature(
    stats: NumericStats,
    clip_sigma: float,
    detectors: Mapping[str, tuple[DriftDetector, FitFunction]],
    settings: CalibrationSettings,
) -> dict[str, Fit]:
    """Each detector's fitted curve for one feature, by name (steps 2 and 3 of the module
    docstring): one stationary sample drawn from the baseline, standardised as the monitor
    feeds it, shared by every detector; cached on disk under everything it depends on."""
    digest = hashlib.sha256(stats.sketch_items.tobytes() + stats.sketch_weights.tobytes())
    key = CalibrationCache.key(
        digest.hexdigest(),
        stats.mean,
        stats.std_dev,
        clip_sigma,
        *(repr(proto) for proto, _ in detectors.values()),
        settings.samples,
        settings.seed,
    )
    cache = CalibrationCache(settings.cache_dir)
    cached = cache.get(key, tuple(detectors))
    if cached is not None:
        return cached
    rng = np.random.default_rng([settings.seed, int(digest.hexdigest()[:8], 16)])
    sample = standardise(stats.sample(settings.samples, rng), stats.mean, stats.std_dev, clip_sigma)
    fits = {name: fit(sample, proto) for name, (proto, fit) in detectors.items()}
    cache.put(key, fits)
    return fits


def _fit(u: list[float], arl: list[float]) -> Fit:
    slope, intercept = np.polyfit(np.asarray(u), np.log(np.asarray(arl)), 1)
    return Fit(intercept=float(intercept), slope=float(slope), u_max=max(u))


def fit_page_hinkley(sample: FloatArray, proto: DriftDetector) -> Fit:
    """Measure Page-Hinkley's ARL0 on `sample` over PH_GRID and fit ln ARL0 against λ."""
    fit = _fit(list(PH_GRID), _run_lengths(sample, PH_GRID, proto, "threshold"))
    if fit.slope <= 0:
        raise ValueError("Page-Hinkley calibration failed: false alarms did not fall with λ")
    return fit


def fit_adwin(sample: FloatArray, proto: DriftDetector) -> Fit:
    """Measure ADWIN's ARL0 on `sample` over ADWIN_GRID and fit ln ARL0 against ln(1/δ)."""
    arl = _run_lengths(sample, ADWIN_GRID, proto, "delta")
    fit = _fit([math.log(1 / d) for d in ADWIN_GRID], arl)
    if fit.slope <= 0:
        raise ValueError("ADWIN calibration failed: false alarms did not fall with δ")
    return fit


def page_hinkley_threshold(fit: Fit, target_arl0: float) -> float:
    """λ whose extrapolated ARL0 is target × PH_SAFETY (never below the measured range)."""
    lam = (math.log(target_arl0 * PH_SAFETY) - fit.intercept) / fit.slope
    return max(lam, PH_GRID[-1])


def adwin_delta(fit: Fit, target_arl0: float) -> float:
    """δ whose extrapolated ARL0 is target × ADWIN_SAFETY; slope capped beyond the fitted range."""
    goal = math.log(target_arl0 * ADWIN_SAFETY)
    at_edge = fit.intercept + fit.slope * fit.u_max
    if goal <= at_edge:
        u = (goal - fit.intercept) / fit.slope
    else:
        u = fit.u_max + (goal - at_edge) / min(fit.slope, ADWIN_MAX_SLOPE)
    return min(math.exp(-u), ADWIN_GRID[-1])


class CalibrationCache:
    """Calibrations on disk, keyed by everything they depend on; deterministic, so safe to share."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    @staticmethod
    def key(*parts: object) -> str:
        text = json.dumps([CALIBRATION_VERSION, *parts], sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get(self, key: str, names: tuple[str, ...]) -> dict[str, Fit] | None:
        """The fits of detectors `names` stored under `key`, or None."""
        if self.directory is None:
            return None
        path = self.directory / f"{key}.json"
        try:
            raw = json.loads(path.read_text())
            return {name: Fit(**raw[name]) for name in names}
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or unreadable: recompute (it is deterministic)

    def put(self, key: str, fits: Mapping[str, Fit]) -> None:
        """Store one feature's fits, by detector name."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f"{key}.json.tmp"
            tmp.write_text(json.dumps({name: asdict(fit) for name, fit in fits.items()}))
            tmp.replace(self.directory / f"{key}.json")
        except OSError:
            pass  # a read-only cache only costs start-up time
