"""Two `driftstream run` processes in one group share a two-partition topic; when one is killed
the other takes over its partition from its checkpoint, and nothing is lost."""

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

RATE = 500.0  # records/s per partition: ~24 s of traffic


def test_two_processes_share_partitions_and_take_over(
    kafka_bootstrap: str, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    rng = random.Random()
    setup = LiveSetup(
        kafka_bootstrap,
        tmp_path,
        live_baseline.baseline,
        live_baseline.calibration_cache,
        partitions=2,
    )
    setup.create_topics()
    # one endpoint's stream per partition (a real deployment keys them by endpoint)
    streams = {p: capture_with_malformed(seed=21 + p) for p in (0, 1)}
    config_a = setup.config(tmp_path / "events-a.jsonl")
    config_b = setup.config(tmp_path / "events-b.jsonl")
    expected = {
        p: set(
            keys(
                reference_events(
                    write_lines(tmp_path / f"capture-{p}.jsonl", lines), config_a, tmp_path
                )
            )
        )
        for p, lines in streams.items()
    }
    used = {p: len(lines) - len(MALFORMED) for p, lines in streams.items()}

    producers = [
        threading.Thread(
            target=produce,
            args=(kafka_bootstrap, setup.topic, lines),
            kwargs={"partition": p, "rate": RATE, "key": f"endpoint-{p}".encode()},
        )
        for p, lines in streams.items()
    ]
    for t in producers:
        t.start()
    try:
        with live_processes() as procs:
            a = LiveProcess(config_a, tmp_path, "a")
            procs.append(a)
            wait_until(
                lambda: len(a.current_partitions()) == 2,
                timeout=60,
                what="the first process to hold both partitions",
                watch=[a],
            )
            b = LiveProcess(config_b, tmp_path, "b")
            procs.append(b)
            wait_until(
                lambda: len(a.current_partitions()) == 1 and len(b.current_partitions()) == 1,
                timeout=60,
                what="the partitions to be shared",
                watch=[a, b],
            )
            (moved,) = b.current_partitions()
            moved_p = int(moved.rsplit("/", 1)[1])
            assert a.current_partitions() != b.current_partitions()
            wait_until(
                lambda: (
                    setup.checkpoint_offsets().get(moved_p, 0) > a.restored_offsets().get(moved, 0)
                ),
                timeout=60,
                what="the second process to checkpoint",
                watch=[a, b],
            )
            time.sleep(rng.uniform(0.3, 2.0))
            b.kill9()
            at_kill = setup.checkpoint_offsets()[moved_p]

            wait_until(
                lambda: len(a.current_partitions()) == 2,
                timeout=60,
                what="the survivor to take the partition over",
                watch=[a],
            )
            # it took over the partition's state, not a fresh monitor
            assert a.restored_offsets()[moved] == at_kill > 0

            for t in producers:
                t.join(timeout=120)
            ends = {p: len(lines) for p, lines in streams.items()}
            wait_until(
                lambda: setup.checkpoint_offsets() == ends,
                timeout=120,
                what="both partitions' checkpoints to reach the end",
                watch=[a],
            )
            assert a.terminate() == 0, a.log()[-3000:]
    finally:
        for t in producers:
            t.join(timeout=120)

    live = read_events(tmp_path / "events-a.jsonl") + read_events(tmp_path / "events-b.jsonl")
    produced = [
        json.loads(r.value)
        for r in consume_all(
            kafka_bootstrap, setup.output_topic, at_least=sum(map(len, expected.values()))
        )
    ]
    dead = consume_all(kafka_bootstrap, setup.dead_letter_topic, at_least=2 * len(MALFORMED))
    docs = setup.checkpoint_docs()
    for p in (0, 1):
        assert set(keys(live, partition=p)) == expected[p], f"partition {p}"
        assert set(keys(produced, partition=p)) == expected[p], f"partition {p}"
        offsets = {
            int(r.headers["driftstream.source.offset"])
            for r in dead
            if r.headers["driftstream.source.partition"] == str(p).encode()
        }
        assert offsets == set(MALFORMED), f"partition {p}"
        assert docs[p]["monitor"]["rows_seen"] == used[p], f"partition {p}"
