"""Ground-truth decoding: Model Monitor's ground-truth records in, labels out.

A record (reference §1.4; shared/samples/sagemaker/sdk_tests_actuals.jsonl):
`{"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "<id>"},
"eventVersion": "0"}`, where eventId is the captured record's inferenceId when the caller passed
one, else its eventId. `data` is CSV (one label per line: the first field of each), JSON (a
value, a list of them, `{"label": v}`, or `{"instances": [{"label": v}, ...]}`) or BASE64 of CSV
text. A record that cannot be read is counted by reason, never raised.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Sequence

import numpy as np
import orjson

from driftstream.detectors.ground_truth import NO_GROUND_TRUTH, GroundTruth

LABEL_KEYS = ("label", "ground_truth", "groundTruth", "actual")
"""Keys read from a dict-shaped JSON label, in order."""


class _UnreadableError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    raise _UnreadableError("invalid_payload")


def _csv_labels(text: str) -> tuple[str, ...]:
    lines = text.split("\n")
    if len(lines) > 1 and not lines[-1]:
        lines.pop()
    return tuple(line.removesuffix("\r").split(",", 1)[0].strip() for line in lines)


def _json_label(item: object) -> str:
    if isinstance(item, dict):
        for key in LABEL_KEYS:
            if key in item:
                return _text(item[key])
        raise _UnreadableError("invalid_payload")
    return _text(item)


def _json_labels(text: str) -> tuple[str, ...]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _UnreadableError("invalid_payload") from None
    if isinstance(value, dict) and isinstance(value.get("instances"), list):
        value = value["instances"]
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _UnreadableError("invalid_payload")
    return tuple(_json_label(item) for item in items)


def read_record(line: bytes) -> tuple[str, tuple[str, ...]]:
    """(eventId, label values) of one ground-truth record; _UnreadableError with a reason."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise _UnreadableError("invalid_json") from None
    data = record.get("groundTruthData") if isinstance(record, dict) else None
    if not isinstance(data, dict):
        raise _UnreadableError("not_ground_truth")
    metadata = record.get("eventMetadata")
    event_id = metadata.get("eventId") if isinstance(metadata, dict) else None
    if not isinstance(event_id, str) or not event_id:
        raise _UnreadableError("no_event_id")
    payload = data.get("data")
    if not isinstance(payload, str):
        raise _UnreadableError("missing_data")
    encoding = data.get("encoding", "CSV")
    if encoding == "BASE64":
        try:
            payload = base64.b64decode(payload, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise _UnreadableError("invalid_base64") from None
        encoding = "CSV"
    if encoding == "CSV":
        return event_id, _csv_labels(payload)
    if encoding == "JSON":
        return event_id, _json_labels(payload)
    raise _UnreadableError("unsupported_encoding")


def decode_ground_truth(items: Sequence[tuple[int, bytes]]) -> GroundTruth:
    """The labels of `items`, (capture record at which it became available, record line)
    pairs in release order; unreadable records counted by reason."""
    if not items:
        return NO_GROUND_TRUTH
    records: list[int] = []
    ids: list[str] = []
    values: list[tuple[str, ...]] = []
    rejected: Counter[str] = Counter()
    for record_index, line in items:
        try:
            event_id, labels = read_record(line)
        except _UnreadableError as exc:
            rejected[exc.reason] += 1
            continue
        records.append(record_index)
        ids.append(event_id)
        values.append(labels)
    return GroundTruth(
        np.asarray(records, dtype=np.int64), tuple(ids), tuple(values), dict(rejected)
    )
