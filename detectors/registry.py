"""The sequential detectors run on every numeric feature: one entry per detector, by name.

An entry says which class runs for each engine (`batched`; `river`: river's reference twin,
where there is one), where its hyperparameters come from in the config, and which one of them
calibration chooses. `configure(settings)` turns the entries into configured prototypes; the
monitor calibrates each per feature and clones it (`clone(parameter=value)`), so no detector is
constructed anywhere else. Events, metrics (`driftstream_drift_statistic{detector=name}`),
checkpoints, the false-alarm budget and the retrain evidence all follow the registry.

Adding a detector takes two steps:

1. a module beside this one with its class, following the contract of detectors/base.py
   (`update`, `drift_detected`, `_reset`, `statistic`, `threshold`, `state_dict` /
   `load_state` (which validates a checkpointed state: detectors/state.py), `name` and
   `warm_up`);
2. one line in REGISTRY below, e.g. `Registered(Cusum.name, Cusum)`.

tests/detectors/test_contract.py then runs the contract suite over it (both engines),
tests/detectors/test_state_fuzz.py throws random and mutated states at its `load_state`, and the
monitor runs it with its class defaults on every numeric feature; checkpoints made before it
was added still load (it starts fresh). To make it configurable, give it a settings model in
detectors/settings.py whose fields are named like its constructor arguments (`settings=`); to
calibrate one of them to the false-alarm budget, give it a `Calibration` (detectors/
calibration.py: a fit and a solve function).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from driftstream.detectors.adwin import ADWIN, RiverADWIN
from driftstream.detectors.base import DriftDetector
from driftstream.detectors.calibration import (
    Fit,
    FitFunction,
    SolveFunction,
    adwin_delta,
    fit_adwin,
    fit_page_hinkley,
    page_hinkley_threshold,
)
from driftstream.detectors.page_hinkley import PageHinkley, RiverPageHinkley
from driftstream.detectors.settings import DetectorSettings


@dataclass(frozen=True)
class Calibration:
    """How one hyperparameter is chosen per feature for the false-alarm budget."""

    parameter: str  # constructor argument; its configured value, when not None, wins
    fit: FitFunction
    solve: SolveFunction


@dataclass(frozen=True)
class Registered:
    """One detector of the registry (see the module docstring)."""

    name: str
    batched: type[DriftDetector]
    river: type[DriftDetector] | None = None  # None: the batched class serves both engines
    settings: Callable[[DetectorSettings], BaseModel] | None = None  # None: class defaults
    calibration: Calibration | None = None


# The order is the order of events at the same record, of the checkpoint and of the metrics.
REGISTRY: tuple[Registered, ...] = (
    Registered(
        ADWIN.name,
        ADWIN,
        RiverADWIN,
        lambda s: s.adwin,
        Calibration("delta", fit_adwin, adwin_delta),
    ),
    Registered(
        PageHinkley.name,
        PageHinkley,
        RiverPageHinkley,
        lambda s: s.page_hinkley,
        Calibration("threshold", fit_page_hinkley, page_hinkley_threshold),
    ),
)


@dataclass(frozen=True)
class Prototype:
    """A registered detector configured from the settings, before calibration."""

    name: str
    detector: DriftDetector  # the engine's class; the calibrated parameter at its default
    reference: DriftDetector  # the batched class, same hyperparameters: what calibration runs
    calibration: Calibration | None
    configured: float | None  # the config's value of the calibrated parameter; None: calibrate

    def clone_for(
        self, fit: Fit | None, target_arl0: float
    ) -> tuple[DriftDetector, dict[str, float]]:
        """A fresh detector for one feature, and its calibrated parameter ({} if none): the
        configured value, or the one whose ARL0 meets `target_arl0` on `fit`."""
        if self.calibration is None:
            return self.detector.clone(), {}
        value = self.configured
        if value is None:
            if fit is None:
                raise ValueError(f"{self.name}: {self.calibration.parameter} needs a fit")
            value = self.calibration.solve(fit, target_arl0)
        chosen = {self.calibration.parameter: value}
        return self.detector.clone(**chosen), chosen


def configure(
    settings: DetectorSettings, entries: tuple[Registered, ...] | None = None
) -> tuple[Prototype, ...]:
    """The configured prototype of every entry (default: REGISTRY), for `settings.engine`."""
    return tuple(
        _configure(entry, settings) for entry in (REGISTRY if entries is None else entries)
    )


def _configure(entry: Registered, settings: DetectorSettings) -> Prototype:
    params: dict[str, Any] = {}
    if entry.settings is not None:
        params = entry.settings(settings).model_dump()
    configured = None
    if entry.calibration is not None:
        configured = params.pop(entry.calibration.parameter, None)
    cls = entry.river if settings.engine == "river" and entry.river is not None else entry.batched
    reference = entry.batched(**params)
    detector = reference if cls is entry.batched else cls(**params)
    return Prototype(entry.name, detector, reference, entry.calibration, configured)


def names(entries: tuple[Registered, ...] | None = None) -> tuple[str, ...]:
    """The names of the entries (default: REGISTRY), in order."""
    return tuple(entry.name for entry in (REGISTRY if entries is None else entries))
