"""The interpreter's collector and thread switching set for a controller process.

Why: the controller's loop (the farm) and the API's loop (api_thread.py) are two
threads of one interpreter, and a call to the API waits every time it needs the
interpreter's lock while the farm's loop runs. Measured with ``bench/scale.py --agents
1000 --seconds 10`` (median of 3 runs each, one session, 2026-12-02; the wake-ups of
poller_wakeups.py in place): API p99 470 ms with the defaults, 250 ms with rarer full
collections, 162 ms with both settings (a switch interval of 2 ms then); assignments per
second unchanged (2,215-2,506 across every run). A switch interval of 0.5 ms, once a
dispatcher's pass and a commit no longer held the farm's loop for long (time_slices.py),
2026-12-03: p99 51 / 65 / 45 ms against 77 / 58 / 111 with 2 ms, p50 halved (10 -> 5 ms),
assignments per second the same (bench/README.md).
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL = 0.0005
"""Seconds a thread waiting for the interpreter's lock waits before the running thread
is asked to hand it over (Python's default is 0.005). An API call needs the lock several
times (its arrival, its message, the answer handed back, its sending); each hand-over
waited up to this long while the farm's loop ran. The API's thread is idle most of the
time (0.09 of a core at 1,000 agents), so the farm's loop is rarely asked to hand over:
a shorter interval costs it next to nothing. 0.2 ms answered quicker still (p99 35-52 ms)
with fewer assignments per second in two runs of two (1,210-1,285 against 1,390-1,400)."""
GC_THRESHOLDS = (700, 10, 1000)
"""gc.set_threshold: young generations as Python's defaults; a full collection after
1,000 collections of the middle generation rather than 10. The controller's records
(jobs, tasks, frames, attempts) live until a job is archived, and a full collection
walks them all to find nothing: at 1,000 agents it ran every 2-5 s, each holding every
thread for 160-318 ms. Cyclic garbage dies young and is still collected by the young
generations' collections; a full collection still runs, about a hundred times rarer."""


def tune_interpreter() -> None:
    """Apply SWITCH_INTERVAL and GC_THRESHOLDS to this process (the controller's own:
    a test running a controller in its process keeps the interpreter's defaults)."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.set_threshold(*GC_THRESHOLDS)
