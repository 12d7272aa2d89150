"""`driftstream run` on a real broker reports what `driftstream replay` reports for the same file,
and every malformed record reaches the dead-letter topic with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import LiveBaseline
from tests.integration.kafka_live import (
    MALFORMED,
    LiveProcess,
    LiveSetup,
    capture_with_malformed,
    consume_all,
    driftstream,
    keys,
    live_processes,
    produce,
    read_events,
    reference_events,
    wait_until,
    write_lines,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_run_reports_what_replay_reports(
    kafka_bootstrap: str, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    setup = LiveSetup(
        kafka_bootstrap, tmp_path, live_baseline.baseline, live_baseline.calibration_cache
    )
    setup.create_topics()
    lines = capture_with_malformed(seed=11)
    capture = write_lines(tmp_path / "capture.jsonl", lines)
    events_file = tmp_path / "live-events.jsonl"
    config = setup.config(events_file)

    reference = reference_events(capture, config, tmp_path)
    expected = keys(reference)
    assert {k[0] for k in expected} >= {"drift", "violation", "rejected"}

    # the captured file into the topic, with the CLI: keyed by endpoint, one partition
    done = driftstream(
        "replay",
        str(capture),
        "--to",
        f"kafka://{kafka_bootstrap}/{setup.topic}",
        "--config",
        str(config),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"published {len(lines)} of {len(lines)} records" in done.stderr

    with live_processes() as procs:
        run = LiveProcess(config, tmp_path, "run")
        procs.append(run)
        wait_until(
            lambda: setup.checkpoint_offsets().get(0) == len(lines),
            timeout=120,
            what="the checkpoint to reach the end of the topic",
            watch=[run],
        )
        assert run.terminate() == 0, run.log()[-3000:]

    live = read_events(events_file)
    # one consumer, no interruption: the same events in the same order
    assert keys(live) == expected
    assert all(
        (e["topic"], e["partition"]) == (setup.topic, 0) for e in live if e["kind"] != "summary"
    )
    assert live[-1]["kind"] == "summary"
    assert live[-1]["records_read"] == len(lines)

    produced = consume_all(kafka_bootstrap, setup.output_topic, at_least=len(expected) + 1)
    assert sorted(keys([json.loads(r.value) for r in produced])) == sorted(expected)
    assert {r.key for r in produced} == {b"default"}

    dead = consume_all(kafka_bootstrap, setup.dead_letter_topic, at_least=len(MALFORMED))
    by_offset = {int(r.headers["driftstream.source.offset"]): r for r in dead}
    assert len(dead) == len(MALFORMED)
    assert {i: r.value for i, r in by_offset.items()} == MALFORMED
    reasons = {e["record_index"]: e["reason"] for e in reference if e["kind"] == "rejected"}
    assert {i: r.headers["driftstream.reason"].decode() for i, r in by_offset.items()} == reasons
    assert all(r.headers["driftstream.source.topic"] == setup.topic.encode() for r in dead)
    assert all(r.headers["driftstream.source.partition"] == b"0" for r in dead)
    assert all(r.headers["driftstream.detail"] for r in dead)

    # the checkpointed state saw every record exactly once
    assert setup.checkpoint_docs()[0]["monitor"]["rows_seen"] == reference[-1]["records_used"]


def test_a_run_that_could_use_no_record_exits_1_with_one_line(
    kafka_bootstrap: str, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    """Stopped by SIGTERM (otherwise a clean stop, exit 0) after reading only records it could
    not use (the wrong topic, the wrong baseline): exit 1, and one line says why."""
    setup = LiveSetup(
        kafka_bootstrap, tmp_path, live_baseline.baseline, live_baseline.calibration_cache
    )
    setup.create_topics()
    lines = [b"not json"] * 40 + [b'{"eventVersion":"0"}'] * 10
    produce(kafka_bootstrap, setup.topic, lines)
    with live_processes() as procs:
        run = LiveProcess(setup.config(tmp_path / "events.jsonl"), tmp_path, "run")
        procs.append(run)
        wait_until(
            lambda: setup.checkpoint_offsets().get(0) == len(lines),
            timeout=120,
            what="the checkpoint to reach the end of the topic",
            watch=[run],
        )
        assert run.terminate() == 1, run.log()[-3000:]
    assert run.log().splitlines()[-1] == (
        "driftstream: failed: no record could be used: 50 read, 50 rejected "
        "(invalid_json 40, not_a_capture 10)"
    )
