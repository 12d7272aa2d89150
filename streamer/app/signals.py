"""`driftstream signals list|show ID|approve ID|reject ID [--config FILE] [--reason TEXT]`.

Acts on the signal store of `--config` (`sinks.signal_outbox`, relative to the config file;
without `--config`, `signal-outbox` in the current directory, or DRIFTSTREAM__SINKS__
SIGNAL_OUTBOX), read without the service's lock: a running service on the same machine or volume
sees a decision within a second and delivers an approved signal (sinks/signals/approval.py);
one that is not running delivers it at its next start. docs/signals.md.

`show` prints what a reviewer needs to judge a decision in a minute: which features moved and
how far, since when, the quality and bias figures the policy had, what it weighed (weights,
persistence, cool-down, budget), where it came from (lineage), and the decision's history.
An ID is a signal's idempotency key, or a unique beginning of it (at least 4 characters).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from driftstream.sinks.signals.approval import APPROVED, REJECTED
from driftstream.sinks.signals.store import SignalStore, StoredSignal

ACTIONS = ("list", "show", "approve", "reject")


def reviewer() -> str:
    """Who is deciding: $USER, else the login name getpass finds, else `unknown`."""
    user = os.environ.get("USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # no name in the environment and no passwd entry (a bare container)
        return "unknown"


def run_signals(
    action: str,
    ident: str | None,
    directory: Path,
    reason: str | None,
    out: Callable[[str], None] = print,
) -> None:
    """One `signals` action on the store in `directory`; ApprovalError (one line) for an
    unknown ID or a decision that cannot be made."""
    store = SignalStore(directory)
    if action == "list":
        _list(store, out)
        return
    assert ident is not None
    if action == "show":
        for line in describe(store.find(ident)):
            out(line)
        return
    status = APPROVED if action == "approve" else REJECTED
    stored, recorded = store.decide(ident, status, reviewer(), reason)
    approval = stored.approval
    assert approval is not None
    if not recorded:
        out(f"{stored.key} was already {status} by {approval.by} at {approval.at}; unchanged")
    elif status == APPROVED:
        out(
            f"approved {stored.key} as {approval.by}: the service that owns {directory} "
            "delivers it to each target once (within a second while it runs, else at its next "
            "start)"
        )
    else:
        out(f"rejected {stored.key} as {approval.by}: it will never be delivered")


def _list(store: SignalStore, out: Callable[[str], None]) -> None:
    signals = store.signals()
    if not signals:
        out(f"no signals in {store.directory}")
        return
    pending = sum(1 for s in signals if s.status == "pending")
    out(f"{len(signals)} signal{_s(len(signals))} in {store.directory}, {pending} pending")
    rows = [("ID", "STATUS", "RECORD", "INFERENCE TIME", "TRIGGER", "FEATURES")]
    for s in signals:
        doc = s.signal.document
        rows.append(
            (
                s.key,
                s.status,
                _count(doc.get("record_index")),
                str(doc.get("inference_time") or "-"),
                str(doc.get("trigger") or "drift"),
                _names(doc.get("features")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        out("  ".join([*cells, row[-1]]))


def describe(stored: StoredSignal) -> list[str]:
    """The decision with its evidence, for a reviewer (see the module docstring)."""
    doc = stored.signal.document
    evidence: dict[str, Any] = doc.get("evidence") or {}
    lines = [f"retrain signal {stored.key}  (endpoint {doc.get('endpoint')})"]
    lines.append(f"  status     {_status(stored)}")
    trigger = doc.get("trigger") or "drift"
    lines.append(
        f"  decision   {doc.get('decision', 'retrain')}, on {trigger}, at record "
        f"{_count(doc.get('record_index'))} ({doc.get('inference_time') or 'no inferenceTime'});"
        f" decided {doc.get('decided_at', '?')}"
    )
    start, end = _pair(evidence.get("record_range"))
    t0, t1 = _pair(evidence.get("time_range"))
    lines.append(
        f"  evidence   records {_count(start)} to {_count(end)}"
        + (f", {t0} to {t1}" if t0 or t1 else "")
    )
    breach = evidence.get("quality_breach")
    if isinstance(breach, dict):
        lines.append(f"  quality    breach: {_quality(breach)}")
    lines.extend(_features(evidence))
    for item in evidence.get("quality") or []:
        if isinstance(item, dict) and item != breach:
            lines.append(f"  quality    {_quality(item)}")
    for item in evidence.get("bias") or []:
        if isinstance(item, dict):
            lines.append(f"  bias       {_quality(item)}")
    lines.extend(_weighed(evidence))
    lines.extend(_lineage(doc.get("lineage"), evidence))
    lines.extend(_deliveries(stored))
    return lines


def _status(stored: StoredSignal) -> str:
    approval = stored.approval
    if stored.status == "automatic":
        return "delivered without approval (sinks.signal_approval was not required)"
    if approval is None:
        return f"pending: driftstream signals approve|reject {stored.key} [--reason TEXT]"
    why = f": {approval.reason!r}" if approval.reason else ""
    return f"{approval.status} by {approval.by} at {approval.at}{why}"


def _features(evidence: dict[str, Any]) -> list[str]:
    features = evidence.get("features") or {}
    share, minimum = evidence.get("feature_share"), evidence.get("min_feature_share")
    head = (
        f"  drift      {len(features)} feature{_s(len(features))} in drift, weighted share "
        f"{_num(share)} (signals at {_num(minimum)}), minimum effect size "
        f"{_num(evidence.get('min_effect_size'))} (statistic / threshold)"
    )
    if not features:
        return [head]
    # the record: where that detector last fired, or the check's last evaluation
    rows = [("feature", "detector", "value", "threshold", "effect", "weight", "at record")]
    for name, item in sorted(
        features.items(), key=lambda kv: -float(kv[1].get("effect_size") or 0.0)
    ):
        rows.append(
            (
                name,
                str(item.get("detector")),
                _num(item.get("value")),
                _num(item.get("threshold")),
                _num(item.get("effect_size")) + ("" if item.get("material", True) else " (<)"),
                _num(item.get("weight")),
                _count(item.get("record_index")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = [
        "    " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return [head, *table]


def _weighed(evidence: dict[str, Any]) -> list[str]:
    lines = []
    held = evidence.get("persistence")
    if isinstance(held, dict):
        seconds = held.get("seconds")
        lines.append(
            f"  persisted  {_count(held.get('rows'))} rows"
            + (f", {_num(seconds)} s of inferenceTime" if seconds is not None else "")
            + f" (required {_count(held.get('required_rows'))} rows"
            + (
                f", {_num(held.get('required_seconds'))} s"
                if held.get("required_seconds") is not None
                else ""
            )
            + ")"
        )
    cooldown = evidence.get("cooldown")
    if isinstance(cooldown, dict):
        seconds = cooldown.get("seconds")
        lines.append(
            f"  cool-down  {_count(cooldown.get('rows'))} rows"
            + (f" and {_num(seconds)} s" if seconds is not None else "")
            + " after this signal"
        )
    budget = evidence.get("budget")
    if isinstance(budget, dict):
        limit = budget.get("max_signals_per_day")
        lines.append(
            "  budget     none (no max_signals_per_day)"
            if limit is None
            else f"  budget     {limit} per 24 h of {budget.get('clock', 'inference_time')}; "
            f"{budget.get('left')} left after this signal"
        )
    return lines


def _lineage(lineage: Any, evidence: dict[str, Any]) -> list[str]:
    lineage = lineage if isinstance(lineage, dict) else {}
    baseline = lineage.get("baseline") if isinstance(lineage.get("baseline"), dict) else {}
    detectors = lineage.get("detectors") if isinstance(lineage.get("detectors"), dict) else {}
    identity = baseline.get("identity") or evidence.get("baseline")
    where = f" ({baseline['location']})" if baseline.get("location") else ""
    names = ", ".join(str(n) for n in detectors.get("registered", []))
    watchers = ", ".join(str(n) for n in detectors.get("watchers", []))
    return [
        f"  baseline   {identity}{where}",
        f"  config     {lineage.get('config') or evidence.get('config')}",
        f"  detectors  driftstream {detectors.get('driftstream', '?')}; {names or '?'}"
        + (f"; watchers {watchers}" if watchers else ""),
    ]


def _deliveries(stored: StoredSignal) -> list[str]:
    if not stored.deliveries:
        return ["  delivered  nowhere yet"]
    return [f"  delivered  {target} at {at}" for target, at in sorted(stored.deliveries.items())]


def _quality(item: dict[str, Any]) -> str:
    facet = f" {item['facet']}" if item.get("facet") else ""
    limit = item.get("policy_threshold")
    policy = ""
    if isinstance(limit, dict):
        bound = "below" if limit.get("below") is not None else "above"
        policy = f", policy: retrain {bound} {_num(limit.get(bound))}"
    return (
        f"{item.get('metric')}{facet} {_num(item.get('value'))} "
        f"({item.get('detector')}, threshold {_num(item.get('threshold'))}{policy}) at record "
        f"{_count(item.get('record_index'))}"
    )


def _pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, None


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:.4g}"


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "-"


def _names(value: Any) -> str:
    if not isinstance(value, list) or not value:
        return "-"
    return ", ".join(str(v) for v in value)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def check_arguments(action: str, ident: str | None, reason: str | None) -> str | None:
    """The usage problem of these arguments, or None."""
    if action == "list" and ident is not None:
        return "signals list takes no ID"
    if action != "list" and not ident:
        return f"signals {action} needs the signal's ID (see `driftstream signals list`)"
    if reason is not None and action not in ("approve", "reject"):
        return "--reason goes with approve or reject"
    return None
