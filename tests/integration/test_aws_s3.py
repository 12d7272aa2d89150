"""`driftstream replay s3://bucket/prefix` on a moto server: time order across hour prefixes,
plain and gzip objects, progress counted against the listed sizes, one-line errors."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from driftstream.sinks.aws import AwsSettings
from driftstream.streamer.sources.s3 import S3Source, s3_client_factory
from tests.integration import aws_support as s
from tests.services import MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _dummy_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    s.use_dummy_keys(monkeypatch)


HOURS = ("2026/11/01/00", "2026/11/01/01", "2026/11/01/02")


def _upload(endpoint_url: str, bucket: str, lines: tuple[bytes, ...]) -> None:
    """Three hour folders, written latest first; the middle one gzip-compressed and split in
    two files; plus objects that are not capture files."""
    s3 = s.client(endpoint_url, "s3")
    s3.create_bucket(Bucket=bucket)
    third = len(lines) // 3
    parts = [lines[:third], lines[third : 2 * third], lines[2 * third :]]
    prefix = "datacapture/churn/AllTraffic"
    for hour, part in reversed(list(zip(HOURS, parts, strict=True))):
        body = b"".join(line + b"\n" for line in part)
        if hour.endswith("01"):
            half = len(part) // 2
            first = b"".join(line + b"\n" for line in part[:half])
            s3.put_object(
                Bucket=bucket,
                Key=f"{prefix}/{hour}/10-00-000-b.jsonl",
                Body=gzip.compress(body[len(first) :]),
            )
            s3.put_object(
                Bucket=bucket,
                Key=f"{prefix}/{hour}/05-00-000-a.jsonl.gz",
                Body=gzip.compress(first),
            )
        else:
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{hour}/00-00-000-x.jsonl", Body=body)
    s3.put_object(Bucket=bucket, Key=f"{prefix}/README.txt", Body=b"not a capture file")
    s3.put_object(Bucket=bucket, Key="elsewhere/2026/11/01/00/z.jsonl", Body=b"{}\n")


def test_s3_replay_equals_the_local_replay(moto_server: MotoServer, tmp_path: Path) -> None:
    lines = s.traffic()
    bucket = s.unique("captures")
    _upload(moto_server.endpoint_url, bucket, lines)
    s.write_lines(tmp_path / "local.jsonl", lines)
    config = s.write_config(tmp_path / "c.yaml", s.base_config(moto_server.endpoint_url))

    done = s.run_cli(
        "replay",
        f"s3://{bucket}/datacapture/churn",
        "--config",
        str(config),
        "--events-out",
        "s3-events.jsonl",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    local = s.run_cli(
        "replay",
        "local.jsonl",
        "--config",
        str(config),
        "--events-out",
        "local-events.jsonl",
        cwd=tmp_path,
    )
    assert local.returncode == 0, local.stderr

    from_s3 = s.read_events(tmp_path / "s3-events.jsonl")
    expected = s.read_events(tmp_path / "local-events.jsonl")
    assert s.comparable(from_s3) == s.comparable(expected)
    assert from_s3[-1]["records_read"] == len(lines)
    # record positions follow the hour folders, not the order the objects were written in
    first_drift = next(e for e in from_s3 if e["kind"] == "drift")
    assert first_drift["event_id"].endswith(f"{first_drift['record_index']:012x}")


def test_s3_source_order_and_progress(moto_server: MotoServer) -> None:
    lines = s.traffic()[:3000]
    bucket = s.unique("progress")
    _upload(moto_server.endpoint_url, bucket, lines)
    settings = AwsSettings(endpoint_url=moto_server.endpoint_url, region=s.REGION)
    source = S3Source(
        f"s3://{bucket}/datacapture/", s3_client_factory(settings), max_line_bytes=1_048_576
    )
    keys = [name.rsplit("AllTraffic/", 1)[1] for name in source.names]
    assert keys == [
        "2026/11/01/00/00-00-000-x.jsonl",
        "2026/11/01/01/05-00-000-a.jsonl.gz",
        "2026/11/01/01/10-00-000-b.jsonl",
        "2026/11/01/02/00-00-000-x.jsonl",
    ]
    read: list[bytes] = []
    consumed = 0
    while (batch := source.read(700)) is not None:
        read.extend(batch.lines)
        consumed += batch.consumed_bytes
    source.close()
    assert read == list(lines)
    assert consumed == source.total_bytes > 0


def test_partial_and_corrupt_objects_are_one_rejection_each(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    """A truncated .jsonl.gz (a partial upload) and one with corrupt deflate data between good
    objects: their readable records are used, each damaged rest is one `damaged_file` rejection
    naming the object and line, and the objects after them are read. A local replay of the same
    bytes gives the same events, apart from the name in those two details."""
    lines = s.traffic()[:8000]
    bucket = s.unique("damaged")
    prefix = "datacapture/churn/AllTraffic"
    truncated = gzip.compress(b"".join(line + b"\n" for line in lines[2000:4000]))
    corrupt = bytearray(gzip.compress(b"".join(line + b"\n" for line in lines[4000:6000])))
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 32] = b"\xff" * 32
    bodies = {
        "2026/11/01/00/a.jsonl.gz": gzip.compress(b"".join(x + b"\n" for x in lines[:2000])),
        "2026/11/01/01/b.jsonl.gz": truncated[: len(truncated) // 2],
        "2026/11/01/02/c.jsonl.gz": bytes(corrupt),
        "2026/11/01/03/d.jsonl": b"".join(line + b"\n" for line in lines[6000:]),
    }
    s3 = s.client(moto_server.endpoint_url, "s3")
    s3.create_bucket(Bucket=bucket)
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=body)
        (tmp_path / "local" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "local" / key).write_bytes(body)
    config = s.write_config(tmp_path / "c.yaml", s.base_config(moto_server.endpoint_url))

    runs = {}
    for name, source in (("s3", f"s3://{bucket}/datacapture/churn"), ("local", "local")):
        done = s.run_cli(
            "replay", source, "--config", str(config), "--events-out", f"{name}.jsonl", cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        runs[name] = s.read_events(tmp_path / f"{name}.jsonl")

    events = runs["s3"]
    damaged = [e for e in events if e["kind"] == "rejected"]
    assert [e["reason"] for e in damaged] == ["damaged_file", "damaged_file"]
    b, c = damaged
    read_of_b = b["record_index"] - 2000  # whole lines read before the damage
    read_of_c = c["record_index"] - (2000 + read_of_b + 1)
    assert 0 < read_of_b < 2000 and 0 < read_of_c < 2000
    assert b["detail"] == (
        f"s3://{bucket}/{prefix}/2026/11/01/01/b.jsonl.gz: truncated gzip data (the stream "
        f"ends before its end marker) at line {read_of_b + 1} (uncompressed byte "
        f"{sum(len(x) + 1 for x in lines[2000 : 2000 + read_of_b])}); the rest of the file is "
        "skipped"
    )
    assert c["detail"].startswith(
        f"s3://{bucket}/{prefix}/2026/11/01/02/c.jsonl.gz: corrupt gzip data at line "
        f"{read_of_c + 1} "
    )
    summary = events[-1]
    # every line read counts: the readable ones, one per damaged rest, all of d.jsonl
    assert summary["records_read"] == 2000 + read_of_b + 1 + read_of_c + 1 + 2000
    assert summary["records_used"] == summary["records_read"] - 2
    assert summary["records_rejected"] == {"damaged_file": 2}

    def named_alike(events: list[dict[str, Any]], root: str) -> list[dict[str, Any]]:
        return [
            {**e, "detail": e["detail"].replace(root, "ROOT")} if "detail" in e else e
            for e in s.comparable(events)
        ]

    assert named_alike(events, f"s3://{bucket}/{prefix}") == named_alike(runs["local"], "local")


def test_s3_errors_are_one_line(moto_server: MotoServer, tmp_path: Path) -> None:
    config = s.write_config(tmp_path / "c.yaml", s.base_config(moto_server.endpoint_url))
    missing = s.run_cli(
        "replay", "s3://no-such-bucket-here/x", "--config", str(config), cwd=tmp_path
    )
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "driftstream: error: replay source s3://no-such-bucket-here/x: NoSuchBucket: "
        "The specified bucket does not exist"
    )
    bucket = s.unique("empty")
    s.client(moto_server.endpoint_url, "s3").create_bucket(Bucket=bucket)
    empty = s.run_cli("replay", f"s3://{bucket}/nothing", "--config", str(config), cwd=tmp_path)
    assert empty.returncode == 2
    assert empty.stderr.strip() == (
        f"driftstream: error: replay source s3://{bucket}/nothing holds no .jsonl or "
        ".jsonl.gz objects"
    )
