"""`kill -9` of `driftstream run` at random moments, restarted each time, changes nothing: every
record is processed at least once and the set of events equals the uninterrupted run's."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from tests.integration.conftest import LiveBaseline
from tests.integration.kafka_live import (
    MALFORMED,
    LiveProcess,
    LiveSetup,
    capture_with_malformed,
    consume_all,
    keys,
    live_processes,
    produce,
    read_events,
    reference_events,
    wait_until,
    write_lines,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = 3
RATE = 500.0  # records/s: the stream lasts ~24 s, so the kills land mid-stream


def test_kill_9_and_restart_loses_nothing(
    kafka_bootstrap: str, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    seed = time.time_ns() % 1_000_000
    rng = random.Random(seed)
    setup = LiveSetup(
        kafka_bootstrap, tmp_path, live_baseline.baseline, live_baseline.calibration_cache
    )
    setup.create_topics()
    lines = capture_with_malformed(seed=12)
    capture = write_lines(tmp_path / "capture.jsonl", lines)
    events_file = tmp_path / "live-events.jsonl"  # appended to by every run
    config = setup.config(events_file)
    reference = reference_events(capture, config, tmp_path)
    expected = set(keys(reference))

    producer = threading.Thread(
        target=produce, args=(kafka_bootstrap, setup.topic, lines), kwargs={"rate": RATE}
    )
    producer.start()
    killed_at: list[int | None] = []
    restored: list[int | None] = []
    try:
        with live_processes() as procs:
            for n in range(KILLS):
                run = LiveProcess(config, tmp_path, f"run{n}")
                procs.append(run)
                # once it holds the partition (start-up, then the group waits out the killed
                # member's session), at a random moment of processing or checkpointing
                wait_until(
                    lambda run=run: bool(run.held_partitions()),
                    timeout=60,
                    what="the partition to be assigned",
                    watch=[run],
                )
                time.sleep(rng.uniform(0.2, 2.5))
                run.kill9()
                killed_at.append(setup.checkpoint_offsets().get(0))
                restored.append(_restored_offset(run))
            last = LiveProcess(config, tmp_path, "last")
            procs.append(last)
            producer.join(timeout=120)
            wait_until(
                lambda: setup.checkpoint_offsets().get(0) == len(lines),
                timeout=120,
                what="the checkpoint to reach the end of the topic",
                watch=[last],
            )
            assert last.terminate() == 0, last.log()[-3000:]
            restored.append(_restored_offset(last))
    finally:
        producer.join(timeout=120)

    context = f"seed {seed}: checkpoints at the kills {killed_at}, restored from {restored}"
    # each run went on from where the one before it had checkpointed
    assert restored[0] is None, context
    assert all(r is not None and 0 < r < len(lines) for r in restored[2:]), context
    assert restored[1:] == killed_at, context

    # every run's events, duplicates included: as a set, the uninterrupted run's
    live = read_events(events_file)
    assert set(keys(live)) == expected, context
    produced = consume_all(kafka_bootstrap, setup.output_topic, at_least=len(expected))
    assert set(keys([json.loads(r.value) for r in produced])) == expected, context

    # at least once: every malformed record reached the dead-letter topic
    dead = consume_all(kafka_bootstrap, setup.dead_letter_topic, at_least=len(MALFORMED))
    assert {int(r.headers["driftstream.source.offset"]) for r in dead} == set(MALFORMED), context

    # the state that survived saw every record exactly once
    final = setup.checkpoint_docs()[0]["monitor"]
    assert final["rows_seen"] == reference[-1]["records_used"], context


def _restored_offset(run: LiveProcess) -> int | None:
    """The checkpoint offset `run` restored its partition from (None: it started afresh)."""
    for line in run.log().splitlines():
        if "event='partition_restored'" in line:
            return int(line.split(" offset=", 1)[1].split()[0])
    return None
