"""The hot path of capture decoding: canonical SageMaker CSV records scanned by compiled kernels.

A canonical record is a single CSV row captured exactly as SageMaker writes it (its key order,
no escapes in any string). `match_canonical` checks a whole batch's lines against that form and
returns the spans of their strings; `scan_csv` splits and converts the CSV fields of every
matching line at once. Numbers are converted exactly as float() would (Clinger's fast path) or
flagged for Python; tests/streamer/test_decode.py runs randomized batches through both this path
and the general one and requires identical results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numba
import numpy as np
import numpy.typing as npt

# The canonical record, as the literal text between its variable strings. A line matches when
# it is exactly these pieces with plain strings (no escape, no control character) between them;
# the endpointOutput part (pieces 3-5) may be absent, and so may the inferenceId (piece 9, where
# the keys' alphabetical order puts it; no real record with one was seen: reference §1.2). Data
# strings may end in an escaped \r\n.
_SKELETON_PIECES = (
    b'{"captureData":{"endpointInput":{"observedContentType":"',  # 0, then content type
    b'","mode":"INPUT","data":"',  # 1, then the input CSV row
    b'","encoding":"CSV"}',  # 2
    b',"endpointOutput":{"observedContentType":"',  # 3, then content type
    b'","mode":"OUTPUT","data":"',  # 4, then the output CSV row
    b'","encoding":"CSV"}',  # 5
    b'},"eventMetadata":{"eventId":"',  # 6, then eventId
    b'","inferenceTime":"',  # 7, then inferenceTime
    b'"},"eventVersion":"0"}',  # 8
    b'","inferenceId":"',  # 9, optional between eventId and inferenceTime, then inferenceId
)
_SKELETON = np.frombuffer(b"".join(_SKELETON_PIECES), dtype=np.uint8)
_SKELETON_CUTS = np.cumsum([0, *map(len, _SKELETON_PIECES)]).astype(np.int64)
# Span slots filled by the matcher for each canonical line.
DATA, OUTPUT, EVENT_ID, INFERENCE_TIME, INFERENCE_ID = 0, 1, 2, 3, 4
SLOTS = 5

# -- CSV scanning, compiled ------------------------------------------------------------------------
# numba compiles these on first use and caches the machine code beside this file (cache=True).

_PARSED, _MISSING, NEEDS_PYTHON = 0, 1, 2  # status of one numeric field
_POW10 = np.array([10.0**k for k in range(23)])  # every one exact in float64
_EXACT_MANTISSA = 2**53
_DIGIT_CAP = 10**17  # stop accumulating digits before int64 overflows


def _parse_float_py(buf: npt.NDArray[np.uint8], start: int, end: int) -> tuple[float, int]:
    """The ASCII number in buf[start:end], exactly as float() reads it, or a status saying why not.

    Clinger's fast path: a decimal mantissa below 2**53 times a power of ten up to 1e22 is one
    correctly rounded IEEE multiplication or division, so the result equals float(text). Anything
    else (more digits, larger exponents, nan/inf, spaces, junk) is left to Python (NEEDS_PYTHON).
    """
    if start == end:
        return math.nan, _MISSING
    i = start
    negative = False
    if buf[i] == 45 or buf[i] == 43:  # - +
        negative = buf[i] == 45
        i += 1
    mantissa = 0
    exponent = 0
    digits = False
    overflow = False
    while i < end and 48 <= buf[i] <= 57:
        digits = True
        if mantissa < _DIGIT_CAP:
            mantissa = mantissa * 10 + (buf[i] - 48)
        else:
            overflow = True
        i += 1
    if i < end and buf[i] == 46:  # .
        i += 1
        while i < end and 48 <= buf[i] <= 57:
            digits = True
            if mantissa < _DIGIT_CAP:
                mantissa = mantissa * 10 + (buf[i] - 48)
                exponent -= 1
            else:
                overflow = True
            i += 1
    if digits and i < end and (buf[i] == 101 or buf[i] == 69):  # e E
        i += 1
        negative_exponent = False
        if i < end and (buf[i] == 45 or buf[i] == 43):
            negative_exponent = buf[i] == 45
            i += 1
        power = 0
        power_digits = False
        while i < end and 48 <= buf[i] <= 57:
            power_digits = True
            if power < 100_000:
                power = power * 10 + (buf[i] - 48)
            i += 1
        if not power_digits:
            return math.nan, NEEDS_PYTHON
        exponent += -power if negative_exponent else power
    if i != end or not digits or overflow:
        return math.nan, NEEDS_PYTHON
    if mantissa == 0:
        value = 0.0
    elif mantissa > _EXACT_MANTISSA or exponent > 22 or exponent < -22:
        return math.nan, NEEDS_PYTHON
    elif exponent >= 0:
        value = float(mantissa) * _POW10[exponent]
    else:
        value = float(mantissa) / _POW10[-exponent]
    return (-value if negative else value), _PARSED


def _literal_py(buf: npt.NDArray[np.uint8], pos: int, end: int, piece: int) -> int:
    """Position after skeleton piece `piece` if buf[pos:end] starts with it, else -1."""
    first = int(_SKELETON_CUTS[piece])
    size = int(_SKELETON_CUTS[piece + 1]) - first
    if pos < 0 or pos + size > end:
        return -1
    for k in range(size):
        if buf[pos + k] != _SKELETON[first + k]:
            return -1
    return pos + size


def _plain_string_py(
    buf: npt.NDArray[np.uint8], pos: int, end: int, line_ending: bool
) -> tuple[int, int]:
    """(end of content, position of the closing quote) of a plain JSON string, or (-1, -1).

    Plain: no escape and no control character. With `line_ending`, the content may be followed
    by an escaped CR, LF or CRLF just before the closing quote (a CSV payload's last line end).
    The skeleton pieces begin with the closing quote, so that is where matching resumes.
    """
    if pos < 0:
        return -1, -1
    q = pos
    while q < end:
        c = buf[q]
        if c == 34:  # "
            return q, q
        if c == 92 or c < 32:  # backslash, control character
            break
        q += 1
    if not line_ending or q >= end or buf[q] != 92:
        return -1, -1
    content_end = q
    if q + 1 < end and buf[q + 1] == 114:  # \r
        q += 2
    if q + 1 < end and buf[q] == 92 and buf[q + 1] == 110:  # \n
        q += 2
    if q == content_end or q >= end or buf[q] != 34:
        return -1, -1
    return content_end, q


def _match_canonical_py(
    buf: npt.NDArray[np.uint8], bounds: npt.NDArray[np.int64], spans: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Which lines buf[bounds[i, 0]:bounds[i, 1]] are canonical records (see _SKELETON_PIECES).

    For those, spans[i, slot] = (start, end) of the input data, output data ((-1, -1) when not
    captured), eventId, inferenceTime and inferenceId ((-1, -1) when the caller passed none).
    JSON whitespace may follow the closing brace.
    """
    n = bounds.shape[0]
    ok = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        pos = bounds[i, 0]
        end = bounds[i, 1]
        while end > pos:  # JSON whitespace after the record
            c = buf[end - 1]
            if c != 32 and c != 10 and c != 13 and c != 9:  # noqa: PLR1714 (numba: no set)
                break
            end -= 1
        _, pos = _plain_string(buf, _literal(buf, pos, end, 0), end, False)
        data_start = _literal(buf, pos, end, 1)
        data_end, pos = _plain_string(buf, data_start, end, True)
        pos = _literal(buf, pos, end, 2)
        output_start = _literal(buf, pos, end, 3)
        output_end = -1
        if output_start >= 0:
            _, q = _plain_string(buf, output_start, end, False)
            output_start = _literal(buf, q, end, 4)
            output_end, q = _plain_string(buf, output_start, end, True)
            pos = _literal(buf, q, end, 5)
        event_start = _literal(buf, pos, end, 6)
        event_end, pos = _plain_string(buf, event_start, end, False)
        id_start = _literal(buf, pos, end, 9)
        id_end = -1
        if id_start >= 0:
            id_end, pos = _plain_string(buf, id_start, end, False)
        time_start = _literal(buf, pos, end, 7)
        time_end, pos = _plain_string(buf, time_start, end, False)
        pos = _literal(buf, pos, end, 8)
        if pos != end:
            continue
        ok[i] = True
        spans[i, 0, 0] = data_start
        spans[i, 0, 1] = data_end
        spans[i, 1, 0] = output_start
        spans[i, 1, 1] = output_end
        spans[i, 2, 0] = event_start
        spans[i, 2, 1] = event_end
        spans[i, 3, 0] = time_start
        spans[i, 3, 1] = time_end
        spans[i, 4, 0] = id_start
        spans[i, 4, 1] = id_end
    return ok


def _scan_csv_py(
    buf: npt.NDArray[np.uint8],
    rows: npt.NDArray[np.int64],
    plan: npt.NDArray[np.int64],
    numeric: npt.NDArray[np.float64],
    fields: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8], int]:
    """Scan the unquoted CSV rows buf[rows[r, 0]:rows[r, 1]]; a row at -1 was not captured.

    Column c of a row is numeric if plan[c] >= 0: its value goes to numeric[r, plan[c]] and its
    (status, start, end) to fields[r, plan[c]]. Otherwise it is categorical: its bytes are
    copied to `found`, each followed by a newline, one per categorical column in every row
    (empty where a short or missing row lacks it). Returns which rows had exactly len(plan)
    fields (or were not captured), `found`, and how many bytes of it were written.
    """
    n_rows = rows.shape[0]
    n_cols = plan.shape[0]
    complete = np.ones(n_rows, dtype=np.bool_)
    captured = 0
    for row in range(n_rows):
        if rows[row, 0] >= 0:
            captured += rows[row, 1] - rows[row, 0]
    found = np.empty(captured + n_rows * n_cols + 1, dtype=np.uint8)
    written = 0
    for row in range(n_rows):
        start = rows[row, 0]
        stop = rows[row, 1]
        col = 0
        if start >= 0:
            while True:
                end = start
                while end < stop and buf[end] != 44:  # ,
                    end += 1
                if col < n_cols:
                    j = plan[col]
                    if j >= 0:
                        value, state = _parse_float(buf, start, end)
                        numeric[row, j] = value
                        fields[row, j, 0] = state
                        fields[row, j, 1] = start
                        fields[row, j, 2] = end
                    else:
                        for k in range(start, end):
                            found[written] = buf[k]
                            written += 1
                        found[written] = 10
                        written += 1
                col += 1
                if end >= stop:
                    break
                start = end + 1
            if col != n_cols:
                complete[row] = False
        while col < n_cols:  # a short row, or an output that was not captured: missing values
            j = plan[col]
            if j >= 0:
                numeric[row, j] = np.nan
                fields[row, j, 0] = _MISSING
            else:
                found[written] = 10
                written += 1
            col += 1
    return complete, found, written


