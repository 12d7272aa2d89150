"""Approval mode on a moto server: signals decided by a replay wait in the store; the next replay
(a restart against the same store) delivers the one a person approved to SNS (read through an
SQS queue) and the file, once each, and never the one rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration import aws_support as s
from tests.services import MotoServer

pytestmark = pytest.mark.integration


def test_approved_once_per_target_rejected_never(moto_server: MotoServer, tmp_path: Path) -> None:
    url = moto_server.endpoint_url
    queue, queue_arn = s.sqs_queue(url, s.unique("approved-q"))
    sns = s.client(url, "sns")
    topic = sns.create_topic(Name=s.unique("retrain"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    tree = s.base_config(
        url,
        sinks={
            "signal_outbox": "outbox",
            "signal_approval": "required",
            "signals": [
                {"type": "sns", "topic_arn": topic},
                {"type": "file", "path": "delivered.jsonl"},
            ],
        },
    )
    tree["detectors"]["retrain"] = {"cooldown_rows": 3_000}  # a second signal to reject
    config = s.write_config(tmp_path / "c.yaml", tree)
    s.write_lines(tmp_path / "capture.jsonl", s.traffic())

    def replay(events: str) -> list[dict[str, object]]:
        done = s.run_cli(
            "replay", "capture.jsonl", "--config", str(config), "--events-out", events,
            cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return [e for e in s.read_events(tmp_path / events) if e.get("decision") == "retrain"]

    decided = replay("events1.jsonl")
    assert len(decided) >= 2
    keys = [str(e["idempotency_key"]) for e in decided]
    assert s.drain_queue(url, queue, wait=0.5) == []  # held: nothing delivered
    assert not (tmp_path / "delivered.jsonl").exists()

    def signals(*args: str, user: str) -> str:
        done = s.run_cli(
            "signals", *args, "--config", str(config), cwd=tmp_path, extra_env={"USER": user}
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = signals("list", user="carol").splitlines()[2:]
    assert [line.split()[:2] for line in listed] == [[k, "pending"] for k in keys]
    signals("approve", keys[0], "--reason", "drift confirmed", user="alice")
    for key in keys[1:]:
        signals("reject", key, "--reason", "seasonal", user="bob")

    again = replay("events2.jsonl")  # the restart: the same decisions, now duplicates
    assert [e["idempotency_key"] for e in again] == keys
    (message,) = s.drain_queue(url, queue)
    document = json.loads(message)
    assert document["idempotency_key"] == keys[0]
    assert document["approval"] == {
        "required": True,
        "status": "approved",
        "by": "alice",
        "at": document["approval"]["at"],
        "reason": "drift confirmed",
    }
    assert document["lineage"]["baseline"]["identity"] == document["evidence"]["baseline"]
    (filed,) = (tmp_path / "delivered.jsonl").read_text().splitlines()
    assert json.loads(filed) == document

    replay("events3.jsonl")  # and once more: nothing twice, the rejected never
    assert s.drain_queue(url, queue, wait=0.5) == []
    assert len((tmp_path / "delivered.jsonl").read_text().splitlines()) == 1
    shown = signals("show", keys[0], user="carol")
    assert f"delivered  sns:{topic} at " in shown and "approved by alice" in shown
