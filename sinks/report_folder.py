"""The report folder (`--violations-out`): the watchers' files, under a local folder or S3.

Watchers (detectors/base.py) hand over Documents, files with a path relative to the report
folder (`2026/11/01/00/00/constraint_violations.json`); this sink keeps them until `flush`, which
writes each in Model Monitor's JSON style (detectors/baseline/files.py) under the target:

- a local folder: each file written beside its final name and renamed over it, so a reader
  never sees half a report;
- `s3://bucket/prefix`: one PutObject per file, `prefix/path`. A failure that retrying may fix
  (network, throttling, 5xx) is a SinkUnavailableError: the loop commits nothing, backs off
  and flushes again; one it cannot (no bucket, access denied) is an AwsError.

Delivery is at-least-once like every sink's: after a restart from a checkpoint a window's report
is written again over the first (the watchers' state is checkpointed, so it is the same report;
docs/model-monitor-reports.md says which last digits may differ).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from driftstream.detectors.base import Document
from driftstream.detectors.baseline.files import model_monitor_json
from driftstream.detectors.events import Event
from driftstream.sinks import aws
from driftstream.sinks.base import Sink, SinkUnavailableError

S3_SCHEME = "s3://"


def split_s3(target: str) -> tuple[str, str]:
    """`s3://bucket/prefix` as (bucket, prefix without slashes at its ends); ValueError for a
    target without a bucket."""
    bucket, _, prefix = target.removeprefix(S3_SCHEME).partition("/")
    if not bucket:
        raise ValueError(f"{target!r}: expected s3://bucket or s3://bucket/prefix")
    return bucket, prefix.strip("/")


class ReportFolderSink(Sink):
    """Writes Documents under `target`, a local folder or `s3://bucket/prefix` (see the module
    docstring). `s3_client` makes the boto3 client, at `setup`, for an S3 target."""

    def __init__(self, target: str, s3_client: Callable[[], Any] | None = None) -> None:
        self.target = target
        self._s3_client = s3_client
        self._client: Any = None
        self._pending: dict[str, object] = {}  # path -> content; a path given again: the latest
        if target.startswith(S3_SCHEME):
            self.bucket, self.prefix = split_s3(target)
            if s3_client is None:
                raise ValueError(f"{target}: an S3 target needs a client factory")
        else:
            self.folder = Path(target)

    @property
    def is_s3(self) -> bool:
        return self.target.startswith(S3_SCHEME)

    def setup(self) -> None:
        """Create the local folder, or make the S3 client and check the bucket is there (an
        AwsError when it is not or may not be written; SinkUnavailableError when S3 does not
        answer)."""
        if not self.is_s3:
            self.folder.mkdir(parents=True, exist_ok=True)
            return
        assert self._s3_client is not None  # checked in __init__
        self._client = self._s3_client()
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._error(f"s3://{self.bucket}", exc) from None

    def add(self, event: Event) -> None:
        """Events are not this sink's: it writes files only."""

    def add_documents(self, documents: Sequence[Document]) -> None:
        for document in documents:
            self._pending[_relative(document.path)] = document.content

    def flush(self) -> None:
        """Write every file given so far; what failed stays pending for the next flush."""
        for path, content in list(self._pending.items()):
            body = model_monitor_json(content).encode("utf-8")
            if self.is_s3:
                self._put(path, body)
            else:
                _write_atomically(self.folder / path, body)
            del self._pending[path]

    def close(self) -> None:
        """Write what is pending."""
        self.flush()

    def _put(self, path: str, body: bytes) -> None:
        key = f"{self.prefix}/{path}" if self.prefix else path
        if self._client is None:
            self.setup()
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
            )
        except Exception as exc:
            raise self._error(f"s3://{self.bucket}/{key}", exc) from None

    @staticmethod
    def _error(what: str, exc: Exception) -> Exception:
        if aws.is_fatal(exc):
            return aws.fatal(f"report folder {what}", exc)
        if aws.is_retryable(exc):
            return SinkUnavailableError(f"report folder {what}: {aws.describe(exc)}")
        return exc


def _relative(path: str) -> str:
    """A Document's path, checked to stay inside the report folder."""
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"report file path {path!r} must be relative, inside the folder")
    return path


def _write_atomically(path: Path, body: bytes) -> None:
    """`body` to a sibling temporary file, then renamed over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(body)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
