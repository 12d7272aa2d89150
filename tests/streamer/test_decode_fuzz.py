"""Fuzzing the capture decoder (hypothesis): whatever the lines hold, `decode` never raises,
every line is either used (its rows carry its record index) or rejected once for a known reason,
the hot and general paths agree, and by default no rejection's detail quotes the record: it
reads as one of the decoder's own sentences. The example budget is fixed and the examples are
derandomised, so CI runs the same cases every time."""

from __future__ import annotations

import ast
import base64
import json
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftstream.streamer.decode.capture as decode_module
from driftstream.detectors.baseline.model import Baseline
from driftstream.streamer.decode.base import DecodedBatch, RejectReason
from driftstream.streamer.decode.capture import CaptureDecoder, DecodeOptions
from tests.streamer.test_decode import (
    MIXED,
    assert_same,
    baseline,
    capture,
    category,
    nothing_canonical,
    numeric,
)

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SECRET = "Qxz Lovelace"  # stands for personal data in a record: never in a default detail

# one numeric input and two outputs (one of them categorical), beside MIXED's three inputs
SCHEMAS = {
    "mixed": MIXED,
    "one_input": baseline(numeric("x"), numeric("prediction_0"), category("prediction_1")),
}
NAMES = ["age", "plan", "income", "x", "instances", "features", "predictions", "score", "label"]


# -- lines ---------------------------------------------------------------------------------------

texts = st.text(max_size=12)
good_numbers = st.one_of(st.integers(-(10**6), 10**6).map(str), st.floats(-1e9, 1e9).map(repr))
number_texts = st.one_of(
    good_numbers,
    good_numbers,
    st.floats().map(repr),
    st.sampled_from(["", " ", "nan", "-Infinity", "1_000", "0x10", "1e999", "٣", "-", ".", "4O"]),
)
cells = st.one_of(number_texts, number_texts, texts, st.just(SECRET))
csv_payloads = st.lists(st.lists(cells, max_size=5).map(",".join), min_size=1, max_size=3).map(
    "\n".join
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts, st.just(SECRET)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(texts, st.sampled_from(NAMES)), children, max_size=4),
    ),
    max_leaves=12,
)
json_payloads = st.one_of(
    json_values.map(json.dumps),  # NaN and Infinity included, as the standard library writes
    texts,
    st.just(f'{{"who": "{SECRET}", "deep": {"[" * 3000}{"]" * 3000}}}'),
    st.just(f'{{"who": "{SECRET}", "age": {"9" * 5000}}}'),
)


@st.composite
def endpoints(draw: st.DrawFn) -> dict[str, Any]:
    """An endpointInput/endpointOutput object: usually well formed, often not."""
    encoding = draw(st.sampled_from(["CSV", "JSON", "BASE64", SECRET, None]))
    payload = draw(st.one_of(csv_payloads, json_payloads))
    data: object = payload
    if encoding == "BASE64" and draw(st.booleans()):
        data = base64.b64encode(payload.encode()).decode()
    elif draw(st.integers(0, 9)) == 0:
        data = draw(st.one_of(st.none(), st.integers(), st.just(SECRET), json_values))
    content_type = draw(st.sampled_from(["text/csv", "application/json", SECRET, None]))
    endpoint = {"observedContentType": content_type, "mode": "INPUT", "data": data}
    endpoint["encoding"] = encoding
    return {k: v for k, v in endpoint.items() if v is not None or draw(st.booleans())}


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """A capture record as JSON text, in SageMaker's key order (so some reach the hot path)."""
    capture_data: dict[str, Any] = {"endpointInput": draw(endpoints())}
    if draw(st.booleans()):
        capture_data["endpointOutput"] = draw(st.one_of(endpoints(), json_values))
    record: object = {
        "captureData": capture_data,
        "eventMetadata": {"eventId": draw(texts), "inferenceTime": "2024-01-19T19:27:57Z"},
        "eventVersion": "0",
    }
    if draw(st.integers(0, 9)) == 0:
        record = draw(json_values)  # JSON, but not a capture
    ascii_only = draw(st.booleans())
    return json.dumps(record, separators=(",", ":"), ensure_ascii=ascii_only).encode()


