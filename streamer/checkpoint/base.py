"""Checkpoint stores: detector state of each partition, saved with the offset it corresponds to.

Format (JSON, never pickle; one document per consumer group, topic and partition):

    {"version": 1, "group": "driftstream", "topic": "captures", "partition": 0,
     "offset": 12000, "written_at": "2026-11-26T10:00:00.000000+00:00",
     "monitor": {... detectors.monitor.Monitor.state_dict() ...},
     "aux_offsets": {"ground-truth": 4711}}

`offset` is the next record to read: every record before it has been through the monitor whose
state is `monitor`, and its events were flushed to every sink before the checkpoint was written.
`aux_offsets` (only when there are any): the position in each side stream read with this
partition (its ground truth, docs/model-quality.md), as of the state in `monitor` (the join
buffer holds what came before it), so both resume where the state ends. A Kafka side topic's is
the next offset of its same-numbered partition (an int); a Kinesis side stream's is the sequence
number of the last record of its co-sharded shard in the state (a decimal string: sequence
numbers outgrow JSON's 64-bit integers), read on AFTER_SEQUENCE_NUMBER. Checkpoints written
without it load as having none.

Two stores:
- DirectoryCheckpointStore: DIR/<group>/<topic>/<partition>.json, written atomically (temporary
  file, fsync, rename), so a reader sees the old or the new checkpoint, never half of one.
  Processes of one group share the directory (a shared volume) to take over each other's
  partitions.
- KafkaCheckpointStore: a compacted topic, key `<group>/<topic>/<partition>`, value the JSON
  above (gzip-compressed batches). State follows partitions between machines with no shared disk.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import orjson
import structlog
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from driftstream.detectors.state import StateError, parse

#: a side stream's position (module docstring): a Kafka next offset or a Kinesis sequence number
AuxPosition = int | str


class Partition(NamedTuple):
    """One partition of one topic: the unit of ordering, assignment and checkpointing."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}"


# -- the interface ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """Detector state of one partition and the offset it corresponds to (the next to read)."""

    group: str
    partition: Partition
    offset: int
    monitor: dict[str, Any]
    #: side stream -> its position: next offset or sequence number (module docstring)
    aux_offsets: dict[str, AuxPosition] = field(default_factory=dict)


class CheckpointStore(ABC):
    """Keeps the latest Checkpoint per (group, topic, partition).

    `save` returns only once the checkpoints are durable: the loop commits offsets after it.
    Stored as versioned JSON (streamer.checkpoint), never pickle.
    """

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Create directories or topics, connect; called once before the first load/save."""

    @abstractmethod
    def load(self, group: str, partition: Partition) -> Checkpoint | None:
        """The latest checkpoint of this partition, or None when there is none."""

    @abstractmethod
    def save(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Store these checkpoints durably (each replaces its partition's previous one)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; idempotent."""


log = structlog.get_logger(__name__)

CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint exists but cannot be used (unreadable, other version, other baseline)."""


class CheckpointUnavailableError(RuntimeError):
    """The store cannot be reached or written now; retried after back-off."""


def checkpoint_key(group: str, partition: Partition) -> str:
    return f"{group}/{partition.topic}/{partition.partition}"


def encode(checkpoint: Checkpoint) -> bytes:
    doc: dict[str, Any] = {
        "version": CHECKPOINT_VERSION,
        "group": checkpoint.group,
        "topic": checkpoint.partition.topic,
        "partition": checkpoint.partition.partition,
        "offset": checkpoint.offset,
        "written_at": dt.datetime.now(dt.UTC).isoformat(),
        "monitor": checkpoint.monitor,
    }
    if checkpoint.aux_offsets:
        doc["aux_offsets"] = checkpoint.aux_offsets
    return orjson.dumps(doc)


class _Document(BaseModel):
    """A stored checkpoint as `encode` writes it; strict: a JSON `true` is not partition 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: StrictInt
    group: StrictStr
    topic: StrictStr
    partition: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
    offset: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
    written_at: StrictStr
    monitor: dict[StrictStr, Any]
    aux_offsets: dict[
        StrictStr,
        Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]
        | Annotated[StrictStr, Field(pattern=r"^[0-9]{1,128}$")],
    ] = {}


def decode(data: bytes, *, where: str, group: str, partition: Partition) -> Checkpoint:
    """Parse and check one stored checkpoint; CheckpointError names `where` and the problem.

    The whole envelope is checked here (keys, types, bounds, whose it is); the monitor state
    inside it is checked by the monitor it is restored into (`Monitor.load_state`)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise CheckpointError(f"checkpoint {where} is not JSON") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"checkpoint {where} is not a JSON object")
    version = doc.get("version")
    if type(version) is not int or version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {where} has version {version!r}, this driftstream reads "
            f"{CHECKPOINT_VERSION}; delete it to start afresh"
        )
    try:
        checked = parse(_Document, doc, f"checkpoint {where}")
    except StateError as exc:
        raise CheckpointError(str(exc)) from None
    found = (checked.group, checked.topic, checked.partition)
    if found != (group, partition.topic, partition.partition):
        key = checkpoint_key(group, partition)
        raise CheckpointError(f"checkpoint {where} belongs to {found}, not {key}")
    return Checkpoint(group, partition, checked.offset, checked.monitor, dict(checked.aux_offsets))


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # the rename itself must survive a power cut too
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
