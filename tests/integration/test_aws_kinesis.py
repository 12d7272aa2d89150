"""Kinesis end to end on a moto server: `replay --to kinesis://`, then `driftstream run`.

The same captured records give the same events whether replayed from the file or read live
from Kinesis, and a `kill -9` mid-stream followed by a restart loses nothing.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from driftstream.sinks.aws import AwsSettings, client
from driftstream.streamer.publish.kinesis import MAX_RECORD_BYTES, KinesisPublisher
from driftstream.streamer.sources.kinesis.settings import KinesisSourceSettings
from driftstream.streamer.sources.kinesis.source import KinesisSource, PositionStore
from driftstream.streamer.sources.memory import IterSource
from tests.integration import aws_support as s
from tests.services import MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def published(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 2-shard stream holding the traffic, put there by `driftstream replay --to kinesis://`,
    and the events of `driftstream replay` of the same file."""
    root = tmp_path_factory.mktemp("kinesis")
    stream = s.unique("captures")
    s.client(moto_server.endpoint_url, "kinesis").create_stream(StreamName=stream, ShardCount=2)
    capture = s.write_lines(root / "capture.jsonl", s.traffic())
    config = s.write_config(root / "replay.yaml", s.base_config(moto_server.endpoint_url))
    done = s.run_cli(
        "replay", str(capture), "--config", str(config), "--to", f"kinesis://{stream}", cwd=root
    )
    assert done.returncode == 0, done.stderr
    assert f"published {s.N_RECORDS} of {s.N_RECORDS} records" in done.stderr
    done = s.run_cli(
        "replay",
        str(capture),
        "--config",
        str(config),
        "--events-out",
        "file-events.jsonl",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    expected = s.comparable(s.read_events(root / "file-events.jsonl"))
    assert any(e["kind"] == "retrain_signal" for e in expected)
    return {"root": root, "stream": stream, "expected": expected}


def _live_config(root: Path, endpoint_url: str, stream: str, name: str) -> Path:
    tree = s.base_config(
        endpoint_url,
        sources={
            "kinesis": {
                "stream_name": stream,
                "application": name,
                "max_records_per_call": 500,
                "idle_poll_seconds": 0.2,
                "shard_refresh_seconds": 5,
            }
        },
        checkpoint={
            "directory": str(root / name / "checkpoints"),
            "interval_seconds": 0.5,
            "every_records": 1000,
        },
        sinks={"events_file": str(root / name / "events.jsonl")},
    )
    return s.write_config(root / f"{name}.yaml", tree)


def _committed(root: Path, name: str, stream: str) -> int:
    """Records of the stream whose position is committed (all shards)."""
    path = root / name / "checkpoints" / name / stream / "kinesis-positions.json"
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    return sum(e["committed"][-1][0] for e in doc["shards"].values() if e["committed"])


def _stop(process: Any) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def test_run_on_kinesis_gives_the_events_of_a_file_replay(
    published: dict[str, Any], moto_server: MotoServer
) -> None:
    root, stream = published["root"], published["stream"]
    config = _live_config(root, moto_server.endpoint_url, stream, "whole")
    process = s.start_cli("run", "--config", str(config), cwd=root, log=root / "whole.log")
    try:
        s.wait_for(
            lambda: _committed(root, "whole", stream) >= s.N_RECORDS, 120, "every record committed"
        )
    finally:
        _stop(process)
    live = s.read_events(root / "whole" / "events.jsonl")
    assert s.comparable(live) == published["expected"]
    # every event names the stream and the shard (as partition) it was read from: the one
    # shard the endpoint's partition key maps to
    shards = {(e["topic"], e["partition"]) for e in live if e["kind"] != "summary"}
    assert shards == {(stream, _shard_with_records(root, "whole", stream))}


def _shard_with_records(root: Path, name: str, stream: str) -> int:
    doc = json.loads(
        (root / name / "checkpoints" / name / stream / "kinesis-positions.json").read_text()
    )
    (shard,) = [sid for sid, e in doc["shards"].items() if e["committed"]]
    return int(shard.rsplit("-", 1)[1])


def test_kill_and_restart_mid_stream_loses_nothing(
    published: dict[str, Any], moto_server: MotoServer
) -> None:
    root, stream = published["root"], published["stream"]
    config = _live_config(root, moto_server.endpoint_url, stream, "crash")
    first = s.start_cli("run", "--config", str(config), cwd=root, log=root / "crash.log")
    try:
        s.wait_for(lambda: _committed(root, "crash", stream) >= 3000, 120, "a first checkpoint")
    finally:
        first.kill()  # SIGKILL: no flush, no checkpoint, no goodbye
        first.wait(timeout=30)
    at_kill = _committed(root, "crash", stream)
    assert at_kill < s.N_RECORDS, "the run finished before it could be killed mid-stream"

    second = s.start_cli(
        "--log-level", "info", "run", "--config", str(config), cwd=root, log=root / "crash.log"
    )
    try:
        s.wait_for(
            lambda: _committed(root, "crash", stream) >= s.N_RECORDS,
            120,
            "every record committed after the restart",
        )
    finally:
        _stop(second)
    live = s.comparable(s.read_events(root / "crash" / "events.jsonl"))
    # at-least-once: events between the last checkpoint and the kill may be written twice
    unique = list({json.dumps(e, sort_keys=True): e for e in live}.values())
    assert sorted(unique, key=_order) == sorted(published["expected"], key=_order)
    log = (root / "crash.log").read_text()
    assert "partition_restored" in log


def _order(e: dict[str, Any]) -> tuple[int, str, str, str]:
    return (e.get("record_index", -1), e["kind"], e.get("feature", ""), e.get("detector", ""))


def test_unknown_stream_is_one_line_and_exit_2(moto_server: MotoServer, tmp_path: Path) -> None:
    config = _live_config(tmp_path, moto_server.endpoint_url, "no-such-stream", "nostream")
    done = s.run_cli("run", "--config", str(config), cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("driftstream: error: kinesis stream 'no-such-stream'")
    assert "ResourceNotFoundException" in last
    assert "Traceback" not in done.stderr

    capture = s.write_lines(tmp_path / "c.jsonl", s.traffic()[:10])
    done = s.run_cli(
        "replay",
        str(capture),
        "--config",
        str(tmp_path / "nostream.yaml"),
        "--to",
        "kinesis://no-such-stream",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("driftstream: error: kinesis stream 'no-such-stream'")


def test_put_records_limits_are_ours(moto_server: MotoServer) -> None:
    """1,234 records plus one over 1 MiB, and six records of 900 KB: every PutRecords call
    holds at most 500 records and 5 MiB; the oversized record is skipped and reported; the
    others arrive unchanged."""
    kinesis = s.client(moto_server.endpoint_url, "kinesis")
    stream = s.unique("limits")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    calls: list[tuple[int, int]] = []

    def record_call(params: dict[str, Any], **_: Any) -> None:
        records = params["Records"]
        calls.append((len(records), sum(len(r["Data"]) + len(r["PartitionKey"]) for r in records)))

    kinesis.meta.events.register("provide-client-params.kinesis.PutRecords", record_call)
    small = [b'{"n": %d}' % i for i in range(1234)]
    big = [bytes([65 + i]) * 900_000 for i in range(6)]
    oversized = b"x" * (MAX_RECORD_BYTES + 1)
    lines = [*small[:700], oversized, *small[700:], *big]
    publisher = KinesisPublisher(kinesis, stream, "churn")
    summary = publisher.publish(IterSource(iter(lines)))

    assert summary.records == len(lines)
    assert summary.sent == len(lines) - 1
    assert summary.skipped == 1 and summary.skipped_indices == [700]
    assert "1 records skipped as larger than 1,048,576 bytes (record index 700)" in (
        summary.line(stream, "churn")
    )
    assert all(n <= 500 and size <= 5 * 1_048_576 for n, size in calls)
    assert max(n for n, _ in calls) == 500
    assert sum(n for n, _ in calls) == len(lines) - 1
    # the sixth 900 KB record would take the third call over 5 MiB: it goes in a call of
    # its own
    assert calls[-1] == (1, 900_000 + len(b"churn"))

    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    got: list[bytes] = []
    while iterator and len(got) < len(lines) - 1:
        answer = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        got.extend(r["Data"] for r in answer["Records"])
        iterator = answer["NextShardIterator"] if answer["Records"] else None
    assert got == [line for line in lines if line is not oversized]


class _Listener:
    """The live service's side of the source, reduced to what this test looks at."""

    def __init__(self) -> None:
        self.source: Any = None
        self.assigned: list[list[str]] = []
        self.revoked: list[list[str]] = []
        self.positions: dict[Any, int] = {}

    def on_assigned(self, partitions: Any) -> None:
        self.assigned.append([str(p) for p in partitions])

    def on_revoked(self, partitions: Any) -> dict[Any, int]:
        self.revoked.append([str(p) for p in partitions])
        return {p: self.positions[p] for p in partitions if p in self.positions}

    def on_lost(self, partitions: Any) -> None:
        raise AssertionError("Kinesis never loses shards")


def test_children_follow_a_drained_parent(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A split shard: its children are assigned only once the parent is drained, checkpointed
    and marked finished. moto never ends a closed shard's iterator (AWS answers without a
    NextShardIterator), so the test marks the drained parent the way the source does then."""
    s.use_dummy_keys(monkeypatch)
    kinesis = s.client(moto_server.endpoint_url, "kinesis")
    stream = s.unique("split")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.put_records(
        StreamName=stream, Records=[{"Data": b"%d" % i, "PartitionKey": "churn"} for i in range(30)]
    )
    kinesis.split_shard(
        StreamName=stream, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    settings = AwsSettings(endpoint_url=moto_server.endpoint_url, region=s.REGION)
    positions = PositionStore(tmp_path / "positions.json", stream=stream, application="t")
    source = KinesisSource(
        KinesisSourceSettings(stream_name=stream, poll_timeout_seconds=0),
        lambda: client("kinesis", settings),
        positions,
        stop=threading.Event(),
    )
    listener = _Listener()
    source.setup(listener)
    assert listener.assigned == [[f"{stream}/0"]]  # the children wait for their parent
    batches = source.poll()
    assert [(b.first_index, len(b.lines)) for b in batches] == [(0, 30)]
    assert batches[0].lines[:3] == [b"0", b"1", b"2"]

    parent = batches[0].meta["partition"]
    listener.positions[parent] = 30  # the service checkpointed all 30 records
    source._shards["shardId-000000000000"].drained = True  # what AWS's null iterator does
    source.poll()
    assert listener.revoked == [[f"{stream}/0"]]
    assert listener.assigned[1] == [f"{stream}/1", f"{stream}/2"]
    saved = positions.load()
    assert saved is not None and saved["shardId-000000000000"].finished
    assert saved["shardId-000000000000"].committed[-1][0] == 30
    source.close()
