"""Progress on a terminal: a tqdm bar (bytes or records) and a way to print above it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

ProgressHook = Callable[[int, int], None]  # (records, bytes) done in one batch


class Progress:
    """A bar on `stream` when it is a terminal; does nothing otherwise (logs, CI, pipes)."""

    def __init__(
        self,
        total: int | None,
        *,
        unit: str = "B",
        desc: str = "replay",
        stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.unit = unit
        self._records = 0
        self._bar: tqdm[object] | None = None
        if self.stream.isatty():
            self._bar = tqdm(total=total, unit=unit, unit_scale=True, file=self.stream, desc=desc)

    @property
    def hook(self) -> ProgressHook | None:
        return self._update if self._bar is not None else None

    def _update(self, n_records: int, n_bytes: int) -> None:
        assert self._bar is not None
        self._records += n_records
        self._bar.update(n_bytes if self.unit == "B" else n_records)
        if self.unit == "B":
            self._bar.set_postfix(records=self._records, refresh=False)

    def write(self, line: str) -> None:
        """Print a line without breaking the bar."""
        if self._bar is not None:
            tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
