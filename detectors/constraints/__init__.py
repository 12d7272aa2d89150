"""Model Monitor's data-quality reports per window (`replay --violations-out`): the Watcher
`ConstraintReports` (watcher.py), its windows (window.py), the window's statistics (profile.py),
the checks against constraints.json (checks.py) and Deequ's distances (distance.py). See
docs/model-monitor-reports.md."""

from driftstream.detectors.constraints.checks import ColumnCounts, Violation, evaluate
from driftstream.detectors.constraints.watcher import ConstraintReports
from driftstream.detectors.constraints.window import WindowSpec

__all__ = ["ColumnCounts", "ConstraintReports", "Violation", "WindowSpec", "evaluate"]
