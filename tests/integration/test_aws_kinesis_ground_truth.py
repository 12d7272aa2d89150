"""Model quality live on Kinesis (a moto server): captures and their ground truth on two streams
of 2 shards each, labels put with their captures' partition key, joined by `driftstream run`;
the quality loss is caught after the change and not before, and a run killed with SIGKILL after
a checkpoint ends, once restarted, with the join counts of an uninterrupted run."""

from __future__ import annotations

import hashlib
import itertools
import json
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.detectors.quality import labelled
from tests.integration import aws_support as s
from tests.integration.test_kafka_ground_truth import (
    CHANGE,
    FILLER,
    HALF,
    JUNK,
    ORPHANS,
    N,
    Stream,
    stream,
)
from tests.services import MotoServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHARDS = 2
#: the join's counts that say whether a label was lost or counted twice (the filler captures
#: published until every label was read may differ between runs; these do not)
JOIN_COUNTS = (
    "labels_received",
    "labels_rejected",
    "labels_matched",
    "labels_unmatched",
    "labels_duplicate",
    "predictions_duplicate",
    "pairs",
)


def partition_keys() -> list[str]:
    """A partition key per shard of a 2-shard stream (MD5 below 2**127: the first): each
    shard's captures and labels are put with its key, as an endpoint's are with its name."""
    keys: dict[int, str] = {}
    for k in itertools.count():
        key = f"churn-{k}"
        keys.setdefault(int(hashlib.md5(key.encode()).hexdigest(), 16) >> 127, key)
        if len(keys) == SHARDS:
            return [keys[i] for i in range(SHARDS)]
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def quality_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kinesis-quality")
    (root / "training.csv").write_text(labelled.training_csv(20_000, seed=1))
    done = s.run_cli(
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
    return root


@dataclass
class Setup:
    endpoint_url: str
    root: Path
    baseline_root: Path
    captures: str
    ground_truth: str

    @classmethod
    def create(
        cls, endpoint_url: str, root: Path, baseline_root: Path, *, truth_shards: int = SHARDS
    ) -> Setup:
        root.mkdir()
        setup = cls(
            endpoint_url, root, baseline_root, s.unique("captures"), s.unique("ground-truth")
        )
        kinesis = s.client(endpoint_url, "kinesis")
        kinesis.create_stream(StreamName=setup.captures, ShardCount=SHARDS)
        kinesis.create_stream(StreamName=setup.ground_truth, ShardCount=truth_shards)
        return setup

    def config(self, **checkpoint: Any) -> Path:
        tree = {
            "endpoint": "churn",
            "baseline": str(self.baseline_root / "baseline"),
            "detectors": {"calibration": {"cache_dir": str(self.baseline_root / "calibration")}},
            "aws": {"endpoint_url": self.endpoint_url, "region": s.REGION, "max_attempts": 2},
            "metrics": {"port": 0},
            "sources": {
                "kinesis": {
                    "stream_name": self.captures,
                    "ground_truth_stream": self.ground_truth,
                    "application": "quality",
                    "max_records_per_call": 1000,
                    "idle_poll_seconds": 0.2,
                    "shard_refresh_seconds": 5,
                }
            },
            "checkpoint": {
                "directory": str(self.root / "checkpoints"),
                "interval_seconds": 0.5,
                "every_records": 1000,
                **checkpoint,
            },
            "sinks": {"events_file": str(self.root / "events.jsonl")},
        }
        name = "run-" + "-".join(str(v) for v in checkpoint.values())
        return s.write_config(self.root / f"{name}.yaml", tree)

    def put(self, stream_name: str, key: str, lines: list[bytes]) -> None:
        kinesis = s.client(self.endpoint_url, "kinesis")
        for start in range(0, len(lines), 500):
            chunk = lines[start : start + 500]
            answer = kinesis.put_records(
                StreamName=stream_name,
                Records=[{"Data": line, "PartitionKey": key} for line in chunk],
            )
            assert answer["FailedRecordCount"] == 0

    def publish(self, streams: list[Stream], start: int, stop: int, *, first: bool) -> None:
        for p, (st, key) in enumerate(zip(streams, partition_keys(), strict=True)):
            captures, labels = st.phase(start, stop)
            self.put(self.captures, key, captures)
            extra = [f"orphan-{p}-{k}" for k in range(ORPHANS)] if first else []
            orphans = [labelled.ground_truth_line(event_id, 1) for event_id in extra]
            self.put(self.ground_truth, key, orphans + labels + ([] if first else JUNK))

    def checkpoint_docs(self) -> dict[int, dict[str, Any]]:
        folder = self.root / "checkpoints" / "quality" / self.captures
        out = {}
        for path in folder.glob("*.json"):
            try:
                out[int(path.stem)] = json.loads(path.read_text())
            except (ValueError, json.JSONDecodeError):
                continue  # the positions file, or a checkpoint being replaced
        return out

    def counts(self) -> dict[int, dict[str, int]]:
        return {
            p: doc["monitor"]["watchers"]["model_quality"]["counts"]
            for p, doc in self.checkpoint_docs().items()
        }

    def all_labels_read(self) -> bool:
        counts = self.counts()
        return len(counts) == SHARDS and all(
            c.get("labels_received", 0) >= N + ORPHANS and c.get("labels_rejected", 0) >= len(JUNK)
            for c in counts.values()
        )

    def start(self, config: Path, name: str) -> subprocess.Popen[bytes]:
        return s.start_cli(
            "--log-level", "info", "run", "--config", str(config), cwd=self.root,
            log=self.root / f"{name}.log",
        )  # fmt: skip

    def run_until_every_label_is_read(
        self, streams: list[Stream], process: subprocess.Popen[bytes]
    ) -> None:
        """Filler captures carry the last labels over (labels travel with capture batches)."""
        captures = len(streams[0].captures)
        for start in range(N, captures - FILLER + 1, FILLER):
            try:
                s.wait_for(self.all_labels_read, 5, "every label to be read")
                return
            except AssertionError:
                assert process.poll() is None, "the run ended early"
            for st, key in zip(streams, partition_keys(), strict=True):
                self.put(self.captures, key, st.captures[start : start + FILLER])
        raise AssertionError(f"labels left unread: {self.counts()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def quality_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if (e.get("detector") or "").startswith("model_quality")]


def test_run_joins_ground_truth_from_a_co_sharded_stream_and_survives_a_kill(
    moto_server: MotoServer, quality_baseline: Path, tmp_path: Path
) -> None:
    streams = [stream(p) for p in range(SHARDS)]
    url = moto_server.endpoint_url

    # -- uninterrupted ------------------------------------------------------------------------
    whole = Setup.create(url, tmp_path / "whole", quality_baseline)
    whole.publish(streams, 0, HALF, first=True)
    whole.publish(streams, HALF, N, first=False)
    process = whole.start(whole.config(), "whole")
    try:
        whole.run_until_every_label_is_read(streams, process)
    finally:
        stop(process)
    events = s.read_events(whole.root / "events.jsonl")
    expected = {k: events[-1]["model_quality"][k] for k in JOIN_COUNTS}
    print(f"\nuninterrupted: {expected}")
    assert expected["labels_received"] == SHARDS * (N + ORPHANS)
    assert expected["labels_rejected"] == SHARDS * len(JUNK)
    # every labelled record met its label, in the shard that holds it
    assert expected["labels_matched"] == expected["pairs"] == SHARDS * N
    assert expected["labels_duplicate"] == expected["predictions_duplicate"] == 0
    docs = whole.checkpoint_docs()
    assert set(docs) == set(range(SHARDS))
    for p in range(SHARDS):
        mine = [e for e in quality_events(events) if e["partition"] == p]
        online = [e for e in mine if e["detector"] == "model_quality_page_hinkley"]
        print(f"shard {p}: {[(e['detector'], e['record_index']) for e in mine]}")
        assert online, f"shard {p}: the online detector missed the quality loss"
        assert online[0]["metric"] == "accuracy"
        assert min(e["record_index"] for e in mine) >= CHANGE
        # the position in the ground truth: a sequence number, as a string
        sequence = docs[p]["aux_offsets"][whole.ground_truth]
        assert isinstance(sequence, str) and sequence.isdigit()

    # -- killed after a checkpoint, restarted --------------------------------------------------
    killed = Setup.create(url, tmp_path / "killed", quality_baseline)
    killed.publish(streams, 0, HALF, first=True)
    # checkpoints only every 2,000 records: what the killed process read after its last one
    # (captures and labels) is read again after the restart
    first = killed.start(
        killed.config(interval_seconds=3600, every_records=2000), "first"
    )  # fmt: skip
    try:
        s.wait_for(
            lambda: (
                len(killed.counts()) == SHARDS
                and all(c.get("labels_received", 0) > 0 for c in killed.counts().values())
            ),
            180,
            "a checkpoint holding labels of both shards",
        )
    finally:
        first.kill()  # SIGKILL: no flush, no checkpoint, no goodbye
        first.wait(timeout=30)
    at_kill = killed.checkpoint_docs()
    assert all(isinstance(d["aux_offsets"][killed.ground_truth], str) for d in at_kill.values())
    at_kill_received = sum(c["labels_received"] for c in killed.counts().values())
    assert 0 < at_kill_received < SHARDS * (N + ORPHANS)
    killed.publish(streams, HALF, N, first=False)
    second = killed.start(killed.config(), "second")
    try:
        killed.run_until_every_label_is_read(streams, second)
    finally:
        stop(second)
    log = (killed.root / "second.log").read_text()
    assert log.count("partition_restored") >= SHARDS
    after = {
        k: s.read_events(killed.root / "events.jsonl")[-1]["model_quality"][k] for k in JOIN_COUNTS
    }
    print(f"killed and restarted: {after}")
    # nothing lost, nothing counted twice
    assert after == expected


def test_a_ground_truth_stream_sharded_otherwise_stops_run_with_exit_2(
    moto_server: MotoServer, quality_baseline: Path, tmp_path: Path
) -> None:
    setup = Setup.create(
        moto_server.endpoint_url, tmp_path / "run", quality_baseline, truth_shards=3
    )
    done = s.run_cli("run", "--config", str(setup.config()), cwd=setup.root, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"driftstream: error: sources.kinesis.ground_truth_stream: {setup.ground_truth} has 3 "
        f"open shards, the capture stream {setup.captures} 2; ground truth must be sharded like "
        "the captures and keyed alike (docs/model-quality.md)"
    )
    assert "Traceback" not in done.stderr
