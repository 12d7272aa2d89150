"""The HTTP webhook target: POST the signal document, optionally signed with HMAC-SHA256.

Request: `POST <url>`, body = the signal's canonical JSON, headers `Content-Type:
application/json`, `X-Driftstream-Idempotency-Key: <key>` (receivers drop repeats by it), the
configured extra headers, and, when a secret is configured, `<signature_header>: sha256=<hex>`
where hex = HMAC-SHA256(secret, body) over the exact bytes sent, as GitHub does. A 2xx answer is
a delivery; 408, 425, 429 and 5xx answers and network errors are retried after back-off
(honouring Retry-After in seconds); any other answer is refused and not retried in this run.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request
from collections.abc import Mapping

from pydantic import SecretStr

from driftstream.sinks.signals.base import DeliveryError, Signal, SignalTarget

IDEMPOTENCY_HEADER = "X-Driftstream-Idempotency-Key"
RETRYABLE_STATUS = frozenset({408, 425, 429})
USER_AGENT = "driftstream/0.1"


def signature(secret: bytes, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the back-off decides


class WebhookSignalTarget(SignalTarget):
    def __init__(
        self,
        name: str,
        *,
        url: str,
        timeout_seconds: float,
        secret: SecretStr | None,
        signature_header: str,
        headers: Mapping[str, SecretStr],
    ) -> None:
        super().__init__(name)
        self.url = url
        self.timeout_seconds = timeout_seconds
        self._secret = secret
        self.signature_header = signature_header
        self._headers = dict(headers)
        self._where = url.split("?", 1)[0]  # for messages: a query may hold a token

    def request(self, signal: Signal) -> urllib.request.Request:
        body = signal.body
        headers = {k: v.get_secret_value() for k, v in self._headers.items()}
        headers.update(
            {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                IDEMPOTENCY_HEADER: signal.key,
            }
        )
        if self._secret is not None:
            headers[self.signature_header] = signature(
                self._secret.get_secret_value().encode(), body
            )
        return urllib.request.Request(self.url, data=body, headers=headers, method="POST")

    def deliver(self, signal: Signal) -> None:
        try:
            with urllib.request.urlopen(
                self.request(signal), timeout=self.timeout_seconds
            ) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            retryable = status in RETRYABLE_STATUS or status >= 500
            raise DeliveryError(
                f"webhook {self._where}: HTTP {status}",
                retryable=retryable,
                retry_after=_retry_after(exc.headers.get("Retry-After")) if exc.headers else None,
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook {self._where}: {reason}", retryable=True) from None
