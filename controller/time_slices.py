"""Long pieces of work on the farm's loop cut into slices of time.

Why: the farm's loop is one thread; an API call's work is put at the front of its queue
(farm_calls.py) but still waits for the callback running now to end. A dispatcher's pass
or a commit's preparation that runs for hundreds of milliseconds in one callback held
every API call that long (``bench/scale.py --agents 1000``: callbacks of 50-500 ms, API
p99 137-400 ms). Work that checks ``spent()`` and yields to the loop when it says so
holds it for a slice at most.
"""

from __future__ import annotations

import time

SLICE = 0.02
"""Seconds of work between two turns of the loop for links, heartbeats and the API."""


class TimeSlices:
    """The clock of one piece of work: ``spent()`` says when it should let the loop run."""

    def __init__(self, seconds: float = SLICE) -> None:
        self.seconds = seconds
        self._until = time.monotonic() + seconds

    def spent(self) -> bool:
        """Whether the slice is used up; if so, the next one starts now (the caller yields)."""
        now = time.monotonic()
        if now < self._until:
            return False
        self._until = now + self.seconds
        return True
