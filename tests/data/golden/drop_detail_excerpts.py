"""Rewrite the `detail` of the golden `rejected` events into the format of issue 13, item 10.

A rejection's detail says what was wrong and where, never the record's content: the excerpt of
the offending text (opt-in since: `decode.rejection_excerpts`) and the parser's exception text
are dropped; the two messages that quoted a value inside the sentence are reworded around it.
Every other key, and every other event, is written back byte for byte. A detail of a shape this
script does not know stops it, naming the file and line. It was run once, on the files written
at d7652d0:

    .venv/bin/python tests/data/golden/drop_detail_excerpts.py tests/data/golden/damaged__*.jsonl
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# (old shape, new text); the first that matches the whole detail is applied
REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(old), new)
    for old, new in (
        # the line is not JSON: the parser's own message and position stay, the excerpt goes
        (r"((?:not JSON|line ends inside a JSON value) \(.*? at char \d+\)): .*", r"\1"),
        # the payload is not JSON: the standard library's message, reduced to the same form
        (
            r"payload is not JSON \((.*?): line \d+ column \d+ \(char (\d+)\)\): .*",
            r"payload is not JSON (\1 at char \2)",
        ),
        (
            r"payload is not JSON \(maximum recursion depth .*",
            "payload is not JSON (nested too deeply)",
        ),
        # a value quoted inside the sentence
        (
            r"(\w+) encoding .* is not CSV, JSON or BASE64",
            r"\1 encoding is not CSV, JSON or BASE64",
        ),
        (
            r"(\w+) base64 payload of content type .* is neither CSV nor JSON",
            r"\1 base64 payload has a content type that is neither CSV nor JSON",
        ),
        (
            r"((?:row \d+: )?(?:\w+ \(column \d+\)|\w+)): .* (is not a number|is not finite|is a "
            r"nested value)",
            r"\1 \2",
        ),
        # an excerpt after the sentence
        (
            r"((?:CSV|JSON) row \d+ has \d+ (?:columns|values), the baseline has \d+ inputs"
            r"|\"instances\" is not a list|row \d+ is neither an object nor a list"
            r"|row \d+ has none of the baseline's input names|\w+ data is not base64"
            r"|a single JSON value cannot fill \d+ inputs|\d+ CSV values for \d+ rows of \d+ "
            r"outputs|\d+ predictions for \d+ input rows|no key of .*? holding \d+ value\(s\)"
            r"|prediction has \d+ values, the baseline has \d+ outputs): .*",
            r"\1",
        ),
    )
)

# details that never quoted the record: written back unchanged
UNCHANGED = tuple(
    re.compile(shape)
    for shape in (
        r"empty line",
        r"no captureData\.endpointInput object",
        r"\w+ has no string data",
        r"\w+ base64 payload is not UTF-8 text",
        r"endpointOutput is not an object",
        r"payload holds no rows",
        r"line of \d+ bytes exceeds max_record_bytes=\d+",
    )
)

MODEL_OUTPUT = "model output: "  # prefix of every output problem, kept around the rewrite


def new_detail(detail: str) -> str:
    """`detail` in the new format; ValueError for a shape not listed above."""
    prefix = MODEL_OUTPUT if detail.startswith(MODEL_OUTPUT) else ""
    body = detail.removeprefix(prefix)
    if any(shape.fullmatch(body) for shape in UNCHANGED):
        return detail
    for old, new in REWRITES:
        if old.fullmatch(body):
            return prefix + old.sub(new, body)
    raise ValueError(f"unknown detail shape: {detail!r}")


def _serialised(event: dict[str, object]) -> str:
    return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def rewrite(path: Path) -> int:
    """Rewrite `path` in place; the number of details changed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    changed = 0
    for number, line in enumerate(lines, 1):
        event = json.loads(line)
        if event.get("kind") != "rejected":
            out.append(line)
            continue
        try:
            detail = new_detail(event["detail"])
        except ValueError as exc:
            raise SystemExit(f"{path}:{number}: {exc}") from None
        changed += detail != event["detail"]
        # the golden files' own serialisation (make_golden.normalised_lines): it gives the
        # line back unchanged before the rewrite, so only the detail's bytes change
        if _serialised(event) != line:
            raise SystemExit(f"{path}:{number}: not in the golden files' serialisation")
        event["detail"] = detail
        out.append(_serialised(event))
    path.write_text("".join(f"{line}\n" for line in out), encoding="utf-8")
    return changed


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {rewrite(Path(name))} details rewritten")
