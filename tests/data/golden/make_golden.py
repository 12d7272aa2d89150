"""Golden events: what `replay` wrote for seeded scenarios, to prove a refactor changed nothing.

The expected files `<scenario>__<engine>.jsonl` beside this script were produced by the code at
commit d7652d0 (before the package restructuring), with

    git worktree add ../golden-base d7652d0
    cd ../golden-base && PYTHONPATH=. ../driftstream/.venv/bin/python \
        ../driftstream/tests/data/golden/make_golden.py --cli "python -m streamer.cli" \
        --synthetic-module streamer.synthetic

(run from a checkout named `driftstream`; PYTHONPATH puts the old tree before the editable
install). Today's code is checked against them by tests/test_golden_events.py, or by hand with
`.venv/bin/python tests/data/golden/make_golden.py --check`.

The product is driven only through its command line (`CLI`), as a user would; the one product
module imported here is the pure data generator `SYNTHETIC_MODULE` (numpy + orjson, no monitor,
decoder or sink code), to write the training CSV and the capture files into a temporary folder.
Only the normalised events are kept.

Per scenario and engine: `replay CAPTURE --baseline DIR --events-out OUT --metrics-port 0
[--config river.yaml]`, in a fresh temporary HOME (the calibration cache defaults to
~/.cache/driftstream/calibration, so every replay calibrates from scratch) and with every
DRIFTSTREAM__* environment override removed. Normalisation: the `seconds` key of the final
`summary` event (wall-clock time) is dropped, and so are its `trace` and `distributions` (the
report's data, which d7652d0 did not write); everything else is kept exactly; each event is
written as one JSON object per line with sorted keys.

A test can import `scenarios()`, `write_inputs(tmpdir)`, `build_baseline(...)`, `replay(...)` and
`normalised_lines(...)` from this file and compare with the golden files.

Usage:
    make_golden.py                  write the golden files beside this script
    make_golden.py --out DIR        write them to DIR instead (e.g. to compare two runs)
    make_golden.py --check          replay and compare with the golden files; exit 1 on a difference
    make_golden.py --cli "driftstream"   (after the move) the command line to drive, split on spaces
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

# The product's command line: the only way this script runs the product.
# Before the restructuring (commit d7652d0) it is `python -m streamer.cli`; after the move it is
# `python -m driftstream.streamer.app.cli`, or simply the `driftstream` console script
# (pass --cli to override without editing).
CLI: list[str] = [sys.executable, "-m", "driftstream.streamer.app.cli"]

# The one product module imported here: the seeded data generator (Change, Scenario,
# training_csv, capture_lines, capture_line). After the move, set its new dotted path here (or pass
# --synthetic-module / set the environment variable GOLDEN_SYNTHETIC_MODULE).
SYNTHETIC_MODULE = os.environ.get(
    "GOLDEN_SYNTHETIC_MODULE", "driftstream.streamer.sources.synthetic"
)

GOLDEN_DIR = Path(__file__).resolve().parent
PRODUCED_BY = "d7652d0"

TRAINING_ROWS = 20_000  # as benchmarks/cli_runner.py: training_csv(20_000, seed=1)
TRAINING_SEED = 1
RECORDS = 20_000
CHANGE_AT = 10_000

# engine name -> YAML config passed with --config (None: no --config, the defaults)
ENGINES: dict[str, str | None] = {
    "default": None,
    "river": "detectors:\n  engine: river\n",
}

# name -> (n_records, seed, changes as (kind, feature, at, magnitude, ramp)); plain data so it reads
# without the generator. The damaged scenario is the stationary stream of its seed with the lines
# of `damaged_lines()` inserted (see write_damaged_capture).
SCENARIOS: dict[str, tuple[int, int, tuple[tuple[str, str, int, float, int], ...]]] = {
    "stationary": (RECORDS, 100, ()),
    "mean_shift_balance": (RECORDS, 101, (("mean_shift", "balance", CHANGE_AT, 0.5, 0),)),
    "variance_score_b": (RECORDS, 105, (("variance", "score_b", CHANGE_AT, 2.0, 0),)),
    "category_mix_country": (RECORDS, 107, (("category_mix", "country", CHANGE_AT, 0.2, 0),)),
    "missing_device": (RECORDS, 108, (("missing", "device", CHANGE_AT, 0.2, 0),)),
    "ramp_age": (RECORDS, 106, (("ramp", "age", CHANGE_AT, 1.0, 5_000),)),
    "prediction_shift": (RECORDS, 109, (("prediction", "prediction", CHANGE_AT, 0.5, 0),)),
    "damaged": (RECORDS, 110, ()),
}
DAMAGED = "damaged"

# sha256 of the inputs write_inputs() wrote at d7652d0 (numpy 2.4.6): if these differ, the data
# generator (or numpy's random streams) changed, not the monitor, and no golden event can match.
INPUT_SHA256: dict[str, str] = {
    "training.csv": "a52dcb5a230221f827e15bf49f61d7c56a12fee6bad8837dc15787e0d4eca00f",
    "stationary": "b0691b3f7bf2844f0838de3ad4e03fb98501d7f3f49ded99e2255213c61b8638",
    "mean_shift_balance": "8508d02d42076fe27c40536be759d9a6740320bca28a4e31f3356a3f7cbc267b",
    "variance_score_b": "e4e1e129bea35681c3cc5832725e1b3d46db0e92b45f38d0b6fa5cde10c06216",
    "category_mix_country": "34077b799a59ee47d94732a80515a15e2f0dc10ee247dc2da20b3ed51c8ea410",
    "missing_device": "3aed1abe3ebee4bc99ff499af3882b60eae42cbb7557042fb09c48598b09c3bf",
    "ramp_age": "8a92939a85063b07f473a595830563eec6f39bb63b063ab8aaef66733fb96f9d",
    "prediction_shift": "d77a4ef692a03c0af5125eeb027a5aeb9cff5ac5d727167ff28c837e90aa4e1f",
    "damaged": "11bc27cff2748e885f35cdfa1b96c98ed902a27258cd60199d0ffce93e33b939",
}
BASELINE_IDENTITY = "6d98f91f1538e98d"  # printed by `baseline` at d7652d0 for training.csv
DAMAGE_FIRST, DAMAGE_STEP = 250, 400  # extra line i goes before generated record 250 + 400 * i


def synthetic(module: str | None = None) -> ModuleType:
    """The product's data generator (the only product module this script imports)."""
    return importlib.import_module(module or SYNTHETIC_MODULE)


