"""Human approval of retrain signals: people's decisions, stored beside the outbox.

With `sinks.signal_approval: required` a signal is recorded in the outbox (sinks/signals/
outbox.py) as held: it is delivered once a person approved it, and never once rejected.
Decisions are lines of `approvals.jsonl` in the outbox directory:

    {"key": "…32 hex…", "status": "approved", "by": "alice", "at": "2026-11-26T10:00:00+00:00",
     "reason": "drift confirmed with the data team"}

appended and fsynced by `driftstream signals approve|reject` (streamer/app/signals.py) under an
exclusive lock on `approvals.lock`. That is not the outbox's own `lock`, which the service holds
for as long as it runs: so a person decides while the service runs, on the same machine or
volume, and the service sees the decision within `POLL_SECONDS` (it re-reads the file when it
grows) and delivers. A service that is not running delivers at its next start. A decision is
final: the first one recorded for a signal counts, and a second is refused.

The reviewer's read-only view of a whole outbox directory is sinks/signals/store.py.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from driftstream.sinks.signals.base import Signal

APPROVALS_FILE = "approvals.jsonl"
APPROVALS_LOCK = "approvals.lock"
APPROVED, REJECTED = "approved", "rejected"
#: how often a service with held signals looks for new decisions
POLL_SECONDS = 1.0


class ApprovalError(RuntimeError):
    """A decision that cannot be recorded (unknown signal, already decided, unwritable); one
    line."""


@dataclass(frozen=True)
class Approval:
    """A person's decision on one held signal."""

    key: str
    status: str  # approved or rejected
    by: str
    at: str  # ISO 8601, UTC
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "by": self.by,
            "at": self.at,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Approval | None:
        status = doc.get("status")
        if not isinstance(doc.get("key"), str) or status not in (APPROVED, REJECTED):
            return None
        reason = doc.get("reason")
        return cls(
            doc["key"],
            str(status),
            str(doc.get("by", "")),
            str(doc.get("at", "")),
            None if reason is None else str(reason),
        )


def complete_lines(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of the complete lines of `data` and the bytes they take; a last line
    without its newline is left (a write in progress, or cut by a crash)."""
    end = data.rfind(b"\n") + 1
    docs: list[dict[str, Any]] = []
    for line in data[:end].split(b"\n"):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn line followed by later appends: never acknowledged to anyone
        if isinstance(doc, dict):
            docs.append(doc)
    return docs, end


class Approvals:
    """The decisions of one outbox directory, read incrementally (see the module docstring).
    Thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / APPROVALS_FILE
        self._decisions: dict[str, Approval] = {}
        self._offset = 0
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Read decisions appended since the last call; True when there were any."""
        with self._lock:
            try:
                with self.path.open("rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if size < self._offset:  # replaced: read it whole again
                        self._decisions, self._offset = {}, 0
                    f.seek(self._offset)
                    data = f.read()
            except FileNotFoundError:
                return False
            docs, used = complete_lines(data)
            self._offset += used
            new = False
            for doc in docs:
                approval = Approval.from_json(doc)
                if approval is not None and approval.key not in self._decisions:
                    self._decisions[approval.key] = approval
                    new = True
            return new

    def get(self, key: str) -> Approval | None:
        with self._lock:
            return self._decisions.get(key)

    def all(self) -> dict[str, Approval]:
        with self._lock:
            return dict(self._decisions)

    def decide(
        self, key: str, status: str, by: str, reason: str | None, at: dt.datetime | None = None
    ) -> tuple[Approval, bool]:
        """Record `status` for `key` (fsynced) unless a decision exists: (the decision that
        counts, whether it is this one)."""
        if status not in (APPROVED, REJECTED):
            raise ValueError(f"status must be {APPROVED} or {REJECTED}, not {status!r}")
        when = (at or dt.datetime.now(dt.UTC)).isoformat()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with (self.directory / APPROVALS_LOCK).open("ab") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # people deciding at once, in turn
                self.refresh()
                earlier = self.get(key)
                if earlier is not None:
                    return earlier, False
                approval = Approval(key, status, by, when, reason)
                with self.path.open("a+b") as f:
                    # a line a crashed writer left unfinished must not swallow this one
                    torn = False
                    if f.seek(0, os.SEEK_END) > 0:
                        f.seek(-1, os.SEEK_END)
                        torn = f.read(1) != b"\n"
                    f.write((b"\n" if torn else b"") + orjson.dumps(approval.to_json()) + b"\n")
                    f.flush()
                    os.fsync(f.fileno())
                with self._lock:
                    self._decisions[key] = approval
                return approval, True
        except OSError as exc:
            raise ApprovalError(f"{self.path}: {exc.strerror}") from None


def with_approval(signal: Signal, approval: Approval) -> Signal:
    """The signal as delivered once approved: its document's `approval` completed."""
    document = dict(signal.document)
    document["approval"] = {
        **(signal.document.get("approval") or {}),
        "status": approval.status,
        "by": approval.by,
        "at": approval.at,
        "reason": approval.reason,
    }
    return Signal(signal.key, document)
