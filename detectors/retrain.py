"""Retrain policy (first version): signal when drift persists on a material share of features.

Called by the monitor at every window evaluation with the features currently in drift and their
evidence. A signal is decided when the share of drifted features stays at or above
`min_feature_share` for at least `persistence_rows` rows; then the policy cools down for
`cooldown_rows` rows. The idempotency key depends only on the baseline, the endpoint, the record
where the persistent drift began and the drifted features, so replaying the same records yields
the same key and every sink can drop the duplicate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from driftstream.detectors.events import Event, EventKind
from driftstream.detectors.settings import RetrainSettings


@dataclass(frozen=True)
class Evidence:
    """Why one feature counts as drifted: the strongest statistic and its threshold."""

    detector: str
    value: float
    threshold: float
    record_index: int  # where that detector last fired or was evaluated


class RetrainPolicy:
    """Decides retrain signals from persistent, material drift (see the module docstring)."""

    def __init__(
        self,
        settings: RetrainSettings,
        n_features: int,
        *,
        baseline_identity: str,
        config_identity: str,
        endpoint: str,
    ) -> None:
        self.settings = settings
        self.n_features = max(n_features, 1)
        self.baseline_identity = baseline_identity
        self.config_identity = config_identity
        self.endpoint = endpoint
        self._streak_row: int | None = None  # row where the current streak began
        self._streak_record: int | None = None
        self._streak_time: str | None = None
        self._cooldown_until = -1

    def observe(
        self,
        row: int,
        record_index: int,
        inference_time: str | None,
        drifted: dict[str, Evidence],
    ) -> Event | None:
        """Feed one window evaluation (at global row `row`); return a retrain signal or None."""
        share = len(drifted) / self.n_features
        if share < self.settings.min_feature_share:
            self._streak_row = self._streak_record = self._streak_time = None
            return None
        if self._streak_row is None:
            self._streak_row, self._streak_record = row, record_index
            self._streak_time = inference_time
        if row < self._cooldown_until or row - self._streak_row < self.settings.persistence_rows:
            return None
        self._cooldown_until = row + self.settings.cooldown_rows
        start = self._streak_record if self._streak_record is not None else record_index
        features = sorted(drifted)
        key_src = "|".join([self.baseline_identity, self.endpoint, str(start), ",".join(features)])
        key = hashlib.sha256(key_src.encode()).hexdigest()[:32]
        evidence: dict[str, Any] = {
            "features": {
                name: {
                    "detector": ev.detector,
                    "value": ev.value,
                    "threshold": ev.threshold,
                    "record_index": ev.record_index,
                }
                for name, ev in sorted(drifted.items())
            },
            "feature_share": share,
            "min_feature_share": self.settings.min_feature_share,
            "record_range": [start, record_index],
            "time_range": [self._streak_time, inference_time],
            "baseline": self.baseline_identity,
            "config": self.config_identity,
        }
        # the next streak starts afresh after the cool-down
        self._streak_row = self._streak_record = self._streak_time = None
        return Event(
            kind=EventKind.RETRAIN_SIGNAL,
            record_index=record_index,
            value=share,
            threshold=self.settings.min_feature_share,
            inference_time=inference_time,
            extra={
                "idempotency_key": key,
                "endpoint": self.endpoint,
                "decision": "retrain",
                "features": features,
                "evidence": evidence,
            },
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "streak_row": self._streak_row,
            "streak_record": self._streak_record,
            "streak_time": self._streak_time,
            "cooldown_until": self._cooldown_until,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._streak_row = state["streak_row"]
        self._streak_record = state["streak_record"]
        self._streak_time = state["streak_time"]
        self._cooldown_until = int(state["cooldown_until"])