def _row(n: int) -> st.SearchStrategy[list[str]]:
    """n CSV fields, mostly numbers; sometimes a field more or less."""
    field = st.one_of(good_numbers, good_numbers, good_numbers, cells)
    exact = st.lists(field, min_size=n, max_size=n)
    return st.one_of(exact, exact, exact, st.lists(field, min_size=n - 1, max_size=n + 1))


def _json_row(n: int) -> st.SearchStrategy[object]:
    return st.lists(st.one_of(st.integers(), st.floats(), texts, st.none()), min_size=n, max_size=n)


def canonical_for(schema: Baseline) -> st.SearchStrategy[bytes]:
    """SageMaker's own form, one CSV row: mostly the schema's column count."""
    n_in, n_out = len(schema.inputs), len(schema.outputs)
    return st.builds(
        lambda fields, output: capture(",".join(fields), output=output),
        st.one_of(_row(n_in), _row(n_in), _row(n_in), st.lists(cells, max_size=n_in + 2)),
        st.one_of(st.none(), _row(n_out).map(",".join)),
    )


def json_records_for(schema: Baseline) -> st.SearchStrategy[bytes]:
    """JSON payloads of the shapes the decoder maps: instances, by name, bare rows."""
    n_in, n_out = len(schema.inputs), len(schema.outputs)
    names = [f.name for f in schema.inputs]
    payload = st.one_of(
        st.lists(_json_row(n_in), min_size=1, max_size=2).map(lambda r: {"instances": r}),
        st.lists(_json_row(n_in).map(lambda r: {"features": r}), min_size=1, max_size=2).map(
            lambda r: {"instances": r}
        ),
        _json_row(n_in).map(lambda r: dict(zip(names, r, strict=True))),
        _json_row(n_in),
    )
    output = st.one_of(st.none(), _json_row(n_out).map(lambda r: json.dumps({"predictions": [r]})))
    return st.builds(
        lambda p, o: capture(
            json.dumps(p),
            encoding="JSON",
            content_type="application/json",
            output=o,
            output_encoding="JSON",
            output_content_type="application/json",
        ),
        payload,
        output,
    )


def lines_for(schema: Baseline) -> st.SearchStrategy[list[bytes]]:
    canonical = canonical_for(schema)
    shaped = json_records_for(schema)
    return st.lists(
        st.one_of(
            canonical,
            canonical,
            canonical,
            shaped,
            shaped,
            records(),
            st.one_of(records(), canonical, shaped).flatmap(mutated),
            st.binary(max_size=48),
            st.sampled_from([b"", b"   ", b"\xff\xfe{}", SECRET.encode()]),
        ),
        max_size=20,
    )


@st.composite
def mutated(draw: st.DrawFn, line: bytes) -> bytes:
    """`line` cut short, with bytes spliced in, or with the secret written over part of it."""
    at = draw(st.integers(0, len(line)))
    how = draw(st.sampled_from(["cut", "splice", "secret"]))
    if how == "cut":
        return line[:at]
    insert = draw(st.binary(max_size=4)) if how == "splice" else SECRET.encode()
    return line[:at] + insert + line[at + len(insert) :]


# -- what a detail may say -----------------------------------------------------------------------


def detail_sentences(schema: Baseline) -> re.Pattern[str]:
    """Every detail the decoder writes without excerpts, as one pattern."""
    inputs = [f"{re.escape(f.name)} \\(column {i + 1}\\)" for i, f in enumerate(schema.inputs)]
    outputs = [re.escape(f.name) for f in schema.outputs]
    where = "|".join([*inputs, *outputs])
    endpoint = r"(?:model output: )?endpoint(?:Input|Output)"
    sentences = [
        r"empty line",
        r"(?:not JSON|line ends inside a JSON value) \([^()]+ at char \d+\)",
        r"line of \d+ bytes exceeds max_record_bytes=\d+",
        r"no captureData\.endpointInput object",
        rf"{endpoint} has no string data",
        rf"{endpoint} encoding is not CSV, JSON or BASE64",
        rf"{endpoint} data is not base64",
        rf"{endpoint} base64 payload is not UTF-8 text",
        rf"{endpoint} base64 payload has a content type that is neither CSV nor JSON",
        r"(?:model output: )?payload is not JSON "
        r"\((?:[^()]+ at char \d+|nested too deeply|a number too long)\)",
        r"model output: endpointOutput is not an object",
        r"CSV row \d+ has \d+ columns, the baseline has \d+ inputs",
        r"JSON row \d+ has \d+ values, the baseline has \d+ inputs",
        r'"instances" is not a list',
        r"payload holds no rows",
        r"a single JSON value cannot fill \d+ inputs",
        r"row \d+ is neither an object nor a list",
        r"row \d+ has none of the baseline's input names",
        r"model output: \d+ CSV values for \d+ rows of \d+ outputs",
        r"model output: \d+ predictions for \d+ input rows",
        r"model output: no key of [a-z_, ]+ holding \d+ value\(s\)",
        r"model output: prediction has \d+ values, the baseline has \d+ outputs",
        rf"(?:row \d+: )?(?:{where}) (?:is not a number|is not finite|is a nested value)",
    ]
    return re.compile("|".join(f"(?:{s})" for s in sentences))


