"""Helpers of the AWS integration tests: baseline, traffic, configs, boto3 clients, the command.

Every AWS call goes to a moto server over HTTP (tests/conftest.py's `moto_server`, or a test's
own ThreadedMotoServer), through boto3 with `endpoint_url`, dummy keys and us-east-1.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

from driftstream.streamer.app.demo import demo_changes
from driftstream.streamer.sources.synthetic import Scenario, capture_lines, training_csv

DRIFTSTREAM = [sys.executable, "-m", "driftstream.streamer.app.cli"]
REGION = "us-east-1"
DUMMY_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
N_RECORDS = 12_000
CHANGE_AT = 4_000  # demo_changes drift 7 of 14 features from here: a retrain signal follows


@dataclass(frozen=True)
class Baseline:
    directory: Path
    calibration_cache: Path


@functools.cache
def shared_baseline() -> Baseline:
    """A baseline built once per test process by `driftstream baseline`, with its own
    calibration cache (so a fresh machine calibrates once, not once per test)."""
    root = Path(tempfile.mkdtemp(prefix="driftstream-aws-"))
    atexit.register(shutil.rmtree, root, True)
    (root / "training.csv").write_text(training_csv(20_000, seed=1))
    done = run_cli(
        "baseline", "training.csv", "--out", "baseline", "--label-column", "prediction", cwd=root
    )
    assert done.returncode == 0, done.stderr
    return Baseline(root / "baseline", root / "calibration")


@functools.cache
def traffic(seed: int = 11, n_records: int = N_RECORDS) -> tuple[bytes, ...]:
    """Capture lines drifting at CHANGE_AT on half the features (retrain signal expected)."""
    return tuple(capture_lines(Scenario(f"aws-{seed}", n_records, demo_changes(CHANGE_AT), seed)))


def write_lines(path: Path, lines: Sequence[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def base_config(endpoint_url: str, **sections: Any) -> dict[str, Any]:
    """A config tree: the shared baseline and calibration cache, moto's endpoint, `sections`."""
    b = shared_baseline()
    tree: dict[str, Any] = {
        "endpoint": "churn",
        "baseline": str(b.directory),
        "detectors": {"calibration": {"cache_dir": str(b.calibration_cache)}},
        "aws": {"endpoint_url": endpoint_url, "region": REGION, "max_attempts": 2},
        "metrics": {"port": 0},
    }
    tree.update(sections)
    return tree


def write_config(path: Path, tree: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(tree, sort_keys=False))
    return path


def env() -> dict[str, str]:
    """The environment of a `driftstream` process: dummy keys, nothing from the real account."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRIFTSTREAM__"))}
    out.update(DUMMY_KEYS)
    return out


def run_cli(
    *args: str, cwd: Path, extra_env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DRIFTSTREAM, *args],
        cwd=cwd,
        env={**env(), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_cli(*args: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*DRIFTSTREAM, *args],
            cwd=cwd,
            env=env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def client(endpoint_url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_KEYS["AWS_SECRET_ACCESS_KEY"],
    )


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def comparable(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events without the summary and without where the live service read them from."""
    return [
        {k: v for k, v in e.items() if k not in ("topic", "partition")}
        for e in events
        if e["kind"] != "summary"
    ]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def sqs_queue(endpoint_url: str, name: str) -> tuple[str, str]:
    """A new SQS queue: (url, arn)."""
    sqs = client(endpoint_url, "sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def drain_queue(endpoint_url: str, url: str, wait: float = 1.0) -> list[str]:
    """Every message body waiting in the queue (deleted as read)."""
    sqs = client(endpoint_url, "sqs")
    bodies: list[str] = []
    deadline = time.monotonic() + wait
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        for m in messages:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not messages:
            if time.monotonic() >= deadline:
                return bodies
            time.sleep(0.1)


def use_dummy_keys(monkeypatch: Any) -> None:
    """In-process clients made from config (boto3's chain) find the dummy keys only."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in DUMMY_KEYS.items():
        monkeypatch.setenv(name, value)
