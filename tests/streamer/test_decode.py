"""CaptureDecoder: SageMaker capture lines in, typed rows and rejections out."""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

import driftstream.streamer.decode.capture as decode_module
from driftstream.detectors.baseline.model import (
    Baseline,
    CategoricalStats,
    FeatureBaseline,
    InferredType,
    NumericStats,
)
from driftstream.streamer.decode.base import DecodedBatch, RejectReason
from driftstream.streamer.decode.capture import CaptureDecoder, DecodeOptions

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "captures"


# -- building baselines and capture lines ---------------------------------------------------------


def numeric(name: str, inferred: InferredType = "Fractional") -> FeatureBaseline:
    return FeatureBaseline(
        name=name,
        inferred_type=inferred,
        numeric=NumericStats(
            num_present=4.0,
            num_missing=0.0,
            mean=1.5,
            sum=6.0,
            std_dev=1.1,
            min=0.0,
            max=3.0,
            sketch_items=np.array([0.0, 1.0, 2.0, 3.0]),
            sketch_weights=np.ones(4),
        ),
    )


def category(name: str) -> FeatureBaseline:
    return FeatureBaseline(
        name=name,
        inferred_type="String",
        categorical=CategoricalStats(
            num_present=4.0, num_missing=0.0, distinct_count=2.0, counts={"a": 2.0, "b": 2.0}
        ),
    )


def baseline(*features: FeatureBaseline) -> Baseline:
    return Baseline(features=features)


# age (numeric), plan (categorical), income (numeric) in, one numeric prediction out; the
# prediction comes first, as Model Monitor lays out a baseline (output columns at START).
MIXED = baseline(
    numeric("prediction"), numeric("age", "Integral"), category("plan"), numeric("income")
)


