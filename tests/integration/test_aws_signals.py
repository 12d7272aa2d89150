"""Retrain-signal delivery on a moto server and a local webhook: every target receives the same
signal once, and a replay of the same records delivers nothing twice."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration import aws_support as s
from tests.services import MotoServer

pytestmark = pytest.mark.integration

SECRET = "webhook-secret-1234"


@dataclass
class Webhook:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 1  # answer 503 to this many requests, then 200


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A local HTTP server that records what it is sent; the first request gets a 503."""
    hook = Webhook("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.requests.append((dict(self.headers.items()), body))
            status = 503 if len(hook.requests) <= hook.fail_first else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/retrain?token=abc"
    yield hook
    server.shutdown()
    server.server_close()


def _targets(endpoint_url: str) -> dict[str, Any]:
    """An SNS topic and an EventBridge rule, each feeding an SQS queue; a SageMaker pipeline."""
    sns_queue, sns_queue_arn = s.sqs_queue(endpoint_url, s.unique("sns-q"))
    sns = s.client(endpoint_url, "sns")
    topic = sns.create_topic(Name=s.unique("retrain"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=sns_queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    events_queue, events_queue_arn = s.sqs_queue(endpoint_url, s.unique("events-q"))
    events = s.client(endpoint_url, "events")
    rule = s.unique("retrain-signals")
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {"source": ["driftstream"], "detail-type": ["driftstream.retrain_signal"]}
        ),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": events_queue_arn}])
    pipeline = s.unique("retrain")
    definition = {
        "Version": "2020-12-01",
        "Parameters": [
            {"Name": n, "Type": "String"}
            for n in ("Endpoint", "IdempotencyKey", "Features", "Baseline")
        ],
        "Steps": [],
    }
    s.client(endpoint_url, "sagemaker").create_pipeline(
        PipelineName=pipeline,
        PipelineDefinition=json.dumps(definition),
        RoleArn="arn:aws:iam::123456789012:role/sagemaker-pipelines",
    )
    return {
        "topic": topic,
        "sns_queue": sns_queue,
        "events_queue": events_queue,
        "pipeline": pipeline,
    }


def _executions(endpoint_url: str, pipeline: str) -> list[dict[str, Any]]:
    sm = s.client(endpoint_url, "sagemaker")
    out: list[dict[str, Any]] = sm.list_pipeline_executions(PipelineName=pipeline)[
        "PipelineExecutionSummaries"
    ]
    return out


def test_every_target_receives_the_signal_once(
    moto_server: MotoServer, webhook: Webhook, tmp_path: Path
) -> None:
    url = moto_server.endpoint_url
    t = _targets(url)
    retry = {"initial_seconds": 0.2, "max_seconds": 1.0}
    tree = s.base_config(
        url,
        sinks={
            "signal_outbox": "outbox",
            "signals": [
                {"type": "sns", "topic_arn": t["topic"]},
                {"type": "eventbridge"},
                {
                    "type": "sagemaker_pipeline",
                    "pipeline_name": t["pipeline"],
                    "parameters": {
                        "Endpoint": "endpoint",
                        "IdempotencyKey": "idempotency_key",
                        "Features": "features",
                        "Baseline": "evidence.baseline",
                    },
                },
                {"type": "webhook", "url": webhook.url, "secret": SECRET, "retry": retry},
                {"type": "file", "path": "signals.jsonl"},
            ],
        },
    )
    config = s.write_config(tmp_path / "c.yaml", tree)
    s.write_lines(tmp_path / "capture.jsonl", s.traffic())

    done = s.run_cli(
        "--log-level",
        "info",
        "replay",
        "capture.jsonl",
        "--config",
        str(config),
        "--events-out",
        "events.jsonl",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    events = s.read_events(tmp_path / "events.jsonl")
    (decided,) = [e for e in events if e.get("decision") == "retrain"]
    key = decided["idempotency_key"]

    (line,) = (tmp_path / "signals.jsonl").read_text().splitlines()
    document = json.loads(line)
    assert document["idempotency_key"] == key
    assert document["type"] == "driftstream.retrain_signal"
    assert (document["endpoint"], document["decision"]) == ("churn", "retrain")
    assert document["features"] == decided["features"]
    assert document["evidence"] == decided["evidence"]
    assert document["record_index"] == decided["record_index"]

    (sns_message,) = s.drain_queue(url, t["sns_queue"])
    assert json.loads(sns_message) == document
    (event,) = s.drain_queue(url, t["events_queue"])
    event = json.loads(event)
    assert (event["source"], event["detail-type"]) == ("driftstream", "driftstream.retrain_signal")
    assert event["detail"] == document

    (execution,) = _executions(url, t["pipeline"])
    parameters = s.client(url, "sagemaker").list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in parameters} == {
        "Endpoint": "churn",
        "IdempotencyKey": key,
        "Features": json.dumps(document["features"], separators=(",", ":")),
        "Baseline": document["evidence"]["baseline"],
    }

    # the webhook answered 503 first: retried, and every request was signed
    assert len(webhook.requests) == 2
    for headers, body in webhook.requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Driftstream-Signature"], expected)
        assert headers["X-Driftstream-Idempotency-Key"] == key
        assert json.loads(body) == document
    assert SECRET not in done.stderr and "token=abc" not in done.stderr

    # the same records again: the same key, nothing delivered anywhere a second time
    again = s.run_cli(
        "--log-level",
        "info",
        "replay",
        "capture.jsonl",
        "--config",
        str(config),
        "--events-out",
        "events2.jsonl",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert "signal_duplicate" in again.stderr
    (decided_again,) = [
        e for e in s.read_events(tmp_path / "events2.jsonl") if e.get("decision") == "retrain"
    ]
    assert decided_again["idempotency_key"] == key
    assert len((tmp_path / "signals.jsonl").read_text().splitlines()) == 1
    assert s.drain_queue(url, t["sns_queue"], wait=0.5) == []
    assert s.drain_queue(url, t["events_queue"], wait=0.5) == []
    assert len(_executions(url, t["pipeline"])) == 1
    assert len(webhook.requests) == 2
