"""Model quality live on a real broker: captures and their ground truth on two co-partitioned
topics, joined by `driftstream run`; the quality loss is caught after the change and not before,
and a run killed with SIGKILL part-way ends with the join counts of an uninterrupted run."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from driftstream.streamer.checkpoint.base import Checkpoint, Partition
from driftstream.streamer.checkpoint.kafka import KafkaCheckpointStore
from driftstream.streamer.sources.synthetic import Scenario
from tests.detectors.quality import labelled
from tests.integration.kafka_live import (
    LiveProcess,
    LiveSetup,
    driftstream,
    live_processes,
    produce,
    read_events,
    suffix,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 2
N = 10_000  # labelled records per partition
CHANGE = 5_000  # from here on the label no longer follows score_a: accuracy 0.86 -> 0.68
HALF = 6_000  # the interrupted run is killed after reading this much of each partition
LAG = 300  # a record's label is published after the capture this many records later
ORPHANS = 20  # labels of no captured record, per partition
JUNK = [b"not json", b'{"groundTruthData": {"data": "1"}}']  # rejected, per partition
FILLER = 200  # captures without labels, published at the end until every label was read


@dataclass(frozen=True)
class QualityBaseline:
    baseline: Path
    calibration_cache: Path


@pytest.fixture(scope="module")
def quality_baseline(tmp_path_factory: pytest.TempPathFactory) -> QualityBaseline:
    root = tmp_path_factory.mktemp("live-quality")
    (root / "training.csv").write_text(labelled.training_csv(20_000, seed=1))
    done = driftstream(
        "baseline",
        "training.csv",
        "--out",
        "baseline",
        "--label-column",
        "prediction",
        "--ground-truth-column",
        "label",
        "--problem-type",
        "BinaryClassification",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    return QualityBaseline(root / "baseline", root / "calibration")


@dataclass
class Stream:
    """One partition's captures (N labelled, then filler) and ground-truth lines."""

    captures: list[bytes]
    labels: list[bytes]

    def phase(self, start: int, stop: int) -> tuple[list[bytes], list[bytes]]:
        """Captures [start, stop) and the labels published while they are: those of captures
        up to LAG before each (the labels of the last LAG come with the next phase)."""
        lo = max(start - LAG, 0) if start else 0
        hi = stop - LAG if stop < N else N
        return self.captures[start:stop], self.labels[lo:hi]


def stream(partition: int) -> Stream:
    seed = 7 + partition
    captures = list(labelled.captures(Scenario("labelled", N, seed=seed, seconds_between=1)))
    # filler: the same traffic after the labelled records (times go on), ids of its own
    more = Scenario("filler", N + 100 * FILLER, seed=100 + seed, seconds_between=1)
    rename = (b'"inferenceId":"req-', b'"inferenceId":"filler-')
    captures += [
        line.replace(*rename) for line in itertools.islice(labelled.captures(more), N, None)
    ]
    truth = labelled.truth(N, seed, CHANGE).tolist()
    labels = [labelled.ground_truth_line(labelled.inference_id(i), y) for i, y in enumerate(truth)]
    return Stream(captures, labels)


