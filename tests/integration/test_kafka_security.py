"""`driftstream run` against a real secured broker: SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
over plaintext and TLS, TLS alone, and mutual TLS with a client certificate whose key is
encrypted, each reading every record of a topic; a wrong password is retried and never logged,
and so is a client certificate the broker does not trust.

One broker for the module (scripts/kafka.sh with KAFKA_SECURITY=1, its own state directory and
ports): a PLAINTEXT listener for the test's own set-up, a SASL_PLAINTEXT, an SSL, a SASL_SSL and
an SSL listener that requires client certificates (MTLS) for driftstream, a self-signed CA whose
PEM file driftstream trusts and that signed the client certificate. The SASL password and the
client key's passphrase reach driftstream through DRIFTSTREAM__SOURCES__KAFKA__SECURITY__
SASL_PASSWORD and __SSL_PASSWORD, as the docs advise; the consumer, the output-topic and the
dead-letter producers all use the secured listener.
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

from driftstream.streamer.sources.synthetic import Scenario, capture_lines
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
KEY_PASSWORD_ENV = "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__SSL_PASSWORD"
N_RECORDS = 400
MALFORMED_AT = 5  # one record for the dead-letter topic: its producer is secured too
TOOLS = ("java", "mvn", "keytool", "openssl")


@dataclass(frozen=True)
class SecuredBroker:
    """What scripts/kafka.sh wrote to KAFKA_STATE_DIR/security.env."""

    plaintext: str
    listeners: dict[str, str]  # protocol, or MTLS (SSL, client certificates) -> host:port
    username: str
    password: str
    cafile: Path
    certfile: Path  # the client certificate for MTLS, signed by the CA in cafile
    keyfile: Path  # its key, encrypted with key_password
    key_password: str
    untrusted_certfile: Path  # signed by another CA; its key is encrypted with key_password too
    untrusted_keyfile: Path


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
            ["bash", str(services.KAFKA_SCRIPT), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=services.KAFKA_START_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
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
    env = {
        **os.environ,
        "KAFKA_STATE_DIR": str(state),
        "KAFKA_SECURITY": "1",
        "KAFKA_SASL_USERNAME": "driftstream",
        "KAFKA_SASL_PASSWORD": password,
    }
    try:
        _kafka_script(env, "fetch")
        bootstrap = _kafka_script(env, "start", str(_port_run(6))).splitlines()[-1]
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
            listeners={
                p: values[f"KAFKA_{p}"] for p in ("SASL_PLAINTEXT", "SSL", "SASL_SSL", "MTLS")
            },
            username=values["KAFKA_SASL_USERNAME"],
            password=values["KAFKA_SASL_PASSWORD"],
            cafile=Path(values["KAFKA_SSL_CAFILE"]),
            certfile=Path(values["KAFKA_SSL_CERTFILE"]),
            keyfile=Path(values["KAFKA_SSL_KEYFILE"]),
            key_password=values["KAFKA_SSL_KEY_PASSWORD"],
            untrusted_certfile=Path(values["KAFKA_SSL_UNTRUSTED_CERTFILE"]),
            untrusted_keyfile=Path(values["KAFKA_SSL_UNTRUSTED_KEYFILE"]),
        )
        assert broker.password == password
        assert bootstrap == values["KAFKA_PLAINTEXT"]
        yield broker
    finally:
        _kafka_script(env, "stop")


def _security(broker: SecuredBroker, protocol: str, mechanism: str | None) -> dict[str, Any]:
    """sources.kafka.security without the password (that comes from the environment)."""
    out: dict[str, Any] = {"protocol": protocol}
    if mechanism is not None:
        out.update(sasl_mechanism=mechanism, sasl_username=broker.username)
    if "SSL" in protocol:
        out.update(ssl_cafile=str(broker.cafile), ssl_check_hostname=True)
    return out


def _mtls_security(broker: SecuredBroker, certfile: Path, keyfile: Path) -> dict[str, Any]:
    """sources.kafka.security for the MTLS listener without the key's passphrase (that comes
    from the environment)."""
    return {
        **_security(broker, "SSL", None),
        "ssl_certfile": str(certfile),
        "ssl_keyfile": str(keyfile),
    }


def _secrets_in(broker: SecuredBroker, text: str) -> list[str]:
    """Which of the broker's secrets `text` holds (their names, not the secrets)."""
    named = (("the SASL password", broker.password), ("the key passphrase", broker.key_password))
    return [name for name, secret in named if secret in text]


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
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
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


