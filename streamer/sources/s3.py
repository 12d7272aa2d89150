"""Replay from S3: the capture objects under s3://bucket/prefix, in SageMaker's time order.

The objects are listed once (ListObjectsV2, every page), ordered like local folders (the
`yyyy/mm/dd/hh` part of the key below the prefix, then the key; streamer.files.capture_order)
and streamed one after another: nothing is downloaded whole, and the line handling is
FileSource's (gzip by magic number, oversized lines cut). Progress counts bytes read against the
listed sizes.

A read that fails mid-object (connection reset, timeout) is resumed with a ranged GET from the
exact byte reached, pinned to the listed ETag (If-Match), so a retried read can never mix two
versions of an object.
"""

from __future__ import annotations

import io
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
import structlog

from driftstream.sinks import aws
from driftstream.sinks.aws import AwsSettings
from driftstream.sinks.retry import Backoff, BackoffSettings
from driftstream.streamer.sources.files import (
    CaptureObjectsSource,
    FileSource,
    SourceError,
    capture_order,
    is_capture_name,
)

log = structlog.get_logger(__name__)

#: errors of a body being read (the GET itself was answered); botocore wraps urllib3's own
#: (ResponseStreamingError, ReadTimeoutError)
_READ_ERRORS = (botocore.exceptions.BotoCoreError, OSError)


class S3ReadError(RuntimeError):
    """An object could not be read after retrying; one line."""


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str | None


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/prefix` → (bucket, prefix); SourceError (one line) otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise SourceError(f"{url}: expected s3://bucket/prefix")
    return parts.netloc, parts.path.lstrip("/")


def list_capture_objects(client: Any, bucket: str, prefix: str) -> list[S3Object]:
    """Capture objects under the prefix, in time order (see the module docstring)."""
    where = f"s3://{bucket}/{prefix}"
    found: list[S3Object] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = str(item["Key"])
                if not key.endswith("/") and is_capture_name(key):
                    etag = item.get("ETag")
                    found.append(S3Object(key, int(item.get("Size", 0)), etag))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        if aws.is_fatal(exc):
            raise aws.fatal(f"replay source {where}", exc) from None
        raise S3ReadError(f"cannot list {where}: {aws.describe(exc)}") from None
    if not found:
        raise SourceError(f"replay source {where} holds no .jsonl or .jsonl.gz objects")

    def order(obj: S3Object) -> tuple[tuple[str, ...], str]:
        relative = obj.key[len(prefix) :].lstrip("/") if prefix else obj.key
        return capture_order(relative)

    return sorted(found, key=order)


class _ObjectBody(io.RawIOBase):
    """The bytes of one S3 object, resumed after a failed read (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        obj: S3Object,
        *,
        retry: BackoffSettings,
        attempts: int,
        stop: threading.Event,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._obj = obj
        self._backoff = Backoff(retry.initial_seconds, retry.max_seconds)
        self._attempts = attempts
        self._stop = stop
        self._position = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def _get(self) -> Any:
        kwargs: dict[str, Any] = {"Bucket": self._bucket, "Key": self._obj.key}
        if self._position:
            kwargs["Range"] = f"bytes={self._position}-"
            if self._obj.etag:
                kwargs["IfMatch"] = self._obj.etag
        return self._client.get_object(**kwargs)["Body"]

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        failures = 0
        while True:
            try:
                if self._body is None:
                    self._body = self._get()
                data = self._body.read(len(view))
                if not data and self._position < self._obj.size:
                    raise S3ReadError("the connection closed before the end of the object")
                break
            except botocore.exceptions.ClientError as exc:
                if aws.is_fatal(exc) or not aws.is_retryable(exc):
                    raise S3ReadError(
                        f"s3://{self._bucket}/{self._obj.key}: {aws.describe(exc)}"
                    ) from None
                failures = self._retry(exc, failures)
            except (*_READ_ERRORS, S3ReadError) as exc:
                failures = self._retry(exc, failures)
        n = len(data)
        view[:n] = data
        self._position += n
        return n

    def _retry(self, exc: BaseException, failures: int) -> int:
        self._drop_body()
        failures += 1
        where = f"s3://{self._bucket}/{self._obj.key}"
        if failures > self._attempts or self._stop.is_set():
            raise S3ReadError(
                f"{where}: read failed at byte {self._position} after {failures} attempts: "
                f"{aws.describe(exc)}"
            ) from None
        delay = self._backoff.next_delay()
        log.warning(
            "s3_read_retry",
            object=where,
            at_byte=self._position,
            error=aws.describe(exc),
            retry_in_s=round(delay, 2),
        )
        self._stop.wait(delay)
        return failures

    def _drop_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            try:
                body.close()
            except Exception as exc:  # a broken connection may fail to close: it is dropped
                log.debug("s3_body_close_failed", error=type(exc).__name__)

    def close(self) -> None:
        self._drop_body()
        super().close()


class S3Source(CaptureObjectsSource):
    """Lines of the capture objects under an s3:// prefix (see the module docstring)."""

    def __init__(
        self,
        url: str,
        client_factory: Callable[[], Any],
        *,
        max_line_bytes: int = 1_048_576,
        retry: BackoffSettings | None = None,
        attempts: int = 5,
        batch_size: int = 4096,
        speed: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(url, max_line_bytes, batch_size=batch_size, speed=speed, stop=stop)
        self.url = url
        self.bucket, self.prefix = parse_s3_url(url)
        self._client = client_factory()
        self.objects = list_capture_objects(self._client, self.bucket, self.prefix)
        self.names = [f"s3://{self.bucket}/{o.key}" for o in self.objects]
        self.total_bytes = sum(o.size for o in self.objects)
        self._retry = retry or BackoffSettings()
        self._attempts = attempts

    def _open(self, number: int) -> io.RawIOBase:
        return _ObjectBody(
            self._client,
            self.bucket,
            self.objects[number],
            retry=self._retry,
            attempts=self._attempts,
            stop=self._stop,
        )


def s3_client_factory(settings: AwsSettings) -> Callable[[], Any]:
    return lambda: aws.client("s3", settings)


def capture_source(
    spec: str,
    settings: AwsSettings,
    *,
    max_line_bytes: int,
    batch_size: int = 4096,
    speed: float | None = None,
    stop: threading.Event | None = None,
) -> CaptureObjectsSource:
    """The replay source named on the command line: s3://bucket/prefix, or a local path."""
    if spec.startswith("s3://"):
        return S3Source(
            spec,
            s3_client_factory(settings),
            max_line_bytes=max_line_bytes,
            batch_size=batch_size,
            speed=speed,
            stop=stop,
        )
    return FileSource(
        Path(spec), max_line_bytes=max_line_bytes, batch_size=batch_size, speed=speed, stop=stop
    )
