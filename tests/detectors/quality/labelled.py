"""A labelled stream for the model-quality tests: training data with a true label, captures with
an inferenceId each, and ground-truth records that arrive late.

The model is streamer/sources/synthetic.py's score, p = sigmoid(z) with z = 0.04·(age − 40) +
0.5·score_a − 0.2·(n_support_calls − 0.7). The truth is 1[z + ε > 0], ε ~ N(0, 0.3²), so the
model (p > 0.5) is right about 86 % of the time. From record `change_at` on, the truth follows
z' = z without its score_a term: inputs and predictions keep their distribution, the relation
between them and the label changes, and accuracy falls to about 68 %.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson

from driftstream.streamer.sources.synthetic import START, Scenario, capture_lines, generate

NOISE = 0.3


def truth(n: int, seed: int, change_at: int | None = None) -> npt.NDArray[np.int64]:
    """The true labels of the first n records generated with `seed`."""
    numeric, _ = generate(n, seed)
    calls = numeric["n_support_calls"] - 0.7
    z = 0.04 * (numeric["age"] - 40) + 0.5 * numeric["score_a"] - 0.2 * calls
    changed = 0.04 * (numeric["age"] - 40) - 0.2 * calls
    if change_at is not None:
        z = np.where(np.arange(n) >= change_at, changed, z)
    noise = np.random.default_rng([seed, 99]).normal(0.0, NOISE, n)
    return (z + noise > 0).astype(np.int64)


def training_csv(n: int, seed: int = 1) -> str:
    """synthetic.training_csv's data with the column `label` last."""
    from driftstream.streamer.sources.synthetic import training_csv as unlabelled

    lines = unlabelled(n, seed).splitlines()
    labels = truth(n, seed)
    rows = [lines[0] + ",label"]
    rows += [f"{line},{y}" for line, y in zip(lines[1:], labels.tolist(), strict=True)]
    return "\n".join(rows) + "\n"


def inference_id(i: int) -> str:
    return f"req-{i:08d}"


def captures(scenario: Scenario, *, with_inference_id: bool = True) -> Iterator[bytes]:
    """The scenario's capture lines, each with eventMetadata.inferenceId (placed between
    eventId and inferenceTime, the decoder's canonical form)."""
    for i, line in enumerate(capture_lines(scenario)):
        if not with_inference_id:
            yield line
            continue
        with_id = f'","inferenceId":"{inference_id(i)}","inferenceTime":"'.encode()
        yield line.replace(b'","inferenceTime":"', with_id)


def ground_truth_line(event_id: str, label: object) -> bytes:
    return orjson.dumps(
        {
            "groundTruthData": {"data": str(label), "encoding": "CSV"},
            "eventMetadata": {"eventId": event_id},
            "eventVersion": "0",
        }
    )


def write_ground_truth(
    root: Path,
    labels: npt.NDArray[np.int64],
    *,
    seconds_between: float,
    delay_seconds: float,
    keep: npt.NDArray[np.bool_] | None = None,
    extra: list[bytes] = (),  # type: ignore[assignment]
) -> None:
    """Ground truth of record i collected `delay_seconds` after its inference, in the S3 hour
    folder of that collection time (root/yyyy/mm/dd/hh/labels.jsonl); records with `keep`
    False get none; `extra` lines go into the first folder."""
    by_hour: dict[Path, list[bytes]] = {}
    for i, y in enumerate(labels.tolist()):
        if keep is not None and not keep[i]:
            continue
        collected = START + dt.timedelta(seconds=i * seconds_between + delay_seconds)
        folder = root / collected.strftime("%Y/%m/%d/%H")
        by_hour.setdefault(folder, []).append(ground_truth_line(inference_id(i), y))
    first = min(by_hour) if by_hour else root
    by_hour.setdefault(first, []).extend(extra)
    for folder, lines in by_hour.items():
        os.makedirs(folder, exist_ok=True)
        (folder / "labels.jsonl").write_bytes(b"\n".join(lines) + b"\n")
