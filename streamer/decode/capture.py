"""Capture decoding: SageMaker data-capture JSON Lines records in, feature rows out.

One captured record becomes zero rows (rejected), one row, or several (multi-row CSV, JSON
`instances`). Columns are fixed by the baseline: inputs in `baseline.inputs` order, the model
output as `prediction` / `prediction_0`...; see `streamer.batch.FeatureLayout`.

Two paths give the same answer:
- the hot path handles the canonical record, a single CSV row captured exactly as SageMaker
  writes it (its key order, no escapes in any string). Compiled kernels check the whole batch's
  lines against that form and convert their CSV fields, with no Python work per record;
- every other line is parsed by orjson and mapped by the general per-record code.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
from typing import cast

import numpy as np
import numpy.typing as npt
import orjson

from driftstream.detectors.baseline.model import Baseline, FeatureBaseline
from driftstream.streamer.decode.base import (
    DecodedBatch,
    FeatureLayout,
    Rejection,
    RejectReason,
)
from driftstream.streamer.decode.scan import (
    DATA,
    EVENT_ID,
    INFERENCE_ID,
    INFERENCE_TIME,
    NEEDS_PYTHON,
    OUTPUT,
    SLOTS,
    gather,
    match_canonical,
    scan_csv,
)

OUTPUT_KEYS: tuple[str, ...] = ("score", "probability", "probabilities", "predicted_label", "label")
"""Keys tried, in order, in a dict-shaped prediction when DecodeOptions.output_key is not set."""

_EXCERPT = 40  # characters of offending text quoted in a rejection detail, when asked for
_NOT_SHOWN = object()  # a _RecordError about no particular text of the record

# Bytes that can appear in a column of JSON numbers joined by commas; anything else (spaces,
# letters such as nan/inf/true, quotes) sends the column to the per-field path.
_NUMBER_BYTES = b"0123456789.eE+-,"


@dataclass(frozen=True)
class DecodeOptions:
    """How capture records are read; the defaults suit SageMaker's own capture files."""

    max_record_bytes: int = 1_048_576  # longer lines are rejected unread (OVERSIZED)
    output_key: str | None = None  # key read from dict-shaped predictions; None tries OUTPUT_KEYS
    instance_key: str = "features"  # {"instances": [{"features": [...]}]}
    #: quote up to ~40 characters of the offending text in each rejection's detail (debugging
    #: only: the text may be personal data); by default a detail names what was wrong and where
    rejection_excerpts: bool = False

    def __post_init__(self) -> None:
        if self.max_record_bytes < 1:
            raise ValueError(f"max_record_bytes must be at least 1, not {self.max_record_bytes}")
        if self.output_key == "":
            raise ValueError(
                "output_key must be a key name, or None to try " + ", ".join(OUTPUT_KEYS)
            )
        if not self.instance_key:
            raise ValueError("instance_key must be a key name, such as 'features'")


