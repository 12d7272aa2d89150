"""The reviewer's view of a signal outbox: every signal, its decision and its deliveries.

Read by `driftstream signals` (streamer/app/signals.py) without the outbox's lock, so while the
service that owns the directory runs and appends to it: a line cut short by a write in progress
is left for the next read. Decisions go through sinks/signals/approval.py (their own lock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftstream.sinks.signals.approval import Approval, ApprovalError, Approvals, complete_lines
from driftstream.sinks.signals.base import Signal
from driftstream.sinks.signals.outbox import DELIVERED_FILE, SIGNALS_FILE


@dataclass
class StoredSignal:
    """One signal of a store, with its decision and deliveries."""

    signal: Signal
    approval: Approval | None
    #: target name → when it was delivered there
    deliveries: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.signal.key

    @property
    def status(self) -> str:
        """`pending` (held, no decision yet), `approved`, `rejected`, or `automatic` (recorded
        without approval: delivered as decided)."""
        if not self.signal.approval_required:
            return "automatic"
        return "pending" if self.approval is None else self.approval.status


class SignalStore:
    """An outbox directory as a reviewer reads it (see the module docstring); no lock taken."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.approvals = Approvals(directory)

    def exists(self) -> bool:
        return (self.directory / SIGNALS_FILE).is_file()

    def signals(self) -> list[StoredSignal]:
        """Every recorded signal, oldest first."""
        self.approvals.refresh()
        decisions = self.approvals.all()
        deliveries: dict[str, dict[str, str]] = {}
        for doc in self._read(DELIVERED_FILE):
            key, target = doc.get("key"), doc.get("target")
            if isinstance(key, str) and isinstance(target, str):
                deliveries.setdefault(key, {}).setdefault(target, str(doc.get("at", "")))
        out: dict[str, StoredSignal] = {}
        for doc in self._read(SIGNALS_FILE):
            key, document = doc.get("key"), doc.get("signal")
            if isinstance(key, str) and isinstance(document, dict) and key not in out:
                out[key] = StoredSignal(
                    Signal(key, document), decisions.get(key), deliveries.get(key, {})
                )
        return list(out.values())

    def find(self, ident: str) -> StoredSignal:
        """The signal whose key is `ident`, or begins with it (at least 4 characters);
        ApprovalError naming the store when there is none, or several."""
        ident = ident.strip().lower()
        signals = self.signals()
        exact = [s for s in signals if s.key == ident]
        if exact:
            return exact[0]
        matches = [s for s in signals if len(ident) >= 4 and s.key.startswith(ident)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ApprovalError(
                f"signal ID {ident!r} is ambiguous in {self.directory}: "
                f"{len(matches)} signals begin with it"
            )
        raise ApprovalError(f"no signal {ident!r} in {self.directory}")

    def decide(
        self, ident: str, status: str, by: str, reason: str | None
    ) -> tuple[StoredSignal, bool]:
        """Approve or reject the held signal `ident`: the stored signal with its decision, and
        whether this call recorded it (False: the same decision was recorded before, and is
        kept as it was). ApprovalError when it is unknown, needs no approval, or was decided
        otherwise before."""
        stored = self.find(ident)
        if not stored.signal.approval_required:
            raise ApprovalError(
                f"signal {stored.key} was recorded without approval (delivered as decided); "
                "nothing to approve or reject"
            )
        approval, recorded = self.approvals.decide(stored.key, status, by, reason)
        if approval.status != status:
            raise ApprovalError(
                f"signal {stored.key} was already {approval.status} by {approval.by} at "
                f"{approval.at}; a decision is final"
            )
        stored.approval = approval
        return stored, recorded

    def _read(self, name: str) -> list[dict[str, Any]]:
        try:
            data = (self.directory / name).read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ApprovalError(f"{self.directory / name}: {exc.strerror}") from None
        return complete_lines(data)[0]
