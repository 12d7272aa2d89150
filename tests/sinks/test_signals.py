"""Retrain-signal delivery logic with small targets of our own: durable, retried, once."""

from __future__ import annotations

import hashlib
import hmac
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from driftstream.detectors.events import Event, EventKind
from driftstream.sinks.retry import BackoffSettings
from driftstream.sinks.signals.aws_targets import SageMakerPipelineSignalTarget, parameter_value
from driftstream.sinks.signals.base import DeliveryError, Signal, SignalTarget
from driftstream.sinks.signals.delivery import SignalDeliverySink
from driftstream.sinks.signals.outbox import DELIVERED_FILE, SIGNALS_FILE, Outbox, OutboxError
from driftstream.sinks.signals.webhook import WebhookSignalTarget, signature

FAST = BackoffSettings(initial_seconds=0.01, max_seconds=0.02)


def signal_event(key: str, record: int = 100) -> Event:
    return Event(
        EventKind.RETRAIN_SIGNAL,
        record_index=record,
        value=0.5,
        threshold=0.3,
        inference_time="2026-11-01T00:00:01Z",
        extra={
            "idempotency_key": key,
            "endpoint": "churn",
            "decision": "retrain",
            "features": ["age", "country"],
            "evidence": {"baseline": "b1", "config": "c1", "record_range": [10, record]},
        },
    )


class Recording(SignalTarget):
    """Accepts after `failures` retryable failures; refuses for good when `refuse`."""

    def __init__(self, name: str, failures: int = 0, refuse: bool = False) -> None:
        super().__init__(name)
        self.failures = failures
        self.refuse = refuse
        self.attempts = 0
        self.delivered: list[str] = []
        self.lock = threading.Lock()

    def deliver(self, signal: Signal) -> None:
        with self.lock:
            self.attempts += 1
            if self.refuse:
                raise DeliveryError("refused", retryable=False)
            if self.failures:
                self.failures -= 1
                raise DeliveryError("away", retryable=True)
            self.delivered.append(signal.key)


def _sink(outbox: Path, *targets: SignalTarget) -> SignalDeliverySink:
    return SignalDeliverySink(
        outbox, [(t, FAST) for t in targets], endpoint="churn", close_timeout=2.0
    )


def test_the_signal_document() -> None:
    signal = Signal.from_event(signal_event("k1"))
    doc = signal.document
    assert (doc["type"], doc["version"], doc["idempotency_key"]) == (
        "driftstream.retrain_signal",
        1,
        "k1",
    )
    assert (doc["endpoint"], doc["decision"], doc["features"]) == (
        "churn",
        "retrain",
        ["age", "country"],
    )
    assert (doc["record_index"], doc["value"], doc["threshold"]) == (100, 0.5, 0.3)
    assert signal.field("evidence.baseline") == "b1"
    assert signal.field("evidence.missing") is None
    assert signal.body.startswith(b'{"decided_at":')  # canonical: sorted keys


def test_delivered_to_every_target_once_with_retries(tmp_path: Path) -> None:
    flaky, steady = Recording("flaky", failures=3), Recording("steady")
    sink = _sink(tmp_path / "box", flaky, steady)
    sink.setup()
    sink.add(signal_event("k1"))
    sink.add(Event(EventKind.DRIFT, record_index=5))  # not a signal: ignored
    sink.flush()
    sink.add(signal_event("k1"))  # decided again (records read twice): a duplicate
    sink.add(signal_event("k2", 200))
    sink.flush()
    assert sink.wait_delivered(5)
    sink.close()
    assert flaky.delivered == ["k1", "k2"]  # in order, after three failed attempts
    assert flaky.attempts == 5
    assert steady.delivered == ["k1", "k2"]
    assert sink.metrics.duplicates.labels("churn")._value.get() == 1