def capture(
    data: str,
    *,
    encoding: str = "CSV",
    content_type: str = "text/csv",
    output: str | None = "0.5",
    output_encoding: str = "CSV",
    output_content_type: str = "text/csv; charset=utf-8",
    event_id: str | None = "e-1",
    inference_time: str | None = "2024-01-19T19:27:57Z",
) -> bytes:
    """One capture line, keys in the order SageMaker writes them."""
    capture_data: dict[str, Any] = {
        "endpointInput": {
            "observedContentType": content_type,
            "mode": "INPUT",
            "data": data,
            "encoding": encoding,
        }
    }
    if output is not None:
        capture_data["endpointOutput"] = {
            "observedContentType": output_content_type,
            "mode": "OUTPUT",
            "data": output,
            "encoding": output_encoding,
        }
    metadata: dict[str, str] = {}
    if event_id is not None:
        metadata["eventId"] = event_id
    if inference_time is not None:
        metadata["inferenceTime"] = inference_time
    return orjson.dumps(
        {"captureData": capture_data, "eventMetadata": metadata, "eventVersion": "0"}
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sample_lines(name: str) -> list[bytes]:
    return (SAMPLES / name).read_bytes().splitlines()


def column(batch: DecodedBatch, decoder: CaptureDecoder, name: str) -> list[Any]:
    """One feature's decoded values, NaN shown as None so lists compare with ==."""
    if name in decoder.layout.numeric:
        values = batch.numeric[:, decoder.layout.numeric.index(name)].tolist()
        return [None if math.isnan(v) else v for v in values]
    return list(batch.categorical[:, decoder.layout.categorical.index(name)])


def reasons(batch: DecodedBatch) -> list[tuple[int, RejectReason]]:
    return [(r.record_index, r.reason) for r in batch.rejections]


def nothing_canonical(buf: Any, bounds: Any, spans: Any) -> np.ndarray[Any, Any]:
    """Stands in for the compiled matcher to send every line down the general path."""
    return np.zeros(len(bounds), dtype=np.bool_)


@pytest.fixture(params=["hot", "general"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test through the compiled hot path, then again with every line on the general path."""
    if request.param == "general":
        monkeypatch.setattr(decode_module, "match_canonical", nothing_canonical)
    yield request.param


Decode = Callable[..., DecodedBatch]


@pytest.fixture
def decode(path: str) -> Decode:
    """decode(baseline, lines, first_index=0, **DecodeOptions) on the path under test."""

    def run(
        schema: Baseline, lines: Sequence[bytes], first_index: int = 0, **options: Any
    ) -> DecodedBatch:
        return CaptureDecoder(schema, DecodeOptions(**options)).decode(lines, first_index)

    return run


# -- real capture files ---------------------------------------------------------------------------


def test_real_csv_capture_69_columns(decode: Decode) -> None:
    schema = baseline(*(numeric(f"_c{i}") for i in range(69)), numeric("prediction"))
    batch = decode(schema, sample_lines("examples_mm_intro_capture_csv.jsonl"))
    decoder = CaptureDecoder(schema)

    assert batch.n_records == 3
    assert batch.rejections == []
    assert batch.row_record.tolist() == [0, 1, 2]
    assert batch.numeric.shape == (3, 70)
    assert batch.numeric[0, :10].tolist() == [132, 10, 182.9, 54, 292.4, 68, 142.3, 116, 11.5, 4]
    assert batch.numeric[2, 68] == 0.0
    assert column(batch, decoder, "prediction") == [
        0.036397725343704224,
        0.3791300654411316,
        0.017852725461125374,
    ]
    assert batch.event_id[0] == "f04a8538-696c-4648-8064-8b680b2e3318"
    assert batch.inference_time == [
        "2022-04-18T00:21:48Z",
        "2022-04-18T00:21:49Z",
        "2022-04-18T00:21:50Z",
    ]


def test_real_json_instances_with_features(decode: Decode) -> None:
    schema = baseline(*(numeric(f"f{i}") for i in range(14)), numeric("prediction"))
    decoder = CaptureDecoder(schema)
    batch = decode(schema, sample_lines("examples_clarify_capture_json.jsonl"), first_index=7)

    assert batch.rejections == []
    assert batch.row_record.tolist() == [7, 8, 8]  # the second record holds two instances
    assert column(batch, decoder, "f0") == [28, 28, 43]
    assert column(batch, decoder, "f2") == [133937, 133937, 72338]
    assert column(batch, decoder, "prediction") == [
        0.9899773597717285,
        0.9899773597717285,
        0.5041388273239136,
    ]
    assert batch.event_id == [
        "7ddb2d7c-4d6a-4e67-a68e-23870399829d",
        "9066ac80-dde1-4370-a73e-ab997e2544f1",
        "9066ac80-dde1-4370-a73e-ab997e2544f1",
    ]


def test_real_json_predicted_label_by_output_key(decode: Decode) -> None:
    schema = baseline(*(numeric(f"f{i}") for i in range(14)), numeric("prediction"))
    batch = decode(
        schema, sample_lines("examples_clarify_capture_json.jsonl"), output_key="predicted_label"
    )
    assert column(batch, CaptureDecoder(schema), "prediction") == [1, 1, 1]


def test_real_json_flat_instances_one_input(decode: Decode) -> None:
    # {"instances": [1.0, 2.0, 5.0]} -> {"predictions": [3.5, 4.0, 5.5]}: a one-input model.
    schema = baseline(numeric("x"), numeric("prediction"))
    decoder = CaptureDecoder(schema)
    batch = decode(schema, sample_lines("sdk_tests_captured-data.jsonl"))

    assert batch.rejections == []
    assert batch.row_record.tolist() == [0, 0, 0, 1, 1, 1]
    assert column(batch, decoder, "x") == [1.0, 2.0, 5.0, 1.0, 2.0, 5.0]
    assert column(batch, decoder, "prediction") == [3.5, 4.0, 5.5, 3.5, 4.0, 5.5]
    assert batch.inference_time[3] == "2019-11-24T07:31:30Z"


def test_real_sdk_capture_other_key_order(decode: Decode) -> None:
    schema = baseline(*(numeric(f"_c{i}", "Integral") for i in range(7)), numeric("prediction"))
    decoder = CaptureDecoder(schema)
    lines = sample_lines("sdk_tests_capture.jsonl")
    batch = decode(schema, lines)

    assert batch.n_records == len(lines) == 44
    assert batch.records_used == 44
    assert batch.numeric[0].tolist() == [9, 45, 45, 42, 7, 5, 0, 0.302709460258]
    assert column(batch, decoder, "prediction")[-1] == 0.704846322536
    assert batch.inference_time[0] == "{%s}"  # the fixture's placeholder, kept as written
    assert batch.event_id[-1] == "79f96714-0136-39c8-a221-38faf8a5f96f"


def test_ground_truth_records_are_not_captures(decode: Decode) -> None:
    lines = sample_lines("sdk_tests_actuals.jsonl")[:2]
    batch = decode(baseline(numeric("x"), numeric("prediction")), lines)
    assert reasons(batch) == [(0, RejectReason.NOT_A_CAPTURE), (1, RejectReason.NOT_A_CAPTURE)]
    assert batch.rejections[0].event_id == "74b0dd56-e7c8-368e-94b1-14a138a96000"
    assert batch.n_rows == 0


# -- encodings ------------------------------------------------------------------------------------


def test_csv_row_in_layout_order(decode: Decode) -> None:
    decoder = CaptureDecoder(MIXED)
    batch = decode(MIXED, [capture("31,gold,5200.5", output="0.25")])

    assert decoder.layout.numeric == ("prediction", "age", "income")
    assert decoder.layout.categorical == ("plan",)
    assert batch.numeric.tolist() == [[0.25, 31.0, 5200.5]]
    assert batch.categorical.tolist() == [["gold"]]
    assert batch.event_id == ["e-1"]
    assert batch.inference_time == ["2024-01-19T19:27:57Z"]


def test_json_flat_object_by_name(decode: Decode) -> None:
    line = capture(
        '{"age": 31, "plan": "gold", "income": 5200.5}',
        encoding="JSON",
        content_type="application/json",
        output='{"predictions": [0.25]}',
        output_encoding="JSON",
    )
    batch = decode(MIXED, [line])
    assert batch.numeric.tolist() == [[0.25, 31.0, 5200.5]]
    assert batch.categorical.tolist() == [["gold"]]


def test_base64_csv(decode: Decode) -> None:
    line = capture(
        b64("31,gold,5200.5\n"), encoding="BASE64", content_type="text/csv; charset=utf-8"
    )
    batch = decode(MIXED, [line])
    assert batch.numeric.tolist() == [[0.5, 31.0, 5200.5]]
    assert batch.categorical.tolist() == [["gold"]]


@pytest.mark.parametrize("content_type", ["application/json", "text/json", "Application/JSON; v=2"])
def test_base64_json(decode: Decode, content_type: str) -> None:
    line = capture(
        b64('{"instances": [{"age": 40, "plan": "basic", "income": 1.5}]}'),
        encoding="BASE64",
        content_type=content_type,
        output=b64('{"predictions": [{"score": 0.75}]}'),
        output_encoding="BASE64",
        output_content_type="application/json",
    )
    batch = decode(MIXED, [line])
    assert batch.rejections == []
    assert batch.numeric.tolist() == [[0.75, 40.0, 1.5]]
    assert batch.categorical.tolist() == [["basic"]]


# -- JSON payload shapes --------------------------------------------------------------------------


def json_line(data: str, output: str = '{"predictions": [0.1, 0.2]}') -> bytes:
    return capture(
        data,
        encoding="JSON",
        content_type="application/json",
        output=output,
        output_encoding="JSON",
    )


@pytest.mark.parametrize(
    "payload",
    [
        '{"instances": [{"age": 1, "plan": "a", "income": 10},'
        ' {"age": 2, "plan": "b", "income": 20}]}',
        '{"instances": [{"features": [1, "a", 10]}, {"features": [2, "b", 20]}]}',
        '{"instances": [[1, "a", 10], [2, "b", 20]]}',
        '[{"features": [1, "a", 10]}, {"features": [2, "b", 20]}]',
        '[{"age": 1, "plan": "a", "income": 10}, {"age": 2, "plan": "b", "income": 20}]',
        '[[1, "a", 10], [2, "b", 20]]',
    ],
    ids=[
        "instances-by-name",
        "instances-features",
        "instances-lists",
        "features-list",
        "objects",
        "rows",
    ],
)
def test_json_shapes_with_two_rows(decode: Decode, payload: str) -> None:
    batch = decode(MIXED, [json_line(payload)])
    assert batch.rejections == []
    assert batch.row_record.tolist() == [0, 0]
    assert batch.numeric.tolist() == [[0.1, 1.0, 10.0], [0.2, 2.0, 20.0]]
    assert batch.categorical.tolist() == [["a"], ["b"]]


def test_json_bare_list_is_one_row(decode: Decode) -> None:
    batch = decode(MIXED, [json_line('[7, "a", 70]', output="[0.9]")])
    assert batch.numeric.tolist() == [[0.9, 7.0, 70.0]]


def test_json_flat_object_missing_keys_are_missing_values(decode: Decode) -> None:
    batch = decode(MIXED, [json_line('{"age": 5, "other": 1}', output="0.3")])
    assert batch.rejections == []
    assert column(batch, CaptureDecoder(MIXED), "income") == [None]
    assert batch.categorical.tolist() == [[None]]
    assert batch.numeric[0, :2].tolist() == [0.3, 5.0]


def test_json_custom_instance_key(decode: Decode) -> None:
    line = json_line('{"instances": [{"x": [3, "b", 30]}]}', output='{"predictions": [0.4]}')
    batch = decode(MIXED, [line], instance_key="x")
    assert batch.numeric.tolist() == [[0.4, 3.0, 30.0]]


def test_json_values_for_categorical_and_numeric_features(decode: Decode) -> None:
    schema = baseline(category("code"), category("flag"), numeric("on"), numeric("n"))
    payload = '[[3, true, false, "12.5"], [3.0, false, true, null], [2.5, null, null, "  "]]'
    decoder = CaptureDecoder(schema)
    batch = decode(schema, [json_line(payload)])
    assert batch.rejections == []
    assert column(batch, decoder, "code") == ["3", "3", "2.5"]  # ints shown without .0
    assert column(batch, decoder, "flag") == ["true", "false", None]
    assert column(batch, decoder, "on") == [0.0, 1.0, None]
    assert column(batch, decoder, "n") == [12.5, None, None]  # blank text is missing


# -- CSV rows -------------------------------------------------------------------------------------


def test_multi_row_csv_with_trailing_newline(decode: Decode) -> None:
    batch = decode(
        MIXED, [capture("1,a,10\n2,b,20\n3,,\n", output="0.1\n0.2\n0.3\n")], first_index=4
    )
    assert batch.rejections == []
    assert batch.row_record.tolist() == [4, 4, 4]
    decoder = CaptureDecoder(MIXED)
    assert column(batch, decoder, "age") == [1, 2, 3]
    assert column(batch, decoder, "income") == [10, 20, None]
    assert column(batch, decoder, "plan") == ["a", "b", None]
    assert column(batch, decoder, "prediction") == [0.1, 0.2, 0.3]
    assert batch.event_id == ["e-1", "e-1", "e-1"]


def test_multi_row_csv_comma_separated_outputs(decode: Decode) -> None:
    batch = decode(MIXED, [capture("1,a,10\r\n2,b,20", output="0.1,0.2")])
    assert column(batch, CaptureDecoder(MIXED), "prediction") == [0.1, 0.2]


def test_quoted_csv_fields(decode: Decode) -> None:
    batch = decode(MIXED, [capture('1,"gold, annual",10')])
    assert batch.categorical.tolist() == [["gold, annual"]]


def test_empty_fields_are_missing_values(decode: Decode) -> None:
    batch = decode(MIXED, [capture(",,", output="")])
    assert batch.rejections == []
    assert np.isnan(batch.numeric).all()
    assert batch.categorical.tolist() == [[None]]


def test_escaped_line_end_and_trailing_whitespace(decode: Decode) -> None:
    line = capture("1,a,10\n", output="0.5\n") + b"  \r\n"
    batch = decode(MIXED, [line])
    assert batch.numeric.tolist() == [[0.5, 1.0, 10.0]]


def test_non_ascii_text(decode: Decode) -> None:
    batch = decode(MIXED, [capture("1,café ☕,10"), capture("2,b,20")])
    assert batch.categorical.tolist() == [["café ☕"], ["b"]]


# -- model outputs --------------------------------------------------------------------------------

THREE_CLASS = baseline(numeric("x"), *(numeric(f"prediction_{k}") for k in range(3)))


@pytest.mark.parametrize(
    ("output", "encoding"),
    [
        ("0.1,0.2,0.7", "CSV"),
        ("0.1,0.2,0.7\n", "CSV"),
        ('{"predictions": [[0.1, 0.2, 0.7]]}', "JSON"),
        ('{"predictions": [{"probabilities": [0.1, 0.2, 0.7], "predicted_label": 2}]}', "JSON"),
        ("[0.1, 0.2, 0.7]", "JSON"),
    ],
)
def test_several_outputs(decode: Decode, output: str, encoding: str) -> None:
    batch = decode(THREE_CLASS, [capture("5", output=output, output_encoding=encoding)])
    assert batch.rejections == []
    assert batch.numeric.tolist() == [[5.0, 0.1, 0.2, 0.7]]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("0.5", 0.5),
        ('{"predictions": [0.5]}', 0.5),
        ('{"predictions": [[0.5]]}', 0.5),
        ('{"predictions": [{"score": 0.5, "predicted_label": 1}]}', 0.5),
        ('{"predictions": [{"probability": 0.5}]}', 0.5),
        ('{"predictions": [{"probabilities": [0.5, 0.5], "predicted_label": 1}]}', 1.0),
        ('{"predictions": [{"label": 3}]}', 3.0),
        ('{"score": 0.5}', 0.5),
        ("[0.5]", 0.5),
        ("true", 1.0),
    ],
)
def test_one_json_output(decode: Decode, output: str, expected: float) -> None:
    schema = baseline(numeric("x"), numeric("prediction"))
    batch = decode(schema, [capture("1", output=output, output_encoding="JSON")])
    assert batch.rejections == []
    assert batch.numeric.tolist() == [[1.0, expected]]


def test_output_key_option(decode: Decode) -> None:
    schema = baseline(numeric("x"), numeric("prediction"))
    output = '{"predictions": [{"score": 0.9, "predicted_label": 1}]}'
    line = capture("1", output=output, output_encoding="JSON")
    assert decode(schema, [line]).numeric.tolist() == [[1.0, 0.9]]
    assert decode(schema, [line], output_key="predicted_label").numeric.tolist() == [[1.0, 1.0]]


def test_categorical_output(decode: Decode) -> None:
    schema = baseline(numeric("x"), category("prediction"))
    output = '{"predictions": [{"predicted_label": "cat"}]}'
    batch = decode(
        schema, [capture("1", output=output, output_encoding="JSON"), capture("2", output="dog")]
    )
    assert batch.categorical.tolist() == [["cat"], ["dog"]]


def test_absent_output_is_missing(decode: Decode) -> None:
    batch = decode(THREE_CLASS, [capture("5", output=None), capture("6", output="0.1,0.2,0.7")])
    assert batch.rejections == []
    assert np.isnan(batch.numeric[0, 1:]).all()
    assert batch.numeric[1].tolist() == [6.0, 0.1, 0.2, 0.7]


def test_output_ignored_without_output_features(decode: Decode) -> None:
    schema = baseline(numeric("x"), category("c"))
    lines = [capture("1,a", output="junk"), capture("2,b", output="{", output_encoding="JSON")]
    batch = decode(schema, lines)
    assert batch.rejections == []
    assert batch.numeric.tolist() == [[1.0], [2.0]]


# -- rejections -----------------------------------------------------------------------------------

GOOD_0 = capture("1,a,10", output="0.1", event_id="before")
GOOD_2 = capture("3,c,30", output="0.3", event_id="after")


def assert_rejected_between_neighbours(
    batch: DecodedBatch, reason: RejectReason, first_index: int = 100
) -> str:
    """The bad record (middle of three) is rejected alone; return its detail."""
    assert batch.n_records == 3
    assert reasons(batch) == [(first_index + 1, reason)]
    assert batch.records_used == 2
    assert batch.row_record.tolist() == [first_index, first_index + 2]
    assert batch.numeric.tolist() == [[0.1, 1.0, 10.0], [0.3, 3.0, 30.0]]
    assert batch.categorical.tolist() == [["a"], ["c"]]
    assert batch.event_id == ["before", "after"]
    detail = batch.rejections[0].detail
    assert "\n" not in detail
    return detail


def reject(decode: Decode, bad: bytes, **options: Any) -> Any:
    return decode(MIXED, [GOOD_0, bad, GOOD_2], first_index=100, **options)


@pytest.mark.parametrize("bad", [b"not json", b"{}}", b"", b"   ", b'{"a": NaN}', b"\xff\xfe{}"])
def test_invalid_json(decode: Decode, bad: bytes) -> None:
    batch = reject(decode, bad)
    assert_rejected_between_neighbours(batch, RejectReason.INVALID_JSON)
    assert batch.rejections[0].event_id is None


def test_truncated_line(decode: Decode) -> None:
    batch = reject(decode, capture("2,b,20")[:-30])
    detail = assert_rejected_between_neighbours(batch, RejectReason.TRUNCATED)
    assert "unexpected end of data" in detail


@pytest.mark.parametrize(
    "bad",
    [
        b'{"eventMetadata": {"eventId": "e-9"}}',
        b'{"captureData": {"endpointOutput": {"data": "1", "encoding": "CSV"}}}',
        b'{"captureData": {"endpointInput": "1,b,2"}}',
        b"[1, 2, 3]",
        b'"just a string"',
    ],
)
def test_not_a_capture(decode: Decode, bad: bytes) -> None:
    batch = reject(decode, bad)
    assert_rejected_between_neighbours(batch, RejectReason.NOT_A_CAPTURE)


def test_rejection_carries_event_metadata(decode: Decode) -> None:
    bad = b'{"captureData": {}, "eventMetadata": {"eventId": "e-9", "inferenceTime": "t-9"}}'
    rejection = reject(decode, bad).rejections[0]
    assert (rejection.event_id, rejection.inference_time) == ("e-9", "t-9")


@pytest.mark.parametrize(
    "endpoint_input",
    [{"encoding": "CSV"}, {"data": 12, "encoding": "CSV"}, {"data": None, "encoding": "JSON"}],
)
def test_missing_data(decode: Decode, endpoint_input: dict[str, Any]) -> None:
    bad = orjson.dumps({"captureData": {"endpointInput": endpoint_input}})
    assert_rejected_between_neighbours(reject(decode, bad), RejectReason.MISSING_DATA)


@pytest.mark.parametrize(
    "bad",
    [
        capture("1,b,2", encoding="XML"),
        capture("1,b,2", encoding="csv-ish"),
        orjson.dumps({"captureData": {"endpointInput": {"data": "1,b,2"}}}),
        capture(b64("binary"), encoding="BASE64", content_type="application/x-npy"),
    ],
    ids=["xml", "unknown", "no-encoding", "base64-npy"],
)
def test_unsupported_encoding(decode: Decode, bad: bytes) -> None:
    assert_rejected_between_neighbours(reject(decode, bad), RejectReason.UNSUPPORTED_ENCODING)


@pytest.mark.parametrize("data", ["not base64!", "abc", "YWJj\nZGVm"])
def test_invalid_base64(decode: Decode, data: str) -> None:
    bad = capture(data, encoding="BASE64")
    assert_rejected_between_neighbours(reject(decode, bad), RejectReason.INVALID_BASE64)


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        '{"inputs": [1, 2, 3]}',
        '{"instances": {"age": 1}}',
        '{"instances": []}',
        "[]",
        "42",
        '[[1, "a", 10], 7]',
        '{"age": [1, 2], "plan": "a", "income": 3}',
        '{"age": 1, "plan": {"tier": 2}, "income": 3}',
    ],
)
def test_invalid_payload(decode: Decode, payload: str) -> None:
    bad = json_line(payload, output="0.2")
    assert_rejected_between_neighbours(reject(decode, bad), RejectReason.INVALID_PAYLOAD)


def test_invalid_base64_json_payload(decode: Decode) -> None:
    bad = capture(b64("{oops"), encoding="BASE64", content_type="application/json")
    assert_rejected_between_neighbours(reject(decode, bad), RejectReason.INVALID_PAYLOAD)


@pytest.mark.parametrize(
    "bad",
    [
        capture("2,b"),  # canonical form, too few columns
        capture("2,b,20,99"),  # canonical form, too many
        capture("2,b,20\n5,e"),  # the second row is short
        json_line('[[2, "b"]]', output="[0.2]"),
        json_line('{"instances": [{"features": [2, "b", 20, 1]}]}', output="[0.2]"),
    ],
)
def test_column_count(decode: Decode, bad: bytes) -> None:
    detail = assert_rejected_between_neighbours(reject(decode, bad), RejectReason.COLUMN_COUNT)
    assert "3 inputs" in detail


@pytest.mark.parametrize(
    ("data", "shown"),
    [("2,b,abc", "'abc'"), ("2,b,1_000", "'1_000'"), ("x2,b,20", "'x2'"), ("2,b,0x10", "'0x10'")],
)
def test_non_numeric(decode: Decode, data: str, shown: str) -> None:
    detail = assert_rejected_between_neighbours(
        reject(decode, capture(data)), RejectReason.NON_NUMERIC
    )
    assert shown not in detail  # the value is captured data: quoted only when asked for
    assert ("age" in detail) != ("income" in detail)  # names the one column
    quoted = assert_rejected_between_neighbours(
        reject(decode, capture(data), rejection_excerpts=True), RejectReason.NON_NUMERIC
    )
    assert quoted == f"{detail}: {shown}"


def test_non_numeric_output(decode: Decode) -> None:
    detail = assert_rejected_between_neighbours(
        reject(decode, capture("2,b,20", output="yes")), RejectReason.NON_NUMERIC
    )
    assert detail == "prediction is not a number"


def test_non_numeric_excerpt_is_truncated(decode: Decode) -> None:
    long_text = "z" * 500
    detail = assert_rejected_between_neighbours(
        reject(decode, capture(f"2,b,{long_text}"), rejection_excerpts=True),
        RejectReason.NON_NUMERIC,
    )
    assert detail.startswith("income (column 3) is not a number: 'zzz")
    assert len(detail) < 80


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-INF", "Infinity", "1e400"])
def test_non_finite_csv(decode: Decode, text: str) -> None:
    detail = assert_rejected_between_neighbours(
        reject(decode, capture(f"2,b,{text}")), RejectReason.NON_FINITE
    )
    assert detail == "income (column 3) is not finite"


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json(decode: Decode, value: str) -> None:
    bad = json_line(f'{{"age": 2, "plan": "b", "income": {value}}}', output="0.2")
    assert_rejected_between_neighbours(reject(decode, bad), RejectReason.NON_FINITE)


@pytest.mark.parametrize(
    ("output", "encoding"),
    [
        ("0.1,0.2", "CSV"),
        ("0.1\n0.2", "CSV"),
        ('{"predictions": [0.1, 0.2]}', "JSON"),
        ('{"predictions": [{"predicted": 1}]}', "JSON"),
        ('{"predictions": [[0.1, 0.9]]}', "JSON"),
        ("{nope", "JSON"),
        ("!!", "BASE64"),
        ("0.1", "XML"),
    ],
)
def test_output_mismatch(decode: Decode, output: str, encoding: str) -> None:
    bad = capture("2,b,20", output=output, output_encoding=encoding)
    detail = assert_rejected_between_neighbours(reject(decode, bad), RejectReason.OUTPUT_MISMATCH)
    assert detail.startswith("model output: ")


def test_output_rows_must_match_input_rows(decode: Decode) -> None:
    bad = capture("2,b,20\n4,d,40", output="0.2")
    assert_rejected_between_neighbours(reject(decode, bad), RejectReason.OUTPUT_MISMATCH)


def test_oversized_is_checked_before_parsing(decode: Decode) -> None:
    limit = len(GOOD_0) + 5
    oversized_junk = b"{" * (limit + 1)  # would be TRUNCATED if it were parsed
    batch = reject(decode, oversized_junk, max_record_bytes=limit)
    detail = assert_rejected_between_neighbours(batch, RejectReason.OVERSIZED)
    assert str(limit + 1) in detail


def test_oversized_canonical_line(decode: Decode) -> None:
    bad = capture("2,b," + "9" * 300)
    batch = reject(decode, bad, max_record_bytes=len(GOOD_0) + 10)
    assert_rejected_between_neighbours(batch, RejectReason.OVERSIZED)


def test_multi_row_record_rejected_whole_with_row_number(decode: Decode) -> None:
    bad = capture("2,b,20\n4,d,oops", output="0.2\n0.4")
    detail = assert_rejected_between_neighbours(reject(decode, bad), RejectReason.NON_NUMERIC)
    assert detail == "row 2: income (column 3) is not a number"


def test_many_rejections_in_one_batch(decode: Decode) -> None:
    lines = [
        capture("1,a,10", output="0.1"),
        b"",
        capture("2,b,x"),
        capture("3,c,nan"),
        capture("4,d"),
        capture("5,e,50", output="0.5"),
        b'{"captureData": 1}',
    ]
    batch = decode(MIXED, lines, first_index=10)
    assert reasons(batch) == [
        (11, RejectReason.INVALID_JSON),
        (12, RejectReason.NON_NUMERIC),
        (13, RejectReason.NON_FINITE),
        (14, RejectReason.COLUMN_COUNT),
        (16, RejectReason.NOT_A_CAPTURE),
    ]
    assert batch.row_record.tolist() == [10, 15]
    assert batch.numeric.tolist() == [[0.1, 1.0, 10.0], [0.5, 5.0, 50.0]]
    assert batch.rejections[1].event_id == "e-1"


def test_event_metadata_absent(decode: Decode) -> None:
    batch = decode(MIXED, [capture("1,a,10", event_id=None, inference_time=None), GOOD_2])
    assert batch.event_id == [None, "after"]
    assert batch.inference_time == [None, "2024-01-19T19:27:57Z"]


def test_empty_batch(decode: Decode) -> None:
    batch = decode(MIXED, [], first_index=5)
    assert (batch.n_records, batch.n_rows) == (0, 0)
    assert batch.numeric.shape == (0, 3)
    assert batch.categorical.shape == (0, 1)


# -- what a rejection may say ---------------------------------------------------------------------

SECRET = "Ada Lovelace"  # personal data in a captured record: never in a detail by default


def _secret_records() -> list[bytes]:
    """One bad record per shape of rejection that used to quote the record, each quoting SECRET
    in the offending place."""
    deep = "[" * 5000 + "]" * 5000
    return [
        b"{not json " + SECRET.encode(),
        capture(f"2,b,{SECRET}")[:-25],  # truncated
        capture("1,b,2", encoding=SECRET),
        capture(SECRET, encoding="BASE64"),
        capture(b64("x"), encoding="BASE64", content_type=SECRET),
        capture(f"2,{SECRET}"),  # column count
        capture(f"2,b,{SECRET}"),  # non-numeric
        capture("2,b,20", output=SECRET),
        capture("2,b,20", output=f"0.1,{SECRET}"),
        json_line(f'{{"instances": "{SECRET}"}}', output="0.2"),
        json_line(f'["{SECRET}", 7]', output="0.2"),
        json_line(f'{{"{SECRET}": 1}}', output="0.2"),
        json_line(f'[[1, "a", 10], "{SECRET}"]', output="[0.2, 0.3]"),
        json_line(f'{{"age": 1, "plan": {{"name": "{SECRET}"}}, "income": 3}}', output="0.2"),
        json_line("[1, 2, 3]", output=f'{{"predictions": [{{"who": "{SECRET}"}}]}}'),
        json_line(f'{{"x": "{SECRET}", "deep": {deep}}}', output="0.2"),
        json_line(f'{{"age": {"9" * 5000}, "note": "{SECRET}"}}', output="0.2"),
    ]


def test_a_rejection_says_what_and_where_never_the_record(decode: Decode) -> None:
    records = _secret_records()
    batch = decode(MIXED, records, first_index=50)
    assert [r.record_index for r in batch.rejections] == list(range(50, 50 + len(records)))
    for r in batch.rejections:
        assert SECRET not in r.detail and "Lovelace" not in r.detail, r
        # nor the interpreter's own words (recursion limit, digit limit, exception names)
        assert not {"recursion", "Error", "digits", "sys.set"} & set(r.detail.split()), r
    details = {r.detail for r in batch.rejections}
    assert "payload is not JSON (nested too deeply)" in details
    assert "payload is not JSON (a number too long)" in details
    assert "endpointInput encoding is not CSV, JSON or BASE64" in details


def test_rejection_excerpts_are_opt_in(decode: Decode) -> None:
    records = _secret_records()
    quoted = decode(MIXED, records, rejection_excerpts=True).rejections
    plain = decode(MIXED, records).rejections
    # the same rejections, the detail now followed by an excerpt of the offending text
    assert [(r.record_index, r.reason) for r in quoted] == [
        (r.record_index, r.reason) for r in plain
    ]
    for with_excerpt, without in zip(quoted, plain, strict=True):
        assert with_excerpt.detail.startswith(without.detail + ": ")
        assert len(with_excerpt.detail) <= len(without.detail) + 2 + 50
    assert sum("Lovelace" in r.detail for r in quoted) >= 12


def test_damaged_positions_are_one_rejection_each_whatever_they_hold(path: str) -> None:
    where = "captures/part-2.jsonl.gz: truncated gzip data at line 7 (uncompressed byte 900)"
    lines = [GOOD_0, capture("2,b,20"), GOOD_2]  # the middle line is even a complete record
    batch = CaptureDecoder(MIXED).decode(lines, 100, {1: where})
    detail = assert_rejected_between_neighbours(batch, RejectReason.DAMAGED_FILE)
    assert detail == where
    assert batch.rejections[0].event_id is None
    partial = CaptureDecoder(MIXED).decode(
        [GOOD_0, b'{"captureData": {"endp', GOOD_2], 100, {1: where}
    )
    assert assert_rejected_between_neighbours(partial, RejectReason.DAMAGED_FILE) == where


# -- the two paths agree --------------------------------------------------------------------------

NUMBER_TEXTS = [
    "0", "-0", "7", "+3", "0.5", ".5", "5.", "1e3", "1E-3", "2.5e+2", "123456789012345678",
    "0.036397725343704224", "9007199254740993", "1e22", "1e23", "4.9e-324", "1e-400",
    " 12 ", "", "  ", "-", ".", "e5", "1e", "abc", "1_0", "nan", "-Infinity", "1e999", "٣",
]  # fmt: skip


def random_lines(rng: random.Random, n: int) -> list[bytes]:
    lines = []
    for i in range(n):
        age = rng.choice([*NUMBER_TEXTS, str(rng.randint(0, 99))] + [repr(rng.random())] * 5)
        income = repr(round(rng.uniform(0, 1e5), rng.randint(0, 6)))
        plan = rng.choice(["gold", "", "basic", "é"])
        output = rng.choice([repr(rng.random()), "", None, "1e-7", "x"])
        line = capture(f"{age},{plan},{income}", output=output, event_id=f"e{i}")
        lines.append(rng.choice([line, line, line, line[:-5], b"", line + b"\n"]))
    return lines


def both_paths(
    monkeypatch: pytest.MonkeyPatch, schema: Baseline, lines: list[bytes]
) -> tuple[DecodedBatch, DecodedBatch]:
    decoder = CaptureDecoder(schema)
    hot = decoder.decode(lines, 1000)
    with monkeypatch.context() as patch:
        patch.setattr(decode_module, "match_canonical", nothing_canonical)
        general = decoder.decode(lines, 1000)
    return hot, general


def assert_same(hot: DecodedBatch, general: DecodedBatch) -> None:
    assert hot.rejections == general.rejections
    assert hot.row_record.tolist() == general.row_record.tolist()
    np.testing.assert_array_equal(hot.numeric, general.numeric)
    assert hot.categorical.tolist() == general.categorical.tolist()
    assert hot.event_id == general.event_id
    assert hot.inference_time == general.inference_time


def test_hot_and_general_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    hot, general = both_paths(monkeypatch, MIXED, random_lines(random.Random(20240119), 600))
    assert hot.n_rows > 200
    assert {r.reason for r in hot.rejections} == {
        RejectReason.INVALID_JSON,
        RejectReason.TRUNCATED,
        RejectReason.NON_NUMERIC,
        RejectReason.NON_FINITE,
    }
    assert_same(hot, general)


@pytest.mark.parametrize(
    "schema", [THREE_CLASS, baseline(numeric("x"), category("c"))], ids=["three-outputs", "none"]
)
def test_paths_agree_on_outputs(monkeypatch: pytest.MonkeyPatch, schema: Baseline) -> None:
    rng = random.Random(5)
    outputs = [None, "", "0.1,0.2,0.7", "0.1,0.2", ",,", "0.1,,0.3", "a,b,c", "1e-3,2e-3,0"]
    data = "5" if schema is THREE_CLASS else "5,z"
    lines = [capture(data, output=rng.choice(outputs)) for _ in range(200)]
    hot, general = both_paths(monkeypatch, schema, lines)
    assert hot.n_rows > 20
    assert_same(hot, general)


def test_canonical_lines_never_reach_the_per_record_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("a canonical line went down the general path")

    monkeypatch.setattr(CaptureDecoder, "_record_cells", refuse)
    schema = baseline(*(numeric(f"_c{i}") for i in range(69)), numeric("prediction"))
    lines = sample_lines("examples_mm_intro_capture_csv.jsonl")
    lines += [capture("1,a,10", output=None), capture("1,,", output="") + b"\n"]
    assert CaptureDecoder(schema).decode(lines[:3], 0).n_rows == 3
    assert CaptureDecoder(MIXED).decode(lines[3:], 0).n_rows == 2


UNUSABLE_TEXTS = {"", "  ", "-", ".", "e5", "1e", "abc", "1_0", "nan", "-Infinity", "1e999", "٣"}


@pytest.mark.parametrize("text", [t for t in NUMBER_TEXTS if t not in UNUSABLE_TEXTS])
def test_numbers_parse_exactly_as_float(text: str) -> None:
    schema = baseline(numeric("x"))
    batch = CaptureDecoder(schema).decode([capture(text, output=None)], 0)
    value = batch.numeric[0, 0]
    assert value == float(text)
    assert math.copysign(1.0, value) == math.copysign(1.0, float(text))


def test_random_numbers_parse_exactly_as_float() -> None:
    rng = random.Random(7)
    texts = [repr(rng.uniform(-1e6, 1e6)) for _ in range(300)]
    texts += [f"{rng.uniform(0, 1):.{rng.randint(0, 17)}f}" for _ in range(300)]
    texts += [f"{rng.randint(0, 10**15)}e{rng.randint(-30, 30)}" for _ in range(300)]
    schema = baseline(numeric("x"))
    batch = CaptureDecoder(schema).decode([capture(t, output=None) for t in texts], 0)
    assert batch.rejections == []
    assert batch.numeric[:, 0].tolist() == [float(t) for t in texts]


# -- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"max_record_bytes": 0}, "max_record_bytes"),
        ({"output_key": ""}, "output_key"),
        ({"instance_key": ""}, "instance_key"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        DecodeOptions(**options)
