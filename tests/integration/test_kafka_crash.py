"""`kill -9` of `driftstream run` at random moments, restarted each time, changes nothing: every
record is processed at least once and the set of events equals the uninterrupted run's.

The stream is produced in parts, one per run, each let through once that run holds the
partition: however slowly the runs start on a loaded machine, each kill lands mid-stream and
the last run starts before the end of the stream is there. (Produced on a clock instead, a
stream that had ended before a slow third run was killed let the last run's SIGTERM arrive
while it was still starting, and nothing was left for it to restore.)"""

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
RATE = 500.0  # records/s: each of the KILLS + 1 parts of the stream lasts ~6 s
START = 300  # seconds a run may take to start and be given the partition (a loaded machine)
DRAIN = 300  # seconds the last run may take to read the rest of the stream


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

    parts = [
        lines[i * len(lines) // (KILLS + 1) : (i + 1) * len(lines) // (KILLS + 1)]
        for i in range(KILLS + 1)
    ]
    gates = [threading.Event() for _ in parts]
    abandon = threading.Event()
    producer = threading.Thread(
        target=_produce_in_parts, args=(kafka_bootstrap, setup.topic, parts, gates, abandon)
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
                # member's session), its part of the stream flows, and it is killed at a random
                # moment of processing or checkpointing; the first run only once it checkpointed,
                # so that every later run has a checkpoint to restore from
                _wait_for_partition(run)
                gates[n].set()
                if n == 0:
                    wait_until(
                        lambda: setup.checkpoint_offsets().get(0) is not None,
                        timeout=START,
                        what="the first checkpoint",
                        watch=[run],
                    )
                time.sleep(rng.uniform(0.2, 2.5))  # the random moment, not a wait for anything
                run.kill9()
                killed_at.append(setup.checkpoint_offsets().get(0))
                restored.append(_restored_offset(run))
            last = LiveProcess(config, tmp_path, "last")
            procs.append(last)
            _wait_for_partition(last)  # running, its SIGTERM handled: not still starting
            gates[KILLS].set()
            wait_until(
                lambda: setup.checkpoint_offsets().get(0) == len(lines),
                timeout=DRAIN,
                what="the checkpoint to reach the end of the topic",
                watch=[last],
            )
            assert last.terminate() == 0, last.log()[-3000:]
            restored.append(_restored_offset(last))
    finally:
        abandon.set()
        producer.join()

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


def _produce_in_parts(
    bootstrap: str,
    topic: str,
    parts: list[list[bytes]],
    gates: list[threading.Event],
    abandon: threading.Event,
) -> None:
    """Produce each part at RATE once its gate opens, in order (each `produce` flushes before
    the next part starts); give up when `abandon` is set (the test failed)."""
    for part, gate in zip(parts, gates, strict=True):
        while not gate.wait(0.2):
            if abandon.is_set():
                return
        produce(bootstrap, topic, part, rate=RATE, stop=abandon)


def _wait_for_partition(run: LiveProcess) -> None:
    wait_until(
        lambda: bool(run.held_partitions()),
        timeout=START,
        what="the partition to be assigned",
        watch=[run],
    )


def _restored_offset(run: LiveProcess) -> int | None:
    """The checkpoint offset `run` restored its partition from (None: it started afresh)."""
    for line in run.log().splitlines():
        if "event='partition_restored'" in line:
            return int(line.split(" offset=", 1)[1].split()[0])
    return None
