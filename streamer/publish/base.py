"""Re-publishing captured records into a stream (`driftstream replay SOURCE --to TARGET`).

A publisher reads a one-partition source in order (`OnePartitionSource.read`, every line,
malformed ones included), writes each line unchanged as one record keyed by the endpoint, at
the recorded pace times `speed` or as fast as possible, and returns a summary with a `line()`
for the terminal. A new target: a module beside this one, and one branch in
streamer/app/cli.py's `_republish`.
"""

from __future__ import annotations


class PublishError(RuntimeError):
    """The target cannot be reached or refuses the records; the message is one line."""