class GroundTruthSetup(LiveSetup):
    @property
    def ground_truth_topic(self) -> str:
        return f"ground-truth-{self.name}"

    def create_ground_truth_topic(self, partitions: int) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="test-admin")
        try:
            admin.create_topics(
                {self.ground_truth_topic: {"num_partitions": partitions, "replication_factor": 1}},
                wait_for_metadata=True,
            )
        finally:
            admin.close()

    def live_config(self, events_file: Path, **changes: Any) -> Path:
        return self.config(
            events_file,
            **{
                "sources.kafka.ground_truth_topic": self.ground_truth_topic,
                "sinks.dead_letter_topic": None,
                "sinks.output_topic": None,
                **changes,
            },
        )

    def publish(self, streams: list[Stream], start: int, stop: int, *, first: bool) -> None:
        for p, s in enumerate(streams):
            captures, labels = s.phase(start, stop)
            produce(self.bootstrap, self.topic, captures, partition=p)
            extra = [f"orphan-{p}-{k}" for k in range(ORPHANS)] if first else []
            orphans = [labelled.ground_truth_line(event_id, 1) for event_id in extra]
            junk = [] if first else JUNK
            produce(self.bootstrap, self.ground_truth_topic, orphans + labels + junk, partition=p)

    def counts(self) -> dict[int, dict[str, int]]:
        """Each partition's model-quality counts in its latest checkpoint."""
        return {
            p: doc["monitor"]["watchers"]["model_quality"]["counts"]
            for p, doc in self.checkpoint_docs().items()
        }

    def all_labels_read(self) -> bool:
        """Every label was read (or more: a label read twice is for the test to find)."""
        counts = self.counts()
        return len(counts) == PARTITIONS and all(
            c.get("labels_received", 0) >= N + ORPHANS and c.get("labels_rejected", 0) >= len(JUNK)
            for c in counts.values()
        )


def setup_for(
    kafka_bootstrap: str,
    quality: QualityBaseline,
    workdir: Path,
    *,
    ground_truth_partitions: int = PARTITIONS,
) -> GroundTruthSetup:
    workdir.mkdir()
    setup = GroundTruthSetup(
        kafka_bootstrap, workdir, quality.baseline, quality.calibration_cache, PARTITIONS
    )
    setup.create_topics()
    setup.create_ground_truth_topic(ground_truth_partitions)
    return setup


def filler(streams: list[Stream]) -> Iterator[list[list[bytes]]]:
    """Chunks of unlabelled captures per partition: what carries the last labels over."""
    for k in itertools.count():
        start = N + k * FILLER
        if start + FILLER > len(streams[0].captures):
            return
        yield [s.captures[start : start + FILLER] for s in streams]


def run_until_every_label_is_read(
    setup: GroundTruthSetup, streams: list[Stream], run: LiveProcess
) -> None:
    chunks = filler(streams)
    stop = threading.Event()

    def read() -> bool:
        if setup.all_labels_read():
            return True
        chunk = next(chunks, None)
        assert chunk is not None, f"labels left unread: {setup.counts()}"
        for p, lines in enumerate(chunk):
            produce(setup.bootstrap, setup.topic, lines, partition=p, stop=stop)
        return False

    wait_until(read, timeout=240, what="every label to be read", watch=[run], interval=0.5)


def quality_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if (e.get("detector") or "").startswith("model_quality")]


