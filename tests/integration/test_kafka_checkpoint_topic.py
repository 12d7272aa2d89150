"""Checkpoints in a compacted Kafka topic: state follows partitions between machines."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from driftstream.streamer.checkpoint.base import Checkpoint
from driftstream.streamer.checkpoint.kafka import KafkaCheckpointStore
from driftstream.streamer.sources.base import Partition
from tests.integration.conftest import LiveBaseline
from tests.integration.kafka_live import (
    LiveProcess,
    LiveSetup,
    capture_with_malformed,
    driftstream,
    keys,
    live_processes,
    read_events,
    reference_events,
    suffix,
    wait_until,
    write_lines,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_stores_see_each_others_checkpoints(kafka_bootstrap: str) -> None:
    topic = f"checkpoints-{suffix()}"
    options = {"bootstrap_servers": [kafka_bootstrap]}
    here, there = (KafkaCheckpointStore(topic, options, timeout_seconds=20) for _ in range(2))
    try:
        here.setup()
        there.setup()
        p = Partition("captures", 1)
        assert there.load("g", p) is None
        here.save([Checkpoint("g", p, 10, {"version": 1, "rows_seen": 10})])
        here.save([Checkpoint("g", p, 20, {"version": 1, "rows_seen": 20})])
        loaded = there.load("g", p)
        assert loaded is not None and (loaded.offset, loaded.monitor["rows_seen"]) == (20, 20)
        assert there.load("other-group", p) is None
    finally:
        here.close()
        there.close()
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, ["cleanup.policy"])],
            config_filter="all",
        )
    finally:
        admin.close()
    assert "compact" in repr(described)


def test_run_restores_from_the_checkpoint_topic(
    kafka_bootstrap: str, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    setup = LiveSetup(
        kafka_bootstrap, tmp_path, live_baseline.baseline, live_baseline.calibration_cache
    )
    setup.create_topics()
    lines = capture_with_malformed(seed=41, n_records=6000)
    capture = write_lines(tmp_path / "capture.jsonl", lines)
    events_file = tmp_path / "events.jsonl"
    cp_topic = f"checkpoints-{setup.name}"
    config = setup.config(events_file, **{"checkpoint.kafka_topic": cp_topic})
    expected = keys(reference_events(capture, config, tmp_path))
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

    store = KafkaCheckpointStore(
        cp_topic, {"bootstrap_servers": [kafka_bootstrap]}, timeout_seconds=20
    )
    p = Partition(setup.topic, 0)

    def checkpointed() -> int:
        try:
            store.setup()
            cp = store.load(setup.group, p)
        except Exception:  # the topic appears with the first run
            return -1
        return cp.offset if cp is not None else -1

    try:
        with live_processes() as procs:
            first = LiveProcess(config, tmp_path, "first")
            procs.append(first)
            wait_until(
                lambda: checkpointed() == len(lines),
                timeout=120,
                what="the checkpoint topic to reach the end",
                watch=[first],
            )
            assert first.terminate() == 0, first.log()[-3000:]
            # another "machine": no local files, the state comes from the topic
            second = LiveProcess(config, tmp_path, "second")
            procs.append(second)
            wait_until(
                lambda: second.restored_offsets().get(str(p)) == len(lines),
                timeout=60,
                what="the second process to restore",
                watch=[second],
            )
            assert second.terminate() == 0, second.log()[-3000:]
    finally:
        store.close()
    assert not (tmp_path / "checkpoints").exists()
    assert keys(read_events(events_file)) == expected
