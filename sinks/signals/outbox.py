"""The signal outbox: what was decided, and what was delivered where, on disk before anything else.

A directory holding two append-only JSON Lines files:

- `signals.jsonl`: one line per signal, `{"key": …, "signal": {…document…}}`, appended and
  fsynced before any delivery is attempted (and before the loop commits source positions);
- `delivered.jsonl`: one line per (signal, target) delivery, `{"key": …, "target": …, "at": …}`,
  appended and fsynced as soon as the target accepted it.

So a signal decided before a crash is found pending at the next start and delivered then; a
signal decided again (a replay of the same records, the records after a checkpoint read again)
has a key the outbox knows, and is not delivered again to a target that already has it. A line
cut short by a crash is ignored when reading (it was never acknowledged to anyone).

One process owns an outbox at a time (an exclusive lock on `lock`): two processes would each
deliver what they decided without seeing the other's deliveries.

A signal recorded as needing approval (`"approval": {"required": true}` in its document) is held:
it is pending delivery only once a person approved it in `approvals.jsonl`, beside these files,
and never once rejected (sinks/signals/approval.py; `refresh_approvals` reads new decisions).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

from driftstream.sinks.events_file import cut_partial_last_line
from driftstream.sinks.signals.approval import APPROVED, Approvals, with_approval
from driftstream.sinks.signals.base import Signal

log = structlog.get_logger(__name__)

SIGNALS_FILE = "signals.jsonl"
DELIVERED_FILE = "delivered.jsonl"
LOCK_FILE = "lock"


class OutboxError(RuntimeError):
    """The outbox cannot be opened (locked by another process, unreadable); one line."""


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """Parsed lines of a JSON Lines file; a last line cut short by a crash is dropped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            if number == len(lines):
                log.warning("outbox_partial_line_ignored", file=str(path))
                continue
            raise OutboxError(f"{path} line {number} is not JSON") from None
        if isinstance(doc, dict):
            out.append(doc)
    return out


class Outbox:
    """See the module docstring. Thread-safe: the loop records, the delivery thread marks."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._signals: dict[str, Signal] = {}  # in the order they were recorded
        self._delivered: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._lock_file: IO[bytes] | None = None
        self._signals_file: IO[bytes] | None = None
        self._delivered_file: IO[bytes] | None = None
        self.approvals = Approvals(directory)

    def open(self) -> None:
        """Lock the directory, read what earlier runs recorded, open the files for appending."""
        if self._lock_file is not None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = (self.directory / LOCK_FILE).open("ab")
        except OSError as exc:
            raise OutboxError(f"signal outbox {self.directory}: {exc.strerror}") from None
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise OutboxError(
                f"signal outbox {self.directory} is in use by another process; give each "
                "process its own sinks.signal_outbox"
            ) from None
        self._lock_file = lock
        signals_path = self.directory / SIGNALS_FILE
        delivered_path = self.directory / DELIVERED_FILE
        for doc in _read_lines(signals_path):
            key = str(doc.get("key"))
            if key not in self._signals and isinstance(doc.get("signal"), dict):
                self._signals[key] = Signal(key, doc["signal"])
        for doc in _read_lines(delivered_path):
            self._delivered.setdefault(str(doc.get("key")), set()).add(str(doc.get("target")))
        cut_partial_last_line(signals_path)
        cut_partial_last_line(delivered_path)
        self.approvals.refresh()
        self._signals_file = signals_path.open("ab")
        self._delivered_file = delivered_path.open("ab")

    def close(self) -> None:
        for f in (self._signals_file, self._delivered_file, self._lock_file):
            if f is not None:
                f.close()
        self._signals_file = self._delivered_file = self._lock_file = None

    @staticmethod
    def _append(f: IO[bytes] | None, doc: dict[str, Any]) -> None:
        assert f is not None, "open() was not called"
        f.write(orjson.dumps(doc) + b"\n")
        f.flush()
        os.fsync(f.fileno())

    def record(self, signal: Signal) -> bool:
        """Store `signal` durably; False (nothing written) when its key is already stored."""
        with self._lock:
            if signal.key in self._signals:
                return False
            self._append(self._signals_file, {"key": signal.key, "signal": signal.document})
            self._signals[signal.key] = signal
            return True

    def mark_delivered(self, key: str, target: str) -> None:
        with self._lock:
            if target in self._delivered.get(key, set()):
                return
            self._append(
                self._delivered_file,
                {"key": key, "target": target, "at": dt.datetime.now(dt.UTC).isoformat()},
            )
            self._delivered.setdefault(key, set()).add(target)

    def delivered(self, key: str, target: str) -> bool:
        with self._lock:
            return target in self._delivered.get(key, set())

    def get(self, key: str) -> Signal | None:
        with self._lock:
            return self._signals.get(key)

    def pending(self, targets: Sequence[str]) -> list[tuple[Signal, list[str]]]:
        """Signals to deliver that are not yet delivered to every one of `targets`, oldest
        first, with the targets each still lacks. A held signal is among them once approved
        (its document then says by whom), never before, never once rejected."""
        with self._lock:
            out = []
            for key, signal in self._signals.items():
                done = self._delivered.get(key, set())
                missing = [t for t in targets if t not in done]
                if not missing:
                    continue
                if not signal.approval_required:
                    out.append((signal, missing))
                    continue
                approval = self.approvals.get(key)
                if approval is not None and approval.status == APPROVED:
                    out.append((with_approval(signal, approval), missing))
            return out

    def held(self) -> list[Signal]:
        """Signals waiting for a person's decision, oldest first."""
        with self._lock:
            return [
                signal
                for key, signal in self._signals.items()
                if signal.approval_required and self.approvals.get(key) is None
            ]

    def refresh_approvals(self) -> bool:
        """Read decisions made since the last call (True when there were any)."""
        return self.approvals.refresh()

    def __len__(self) -> int:
        with self._lock:
            return len(self._signals)
