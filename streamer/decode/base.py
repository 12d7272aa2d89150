"""What flows from decoding to the monitor: a batch of feature rows plus its rejections."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from driftstream.detectors.baseline.model import Baseline
from driftstream.detectors.ground_truth import NO_GROUND_TRUTH, GroundTruth


class RejectReason(StrEnum):
    """Why a captured record could not be used. Values appear in events and metric labels."""

    INVALID_JSON = "invalid_json"  # the line is not JSON
    TRUNCATED = "truncated"  # the line ends in the middle of a JSON value
    NOT_A_CAPTURE = "not_a_capture"  # JSON, but no captureData.endpointInput object
    MISSING_DATA = "missing_data"  # endpointInput has no string `data`
    UNSUPPORTED_ENCODING = "unsupported_encoding"  # encoding not CSV, JSON or BASE64
    INVALID_BASE64 = "invalid_base64"
    INVALID_PAYLOAD = "invalid_payload"  # payload JSON missing or of a shape we cannot map
    COLUMN_COUNT = "column_count"  # a row has more or fewer columns than the baseline's inputs
    NON_NUMERIC = "non_numeric"  # text in a numeric column
    NON_FINITE = "non_finite"  # NaN or +-inf in a numeric column
    OUTPUT_MISMATCH = "output_mismatch"  # model output unreadable or not one per input row
    OVERSIZED = "oversized"  # line longer than the configured maximum
    DAMAGED_FILE = "damaged_file"  # the unreadable rest of a capture file (truncated gzip...)


@dataclass(frozen=True)
class Rejection:
    record_index: int
    reason: RejectReason
    #: one line for humans: what was wrong and where (column, character, file and line), never
    #: the record's content unless DecodeOptions.rejection_excerpts asks for an excerpt
    detail: str
    event_id: str | None = None
    inference_time: str | None = None
    #: for COLUMN_COUNT: how many input columns (values) the row had (missing_column_check and
    #: extra_column_check of the constraint reports, detectors/constraints/)
    columns: int | None = None


@dataclass(frozen=True)
class FeatureLayout:
    """Column order of the decoded matrices, fixed by the baseline."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @classmethod
    def from_baseline(cls, baseline: Baseline) -> FeatureLayout:
        return cls(
            numeric=tuple(f.name for f in baseline.features if f.is_numeric),
            categorical=tuple(f.name for f in baseline.features if not f.is_numeric),
        )


@dataclass
class DecodedBatch:
    """Decoded rows of consecutive records [first_index, first_index + n_records).

    One captured record may hold several rows (multi-row CSV, JSON `instances`); every row carries
    the index of its record. Missing values are NaN (numeric) or None (categorical); they are data
    for the completeness check, not rejections.
    """

    first_index: int
    n_records: int  # lines read, malformed ones included
    row_record: npt.NDArray[np.int64]  # (rows,) record index of each row
    numeric: npt.NDArray[np.float64]  # (rows, len(layout.numeric))
    categorical: npt.NDArray[np.object_]  # (rows, len(layout.categorical)) of str | None
    event_id: list[str | None] = field(default_factory=list)  # per row
    inference_time: list[str | None] = field(default_factory=list)  # per row
    rejections: list[Rejection] = field(default_factory=list)
    #: eventMetadata.inferenceId per row (None where the caller passed none)
    inference_id: list[str | None] = field(default_factory=list)
    #: ground-truth labels released with these records (model quality: detectors/quality/)
    ground_truth: GroundTruth = NO_GROUND_TRUTH

    @property
    def n_rows(self) -> int:
        return int(self.row_record.shape[0])

    @property
    def records_used(self) -> int:
        return self.n_records - len(self.rejections)