def _read_every_record(
    broker: SecuredBroker,
    live_baseline: LiveBaseline,
    tmp_path: Path,
    *,
    listener: str,
    security: dict[str, Any],
    seed: int,
) -> None:
    """`driftstream run` over `listener` with `security` (its secrets in the environment) until
    every record of a fresh topic is checkpointed; then what it read, monitored and produced,
    and that no secret reached its config or its log."""
    setup = LiveSetup(
        broker.plaintext, tmp_path, live_baseline.baseline, live_baseline.calibration_cache
    )
    setup.create_topics()
    lines = _capture(seed)
    produce(broker.plaintext, setup.topic, lines)
    events_file = tmp_path / "live-events.jsonl"
    config = setup.config(
        events_file,
        **{
            "sources.kafka.bootstrap_servers": broker.listeners[listener],
            "sources.kafka.security": security,
        },
    )
    assert not _secrets_in(broker, config.read_text())

    with live_processes() as procs:
        run = LiveProcess(config, tmp_path, "run")
        procs.append(run)
        wait_until(
            lambda: setup.checkpoint_offsets().get(0) == len(lines),
            timeout=60,
            what=f"the checkpoint to reach the end over {listener}",
            watch=[run],
        )
        assert run.terminate() == 0, run.log()[-3000:]

    log = run.log()
    assert f"security='{security['protocol']}'" in log  # kafka_subscribed names the protocol
    assert not _own_tracebacks(log)
    assert "driftstream: failed" not in log
    assert not _secrets_in(broker, log)
    summary = read_events(events_file)[-1]
    assert summary["kind"] == "summary"
    assert summary["records_read"] == len(lines)
    assert summary["records_used"] == len(lines) - 1
    assert setup.checkpoint_docs()[0]["monitor"]["rows_seen"] == len(lines) - 1
    # what driftstream produced over the secured listener arrived
    dead = _read_topic(broker.plaintext, setup.dead_letter_topic)
    assert [int(dict(r.headers)["driftstream.source.offset"]) for r in dead] == [MALFORMED_AT]
    assert any(
        r.value and b'"summary"' in r.value
        for r in _read_topic(broker.plaintext, setup.output_topic)
    )


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    COMBINATIONS,
    ids=[f"{p}-{m}" if m else p for p, m in COMBINATIONS],
)
def test_run_reads_every_record_over_a_secured_listener(
    secured_broker: SecuredBroker,
    live_baseline: LiveBaseline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
    mechanism: str | None,
) -> None:
    if mechanism is not None:
        monkeypatch.setenv(PASSWORD_ENV, secured_broker.password)  # inherited by the child
    _read_every_record(
        secured_broker,
        live_baseline,
        tmp_path,
        listener=protocol,
        security=_security(secured_broker, protocol, mechanism),
        seed=COMBINATIONS.index((protocol, mechanism)) + 1,
    )


