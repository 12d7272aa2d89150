"""`replay --resume`: continue an interrupted replay from its last checkpoint.

A replay checkpoints like the live service (detector state with the next record index, after
its events were flushed), into a folder beside its events file: `<events-out>.checkpoint/`. The
folder is removed when a replay finishes, so it exists only after an interrupted one (Ctrl-C,
SIGTERM, a crash). Resuming:

1. reads the checkpoint's offset N (the records before N were monitored, their events written);
2. cuts the events file back to the events of records before N (an interrupted run may have
   written events of later records, and its `summary`), so nothing is written twice;
3. rebuilds the run's counts from the events kept (records read = N; rejections by reason and
   events by kind as counted in the file), so the final `summary` covers the whole stream;
4. runs the service, which restores the monitor and skips the source to record N.

The events of an interrupted and resumed replay are then those of an uninterrupted one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from driftstream.sinks.events_file import cut_partial_last_line
from driftstream.streamer.checkpoint.base import Partition
from driftstream.streamer.checkpoint.directory import DirectoryCheckpointStore
from driftstream.streamer.runtime.summary import RunSummary


class ResumeError(ValueError):
    """A replay cannot be resumed as asked; the message is one line."""


def checkpoint_dir(events_out: Path) -> Path:
    """Where a replay writing `events_out` keeps its checkpoint."""
    return events_out.with_name(events_out.name + ".checkpoint")


def discard(events_out: Path) -> None:
    """Forget a replay's checkpoint (a fresh replay, or one that finished)."""
    shutil.rmtree(checkpoint_dir(events_out), ignore_errors=True)


def resume_offset(events_out: Path, group: str, partition: Partition) -> int | None:
    """The record index the last checkpoint ends at, or None when there is none."""
    checkpoint = DirectoryCheckpointStore(checkpoint_dir(events_out)).load(group, partition)
    return checkpoint.offset if checkpoint is not None else None


def cut_events(events_out: Path, offset: int) -> RunSummary:
    """Keep the events of records before `offset` (see the module docstring); their counts."""
    if not events_out.exists():
        raise ResumeError(
            f"{events_out} is missing, but its checkpoint is at record {offset}: the events "
            "before it are lost; replay again without --resume"
        )
    summary = RunSummary(records_read=offset)
    cut_partial_last_line(events_out)
    keep = 0
    with events_out.open("rb") as f:
        for line in f:
            event = orjson.loads(line)
            index = event.get("record_index")
            if event.get("kind") == "summary" or (index is not None and index >= offset):
                break
            keep += len(line)
            summary.events[event["kind"]] += 1
            if event["kind"] == "rejected":
                summary.rejected[event["reason"]] += 1
    with events_out.open("rb+") as f:
        f.truncate(keep)
    summary.records_used = offset - sum(summary.rejected.values())
    return summary
