"""The one error type of the baseline package."""

from __future__ import annotations


class BaselineError(ValueError):
    """A baseline file or training data set is unusable.

    Raised by profiling (malformed training rows) and by loading (a bad statistics.json or
    constraints.json). The message is one line naming the file and the line, key or feature at
    fault; the CLI prints it and exits with status 2.
    """