def scenarios(module: str | None = None) -> dict[str, Any]:
    """name -> synthetic.Scenario for every entry of SCENARIOS (same constructors as the
    benchmarks: Change(kind, feature, at, magnitude, ramp), Scenario(name, n, changes, seed=))."""
    syn = synthetic(module)
    return {
        name: syn.Scenario(
            name, n, tuple(syn.Change(k, f, at, m, r) for k, f, at, m, r in changes), seed=seed
        )
        for name, (n, seed, changes) in SCENARIOS.items()
    }


# -- the damaged capture -------------------------------------------------------------------------

_Build = Callable[[dict[str, Any]], bytes]


def _dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def _with_input(data: str, encoding: str = "CSV", content_type: str = "text/csv") -> _Build:
    def build(rec: dict[str, Any]) -> bytes:
        rec["captureData"]["endpointInput"].update(
            data=data, encoding=encoding, observedContentType=content_type
        )
        return _dump(rec)

    return build


def _cell(column: int, text: str) -> _Build:
    """Replace input column `column` (0-based, of 13) of the record's CSV row with `text`."""

    def build(rec: dict[str, Any]) -> bytes:
        inp = rec["captureData"]["endpointInput"]
        fields = inp["data"].split(",")
        fields[column] = text
        inp["data"] = ",".join(fields)
        return _dump(rec)

    return build


