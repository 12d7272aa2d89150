"""Ground-truth labels as they reach the monitor: beside the rows of the capture batch they were
released with (streamer/decode/ground_truth.py decodes Model Monitor's ground-truth records;
the source decides when each becomes available: docs/model-quality.md).

`record[i]` is the capture record at which label i became available: the last captured record
read when it arrived, which is where its consequences (a model-quality event) are placed. The
labels are in that order, and a watcher handles the labels released at a record after that
record's own rows, so what it does never depends on how the stream was cut into batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class GroundTruth:
    """Labels released with one batch of captures, in release order."""

    #: capture record index at which each label became available (non-decreasing)
    record: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    #: eventMetadata.eventId of each: the captured inferenceId (else eventId) it labels
    event_id: tuple[str, ...] = ()
    #: the label's values as text (one per row of the captured record: usually one)
    values: tuple[tuple[str, ...], ...] = ()
    #: records that could not be read, by reason (`invalid_json`, `no_event_id`, ...)
    rejected: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.event_id)


NO_GROUND_TRUTH = GroundTruth()