def test_durable_before_delivery_and_delivered_after_a_restart(tmp_path: Path) -> None:
    refusing = Recording("hook", refuse=True)
    sink = _sink(tmp_path / "box", refusing)
    sink.setup()
    sink.add(signal_event("k1"))
    sink.flush()
    # on disk before flush returned, whatever happens to the delivery
    assert b'"key":"k1"' in (tmp_path / "box" / SIGNALS_FILE).read_bytes()
    assert sink.wait_delivered(5)  # given up for this run: nothing deliverable is left
    sink.close()
    assert refusing.delivered == []

    fixed = Recording("hook")  # the next start, with the target fixed
    restarted = _sink(tmp_path / "box", fixed)
    restarted.setup()
    assert restarted.wait_delivered(5)
    restarted.add(signal_event("k1"))  # the same records replayed once more
    restarted.flush()
    assert restarted.wait_delivered(5)
    restarted.close()
    assert fixed.delivered == ["k1"]


def test_a_new_target_gets_old_signals_an_old_one_does_not(tmp_path: Path) -> None:
    old = Recording("old")
    sink = _sink(tmp_path / "box", old)
    sink.setup()
    sink.add(signal_event("k1"))
    sink.flush()
    assert sink.wait_delivered(5)
    sink.close()
    old2, new = Recording("old"), Recording("new")
    sink = _sink(tmp_path / "box", old2, new)
    sink.setup()
    assert sink.wait_delivered(5)
    sink.close()
    assert (old2.delivered, new.delivered) == ([], ["k1"])


def test_outbox_survives_a_torn_last_line_and_is_exclusive(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "box")
    box.open()
    assert box.record(Signal.from_event(signal_event("k1")))
    assert not box.record(Signal.from_event(signal_event("k1")))
    box.mark_delivered("k1", "t1")
    with pytest.raises(OutboxError, match="in use by another process"):
        Outbox(tmp_path / "box").open()
    box.close()
    with (tmp_path / "box" / SIGNALS_FILE).open("ab") as f:
        f.write(b'{"key":"k2","sig')  # killed mid-write
    with (tmp_path / "box" / DELIVERED_FILE).open("ab") as f:
        f.write(b'{"key":"k1","tar')
    again = Outbox(tmp_path / "box")
    again.open()
    assert [(s.key, missing) for s, missing in again.pending(["t1", "t2"])] == [("k1", ["t2"])]
    assert again.record(Signal.from_event(signal_event("k2")))  # appended on a line of its own
    again.close()
    reread = Outbox(tmp_path / "box")
    reread.open()
    assert [s.key for s, _ in reread.pending(["t1"])] == ["k2"]
    reread.close()


def test_webhook_request_is_signed_over_the_exact_body() -> None:
    target = WebhookSignalTarget(
        "hook",
        url="https://example.test/h?token=t",
        timeout_seconds=1,
        secret=SecretStr("s3cret"),
        signature_header="X-Sig",
        headers={"Authorization": SecretStr("Bearer abc")},
    )
    signal = Signal.from_event(signal_event("k1"))
    request = target.request(signal)
    body = request.data
    assert isinstance(body, bytes) and body == signal.body
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert request.get_header("X-sig") == expected == signature(b"s3cret", body)
    assert request.get_header("Authorization") == "Bearer abc"
    assert request.get_header("X-driftstream-idempotency-key") == "k1"


def test_sagemaker_parameters_are_mapped_from_the_signal() -> None:
    target = SageMakerPipelineSignalTarget(
        "p",
        lambda: None,
        pipeline_name="p",
        parameters={
            "Endpoint": "endpoint",
            "Features": "features",
            "Share": "value",
            "Base": "evidence.baseline",
            "Range": "evidence.record_range",
        },
    )
    params = target.pipeline_parameters(Signal.from_event(signal_event("k1")))
    assert params == [
        {"Name": "Endpoint", "Value": "churn"},
        {"Name": "Features", "Value": '["age","country"]'},
        {"Name": "Share", "Value": "0.5"},
        {"Name": "Base", "Value": "b1"},
        {"Name": "Range", "Value": "[10,100]"},
    ]
    assert parameter_value(None) == "" and parameter_value(True) == "true"
    long = SageMakerPipelineSignalTarget(
        "p", lambda: None, pipeline_name="p", parameters={"All": "evidence"}
    )
    event = signal_event("k1")
    event.extra["evidence"]["blob"] = "x" * 2000
    with pytest.raises(DeliveryError, match="above SageMaker's 1024") as info:
        long.pipeline_parameters(Signal.from_event(event))
    assert not info.value.retryable
