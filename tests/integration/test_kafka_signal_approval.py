"""Approval mode on the real broker, with the live service: `driftstream run` decides two signals
and holds them; restarted, it still holds them; a person approves one and rejects the other
while it runs; the approved one reaches the Kafka target once (a third start delivers nothing
again), the rejected one never."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer

from driftstream.sinks.signals.store import SignalStore
from driftstream.streamer.app.demo import demo_changes
from driftstream.streamer.sources.synthetic import Scenario, capture_lines
from tests.integration.conftest import LiveBaseline
from tests.integration.kafka_live import (
    DRIFTSTREAM,
    LiveProcess,
    LiveSetup,
    live_processes,
    produce,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = 300  # seconds a run may take to start and read the stream (a loaded machine)


def _signal_records(bootstrap: str, topic: str) -> list[dict[str, object]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[bootstrap],
        auto_offset_reset="earliest",
        consumer_timeout_ms=5_000,
        group_id=None,
    )
    try:
        return [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()


def _signals(workdir: Path, config: Path, *args: str, user: str) -> str:
    done = subprocess.run(
        [*DRIFTSTREAM, "signals", *args, "--config", str(config)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "USER": user},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_live_service_holds_signals_across_a_restart_and_delivers_the_approved_once(
    kafka_bootstrap: str, live_baseline: LiveBaseline, tmp_path: Path
) -> None:
    setup = LiveSetup(
        kafka_bootstrap, tmp_path, live_baseline.baseline, live_baseline.calibration_cache
    )
    setup.create_topics()
    signal_topic = f"signals-{setup.name}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="test-admin")
    try:
        admin.create_topics(
            {signal_topic: {"num_partitions": 1, "replication_factor": 1}},
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    # six features drift from record 3,000: with a short cool-down, two signals
    lines = list(capture_lines(Scenario("approval-live", 12_000, demo_changes(3_000), seed=21)))
    outbox = tmp_path / "outbox"
    config = setup.config(
        tmp_path / "events.jsonl",
        **{
            "sinks.signal_outbox": str(outbox),
            "sinks.signal_approval": "required",
            "sinks.signals": [{"type": "kafka", "topic": signal_topic}],
            "detectors.retrain.cooldown_rows": 2_000,
        },
    )
    produce(kafka_bootstrap, setup.topic, lines)
    store = SignalStore(outbox)

    with live_processes() as procs:
        first = LiveProcess(config, tmp_path, "run1")
        procs.append(first)
        wait_until(
            lambda: setup.checkpoint_offsets().get(0) == len(lines),
            timeout=START,
            what="the first run to read and checkpoint the whole stream",
            watch=[first],
        )
        assert first.terminate() == 0, first.log()[-3000:]
        held = store.signals()
        assert len(held) >= 2, first.log()[-3000:]
        assert {s.status for s in held} == {"pending"}
        keys = [s.key for s in held]

        second = LiveProcess(config, tmp_path, "run2")  # the restart
        procs.append(second)
        wait_until(
            lambda: "signals_awaiting_approval" in second.log(),
            timeout=START,
            what="the restarted service to find the held signals",
            watch=[second],
        )
        assert _signal_records(kafka_bootstrap, signal_topic) == []
        _signals(tmp_path, config, "approve", keys[0], "--reason", "retrain it", user="alice")
        for key in keys[1:]:
            _signals(tmp_path, config, "reject", key, user="bob")
        wait_until(
            lambda: bool(store.find(keys[0]).deliveries),
            timeout=60,
            what="the running service to deliver the approved signal",
            watch=[second],
        )
        assert second.terminate() == 0, second.log()[-3000:]

        third = LiveProcess(config, tmp_path, "run3")  # delivers nothing a second time
        procs.append(third)
        wait_until(
            lambda: "partition_restored" in third.log(),
            timeout=START,
            what="the third run to restore its partition",
            watch=[third],
        )
        assert third.terminate() == 0, third.log()[-3000:]

    records = _signal_records(kafka_bootstrap, signal_topic)
    assert [r["idempotency_key"] for r in records] == [keys[0]]
    approval = records[0]["approval"]
    assert isinstance(approval, dict)
    assert (approval["status"], approval["by"], approval["reason"]) == (
        "approved",
        "alice",
        "retrain it",
    )
    statuses = {s.key: s.status for s in store.signals()}
    assert statuses == {keys[0]: "approved", **dict.fromkeys(keys[1:], "rejected")}
    assert list(store.find(keys[0]).deliveries) == [f"kafka:{signal_topic}"]
    assert all(not store.find(k).deliveries for k in keys[1:])