def _gather_py(
    buf: npt.NDArray[np.uint8], spans: npt.NDArray[np.int64], out: npt.NDArray[np.uint8]
) -> int:
    """Copy each buf[start:end] of `spans` to `out`, each followed by a newline; return size."""
    written = 0
    for i in range(spans.shape[0]):
        for k in range(spans[i, 0], spans[i, 1]):
            out[written] = buf[k]
            written += 1
        out[written] = 10
        written += 1
    return written


_jit = numba.njit(cache=True, nogil=True)
_parse_float = cast(
    "Callable[[npt.NDArray[np.uint8], int, int], tuple[float, int]]", _jit(_parse_float_py)
)
_literal = cast("Callable[[npt.NDArray[np.uint8], int, int, int], int]", _jit(_literal_py))
_plain_string = cast(
    "Callable[[npt.NDArray[np.uint8], int, int, bool], tuple[int, int]]", _jit(_plain_string_py)
)
match_canonical = cast("Callable[..., npt.NDArray[np.bool_]]", _jit(_match_canonical_py))
scan_csv = cast(
    "Callable[..., tuple[npt.NDArray[np.bool_], npt.NDArray[np.uint8], int]]", _jit(_scan_csv_py)
)
gather = cast("Callable[..., int]", _jit(_gather_py))
