"""`driftstream run` against a real secured broker: SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
over plaintext and TLS, and TLS alone, each reading every record of a topic; a wrong password is
retried and never logged.

One broker for the module (scripts/kafka.sh with KAFKA_SECURITY=1, its own state directory and
ports): a PLAINTEXT listener for the test's own set-up, a SASL_PLAINTEXT, an SSL and a SASL_SSL
listener for driftstream, a self-signed CA whose PEM file driftstream trusts. The password
reaches driftstream through DRIFTSTREAM__SOURCES__KAFKA__SECURITY__SASL_PASSWORD, as the docs
advise; the consumer, the output-topic and the dead-letter producers all use the secured listener.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from streamer.synthetic import Scenario, capture_lines
from tests import services
from tests.integration.conftest import LiveBaseline
from tests.integration.kafka_live import (
    DRIFTSTREAM,
    REPO_ROOT,
    LiveProcess,
    LiveSetup,
    live_processes,
    produce,
    read_events,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD_ENV = "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__SASL_PASSWORD"
N_RECORDS = 400
MALFORMED_AT = 5  # one record for the dead-letter topic: its producer is secured too
TOOLS = ("java", "mvn", "keytool", "openssl")


@dataclass(frozen=True)
class SecuredBroker:
    """What scripts/kafka.sh wrote to KAFKA_STATE_DIR/security.env."""

    plaintext: str
    listeners: dict[str, str]  # security protocol -> host:port
    username: str
    password: str
    cafile: Path


def _port_run(count: int) -> int:
    """A free port followed by count-1 free ones (the broker's listeners are consecutive)."""
    for _ in range(50):
        port = services.free_port()
        if port + count - 1 <= 65535 and all(
            services._port_is_free(port + i) for i in range(1, count)
        ):
            return port
    raise services.ServiceUnavailableError(f"no {count} consecutive free TCP ports on 127.0.0.1")


def _kafka_script(env: dict[str, str], *args: str) -> str:
    try:
        done = subprocess.run(
            ["bash", str(services.KAFKA_SCRIPT), *args], env=env, capture_output=True, text=True,
            timeout=services.KAFKA_START_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise services.ServiceUnavailableError(f"scripts/kafka.sh {args[0]} timed out") from exc
    if done.returncode != 0:
        raise services.ServiceUnavailableError(
            f"scripts/kafka.sh {' '.join(args)}: {done.stderr[-2000:]}"
        )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        services.unavailable(f"the secured broker needs {', '.join(missing)}")
    state = tmp_path_factory.mktemp("secured-broker")
    # distinctive, so that finding it in a log cannot be a coincidence
    password = f"pw-{secrets.token_urlsafe(18)}"
    env = {**os.environ, "KAFKA_STATE_DIR": str(state), "KAFKA_SECURITY": "1",
           "KAFKA_SASL_USERNAME": "driftstream", "KAFKA_SASL_PASSWORD": password}
    try:
        _kafka_script(env, "fetch")
        bootstrap = _kafka_script(env, "start", str(_port_run(5))).splitlines()[-1]
    except services.ServiceUnavailableError as exc:
        with contextlib.suppress(services.ServiceUnavailableError):
            _kafka_script(env, "stop")
        services.unavailable(str(exc))
    try:
        values = dict(
            line.split("=", 1) for line in (state / "security.env").read_text().splitlines()
        )
        broker = SecuredBroker(
            plaintext=bootstrap,
            listeners={p: values[f"KAFKA_{p}"] for p in ("SASL_PLAINTEXT", "SSL", "SASL_SSL")},
            username=values["KAFKA_SASL_USERNAME"],
            password=values["KAFKA_SASL_PASSWORD"],
            cafile=Path(values["KAFKA_SSL_CAFILE"]),
        )
        assert broker.password == password
        assert bootstrap == values["KAFKA_PLAINTEXT"]
        yield broker
    finally:
        _kafka_script(env, "stop")


def _security(
    broker: SecuredBroker, protocol: str, mechanism: str | None
) -> dict[str, Any]:
    """sources.kafka.security without the password (that comes from the environment)."""
    out: dict[str, Any] = {"protocol": protocol}
    if mechanism is not None:
        out.update(sasl_mechanism=mechanism, sasl_username=broker.username)
    if "SSL" in protocol:
        out.update(ssl_cafile=str(broker.cafile), ssl_check_hostname=True)
    return out


def _capture(seed: int) -> list[bytes]:
    lines = list(capture_lines(Scenario(f"security-{seed}", N_RECORDS, seed=seed)))
    lines[MALFORMED_AT] = b"not json"
    return lines


def _own_tracebacks(log: str) -> list[str]:
    """Tracebacks through driftstream's code. kafka-python logs some of its own at ERROR (shown
    with --log-level info): on SSL, closing the consumer at shutdown while a read is pending
    logs "AttributeError: 'NoneType' object has no attribute 'recv'" from
    kafka/net/transport.py (KafkaSSLTransport._sock_recv) with its traceback; that one is
    harmless, since every record was read and checkpointed."""
    ours = tuple(f"{REPO_ROOT}/{package}/" for package in ("streamer", "sinks", "detectors"))
    blocks = log.split("Traceback (most recent call last):")[1:]
    return [b[:2000] for b in blocks if any(path in b for path in ours)]


def _read_topic(bootstrap: str, topic: str, timeout: float = 30) -> list[Any]:
    """Every record of a one-partition topic, read over the PLAINTEXT listener."""
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False)
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


COMBINATIONS = [
    ("SASL_PLAINTEXT", "PLAIN"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-512"),
    ("SSL", None),
    ("SASL_SSL", "SCRAM-SHA-512"),
]


@pytest.mark.parametrize(
    ("protocol", "mechanism"), COMBINATIONS,
    ids=[f"{p}-{m}" if m else p for p, m in COMBINATIONS],
)
def test_run_reads_every_record_over_a_secured_listener(
    secured_broker: SecuredBroker, live_baseline: LiveBaseline, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, protocol: str, mechanism: str | None,
) -> None:
    broker = secured_broker
    setup = LiveSetup(broker.plaintext, tmp_path, live_baseline.baseline,
                      live_baseline.calibration_cache)
    setup.create_topics()
    lines = _capture(seed=COMBINATIONS.index((protocol, mechanism)) + 1)
    produce(broker.plaintext, setup.topic, lines)
    events_file = tmp_path / "live-events.jsonl"
    config = setup.config(events_file, **{
        "sources.kafka.bootstrap_servers": broker.listeners[protocol],
        "sources.kafka.security": _security(broker, protocol, mechanism),
    })
    assert broker.password not in config.read_text()
    if mechanism is not None:
        monkeypatch.setenv(PASSWORD_ENV, broker.password)  # inherited by the child process

    with live_processes() as procs:
        run = LiveProcess(config, tmp_path, "run")
        procs.append(run)
        wait_until(lambda: setup.checkpoint_offsets().get(0) == len(lines), timeout=60,
                   what=f"the checkpoint to reach the end over {protocol}", watch=[run])
        assert run.terminate() == 0, run.log()[-3000:]

    log = run.log()
    assert f"security='{protocol}'" in log  # kafka_subscribed names the protocol
    assert not _own_tracebacks(log)
    assert "driftstream: failed" not in log
    assert broker.password not in log
    summary = read_events(events_file)[-1]
    assert summary["kind"] == "summary"
    assert summary["records_read"] == len(lines)
    assert summary["records_used"] == len(lines) - 1
    assert setup.checkpoint_docs()[0]["monitor"]["rows_seen"] == len(lines) - 1
    # what driftstream produced over the secured listener arrived
    dead = _read_topic(broker.plaintext, setup.dead_letter_topic)
    assert [int(dict(r.headers)["driftstream.source.offset"]) for r in dead] == [MALFORMED_AT]
    assert any(r.value and b'"summary"' in r.value
               for r in _read_topic(broker.plaintext, setup.output_topic))


# -- a wrong password --------------------------------------------------------------------------

WRONG_PASSWORD = f"wrong-{secrets.token_urlsafe(12)}"
REQUEST_TIMEOUT_MS = 3000  # one bootstrap attempt (and retry line) every ~3 s


@dataclass(frozen=True)
class FailedRun:
    log: str
    returncode: int
    shutdown_s: float  # SIGTERM to exit


@pytest.fixture(scope="module")
def wrong_password_run(
    secured_broker: SecuredBroker, live_baseline: LiveBaseline,
    tmp_path_factory: pytest.TempPathFactory,
) -> FailedRun:
    """`driftstream --log-level debug run` (the chattiest level) with a wrong SCRAM-SHA-512
    password: left retrying for two rounds, then stopped with SIGTERM."""
    broker = secured_broker
    workdir = tmp_path_factory.mktemp("wrong-password")
    setup = LiveSetup(broker.plaintext, workdir, live_baseline.baseline,
                      live_baseline.calibration_cache)
    setup.create_topics()
    produce(broker.plaintext, setup.topic, _capture(seed=99)[:20])
    config = setup.config(workdir / "live-events.jsonl", **{
        "sources.kafka.bootstrap_servers": broker.listeners["SASL_PLAINTEXT"],
        "sources.kafka.security": _security(broker, "SASL_PLAINTEXT", "SCRAM-SHA-512"),
        "sources.kafka.request_timeout_ms": REQUEST_TIMEOUT_MS,
    })
    log_path = workdir / "run.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [*DRIFTSTREAM, "--log-level", "debug", "run", "--config", str(config)],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, PASSWORD_ENV: WRONG_PASSWORD},
        )
        try:
            deadline = time.monotonic() + 60
            while log_path.read_text(errors="replace").count("event='retrying'") < 2:
                assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
                time.sleep(0.2)
            stopped_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            returncode = proc.wait(timeout=60)
            shutdown_s = time.monotonic() - stopped_at
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    return FailedRun(log_path.read_text(errors="replace"), returncode, shutdown_s)


def test_wrong_password_is_retried_and_never_logged(
    wrong_password_run: FailedRun, secured_broker: SecuredBroker
) -> None:
    run = wrong_password_run
    # retried with back-off (the first Kafka client is the output-topic producer), no crash
    assert "event='retrying' operation='produce'" in run.log
    assert not _own_tracebacks(run.log)
    assert "driftstream: failed" not in run.log
    assert run.returncode == 0, run.log[-3000:]
    # at most the bootstrap attempt in progress, then no monitor process, no summary flush
    assert "event='stopped_before_start'" in run.log
    assert run.shutdown_s < 2 * REQUEST_TIMEOUT_MS / 1000 + 2, run.shutdown_s
    assert "0 records read" in run.log
    # neither the wrong password nor the right one, at any log level driftstream offers
    assert WRONG_PASSWORD not in run.log
    assert secured_broker.password not in run.log


def test_wrong_password_is_named_as_the_likely_cause(wrong_password_run: FailedRun) -> None:
    """kafka-python 3.0.12 loses the broker's refusal in most attempts (it drops the response
    that arrives with the broker's close) and then says only 'Unable to bootstrap'. Every retry
    line therefore names the likely causes for this security setup, the login first among them;
    whenever the client does see the refusal, it is relayed as `kafka_login_refused`."""
    own = [line for line in wrong_password_run.log.splitlines() if "event='retrying'" in line]
    assert own
    for line in own:
        assert "SASL_PLAINTEXT with SCRAM-SHA-512" in line, line
        assert "refused login (sasl_username, sasl_password" in line, line
    relayed = [line for line in wrong_password_run.log.splitlines()
               if "event='kafka_login_refused'" in line]
    assert all("invalid credentials" in line.lower() or "authentication" in line.lower()
               for line in relayed), relayed
