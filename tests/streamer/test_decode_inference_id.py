"""eventMetadata.inferenceId, what ground truth is joined on: read by the compiled hot path
(placed between eventId and inferenceTime) and by the general path (any key order)."""

from __future__ import annotations

import random

import orjson
import pytest

import driftstream.streamer.decode.capture as decode_module
from driftstream.streamer.decode.capture import CaptureDecoder
from tests.streamer.test_decode import MIXED, nothing_canonical


def line(
    data: str = "31,gold,120.5",
    *,
    inference_id: str | None = "req-1",
    event_id: str = "e-1",
    id_after_time: bool = False,
) -> bytes:
    """A capture line in SageMaker's key order, with inferenceId where asked."""
    metadata: dict[str, str] = {"eventId": event_id}
    if inference_id is not None and not id_after_time:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = "2026-11-01T00:00:00Z"
    if inference_id is not None and id_after_time:
        metadata["inferenceId"] = inference_id
    capture = {
        "endpointInput": {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": data,
            "encoding": "CSV",
        },
        "endpointOutput": {
            "observedContentType": "text/csv; charset=utf-8",
            "mode": "OUTPUT",
            "data": "0.25",
            "encoding": "CSV",
        },
    }
    return orjson.dumps({"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"})


def test_the_hot_path_reads_the_inference_id(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("a canonical line went down the general path")

    monkeypatch.setattr(CaptureDecoder, "_record_cells", refuse)
    lines = [line(inference_id="req-1"), line(inference_id=None, event_id="e-2")]
    batch = CaptureDecoder(MIXED).decode(lines, 10)
    assert batch.n_rows == 2
    assert batch.inference_id == ["req-1", None]
    assert batch.event_id == ["e-1", "e-2"]
    assert batch.inference_time == ["2026-11-01T00:00:00Z"] * 2


@pytest.mark.parametrize("path", ["hot", "general"])
def test_any_key_order_and_escapes_are_read_by_the_general_path(
    monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "general":
        monkeypatch.setattr(decode_module, "match_canonical", nothing_canonical)
    lines = [
        line(inference_id="after", id_after_time=True),
        line(inference_id='say "hi"'),
        line(inference_id=""),
        b'{"captureData":{"endpointInput":{"data":"1,a,2","encoding":"CSV"}},'
        b'"eventMetadata":{"inferenceId":7}}',
    ]
    batch = CaptureDecoder(MIXED).decode(lines, 0)
    assert batch.inference_id == ["after", 'say "hi"', "", None]


def test_hot_and_general_paths_agree_on_inference_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(9)
    lines = []
    for i in range(400):
        one = line(
            f"{rng.randint(0, 99)},{rng.choice(['gold', ''])},{rng.random()}",
            inference_id=rng.choice([f"r{i}", None, f"r{i}", f"x\\u00e9{i}"]),
            event_id=f"e{i}",
            id_after_time=rng.random() < 0.1,
        )
        lines.append(rng.choice([one, one, one, one[:-4], b"nope"]))
    decoder = CaptureDecoder(MIXED)
    hot = decoder.decode(lines, 100)
    with monkeypatch.context() as patch:
        patch.setattr(decode_module, "match_canonical", nothing_canonical)
        general = decoder.decode(lines, 100)
    assert hot.n_rows > 200
    assert hot.rejections == general.rejections
    assert hot.row_record.tolist() == general.row_record.tolist()
    assert hot.event_id == general.event_id
    assert hot.inference_id == general.inference_id
    assert sum(i is not None for i in hot.inference_id) > 100
    assert len(hot.inference_id) == hot.n_rows