def test_run_reads_every_record_over_mutual_tls(
    secured_broker: SecuredBroker,
    live_baseline: LiveBaseline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The MTLS listener requires a client certificate: the one signed by the broker's CA, its
    key encrypted, so that ssl_password (from the environment) has to unlock it."""
    broker = secured_broker
    assert broker.keyfile.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    monkeypatch.setenv(KEY_PASSWORD_ENV, broker.key_password)  # inherited by the child
    _read_every_record(
        broker,
        live_baseline,
        tmp_path,
        listener="MTLS",
        security=_mtls_security(broker, broker.certfile, broker.keyfile),
        seed=len(COMBINATIONS) + 1,
    )


# -- a wrong password, an untrusted client certificate -----------------------------------------

WRONG_PASSWORD = f"wrong-{secrets.token_urlsafe(12)}"
REQUEST_TIMEOUT_MS = 3000  # one bootstrap attempt (and retry line) every ~3 s


@dataclass(frozen=True)
class FailedRun:
    log: str
    returncode: int
    shutdown_s: float  # SIGTERM to exit


def _failed_run(
    broker: SecuredBroker,
    live_baseline: LiveBaseline,
    workdir: Path,
    *,
    listener: str,
    security: dict[str, Any],
    env: dict[str, str],
) -> FailedRun:
    """`driftstream --log-level debug run` (the chattiest level) over `listener` with
    `security` that the broker refuses (its secrets in `env`): left retrying for two rounds,
    then stopped with SIGTERM."""
    setup = LiveSetup(
        broker.plaintext, workdir, live_baseline.baseline, live_baseline.calibration_cache
    )
    setup.create_topics()
    produce(broker.plaintext, setup.topic, _capture(seed=99)[:20])
    config = setup.config(
        workdir / "live-events.jsonl",
        **{
            "sources.kafka.bootstrap_servers": broker.listeners[listener],
            "sources.kafka.security": security,
            "sources.kafka.request_timeout_ms": REQUEST_TIMEOUT_MS,
        },
    )
    log_path = workdir / "run.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [*DRIFTSTREAM, "--log-level", "debug", "run", "--config", str(config)],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
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


def _assert_retried_then_stopped(run: FailedRun) -> None:
    # retried with back-off (the first Kafka client is the output-topic producer), no crash
    assert "event='retrying' operation='produce'" in run.log
    assert not _own_tracebacks(run.log)
    assert "driftstream: failed" not in run.log
    assert run.returncode == 0, run.log[-3000:]
    # at most the bootstrap attempt in progress, then no monitor process, no summary flush
    assert "event='stopped_before_start'" in run.log
    assert run.shutdown_s < 2 * REQUEST_TIMEOUT_MS / 1000 + 2, run.shutdown_s
    assert "0 records read" in run.log


@pytest.fixture(scope="module")
def wrong_password_run(
    secured_broker: SecuredBroker,
    live_baseline: LiveBaseline,
    tmp_path_factory: pytest.TempPathFactory,
) -> FailedRun:
    """A wrong SCRAM-SHA-512 password."""
    broker = secured_broker
    return _failed_run(
        broker,
        live_baseline,
        tmp_path_factory.mktemp("wrong-password"),
        listener="SASL_PLAINTEXT",
        security=_security(broker, "SASL_PLAINTEXT", "SCRAM-SHA-512"),
        env={PASSWORD_ENV: WRONG_PASSWORD},
    )


def test_wrong_password_is_retried_and_never_logged(
    wrong_password_run: FailedRun, secured_broker: SecuredBroker
) -> None:
    run = wrong_password_run
    _assert_retried_then_stopped(run)
    # neither the wrong password nor the right one, at any log level driftstream offers
    assert WRONG_PASSWORD not in run.log
    assert not _secrets_in(secured_broker, run.log)


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
    relayed = [
        line
        for line in wrong_password_run.log.splitlines()
        if "event='kafka_login_refused'" in line
    ]
    assert all(
        "invalid credentials" in line.lower() or "authentication" in line.lower()
        for line in relayed
    ), relayed


def test_untrusted_client_certificate_is_kept_out_and_retried(
    secured_broker: SecuredBroker,
    live_baseline: LiveBaseline,
    tmp_path: Path,
) -> None:
    """A client certificate signed by a CA the broker does not trust (its key unlocked by the
    right passphrase): the MTLS listener refuses it, driftstream retries and stops on SIGTERM."""
    broker = secured_broker
    run = _failed_run(
        broker,
        live_baseline,
        tmp_path,
        listener="MTLS",
        security=_mtls_security(broker, broker.untrusted_certfile, broker.untrusted_keyfile),
        env={KEY_PASSWORD_ENV: broker.key_password},
    )
    _assert_retried_then_stopped(run)
    assert "security='SSL'" not in run.log  # never subscribed
    assert not _secrets_in(broker, run.log)
    # named in the service's own words: the broker's refusal relayed, the hint on every retry
    assert "event='kafka_client_certificate_refused'" in run.log
    retries = [line for line in run.log.splitlines() if "event='retrying'" in line]
    assert retries and all("ssl_certfile" in line for line in retries), retries
