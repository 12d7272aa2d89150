"""Log set-up, done once by the entry point (and by the monitor process it starts); library
modules only ever call `structlog.get_logger`.

No secret reaches a log line or an error line: `redact` is the one place that takes them out,
and everything the service writes about itself passes through it:

- structlog events: `redact_secrets`, the processor before the renderer, masks the value of
  every key named like a secret (`sasl_password`, `secret`, `Authorization`, ...; nested
  mappings too) and runs every other value through `redact`;
- the standard library's records (kafka-python, botocore, urllib3, anything else): the record
  factory installed by `configure_logging` redacts each record's message and traceback when the
  record is made, before any handler sees it (kafka's own lines and its relay included);
- the command line's one-line errors: `cli.main` prints them through `redact`.

`redact` masks the password of credentials in URLs (`https://alice:***@host/`; a lone user part,
often a token, entirely: `https://***@host/`, as pip does) and the value of secret-named
assignments in text: `password=...`, `X-Amz-Security-Token=...`, `'sasl_password': '...'`,
`Authorization: Bearer ...`. SecretStr values print as `**********` by themselves.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import structlog

MASK = "***"
# a name whose value is a secret: sasl_password, ssl_password, client_secret,
# aws_secret_access_key, X-Amz-Security-Token, X-Amz-Signature, api_key, Authorization, ...
_SECRET_WORD = (
    r"password|passwd|secret|token|api[_-]?key|apikey|signature|authorization|private[_-]?key"
)
_SECRET_KEY = re.compile(_SECRET_WORD, re.IGNORECASE)
_NAME = rf"[\w.-]*(?:{_SECRET_WORD})[\w-]*"
_VALUE = r"""(?P<value>(?:(?:bearer|basic|digest|token)\s+)?(?:"[^"]*"|'[^']*'|[^\s&;,'")}\]]+))"""
# scheme://userinfo@ : the userinfo is everything of the authority up to its last @
_URL_USERINFO = re.compile(r"""\b([a-z][a-z0-9+.-]*://)([^\s/?#'"<>]*)@""", re.IGNORECASE)
_ASSIGNMENTS = (
    # name=value (query strings, key=value text, Authorization=...)
    re.compile(rf"(?<![\w-]){_NAME}\s*=\s*{_VALUE}", re.IGNORECASE),
    # 'name': value and "name": value (Python reprs, JSON)
    re.compile(rf"""(['"]){_NAME}\1\s*:\s*{_VALUE}""", re.IGNORECASE),
    # HTTP headers: Authorization: Bearer ...
    re.compile(
        rf"(?<![\w-])(?:proxy-)?(?:authorization|x-api-key|x-amz-security-token)\s*:\s*{_VALUE}",
        re.IGNORECASE,
    ),
)


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match.group(2).partition(":")
    return f"{match.group(1)}{user}:{MASK}@" if colon else f"{match.group(1)}{MASK}@"


def _mask_value(match: re.Match[str]) -> str:
    """The match up to its value (which ends it), then the mask."""
    return match.group(0)[: match.start("value") - match.start()] + MASK


def redact(text: str) -> str:
    """`text` with the credentials of URLs and the values of secret-named fields masked (see
    the module docstring); anything else unchanged."""
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    for pattern in _ASSIGNMENTS:
        text = pattern.sub(_mask_value, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if _SECRET_KEY.search(key):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            redact(k) if isinstance(k, str) else k: _redact_value(str(k), v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_value("", v) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_value("", v) for v in value)
    shown = repr(value)  # what the renderer would print, kept as it is when it holds no secret
    masked = redact(shown)
    return value if masked == shown else masked


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: every key and value of the event through `_redact_value`."""
    return {key: _redact_value(key, value) for key, value in event_dict.items()}


_TRACEBACKS = logging.Formatter()


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging would report it with its arguments
        message = f"{record.msg!s} {record.args!r}"
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _install_redacting_record_factory() -> None:
    """Every standard-library log record is redacted when it is made (once per process)."""
    make: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(make, "redacts", False):
        return

    def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _redact_record(record)
        return record

    redacting.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)


def configure_logging(level: str) -> None:
    """Structured logs to stderr, configured once here at the entry point; secrets redacted in
    structlog's events and the standard library's records alike."""
    _install_redacting_record_factory()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
