"""DirectoryCheckpointStore: DIR/<group>/<topic>/<partition>.json, written atomically
(format and guarantees: streamer/checkpoint/base.py)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from driftstream.streamer.checkpoint.base import (
    Checkpoint,
    CheckpointStore,
    CheckpointUnavailableError,
    Partition,
    decode,
    encode,
    write_atomically,
)


def _segment(name: str) -> str:
    """A file-name-safe, reversible form of a group or topic name."""
    quoted = urllib.parse.quote(name, safe="-_.")
    return quoted.replace(".", "%2E") if set(quoted) <= {"."} else quoted


class DirectoryCheckpointStore(CheckpointStore):
    """One JSON file per group/topic/partition under `directory` (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, group: str, partition: Partition) -> Path:
        return (
            self.directory
            / _segment(group)
            / _segment(partition.topic)
            / f"{partition.partition}.json"
        )

    def setup(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointUnavailableError(
                f"checkpoint directory {self.directory}: {exc.strerror}"
            ) from exc

    def load(self, group: str, partition: Partition) -> Checkpoint | None:
        path = self.path(group, partition)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointUnavailableError(f"cannot read {path}: {exc.strerror}") from exc
        return decode(data, where=str(path), group=group, partition=partition)

    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        for cp in checkpoints:
            path = self.path(cp.group, cp.partition)
            try:
                write_atomically(path, encode(cp))
            except OSError as exc:
                raise CheckpointUnavailableError(f"cannot write {path}: {exc.strerror}") from exc
