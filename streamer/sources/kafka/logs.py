"""What kafka-python says about failed connections, made to reach the service's own log.

kafka-python logs through the standard library, every reconnect attempt at ERROR while a broker is
away. The service reports that itself (`retrying`, `broker_reachable`, the broker-error counter),
so the client's own lines are shown only with --log-level info (its warnings) or debug (its INFO
lines; never its DEBUG output, which holds raw requests, SASL ones included).

Some failures, though, only the client knows about, and it reports them nowhere else: a refused
SASL login, a broker certificate the client rejects, a client certificate the broker refuses.
Its bootstrap then just fails with "Unable to bootstrap", and kafka-python 3.0.12 even loses the
broker's refusal of a login in about two of three attempts (the broker sends it and closes; the
client drops bytes read with the close). So:

- `ClientFailureRelay` re-emits those, whenever the client logs them, as the service's own
  `kafka_login_refused` / `kafka_certificate_rejected` / `kafka_client_certificate_refused`
  errors (at most one per kind per 10 s);
- `bootstrap_hint` names the likely causes on every "Unable to bootstrap" retry line, given the
  configured protocol and mechanism, since the refusal itself may never be seen.

Neither the client's lines nor the relayed details carry a secret: the entry point's
`configure_logging` (streamer/app/logging.py) redacts every standard-library record when it is
made, before the handlers here see it, and the relayed event passes the same redaction again as
a structlog event.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import structlog

from driftstream.streamer.sources.kafka.settings import KafkaSecurity

log = structlog.get_logger(__name__)

CLIENT_CERTIFICATE = (
    "check sources.kafka.security: ssl_certfile and ssl_keyfile (a certificate signed by a CA "
    "the broker trusts; the broker may require one) and ssl_password"
)
# (text in the client's message, the service's event, what to check)
KNOWN_FAILURES = (
    (
        "SaslAuthenticationFailedError",
        "kafka_login_refused",
        "check sources.kafka.security: sasl_username, sasl_password, sasl_mechanism",
    ),
    (
        "CERTIFICATE_VERIFY_FAILED",
        "kafka_certificate_rejected",
        "check sources.kafka.security: ssl_cafile (the CA that signed the broker's "
        "certificate) and ssl_check_hostname",
    ),
    # TLS alerts from a broker that requires client certificates (ssl.client.auth=required)
    ("ALERT_CERTIFICATE_UNKNOWN", "kafka_client_certificate_refused", CLIENT_CERTIFICATE),
    ("ALERT_BAD_CERTIFICATE", "kafka_client_certificate_refused", CLIENT_CERTIFICATE),
    ("ALERT_CERTIFICATE_REQUIRED", "kafka_client_certificate_refused", CLIENT_CERTIFICATE),
)


class ClientFailureRelay(logging.Handler):
    """Relays the client's login and certificate failures (see the module docstring)."""

    def __init__(
        self, every_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(level=logging.WARNING)
        self.every_seconds = every_seconds
        self.clock = clock
        self._next: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for needle, event, hint in KNOWN_FAILURES:
            if needle not in message:
                continue
            now = self.clock()
            if now >= self._next.get(event, 0.0):
                self._next[event] = now + self.every_seconds
                log.error(event, detail=message[:500], hint=hint)


def configure_client_logging(level: str) -> None:
    """kafka-python's lines on stderr from --log-level info (warnings) or debug (INFO), and
    its login and certificate failures relayed at every level."""
    client_level = {"debug": logging.INFO, "info": logging.WARNING}.get(level, logging.CRITICAL)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    client = logging.getLogger("kafka")
    client.setLevel(min(client_level, logging.WARNING))
    client.propagate = False
    for handler in list(client.handlers):
        client.removeHandler(handler)
    shown = logging.StreamHandler(sys.stderr)
    shown.setLevel(client_level)
    shown.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    client.addHandler(shown)
    client.addHandler(ClientFailureRelay())


def bootstrap_hint(security: KafkaSecurity, error: str) -> str | None:
    """What an "Unable to bootstrap" failure may mean with this security configuration."""
    if "bootstrap" not in error.lower():
        return None
    if security.protocol == "PLAINTEXT":
        return "no broker answered: check bootstrap_servers and that the broker is up"
    how: str = security.protocol
    if security.sasl_mechanism is not None:
        how += f" with {security.sasl_mechanism} as {security.sasl_username!r}"
    causes = ["the address or listener"]
    if security.protocol in ("SSL", "SASL_SSL"):
        causes.append("the broker's certificate (ssl_cafile, ssl_check_hostname)")
        causes.append("the client certificate a broker may require (ssl_certfile, ssl_keyfile)")
    if security.sasl_mechanism is not None:
        causes.append("a refused login (sasl_username, sasl_password, sasl_mechanism)")
    return (
        f"no broker answered over {how}; the client does not always report why: "
        f"check {', '.join(causes)}"
    )
