"""`driftstream replay --violations-out s3://bucket/prefix` on a moto server: the same reports as
a local folder gets, under the prefix; a bucket that is not there is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import aws_support as s
from tests.services import MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _dummy_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    s.use_dummy_keys(monkeypatch)


def _replay(config: Path, out: str, events: str, cwd: Path) -> None:
    done = s.run_cli(
        "replay",
        "capture.jsonl",
        "--config",
        str(config),
        "--events-out",
        events,
        "--violations-out",
        out,
        "--violations-window",
        "2000r",
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr


def test_reports_to_s3_equal_the_local_folder(moto_server: MotoServer, tmp_path: Path) -> None:
    s.write_lines(tmp_path / "capture.jsonl", s.traffic())
    config = s.write_config(tmp_path / "c.yaml", s.base_config(moto_server.endpoint_url))
    bucket = s.unique("reports")
    s3 = s.client(moto_server.endpoint_url, "s3")
    s3.create_bucket(Bucket=bucket)

    _replay(config, f"s3://{bucket}/monitoring/churn", "s3-events.jsonl", tmp_path)
    _replay(config, "local", "local-events.jsonl", tmp_path)

    local = {
        p.relative_to(tmp_path / "local").as_posix(): p.read_bytes()
        for p in (tmp_path / "local").rglob("*")
        if p.is_file()
    }
    # s.traffic(): 12,000 records 0.01 s apart, six 2,000-record windows in the first two
    # minutes: the first of each minute in the minute's folder, the others beside it
    assert len(local) == 12
    assert "2026/11/01/00/00/constraint_violations.json" in local
    assert "2026/11/01/00/00/records-2000/statistics.json" in local
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="monitoring/churn/")["Contents"]
    remote = {
        o["Key"].removeprefix("monitoring/churn/"): s3.get_object(Bucket=bucket, Key=o["Key"])[
            "Body"
        ].read()
        for o in listed
    }
    assert remote == local
    head = s3.head_object(Bucket=bucket, Key="monitoring/churn/2026/11/01/00/00/statistics.json")
    assert head["ContentType"] == "application/json"
    assert s.comparable(s.read_events(tmp_path / "s3-events.jsonl")) == s.comparable(
        s.read_events(tmp_path / "local-events.jsonl")
    )


def test_a_missing_bucket_is_one_line(moto_server: MotoServer, tmp_path: Path) -> None:
    s.write_lines(tmp_path / "capture.jsonl", s.traffic()[:100])
    config = s.write_config(tmp_path / "c.yaml", s.base_config(moto_server.endpoint_url))
    done = s.run_cli(
        "replay",
        "capture.jsonl",
        "--config",
        str(config),
        "--violations-out",
        "s3://no-such-bucket/x",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("driftstream: error: report folder s3://no-such-bucket: ")