LINES = {name: lines_for(schema) for name, schema in SCHEMAS.items()}
SENTENCES = {name: detail_sentences(schema) for name, schema in SCHEMAS.items()}
LIMITS = {"mixed": 1_048_576, "one_input": 500}  # the second sees OVERSIZED lines too
DECODERS = {
    (name, excerpts): CaptureDecoder(
        schema, DecodeOptions(max_record_bytes=LIMITS[name], rejection_excerpts=excerpts)
    )
    for name, schema in SCHEMAS.items()
    for excerpts in (False, True)
}


def assert_every_line_accounted_for(batch: DecodedBatch, lines: list[bytes], first: int) -> None:
    """Each line is used (rows with its index) or rejected once, never both, never neither."""
    n = len(lines)
    assert batch.n_records == n
    rejected = [r.record_index for r in batch.rejections]
    assert rejected == sorted(set(rejected))
    used = set(batch.row_record.tolist())
    assert used.isdisjoint(rejected)
    assert used | set(rejected) == set(range(first, first + n))
    assert batch.records_used == len(used)
    assert batch.row_record.tolist() == sorted(batch.row_record.tolist())
    assert batch.numeric.shape[0] == batch.categorical.shape[0] == batch.n_rows
    assert not np.isinf(batch.numeric).any()  # infinities are rejected, missing values are NaN
    assert len(batch.event_id) == len(batch.inference_time) == batch.n_rows
    assert all(isinstance(r.reason, RejectReason) for r in batch.rejections)


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
@FUZZ
@given(data=st.data(), first=st.integers(0, 10**12), damaged_at=st.sets(st.integers(0, 19)))
def test_decode_never_raises_and_accounts_for_every_line(
    schema: str, data: st.DataObject, first: int, damaged_at: set[int]
) -> None:
    lines = data.draw(LINES[schema], label="lines")
    damaged = {i: f"part-{i}.jsonl.gz: corrupt gzip data at line 3" for i in damaged_at}
    damaged = {i: d for i, d in damaged.items() if i < len(lines)}
    batch = DECODERS[schema, False].decode(lines, first, damaged)
    assert_every_line_accounted_for(batch, lines, first)

    sentences = SENTENCES[schema]
    for r in batch.rejections:
        if r.record_index - first in damaged:
            assert r.reason is RejectReason.DAMAGED_FILE
            assert r.detail == damaged[r.record_index - first]
            continue
        assert r.reason is not RejectReason.DAMAGED_FILE
        assert SECRET not in r.detail and "Lovelace" not in r.detail, r
        assert sentences.fullmatch(r.detail), r

    # the same rejections with excerpts: each detail, then maybe a short quote
    quoted = DECODERS[schema, True].decode(lines, first, damaged)
    assert [(r.record_index, r.reason) for r in quoted.rejections] == [
        (r.record_index, r.reason) for r in batch.rejections
    ]
    for with_excerpt, plain in zip(quoted.rejections, batch.rejections, strict=True):
        assert "\n" not in with_excerpt.detail
        if with_excerpt.detail != plain.detail:
            head, quote = (
                with_excerpt.detail[: len(plain.detail) + 2],
                with_excerpt.detail[len(plain.detail) + 2 :],
            )
            assert head == plain.detail + ": "
            assert len(ast.literal_eval(quote)) <= 46  # 40 characters, "..." either side

    # the compiled hot path and the per-record path give the same answer
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decode_module, "match_canonical", nothing_canonical)
        general = DECODERS[schema, False].decode(lines, first, damaged)
    assert_same(batch, general)