class _RecordError(Exception):
    """Raised inside the per-record path; becomes a Rejection for that record only.

    `message` says what was wrong and where, without the record's content; `shown` is the
    offending value, quoted after the message only when DecodeOptions.rejection_excerpts is set.
    """

    def __init__(
        self,
        reason: RejectReason,
        message: str,
        shown: object = _NOT_SHOWN,
        *,
        columns: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.shown = shown
        self.columns = columns  # COLUMN_COUNT: the row's number of input columns


@dataclass
class _General:
    """Rows of the records decoded on the general path, typed; rows of rejected ones dropped."""

    record: npt.NDArray[np.int64]  # batch position of each row
    numeric: npt.NDArray[np.float64]
    categorical: npt.NDArray[np.object_]
    event_id: list[str | None]  # per row
    inference_time: list[str | None]  # per row
    rejections: list[Rejection]
    inference_id: list[str | None]  # per row


@dataclass(frozen=True)
class _ScanSpec:
    """How `scan_csv` reads one CSV source (the inputs, or the outputs) into the layout."""

    plan: npt.NDArray[np.int64]  # per CSV column: its numeric layout column, or -1 if categorical
    categorical: tuple[int, ...]  # layout column of each categorical CSV column, in order


@dataclass
class _Block:
    """The canonical records of a batch, converted: one row per record."""

    numeric: npt.NDArray[np.float64]
    categorical: npt.NDArray[np.object_]
    complete: npt.NDArray[np.bool_]  # False: wrong column count, left to the general path
    bad: dict[int, tuple[RejectReason, str]]  # row -> first unusable value


@dataclass
class _Canonical:
    """The records of a batch that have the canonical form, located in the joined batch text."""

    records: npt.NDArray[np.int64]  # positions in the batch
    text: bytes  # every line of the batch, concatenated
    spans: npt.NDArray[np.int64]  # (records, 4, 2): start, end of each slot; output -1 if absent
    event_id: list[str | None]
    inference_time: list[str | None]
    inference_id: list[str | None]
    others: list[int]  # positions of every other record, for the general path


class CaptureDecoder:
    """Decodes batches of capture lines against one baseline's schema.

    Called by the processing loop once per polled batch. `decode` never raises for bad input:
    every malformed line becomes one Rejection and contributes no rows, and its neighbours are
    decoded as if it were not there.
    """

    def __init__(self, baseline: Baseline, options: DecodeOptions = DecodeOptions()) -> None:
        self.baseline = baseline
        self.options = options
        self.layout = FeatureLayout.from_baseline(baseline)
        self._inputs: tuple[FeatureBaseline, ...] = baseline.inputs
        self._outputs: tuple[FeatureBaseline, ...] = baseline.outputs
        self._n_in = len(self._inputs)
        self._n_out = len(self._outputs)
        self._input_order = tuple(f.name for f in self._inputs)
        self._input_names = frozenset(self._input_order)
        # Position of each layout column in a combined row [*inputs, *outputs].
        position = {f.name: i for i, f in enumerate((*self._inputs, *self._outputs))}
        self._numeric_pos = tuple(position[name] for name in self.layout.numeric)
        self._categorical_pos = tuple(position[name] for name in self.layout.categorical)
        self._input_scan = self._scan_spec(self._inputs)
        self._output_scan = self._scan_spec(self._outputs) if self._outputs else None

    def _scan_spec(self, features: tuple[FeatureBaseline, ...]) -> _ScanSpec:
        plan = np.array(
            [self.layout.numeric.index(f.name) if f.is_numeric else -1 for f in features],
            dtype=np.int64,
        )
        categorical = tuple(
            self.layout.categorical.index(f.name) for f in features if not f.is_numeric
        )
        return _ScanSpec(plan, categorical)

    def decode(
        self, lines: Sequence[bytes], first_index: int, damaged: Mapping[int, str] | None = None
    ) -> DecodedBatch:
        """Decode `lines`, where line i is record `first_index + i` of the stream.

        Lines are passed without their terminator (trailing JSON whitespace is tolerated). The
        batch holds every row of the usable records in record order, and one Rejection, in
        record order, per unusable line. `damaged` (RawBatch.damaged) maps the positions of
        lines that stand for the unreadable rest of a capture file to a description naming the
        file and where reading stopped: each is one DAMAGED_FILE rejection, whatever it holds.
        """
        if damaged:
            lines = [b"" if i in damaged else line for i, line in enumerate(lines)]
        canonical = self._canonical_records(lines)
        block = self._convert_canonical(canonical)
        rejections = [
            Rejection(
                first_index + int(canonical.records[row]),
                reason,
                detail,
                canonical.event_id[row],
                canonical.inference_time[row],
            )
            for row, (reason, detail) in block.bad.items()
        ]
        if not canonical.others and not block.bad and block.complete.all():
            n_rows = len(canonical.records)
            return DecodedBatch(
                first_index=first_index,
                n_records=len(lines),
                row_record=np.arange(first_index, first_index + n_rows, dtype=np.int64),
                numeric=block.numeric,
                categorical=block.categorical,
                event_id=canonical.event_id,
                inference_time=canonical.inference_time,
                rejections=rejections,
                inference_id=canonical.inference_id,
            )

        # Canonical records with a wrong column count go to the general path too: it explains
        # the rejection. Then the rows of both paths are merged back into record order.
        good = block.complete.copy()
        good[list(block.bad)] = False
        others = canonical.others
        if not block.complete.all():
            others = sorted([*others, *canonical.records[~block.complete].tolist()])
        general = self._decode_general(lines, others, first_index, damaged or {})
        rejections.extend(general.rejections)
        rejections.sort(key=lambda r: r.record_index)

        record = np.concatenate([canonical.records[good], general.record])
        order = np.argsort(record, kind="stable")
        kept = good.tolist()
        event_id = [*compress(canonical.event_id, kept), *general.event_id]
        inference_time = [*compress(canonical.inference_time, kept), *general.inference_time]
        inference_id = [*compress(canonical.inference_id, kept), *general.inference_id]
        return DecodedBatch(
            first_index=first_index,
            n_records=len(lines),
            row_record=first_index + record[order],
            numeric=np.concatenate([block.numeric[good], general.numeric])[order],
            categorical=np.concatenate([block.categorical[good], general.categorical])[order],
            event_id=np.array(event_id, dtype=object)[order].tolist(),
            inference_time=np.array(inference_time, dtype=object)[order].tolist(),
            rejections=rejections,
            inference_id=np.array(inference_id, dtype=object)[order].tolist(),
        )

    # -- hot path -------------------------------------------------------------------------------

    def _canonical_records(self, lines: Sequence[bytes]) -> _Canonical:
        """Find the canonical records of the batch; every other line goes to the general path.

        A line that is not ASCII must also be valid UTF-8 (as orjson requires) to count, and an
        OVERSIZED line never does.
        """
        n = len(lines)
        text = b"".join(lines)
        lengths = np.fromiter(map(len, lines), dtype=np.int64, count=n)
        bounds = np.empty((n, 2), dtype=np.int64)
        np.cumsum(lengths, out=bounds[:, 1])
        bounds[:, 0] = bounds[:, 1] - lengths
        spans = np.empty((n, SLOTS, 2), dtype=np.int64)
        oversized = lengths > self.options.max_record_bytes
        bounds[oversized, 1] = bounds[oversized, 0]  # never scanned; the general path rejects it
        ok = match_canonical(np.frombuffer(text, dtype=np.uint8), bounds, spans)
        if not text.isascii():
            for i in np.flatnonzero(ok).tolist():
                ok[i] = lines[i].isascii() or _is_utf8(lines[i])
        records = np.flatnonzero(ok)
        others = np.flatnonzero(~ok).tolist()
        spans = spans[records]
        return _Canonical(
            records=records,
            text=text,
            spans=spans,
            event_id=_gather_text(text, spans[:, EVENT_ID]),
            inference_time=_gather_text(text, spans[:, INFERENCE_TIME]),
            inference_id=_gather_optional(text, spans[:, INFERENCE_ID]),
            others=others,
        )

    def _convert_canonical(self, canonical: _Canonical) -> _Block:
        """Typed matrices for the canonical records, scanned by `scan_csv` one source at a time.

        Numbers the scanner cannot convert exactly go through orjson or float() afterwards; the
        first bad value of each record (in layout order) is returned with its reason and detail.
        """
        n = len(canonical.records)
        numeric = np.empty((n, len(self.layout.numeric)), dtype=np.float64)
        categorical = np.empty((n, len(self.layout.categorical)), dtype=object)
        fields = np.zeros((*numeric.shape, 3), dtype=np.int64)  # status, start, end
        complete = np.ones(n, dtype=np.bool_)
        bad: dict[int, tuple[RejectReason, str]] = {}
        if n == 0:
            return _Block(numeric, categorical, complete, bad)

        text = canonical.text
        buf = np.frombuffer(text, dtype=np.uint8)
        for spec, slot in ((self._input_scan, DATA), (self._output_scan, OUTPUT)):
            if spec is None:
                continue
            rows = np.ascontiguousarray(canonical.spans[:, slot])
            ok, found, size = scan_csv(buf, rows, spec.plan, numeric, fields)
            complete &= ok
            if spec.categorical:
                values = found[:size].tobytes().decode().split("\n")
                width = len(spec.categorical)
                for k, col in enumerate(spec.categorical):
                    categorical[:, col] = values[k : n * width : width]
        if categorical.size:
            categorical[categorical == ""] = None

        rows_at, cols_at = np.nonzero((fields[:, :, 0] == NEEDS_PYTHON) & complete[:, None])
        if rows_at.size:
            spans = zip(
                fields[rows_at, cols_at, 1].tolist(),
                fields[rows_at, cols_at, 2].tolist(),
                strict=True,
            )
            pending = [text[start:end].decode() for start, end in spans]
            parsed, problems = _parse_number_column(pending)
            numeric[rows_at, cols_at] = parsed
            for k, reason in problems:
                row = int(rows_at[k])
                if row not in bad:
                    pos = self._numeric_pos[int(cols_at[k])]
                    bad[row] = (reason, self._value_detail(pos, pending[k], reason))
        return _Block(numeric, categorical, complete, bad)

    # -- general path ---------------------------------------------------------------------------

    def _decode_general(
        self,
        lines: Sequence[bytes],
        positions: list[int],
        first_index: int,
        damaged: Mapping[int, str],
    ) -> _General:
        """Decode the lines at `positions` one by one through orjson, then type all their rows.

        A record is rejected for its first unusable value: first row first, then layout order;
        a damaged position (see `decode`) is rejected unread.
        """
        cells: list[list[object]] = []  # one per row: [*inputs, *outputs] as found
        row_at: list[int] = []  # batch position of each row
        first_row: dict[int, int] = {}  # batch position -> its first row in `cells`
        event_ids: dict[int, str | None] = {}
        inference_ids: dict[int, str | None] = {}
        times: dict[int, str | None] = {}
        rejections: list[Rejection] = []
        for i in positions:
            if i in damaged:
                rejections.append(Rejection(first_index + i, RejectReason.DAMAGED_FILE, damaged[i]))
                continue
            result = self._record_cells(lines[i], first_index + i)
            if isinstance(result, Rejection):
                rejections.append(result)
                continue
            rows, event_ids[i], times[i], inference_ids[i] = result
            first_row[i] = len(cells)
            cells.extend(rows)
            row_at.extend([i] * len(rows))

        numeric, categorical, problems = self._type_cells(cells)
        keep = np.ones(len(cells), dtype=np.bool_)
        rejected: set[int] = set()
        for row in sorted(problems):
            i = row_at[row]
            keep[row] = False
            if i in rejected:
                continue
            rejected.add(i)
            reason, detail = problems[row]
            if row_at.count(i) > 1:
                detail = f"row {row - first_row[i] + 1}: {detail}"
            rejections.append(Rejection(first_index + i, reason, detail, event_ids[i], times[i]))
        record = np.asarray(row_at, dtype=np.int64)
        if rejected:
            keep &= ~np.isin(record, list(rejected))
            record = record[keep]
            numeric = numeric[keep]
            categorical = categorical[keep]
        return _General(
            record=record,
            numeric=numeric,
            categorical=categorical,
            event_id=[event_ids[i] for i in record.tolist()],
            inference_time=[times[i] for i in record.tolist()],
            rejections=rejections,
            inference_id=[inference_ids[i] for i in record.tolist()],
        )

    def _record_cells(
        self, line: bytes, index: int
    ) -> Rejection | tuple[list[list[object]], str | None, str | None, str | None]:
        """Parse one line with orjson and map it to rows of cells, or to its Rejection."""
        limit = self.options.max_record_bytes
        if len(line) > limit:
            return Rejection(
                index,
                RejectReason.OVERSIZED,
                f"line of {len(line)} bytes exceeds max_record_bytes={limit}",
            )
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                return Rejection(index, RejectReason.INVALID_JSON, "empty line")
            reason = (
                RejectReason.TRUNCATED
                if "unexpected end of data" in str(exc)
                else RejectReason.INVALID_JSON
            )
            what = (
                "line ends inside a JSON value" if reason is RejectReason.TRUNCATED else "not JSON"
            )
            detail = f"{what} ({exc.msg} at char {exc.pos})"
            if self.options.rejection_excerpts:
                excerpt = _excerpt_around(line.decode("utf-8", errors="replace"), exc.pos)
                detail = f"{detail}: {excerpt}"
            return Rejection(index, reason, detail)

        event_id, inference_time, inference_id = _event_metadata(record)
        try:
            rows = self._mapped_rows(record)
        except _RecordError as exc:
            detail = self._detail(exc.message, exc.shown)
            return Rejection(index, exc.reason, detail, event_id, inference_time, exc.columns)
        return rows, event_id, inference_time, inference_id

    def _detail(self, message: str, shown: object) -> str:
        """A rejection's detail: `message`, then the offending value when excerpts are on."""
        if shown is _NOT_SHOWN or not self.options.rejection_excerpts:
            return message
        return f"{message}: {_excerpt(shown)}"

    def _mapped_rows(self, record: object) -> list[list[object]]:
        """Rows of cells [*inputs, *outputs] of one parsed record, values as found."""
        capture = record.get("captureData") if isinstance(record, dict) else None
        if not isinstance(capture, dict) or not isinstance(capture.get("endpointInput"), dict):
            raise _RecordError(RejectReason.NOT_A_CAPTURE, "no captureData.endpointInput object")
        is_csv, payload = _payload(capture["endpointInput"], "endpointInput")
        inputs = self._csv_inputs(payload) if is_csv else self._json_inputs(payload)
        if not self._n_out:
            return inputs
        endpoint_output = capture.get("endpointOutput")
        if endpoint_output is None:
            missing = [None] * self._n_out
            return [[*row, *missing] for row in inputs]
        try:
            outputs = self._read_outputs(endpoint_output, len(inputs))
        except _RecordError as exc:
            raise _RecordError(
                RejectReason.OUTPUT_MISMATCH, f"model output: {exc.message}", exc.shown
            ) from None
        return [[*row, *out] for row, out in zip(inputs, outputs, strict=True)]

    def _csv_inputs(self, text: str) -> list[list[object]]:
        rows = _csv_rows(text)
        for r, fields in enumerate(rows):
            if len(fields) != self._n_in:
                raise _RecordError(
                    RejectReason.COLUMN_COUNT,
                    f"CSV row {r + 1} has {len(fields)} columns, the baseline has "
                    f"{self._n_in} inputs",
                    ",".join(fields),
                    columns=len(fields),
                )
        return [list[object](fields) for fields in rows]

    def _json_inputs(self, payload: str) -> list[list[object]]:
        value = _load_json(payload, RejectReason.INVALID_PAYLOAD)
        if isinstance(value, dict):
            if "instances" in value and "instances" not in self._input_names:
                items = value["instances"]
                if not isinstance(items, list):
                    raise _RecordError(
                        RejectReason.INVALID_PAYLOAD, '"instances" is not a list', items
                    )
                return self._json_row_list(items)
            return [self._json_row(value)]
        if isinstance(value, list):
            return self._json_row_list(value)
        if self._n_in == 1:
            return [[value]]
        raise _RecordError(
            RejectReason.INVALID_PAYLOAD,
            f"a single JSON value cannot fill {self._n_in} inputs",
            value,
        )

    def _json_row_list(self, items: list[object]) -> list[list[object]]:
        if not items:
            raise _RecordError(RejectReason.INVALID_PAYLOAD, "payload holds no rows")
        if _all_scalars(items):
            # A flat list of values: one row, or one value per row for a single-input model.
            if self._n_in == 1:
                return [[item] for item in items]
            return [self._positional(items, 0)]
        return [self._json_row(item, r) for r, item in enumerate(items)]

    def _json_row(self, item: object, r: int = 0) -> list[object]:
        if isinstance(item, list):
            return self._positional(item, r)
        if not isinstance(item, dict):
            raise _RecordError(
                RejectReason.INVALID_PAYLOAD, f"row {r + 1} is neither an object nor a list", item
            )
        key = self.options.instance_key
        nested = item.get(key)
        if isinstance(nested, list) and key not in self._input_names:
            return self._positional(nested, r)
        if not self._input_names.intersection(item):
            raise _RecordError(
                RejectReason.INVALID_PAYLOAD,
                f"row {r + 1} has none of the baseline's input names",
                item,
            )
        return list(map(item.get, self._input_order))

    def _positional(self, values: list[object], r: int) -> list[object]:
        if len(values) != self._n_in:
            raise _RecordError(
                RejectReason.COLUMN_COUNT,
                f"JSON row {r + 1} has {len(values)} values, the baseline has {self._n_in} inputs",
                values,
                columns=len(values),
            )
        return values

    def _read_outputs(self, endpoint_output: object, n_rows: int) -> list[list[object]]:
        """Per-row output values; any _RecordError raised here is an OUTPUT_MISMATCH."""
        if not isinstance(endpoint_output, dict):
            raise _RecordError(RejectReason.OUTPUT_MISMATCH, "endpointOutput is not an object")
        is_csv, payload = _payload(endpoint_output, "endpointOutput")
        n_out = self._n_out
        if is_csv:
            lines = _csv_rows(payload)
            if len(lines) == n_rows and all(len(f) == n_out for f in lines):
                return [list[object](f) for f in lines]
            flat: list[object] = [v for fields in lines for v in fields]
            if len(flat) == n_rows * n_out:
                return [flat[r * n_out : (r + 1) * n_out] for r in range(n_rows)]
            raise _RecordError(
                RejectReason.OUTPUT_MISMATCH,
                f"{len(flat)} CSV values for {n_rows} rows of {n_out} outputs",
                payload,
            )

        value = _load_json(payload, RejectReason.OUTPUT_MISMATCH)
        if isinstance(value, dict) and "predictions" in value:
            value = value["predictions"]
        items: list[object] = value if isinstance(value, list) else [value]
        if len(items) == n_rows * n_out and len(items) != n_rows and _all_scalars(items):
            # A flat list of every row's outputs: chunk it.
            return [items[r * n_out : (r + 1) * n_out] for r in range(n_rows)]
        if len(items) != n_rows:
            raise _RecordError(
                RejectReason.OUTPUT_MISMATCH,
                f"{len(items)} predictions for {n_rows} input rows",
                value,
            )
        return [self._prediction(item) for item in items]

    def _prediction(self, item: object) -> list[object]:
        n_out = self._n_out
        if isinstance(item, dict):
            keys = (self.options.output_key,) if self.options.output_key else OUTPUT_KEYS
            for key in keys:
                if key in item:
                    value = item[key]
                    values = value if isinstance(value, list) else [value]
                    if len(values) == n_out:
                        return values
            raise _RecordError(
                RejectReason.OUTPUT_MISMATCH,
                f"no key of {', '.join(keys)} holding {n_out} value(s)",
                item,
            )
        values = item if isinstance(item, list) else [item]
        if len(values) != n_out:
            raise _RecordError(
                RejectReason.OUTPUT_MISMATCH,
                f"prediction has {len(values)} values, the baseline has {n_out} outputs",
                item,
            )
        return values

    # -- values ---------------------------------------------------------------------------------

    def _feature_at(self, pos: int) -> FeatureBaseline:
        return self._inputs[pos] if pos < self._n_in else self._outputs[pos - self._n_in]

    def _where(self, pos: int) -> str:
        name = self._feature_at(pos).name
        return f"{name} (column {pos + 1})" if pos < self._n_in else name

    def _value_detail(self, pos: int, value: object, reason: RejectReason) -> str:
        problem = {
            RejectReason.NON_NUMERIC: "is not a number",
            RejectReason.NON_FINITE: "is not finite",
        }.get(reason, "is a nested value")
        return self._detail(f"{self._where(pos)} {problem}", value)

    def _type_cells(
        self, cells: list[list[object]]
    ) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.object_], dict[int, tuple[RejectReason, str]]
    ]:
        """Typed matrices for rows of cells, a column at a time; plus each bad row's first problem.

        Numeric cells: numbers, booleans (1/0), numeric text, or None/empty text (missing).
        Categorical cells: text, None or empty text (missing), numbers and booleans as text.
        """
        n = len(cells)
        numeric = np.empty((n, len(self._numeric_pos)), dtype=np.float64)
        categorical = np.empty((n, len(self._categorical_pos)), dtype=object)
        problems: dict[int, tuple[RejectReason, str]] = {}
        if n == 0:
            return numeric, categorical, problems
        for col, pos in enumerate(self._numeric_pos):
            column = list(map(itemgetter(pos), cells))
            numeric[:, col], bad = _cells_to_numbers(column)
            for row, reason in bad:
                if row not in problems:
                    problems[row] = (reason, self._value_detail(pos, column[row], reason))
        for col, pos in enumerate(self._categorical_pos):
            column = list(map(itemgetter(pos), cells))
            categorical[:, col], bad_rows = _cells_to_categories(column)
            for row in bad_rows:
                if row not in problems:
                    reason = RejectReason.INVALID_PAYLOAD
                    problems[row] = (reason, self._value_detail(pos, column[row], reason))
        return numeric, categorical, problems