def test_run_joins_live_ground_truth_and_survives_a_kill(
    kafka_bootstrap: str, quality_baseline: QualityBaseline, tmp_path: Path
) -> None:
    streams = [stream(p) for p in range(PARTITIONS)]

    # -- uninterrupted ------------------------------------------------------------------------
    whole = setup_for(kafka_bootstrap, quality_baseline, tmp_path / "whole")
    whole.publish(streams, 0, HALF, first=True)
    whole.publish(streams, HALF, N, first=False)
    events_file = whole.workdir / "events.jsonl"
    with live_processes() as procs:
        run = LiveProcess(whole.live_config(events_file), whole.workdir, "run")
        procs.append(run)
        run_until_every_label_is_read(whole, streams, run)
        assert run.terminate() == 0, run.log()[-3000:]
    events = read_events(events_file)
    expected = events[-1]["model_quality"]
    print(f"\nuninterrupted: {expected}")
    assert expected["labels_received"] == PARTITIONS * (N + ORPHANS)
    assert expected["labels_rejected"] == PARTITIONS * len(JUNK)
    # every labelled record met its label, in the partition that holds it
    assert expected["labels_matched"] == expected["pairs"] == PARTITIONS * N
    assert expected["labels_duplicate"] == expected["predictions_duplicate"] == 0
    for p in range(PARTITIONS):
        mine = [e for e in quality_events(events) if e["partition"] == p]
        online = [e for e in mine if e["detector"] == "model_quality_page_hinkley"]
        print(f"partition {p}: {[(e['detector'], e['record_index']) for e in mine]}")
        # the quality loss is caught once labels of the changed relation arrive, not before
        assert online, f"partition {p}: the online detector missed the quality loss"
        assert online[0]["metric"] == "accuracy"
        assert min(e["record_index"] for e in mine) >= CHANGE
        docs = whole.checkpoint_docs()[p]
        assert docs["aux_offsets"] == {whole.ground_truth_topic: ORPHANS + N + len(JUNK)}

    # -- killed part-way, restarted ------------------------------------------------------------
    killed = setup_for(kafka_bootstrap, quality_baseline, tmp_path / "killed")
    killed.publish(streams, 0, HALF, first=True)
    events_file = killed.workdir / "events.jsonl"
    with live_processes() as procs:
        # checkpoints only every 5,000 records: what the killed process read after its last
        # one (captures and labels) is read again after the restart
        first = LiveProcess(
            killed.live_config(
                events_file,
                **{"checkpoint.interval_seconds": 3600, "checkpoint.every_records": 5_000},
            ),
            killed.workdir,
            "first",
        )
        procs.append(first)
        wait_until(
            lambda: (
                len(killed.counts()) == PARTITIONS
                and all(c.get("labels_received", 0) > 0 for c in killed.counts().values())
            ),
            timeout=180,
            what="a checkpoint holding labels",
            watch=[first],
        )
        first.kill9()
        at_kill = killed.checkpoint_docs()
        assert all(
            0 < doc["aux_offsets"][killed.ground_truth_topic] <= ORPHANS + HALF - LAG
            for doc in at_kill.values()
        )
        assert sum(doc["offset"] for doc in at_kill.values()) < PARTITIONS * HALF
        killed.publish(streams, HALF, N, first=False)
        second = LiveProcess(killed.live_config(events_file), killed.workdir, "second")
        procs.append(second)
        run_until_every_label_is_read(killed, streams, second)
        assert second.terminate() == 0, second.log()[-3000:]
    restored = second.restored_offsets()
    assert restored == {f"{killed.topic}/{p}": at_kill[p]["offset"] for p in range(PARTITIONS)}
    after = read_events(events_file)[-1]["model_quality"]
    print(f"killed and restarted: {after}")
    # nothing lost, nothing counted twice
    assert after == expected


def test_a_ground_truth_topic_partitioned_otherwise_stops_run_with_exit_2(
    kafka_bootstrap: str, quality_baseline: QualityBaseline, tmp_path: Path
) -> None:
    setup = setup_for(
        kafka_bootstrap, quality_baseline, tmp_path / "run", ground_truth_partitions=3
    )
    name = setup.ground_truth_topic
    with live_processes() as procs:
        run = LiveProcess(setup.live_config(tmp_path / "events.jsonl"), setup.workdir, "run")
        procs.append(run)
        assert run.proc.wait(timeout=120) == 2
    assert run.log().splitlines()[-1] == (
        f"driftstream: error: sources.kafka.ground_truth_topic: {name} has 3 partitions, the "
        f"capture topic {setup.topic} 2; ground truth must be partitioned like the captures "
        "and keyed alike (docs/model-quality.md)"
    )


def test_the_checkpoint_topic_keeps_aux_offsets(kafka_bootstrap: str) -> None:
    topic = f"checkpoints-{suffix()}"
    options = {"bootstrap_servers": [kafka_bootstrap]}
    here, there = (KafkaCheckpointStore(topic, options, timeout_seconds=20) for _ in range(2))
    try:
        here.setup()
        there.setup()
        saved = Checkpoint("g", Partition("captures", 1), 42, {"rows_seen": 42}, {"gt": 17})
        here.save([saved])
        assert there.load("g", saved.partition) == saved
    finally:
        here.close()
        there.close()
