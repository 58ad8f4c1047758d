"""Durations observed on the event loop, counted into Prometheus histogram buckets.

The servers time what happens on their hot paths (a frame's render time, a task's wait
in the queue, a commit) where it happens, and the metrics endpoint reads the buckets at
scrape time. prometheus_client's Histogram takes a lock per bucket update, for threads;
here every observation and every scrape runs on the one event loop, so an observation
is a binary search and two additions, with no lock and nothing allocated.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client.metrics_core import HistogramMetricFamily

QUICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) for what takes milliseconds when well: a DuckDB commit."""
WAIT_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
)  # fmt: skip
"""Upper bounds (seconds) for a wait that is short on an idle farm and long on a busy one."""
WORK_BUCKETS = (
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0,
)  # fmt: skip
"""Upper bounds (seconds) for rendering: a generated image in a second, a film frame in hours."""


class Durations:
    """A histogram of seconds: ``observe`` on the event loop, ``family`` at scrape time."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * (len(self.bounds) + 1)
        """Observations per bucket (not cumulative); the last is above every bound."""
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        # A bucket counts values up to and including its bound ("le"), as Prometheus does.
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        """The histogram as Prometheus exposes it: cumulative buckets, ``_count`` and ``_sum``."""
        buckets: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            buckets.append((bound, total))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=self.sum, unit="seconds")