# -- helpers --------------------------------------------------------------------------------------


def _event_metadata(record: object) -> tuple[str | None, str | None, str | None]:
    """eventId, inferenceTime and inferenceId of a record's eventMetadata (None where absent)."""
    metadata = record.get("eventMetadata") if isinstance(record, dict) else None
    if not isinstance(metadata, dict):
        return None, None, None
    values = (metadata.get(key) for key in ("eventId", "inferenceTime", "inferenceId"))
    event_id, inference_time, inference_id = (v if isinstance(v, str) else None for v in values)
    return event_id, inference_time, inference_id


def _payload(endpoint: dict[str, object], where: str) -> tuple[bool, str]:
    """(is_csv, text) of an endpointInput/endpointOutput object's payload."""
    data = endpoint.get("data")
    if not isinstance(data, str):
        raise _RecordError(RejectReason.MISSING_DATA, f"{where} has no string data")
    encoding = endpoint.get("encoding")
    if encoding == "CSV":
        return True, data
    if encoding == "JSON":
        return False, data
    if encoding != "BASE64":
        raise _RecordError(
            RejectReason.UNSUPPORTED_ENCODING,
            f"{where} encoding is not CSV, JSON or BASE64",
            encoding,
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _RecordError(
            RejectReason.INVALID_BASE64, f"{where} data is not base64", data
        ) from None
    content_type = endpoint.get("observedContentType")
    media = content_type.split(";", 1)[0].strip().lower() if isinstance(content_type, str) else ""
    if media == "text/csv" or media.endswith("/json"):
        try:
            return media == "text/csv", raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _RecordError(
                RejectReason.INVALID_PAYLOAD, f"{where} base64 payload is not UTF-8 text"
            ) from None
    raise _RecordError(
        RejectReason.UNSUPPORTED_ENCODING,
        f"{where} base64 payload has a content type that is neither CSV nor JSON",
        content_type,
    )


def _load_json(payload: str, reason: RejectReason) -> object:
    """A JSON payload, or a _RecordError saying where parsing stopped (never the parser's own
    exception text, which can quote the payload or the interpreter's recursion limit)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        # The standard library accepts NaN and Infinity, which orjson refuses; they are then
        # rejected as NON_FINITE values rather than as an unreadable payload.
        return json.loads(payload)
    except json.JSONDecodeError as exc:
        raise _RecordError(
            reason, f"payload is not JSON ({exc.msg} at char {exc.pos})", payload
        ) from None
    except RecursionError:
        raise _RecordError(reason, "payload is not JSON (nested too deeply)", payload) from None
    except ValueError:  # an integer of more digits than Python converts
        raise _RecordError(reason, "payload is not JSON (a number too long)", payload) from None


def _csv_rows(text: str) -> list[list[str]]:
    """Rows of a CSV payload; a trailing line ending does not make an extra row."""
    if '"' in text:
        rows = [row or [""] for row in csv.reader(io.StringIO(text, newline=""))]
        return rows or [[""]]
    lines = text.split("\n")
    if len(lines) > 1 and not lines[-1]:
        lines.pop()
    return [line.removesuffix("\r").split(",") for line in lines]


def _parse_number(text: str) -> tuple[float, RejectReason | None]:
    """A numeric CSV field: (value, None), or (nan, reason) when it cannot be used.

    Empty or blank text is a missing value (nan, no reason).
    """
    try:
        value = float(text)
    except ValueError:
        if not text.strip():
            return math.nan, None
        return math.nan, RejectReason.NON_NUMERIC
    if "_" in text or not text.isascii():  # float() also reads "1_000" and non-ASCII digits
        return math.nan, RejectReason.NON_NUMERIC
    if not math.isfinite(value):
        return math.nan, RejectReason.NON_FINITE
    return value, None


def _parse_number_column(
    texts: list[str],
) -> tuple[npt.NDArray[np.float64], list[tuple[int, RejectReason]]]:
    """Parse one column of numeric text for a whole batch.

    The column is joined into one JSON array and parsed by orjson in a single call when it holds
    only JSON-number characters; otherwise (or if orjson refuses it) each field goes through
    `_parse_number`. Returns the values (nan where missing or bad) and the bad rows.
    """
    try:
        blob = ",".join(texts).encode("ascii")
    except UnicodeEncodeError:
        blob = b""
    else:
        if not blob.translate(None, _NUMBER_BYTES):
            if b",," in blob or blob[:1] == b"," or blob[-1:] == b"," or not blob:
                # Empty fields are missing values: make them JSON nulls.
                padded = b"," + blob + b","
                padded = padded.replace(b",,", b",null,").replace(b",,", b",null,")
                blob = padded[1:-1]
            try:
                values = orjson.loads(b"[" + blob + b"]")
            except orjson.JSONDecodeError:
                pass
            else:
                if len(values) == len(texts):
                    return np.array(values, dtype=np.float64), []
    out = np.empty(len(texts), dtype=np.float64)
    problems: list[tuple[int, RejectReason]] = []
    for row, text in enumerate(texts):
        value, reason = _parse_number(text)
        out[row] = value
        if reason is not None:
            problems.append((row, reason))
    return out, problems


_JSON_NUMBER_TYPES = frozenset({float, int, bool, type(None)})


def _cells_to_numbers(
    column: list[object],
) -> tuple[npt.NDArray[np.float64], list[tuple[int, RejectReason]]]:
    """A numeric column of general-path cells: values (nan where missing or bad), bad rows."""
    kinds = set(map(type, column))
    if kinds <= {str}:
        return _parse_number_column(cast("list[str]", column))
    if kinds <= _JSON_NUMBER_TYPES:
        try:
            values = np.array(column, dtype=np.float64)  # None -> nan, True -> 1.0
        except OverflowError:  # an integer beyond the float range
            pass
        else:
            finite = np.isfinite(values)
            if finite.all():
                return values, []
            bad = [
                (int(row), RejectReason.NON_FINITE)
                for row in np.flatnonzero(~finite)
                if column[row] is not None
            ]
            return values, bad
    out = np.empty(len(column), dtype=np.float64)
    problems: list[tuple[int, RejectReason]] = []
    for row, value in enumerate(column):
        out[row], reason = _cell_to_number(value)
        if reason is not None:
            problems.append((row, reason))
    return out, problems


def _cell_to_number(value: object) -> tuple[float, RejectReason | None]:
    if value is None:
        return math.nan, None
    if isinstance(value, str):
        return _parse_number(value)
    if isinstance(value, bool):
        return (1.0 if value else 0.0), None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            return math.nan, RejectReason.NON_FINITE
        return (number, None) if math.isfinite(number) else (math.nan, RejectReason.NON_FINITE)
    return math.nan, RejectReason.INVALID_PAYLOAD  # a nested list or object


def _cells_to_categories(column: list[object]) -> tuple[list[str | None], list[int]]:
    """A categorical column of general-path cells as text (None where missing), bad rows."""
    if set(map(type, column)) <= {str}:
        return [value or None for value in cast("list[str]", column)], []
    out: list[str | None] = []
    bad: list[int] = []
    for row, value in enumerate(column):
        if value is None or isinstance(value, str):
            out.append(value or None)
        elif isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, float) and value.is_integer():
            out.append(str(int(value)))  # 3.0 and 3 are the same category, as CSV "3" is
        elif isinstance(value, int | float):
            out.append(str(value))
        else:
            out.append(None)
            bad.append(row)
    return out, bad


def _all_scalars(items: list[object]) -> bool:
    """True when no item is a JSON array or object."""
    return not {dict, list}.intersection(map(type, items))


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode()
    except UnicodeDecodeError:
        return False
    return True


def _gather_text(text: bytes, spans: npt.NDArray[np.int64]) -> list[str | None]:
    """The strings at `spans` of `text` (none holding a newline), decoded in one call."""
    if not len(spans):
        return []
    out = np.empty(int((spans[:, 1] - spans[:, 0]).sum()) + len(spans), dtype=np.uint8)
    size = gather(np.frombuffer(text, dtype=np.uint8), np.ascontiguousarray(spans), out)
    return list[str | None](out[: size - 1].tobytes().decode().split("\n"))


def _gather_optional(text: bytes, spans: npt.NDArray[np.int64]) -> list[str | None]:
    """Like _gather_text, with None where a span is (-1, -1): a string the record lacks."""
    present = spans[:, 0] >= 0
    if present.all():
        return _gather_text(text, spans)
    out: list[str | None] = [None] * len(spans)
    found = _gather_text(text, spans[present])
    for i, value in zip(np.flatnonzero(present).tolist(), found, strict=True):
        out[i] = value
    return out


def _excerpt(value: object) -> str:
    """Offending text for a one-line detail: quoted, escaped, at most ~40 characters."""
    text = value if isinstance(value, str) else _compact(value)
    if len(text) > _EXCERPT:
        text = text[: _EXCERPT - 3] + "..."
    return repr(text)


def _excerpt_around(text: str, pos: int) -> str:
    """Like _excerpt, for the part of `text` where parsing stopped at `pos`."""
    start = max(0, pos - _EXCERPT + 10)
    piece = text[start : start + _EXCERPT]
    return repr(("..." if start else "") + piece + ("..." if start + _EXCERPT < len(text) else ""))


def _compact(value: object) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)