def _output(value: Any) -> _Build:
    def build(rec: dict[str, Any]) -> bytes:
        if isinstance(value, dict) or not isinstance(value, str):
            rec["captureData"]["endpointOutput"] = value
        else:
            rec["captureData"]["endpointOutput"]["data"] = value
        return _dump(rec)

    return build


def _csv_fields(rec: dict[str, Any]) -> list[str]:
    return str(rec["captureData"]["endpointInput"]["data"]).split(",")


def _json_named(rec: dict[str, Any], features: Sequence[str], **replace: Any) -> str:
    """The record's CSV row as a JSON object by feature name (numbers as numbers)."""
    values: dict[str, Any] = {}
    for name, text in zip(features, _csv_fields(rec), strict=True):
        try:
            values[name] = float(text) if text else None
        except ValueError:
            values[name] = text or None
    values.update(replace)
    return json.dumps(values, separators=(",", ":"), allow_nan=True)


def damaged_lines(features: Sequence[str]) -> list[tuple[str, _Build]]:
    """(label, builder) of each extra line; a builder gets a copy of the generated record at its
    insertion point (parsed) and returns the line's bytes. `features`: synthetic.FEATURES, the
    13 inputs in capture order. Labels name the expected outcome; "ok_*" lines are valid records in
    other encodings/shapes (decoded, not rejected)."""
    b64 = base64.b64encode

    def raw(data: bytes) -> _Build:
        return lambda rec: data

    def truncated(rec: dict[str, Any]) -> bytes:
        line = _dump(rec)
        return line[: len(line) // 2]

    def drop(path: str) -> _Build:
        def build(rec: dict[str, Any]) -> bytes:
            rec["captureData"]["endpointInput"].pop(path)
            return _dump(rec)

        return build

    def columns(delta: int) -> _Build:
        def build(rec: dict[str, Any]) -> bytes:
            fields = _csv_fields(rec)
            fields = fields[:delta] if delta < 0 else [*fields, *(["extra"] * delta)]
            rec["captureData"]["endpointInput"]["data"] = ",".join(fields)
            return _dump(rec)

        return build

    def json_input(payload: Callable[[dict[str, Any]], str], output: str | None = None) -> _Build:
        def build(rec: dict[str, Any]) -> bytes:
            rec["captureData"]["endpointInput"].update(
                data=payload(rec), encoding="JSON", observedContentType="application/json"
            )
            if output is not None:
                rec["captureData"]["endpointOutput"].update(
                    data=output, encoding="JSON", observedContentType="application/json"
                )
            return _dump(rec)

        return build

    def two_rows(second: Callable[[list[str]], list[str]], outputs: int = 2) -> _Build:
        def build(rec: dict[str, Any]) -> bytes:
            fields = _csv_fields(rec)
            inp = rec["captureData"]["endpointInput"]
            inp["data"] = ",".join(fields) + "\n" + ",".join(second(fields))
            out = rec["captureData"]["endpointOutput"]
            out["data"] = "\n".join([out["data"]] * outputs)
            return _dump(rec)

        return build

    def base64_csv(rec: dict[str, Any]) -> bytes:
        for key in ("endpointInput", "endpointOutput"):
            part = rec["captureData"][key]
            part["data"] = b64(part["data"].encode()).decode()
            part["encoding"] = "BASE64"
        return _dump(rec)

    def no_output(rec: dict[str, Any]) -> bytes:
        del rec["captureData"]["endpointOutput"]
        return _dump(rec)

    def crlf(rec: dict[str, Any]) -> bytes:
        return _dump(rec) + b"\r"

    def oversized(rec: dict[str, Any]) -> bytes:
        rec["captureData"]["endpointInput"]["data"] = "x" * 1_100_000  # > max_record_bytes 1 MiB
        return _dump(rec)

    def no_metadata_bad_json(rec: dict[str, Any]) -> bytes:
        del rec["eventMetadata"]
        rec["captureData"]["endpointInput"]["data"] = 42
        return _dump(rec)

    f = list(features)
    age, income, balance, latency, score_a = (
        f.index(n) for n in ("age", "income", "balance", "latency_ms", "score_a")
    )
    country = f.index("country")
    return [
        ("invalid_json_empty", raw(b"")),
        ("invalid_json_blank", raw(b"   \t")),
        ("invalid_json_brace", raw(b"{not json")),
        ("invalid_json_text", raw(b"this is not a capture record")),
        ("invalid_json_bad_utf8", raw(b'\xff\xfe{"captureData":{}}')),
        ("truncated_half", truncated),
        ("truncated_open", raw(b'{"captureData":{"endpointInput":')),
        ("not_a_capture_list", raw(b"[1,2,3]")),
        ("not_a_capture_empty", raw(b'{"captureData":{}}')),
        ("missing_data_absent", drop("data")),
        ("missing_data_number_no_metadata", no_metadata_bad_json),
        ("unsupported_encoding_xml", _with_input("<row/>", "XML", "text/xml")),
        ("invalid_base64_text", _with_input("!!!not base64!!!", "BASE64")),
        ("invalid_base64_padding", _with_input("abc", "BASE64")),
        (
            "unsupported_encoding_base64_octets",
            _with_input(b64(b"1,2,3").decode(), "BASE64", "application/octet-stream"),
        ),
        ("invalid_payload_base64_not_utf8", _with_input(b64(b"\xff\xfe\xfd").decode(), "BASE64")),
        ("column_count_too_few", columns(-2)),
        ("column_count_too_many", columns(2)),
        ("column_count_empty_data", _with_input("")),
        ("non_numeric_age", _cell(age, "forty")),
        ("non_numeric_underscore", _cell(balance, "1_000")),
        ("non_finite_nan", _cell(income, "NaN")),
        ("non_finite_inf", _cell(score_a, "inf")),
        ("non_finite_minus_infinity", _cell(latency, "-Infinity")),
        ("non_finite_prediction", _output("nan")),
        ("non_numeric_prediction", _output("high")),
        ("output_mismatch_two_values", _output("0.5,0.6")),
        ("output_mismatch_not_object", _output(["0.5"])),
        ("invalid_payload_json_broken", json_input(lambda rec: "{")),
        ("column_count_json_list", json_input(lambda rec: json.dumps(list(range(12))))),
        ("invalid_payload_instances_not_list", json_input(lambda rec: '{"instances":5}')),
        ("invalid_payload_no_rows", json_input(lambda rec: "[]")),
        ("invalid_payload_no_names", json_input(lambda rec: '{"colour":"red"}')),
        ("non_finite_json_nan", json_input(lambda rec: _json_named(rec, f, age=float("nan")))),
        (
            "invalid_payload_nested_category",
            json_input(lambda rec: _json_named(rec, f, country={"a": 1})),
        ),
        (
            "invalid_payload_row_scalar",
            json_input(lambda rec: "[" + _json_named(rec, f) + ",5]", output="[0.5,0.5]"),
        ),
        ("column_count_second_row", two_rows(lambda fields: fields[:-1])),
        ("output_mismatch_rows", two_rows(lambda fields: fields, outputs=1)),
        ("oversized_line", oversized),
        ("non_numeric_letter_o", _cell(age, "4O")),  # the letter O, not a zero
        ("ok_base64_csv", base64_csv),
        (
            "ok_json_named",
            json_input(lambda rec: _json_named(rec, f), output='{"predictions":[{"score":0.5}]}'),
        ),
        (
            "ok_json_instances",
            json_input(lambda rec: '{"instances":[' + _json_named(rec, f) + "]}", output="[0.5]"),
        ),
        ("ok_two_rows", two_rows(lambda fields: fields)),
        ("ok_no_output", no_output),
        ("ok_crlf", crlf),
        ("ok_category_number", _cell(country, "3")),
    ]


def write_damaged_capture(scenario: Any, path: Path, module: str | None = None) -> list[str]:
    """The scenario's generated capture with `damaged_lines()` inserted, extra line i before
    generated record DAMAGE_FIRST + DAMAGE_STEP * i, plus a last line cut in half with no line
    ending. Returns the label of each line in file order ("record" for generated ones)."""
    syn = synthetic(module)
    lines = list(syn.capture_lines(scenario))
    extra = damaged_lines(syn.FEATURES)
    at = {DAMAGE_FIRST + DAMAGE_STEP * i: item for i, item in enumerate(extra)}
    if max(at) >= len(lines):
        raise ValueError(f"{scenario.name}: {len(lines)} records are too few for the damage plan")
    labels: list[str] = []
    with path.open("wb") as out:
        for i, line in enumerate(lines):
            if i in at:
                label, build = at[i]
                out.write(build(json.loads(line)) + b"\n")
                labels.append(label)
            out.write(line + b"\n")
            labels.append("record")
        last = lines[-1]
        out.write(last[: len(last) // 2])  # a truncated last line without its line ending
        labels.append("truncated_last_line_no_newline")
    return labels


def write_inputs(tmpdir: Path | str, module: str | None = None) -> tuple[Path, dict[str, Path]]:
    """Write training.csv and one capture file per scenario into tmpdir; return (training csv,
    {scenario name: capture path}). Deterministic: everything comes from the seeds above."""
    tmp = Path(tmpdir)
    tmp.mkdir(parents=True, exist_ok=True)
    syn = synthetic(module)
    training = tmp / "training.csv"
    training.write_text(syn.training_csv(TRAINING_ROWS, seed=TRAINING_SEED))
    captures: dict[str, Path] = {}
    for name, scenario in scenarios(module).items():
        path = tmp / f"{name}.capture.jsonl"
        if name == DAMAGED:
            write_damaged_capture(scenario, path, module)
        else:
            with path.open("wb") as out:
                out.writelines(line + b"\n" for line in syn.capture_lines(scenario))
        captures[name] = path
    return training, captures


def input_mismatches(training: Path, captures: dict[str, Path]) -> list[str]:
    """Names of the inputs whose sha256 differs from INPUT_SHA256 (empty: the same inputs)."""
    files = {"training.csv": training, **captures}
    return [
        name
        for name, path in files.items()
        if hashlib.sha256(path.read_bytes()).hexdigest() != INPUT_SHA256.get(name)
    ]


# -- running the command line --------------------------------------------------------------------


def clean_env(home: Path) -> dict[str, str]:
    """The environment of one CLI run: no DRIFTSTREAM__ overrides, HOME = a fresh folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSTREAM__")}
    env["HOME"] = str(home)
    env.pop("XDG_CACHE_HOME", None)
    return env


def run_cli(cli: Sequence[str], args: Sequence[str], cwd: Path, home: Path) -> str:
    """Run the command line in cwd with a clean environment; its stdout, or exit on failure."""
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [*cli, *args], cwd=cwd, env=clean_env(home), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"{shlex.join([*cli, *args])} exited {proc.returncode}:\n{proc.stderr.strip()}"
        )
    return proc.stdout


def build_baseline(cli: Sequence[str], training: Path, tmp: Path) -> tuple[Path, str]:
    """`baseline TRAINING --out DIR --label-column prediction`: (DIR, the line it printed)."""
    baseline = tmp / "baseline"
    printed = run_cli(
        cli,
        ["baseline", str(training), "--out", str(baseline), "--label-column", "prediction"],
        tmp,
        tmp / "home-baseline",
    )
    return baseline, printed.strip()


def replay_args(capture: Path, baseline: Path, events_out: Path, config: Path | None) -> list[str]:
    args = [
        "replay",
        str(capture),
        "--baseline",
        str(baseline),
        "--events-out",
        str(events_out),
        "--metrics-port",
        "0",
    ]
    return [*args, "--config", str(config)] if config is not None else args


def replay(cli: Sequence[str], capture: Path, baseline: Path, engine: str, tmp: Path) -> Path:
    """One replay in a fresh HOME (an empty calibration cache); returns the events file."""
    work = tmp / f"{capture.name.split('.')[0]}__{engine}"
    work.mkdir(parents=True, exist_ok=True)
    config: Path | None = None
    if ENGINES[engine] is not None:
        config = work / "config.yaml"
        config.write_text(ENGINES[engine] or "")
    events_out = work / "events.jsonl"
    run_cli(cli, replay_args(capture, baseline, events_out, config), work, work / "home")
    return events_out


def normalised_lines(events_file: Path) -> list[str]:
    """Each event as one JSON line with sorted keys; the summary's `seconds` dropped, and its
    `trace` and `distributions` (the report's data, added after d7652d0: tests/sinks and
    tests/detectors/test_trace.py check them)."""
    out: list[str] = []
    for raw_line in events_file.read_text(encoding="utf-8").splitlines():
        if not raw_line.strip():
            continue
        event = json.loads(raw_line)
        if event.get("kind") == "summary":
            for key in ("seconds", "trace", "distributions"):
                event.pop(key, None)
        out.append(json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
    return out


def golden_name(scenario: str, engine: str) -> str:
    return f"{scenario}__{engine}.jsonl"


# -- main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=GOLDEN_DIR, help="where to write the files")
    p.add_argument(
        "--check",
        action="store_true",
        help="compare with the files in --out instead of writing them",
    )
    p.add_argument(
        "--cli", help=f"the command line to drive, e.g. 'driftstream' (default: {shlex.join(CLI)})"
    )
    p.add_argument("--synthetic-module", help=f"default {SYNTHETIC_MODULE}")
    p.add_argument("--only", action="append", help="only these scenarios (repeatable)")
    p.add_argument("--keep", type=Path, help="keep inputs and raw events in this folder")
    args = p.parse_args(argv)
    cli = shlex.split(args.cli) if args.cli else CLI
    module = args.synthetic_module
    names = [n for n in SCENARIOS if not args.only or n in args.only]

    print(
        f"cli: {shlex.join(cli)}; data: {synthetic(module).__name__} "
        f"({synthetic(module).__file__})",
        flush=True,
    )
    differences = 0
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp_name:
        tmp = args.keep or Path(tmp_name)
        training, captures = write_inputs(tmp, module)
        changed = input_mismatches(training, captures)
        inputs = f"CHANGED: {', '.join(changed)}" if changed else f"same as at {PRODUCED_BY}"
        print(f"inputs: {inputs}", flush=True)
        baseline, printed = build_baseline(cli, training, tmp)
        identity = printed.rsplit(" ", 1)[-1]
        same_baseline = "same" if identity == BASELINE_IDENTITY else f"was {BASELINE_IDENTITY}"
        print(f"baseline identity: {identity} ({same_baseline} at {PRODUCED_BY})", flush=True)
        if not args.check:
            args.out.mkdir(parents=True, exist_ok=True)
        for name in names:
            for engine in ENGINES:
                t0 = time.perf_counter()
                events = replay(cli, captures[name], baseline, engine, tmp)
                seconds = time.perf_counter() - t0
                lines = normalised_lines(events)
                kinds = Counter(json.loads(line)["kind"] for line in lines)
                target = args.out / golden_name(name, engine)
                text = "".join(line + "\n" for line in lines)
                status = ""
                if args.check:
                    same = target.exists() and target.read_text(encoding="utf-8") == text
                    differences += not same
                    status = " same" if same else " DIFFERENT"
                else:
                    target.write_text(text, encoding="utf-8")
                print(
                    f"{target.name}: {len(lines)} events "
                    f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}) "
                    f"in {seconds:.1f}s{status}",
                    flush=True,
                )
    if args.check:
        print("all same" if not differences else f"{differences} file(s) differ")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
