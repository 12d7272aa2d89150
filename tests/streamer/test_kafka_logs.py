"""kafka-python's login and certificate failures reach the service's own log (kafka_logs.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from pydantic import SecretStr

from driftstream.streamer.sources.kafka.logs import (
    ClientFailureRelay,
    bootstrap_hint,
    configure_client_logging,
)
from driftstream.streamer.sources.kafka.settings import KafkaSecurity

REFUSED = (
    "<KafkaTCPTransport [127.0.0.1:9094<-1]>: Abort ([Error 58] SaslAuthenticationFailedError: "
    "Authentication failed during authentication due to invalid credentials)"
)
BAD_CERT = "Bootstrap connection to localhost:9093 failed: [SSL: CERTIFICATE_VERIFY_FAILED]"
CLIENT_REFUSED = "Connection failed: [SSL: SSLV3_ALERT_CERTIFICATE_UNKNOWN] sslv3 alert (_ssl.c)"


@pytest.fixture
def kafka_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("kafka")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    yield logger
    logger.setLevel(saved[0])
    logger.propagate = saved[1]
    logger.handlers[:] = saved[2]


def test_refused_login_and_rejected_certificate_are_relayed_once_per_interval() -> None:
    now = [0.0]
    relay = ClientFailureRelay(every_seconds=10, clock=lambda: now[0])
    logger = logging.getLogger("kafka.net.manager")
    with structlog.testing.capture_logs() as logs:
        for message in (REFUSED, REFUSED, BAD_CERT, "Bootstrap %s not ready", CLIENT_REFUSED):
            relay.handle(
                logger.makeRecord("kafka.net.manager", logging.WARNING, "f", 1, message, None, None)
            )
        now[0] = 10.0
        relay.handle(logger.makeRecord("kafka", logging.ERROR, "f", 1, REFUSED, None, None))
    assert [e["event"] for e in logs] == [
        "kafka_login_refused",
        "kafka_certificate_rejected",
        "kafka_client_certificate_refused",
        "kafka_login_refused",
    ]
    assert "ssl_certfile" in logs[2]["hint"]
    assert "sasl_password" in logs[0]["hint"] and "ssl_cafile" in logs[1]["hint"]
    assert logs[0]["detail"] == REFUSED


@pytest.mark.parametrize("level, shown", [("warning", False), ("info", True)])
def test_the_relay_works_at_every_log_level_and_the_client_lines_only_when_asked(
    kafka_logger: logging.Logger, capsys: pytest.CaptureFixture[str], level: str, shown: bool
) -> None:
    configure_client_logging(level)
    with structlog.testing.capture_logs() as logs:
        logging.getLogger("kafka.net.connection").warning("%s", REFUSED)
        logging.getLogger("kafka.net.connection").debug("raw SASL request bytes")
    assert [e["event"] for e in logs] == ["kafka_login_refused"]
    err = capsys.readouterr().err
    assert ("SaslAuthenticationFailedError" in err) is shown
    assert "raw SASL request" not in err


def test_bootstrap_hint_names_the_causes_of_this_security_setup() -> None:
    scram = KafkaSecurity(
        protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="alice",
        sasl_password=SecretStr("s3cret"),
        ssl_cafile=None,
    )
    hint = bootstrap_hint(scram, "KafkaTimeoutError: Unable to bootstrap from ['b:9094']")
    assert hint is not None
    assert "SASL_SSL with SCRAM-SHA-512 as 'alice'" in hint
    assert "ssl_cafile" in hint and "sasl_password" in hint and "s3cret" not in hint
    assert "ssl_certfile" in hint
    plain = bootstrap_hint(KafkaSecurity(), "Unable to bootstrap from ['b:9092']")
    assert plain is not None and "broker is up" in plain and "sasl" not in plain
    assert bootstrap_hint(scram, "NotLeaderForPartitionError") is None
