"""Per-record anomaly scores against the baseline, and drift of their rate (docs/anomaly.md)."""

from driftstream.detectors.anomaly.score import RecordScorer
from driftstream.detectors.anomaly.settings import AnomalySettings
from driftstream.detectors.anomaly.watcher import AnomalyWatcher

__all__ = ["AnomalySettings", "AnomalyWatcher", "RecordScorer"]
