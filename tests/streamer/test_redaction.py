"""No secret in any log line or error line (streamer/app/logging.py: `redact`).

The commands run as a user runs them, at debug level, with credentials in an AWS endpoint URL,
a SASL password and AWS keys in the environment: the secrets appear nowhere in stdout, stderr
or the events, while the lines still name the endpoint they are about (`alice:***@host`).
The endpoint is a bound port that accepts no connection, so every AWS call fails and says so.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
import yaml

from driftstream.streamer.app.logging import configure_logging, redact, redact_secrets
from driftstream.streamer.sources.kafka.logs import configure_client_logging
from driftstream.streamer.sources.synthetic import Scenario, capture_lines, training_csv

DRIFTSTREAM = str(Path(sys.executable).parent / "driftstream")
URL_PASSWORD = "Urlpass-6d41"
SASL_PASSWORD = "Saslpass-93b0"
AWS_SECRET = "AwsSecret-27fe"
SECRETS = (URL_PASSWORD, SASL_PASSWORD, AWS_SECRET)


@pytest.fixture(scope="module")
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("redaction")
    (root / "training.csv").write_text(training_csv(2_000, seed=1))
    made = subprocess.run(
        [DRIFTSTREAM, "baseline", "training.csv", "--out", "baseline"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    lines = capture_lines(Scenario("redaction", 2_000, (), seed=5))
    (root / "capture.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    return root


def _config(root: Path, name: str, endpoint_url: str, **more: object) -> Path:
    tree = {
        "baseline": "baseline",
        "aws": {
            "region": "us-east-1",
            "endpoint_url": endpoint_url,
            "max_attempts": 1,
            "connect_timeout_seconds": 1,
        },
        "sources": {
            "kafka": {
                "bootstrap_servers": "127.0.0.1:9",
                "topics": ["captures"],
                "security": {
                    "protocol": "SASL_PLAINTEXT",
                    "sasl_mechanism": "PLAIN",
                    "sasl_username": "alice",
                    "sasl_password": SASL_PASSWORD,
                },
            }
        },
        **more,
    }
    path = root / name
    path.write_text(yaml.safe_dump(tree))
    return path


def _run(root: Path, *args: str) -> tuple[int, str]:
    """The command at debug level; its exit status and everything it wrote (stdout, stderr and
    the events file)."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIAREDACTIONTEST",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "DRIFTSTREAM__SOURCES__KAFKA__SECURITY__SSL_PASSWORD": SASL_PASSWORD,
    }
    events = root / "events.jsonl"
    events.unlink(missing_ok=True)
    done = subprocess.run(
        [DRIFTSTREAM, "--log-level", "debug", *args, "--events-out", str(events)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    written = events.read_text() if events.exists() else ""
    return done.returncode, done.stdout + done.stderr + written


def test_a_replay_whose_metrics_sink_fails_logs_no_secret(
    workdir: Path, refusing_port: int
) -> None:
    config = _config(
        workdir,
        "cloudwatch.yaml",
        f"http://alice:{URL_PASSWORD}@127.0.0.1:{refusing_port}/",
        sinks={
            "cloudwatch": {
                "monitoring_schedule": "redaction",
                "interval_seconds": 0,
                "close_timeout_seconds": 1,
            }
        },
    )
    status, written = _run(workdir, "replay", "capture.jsonl", "--config", str(config))
    assert status == 0, written[-3000:]
    # the failing endpoint is named in the log, its password is not
    assert f"alice:***@127.0.0.1:{refusing_port}" in written, written[-3000:]
    for secret in SECRETS:
        assert secret not in written


@pytest.mark.parametrize(
    "source, endpoint",
    [
        # the S3 listing fails: the one-line error names the endpoint
        ("s3://captures/prefix", "http://alice:{password}@127.0.0.1:{port}/"),
        # a configuration error quotes the value it refuses
        ("capture.jsonl", "ftp://alice:{password}@127.0.0.1:{port}/"),
    ],
)
def test_an_error_line_names_the_endpoint_without_its_password(
    workdir: Path, refusing_port: int, source: str, endpoint: str
) -> None:
    url = endpoint.format(password=URL_PASSWORD, port=refusing_port)
    config = _config(workdir, "error.yaml", url)
    status, written = _run(workdir, "replay", source, "--config", str(config))
    assert status != 0
    assert "driftstream: " in written
    assert f"alice:***@127.0.0.1:{refusing_port}" in written, written[-3000:]
    for secret in SECRETS:
        assert secret not in written


def test_structured_events_mask_secret_fields_and_credentials_in_values() -> None:
    event = redact_secrets(
        None,
        "warning",
        {
            "event": "delivery_failed",
            "sasl_password": "hunter2",
            "headers": {"Authorization": "Bearer hunter2", "Accept": "*/*"},
            "targets": ["https://bob:hunter2@hooks.example/x", "file:///tmp/signals"],
            "detail": "POST https://hooks.example/x?token=hunter2&page=2 failed",
            "attempts": 3,
        },
    )
    assert event == {
        "event": "delivery_failed",
        "sasl_password": "***",
        "headers": {"Authorization": "***", "Accept": "*/*"},
        "targets": ["https://bob:***@hooks.example/x", "file:///tmp/signals"],
        "detail": "POST https://hooks.example/x?token=***&page=2 failed",
        "attempts": 3,
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        ("https://alice:pw@host:1/a?b=c", "https://alice:***@host:1/a?b=c"),
        ("git+https://tok3n@host/repo", "git+https://***@host/repo"),
        ("https://alice:p@ss@host/a", "https://alice:***@host/a"),  # the last @ ends it
        (
            "{'sasl_password': 'pw', 'sasl_username': 'alice'}",
            "{'sasl_password': ***, 'sasl_username': 'alice'}",
        ),
        ('{"secret_access_key": "pw"}', '{"secret_access_key": ***}'),
        (
            "?X-Amz-Security-Token=pw&X-Amz-Signature=pw2&prefix=p",
            "?X-Amz-Security-Token=***&X-Amz-Signature=***&prefix=p",
        ),
        ("Authorization: Basic cHc=", "Authorization: ***"),
        # what is not a secret stays as it was
        ("kafka://broker:9092/topic", "kafka://broker:9092/topic"),
        ("write to alice@example.com", "write to alice@example.com"),
        (
            "check sasl_username, sasl_password, sasl_mechanism",
            "check sasl_username, sasl_password, sasl_mechanism",
        ),
        (
            "sources.kafka.security.sasl_password: Input should be a valid string",
            "sources.kafka.security.sasl_password: Input should be a valid string",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back after the test."""
    factory = logging.getLogRecordFactory()
    structlog_config = structlog.get_config()
    kafka = logging.getLogger("kafka")
    saved = (kafka.level, kafka.propagate, list(kafka.handlers))
    root_handlers = list(logging.getLogger().handlers)
    yield
    logging.setLogRecordFactory(factory)
    structlog.configure(**structlog_config)
    kafka.setLevel(saved[0])
    kafka.propagate = saved[1]
    kafka.handlers[:] = saved[2]
    logging.getLogger().handlers[:] = root_handlers


@pytest.mark.usefixtures("logging_restored")
def test_the_kafka_clients_lines_and_its_relayed_failures_carry_no_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("debug")
    # no logger may keep this configuration (its stderr is capsys') beyond the test
    structlog.configure(cache_logger_on_first_use=False)
    configure_client_logging("debug")
    refused = (
        "Bootstrap https://alice:hunter2@broker:9094 failed: SaslAuthenticationFailedError "
        "for {'sasl_plain_password': 'hunter2'}"
    )
    with structlog.testing.capture_logs() as relayed:
        logging.getLogger("kafka.conn").warning("%s", refused)
        try:
            raise ConnectionError("https://alice:hunter2@broker:9094 went away")
        except ConnectionError:
            logging.getLogger("kafka.conn").exception("connection to %s lost", "broker")
    shown = capsys.readouterr().err
    assert [e["event"] for e in relayed] == ["kafka_login_refused"]
    assert "hunter2" not in relayed[0]["detail"]
    assert "alice:***@broker:9094" in relayed[0]["detail"]
    assert "SaslAuthenticationFailedError" in shown and "went away" in shown  # lines are shown
    assert "hunter2" not in shown
