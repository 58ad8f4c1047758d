"""The farm as the TUI sees it: jobs and agents kept current from ``WatchEvents``.

Pure data, no Textual: the feed (feed.py) fills it, the screens read it, and the
benchmark drives it without a terminal. Applying an event only records what changed;
screens redraw the changed rows when the feed tells them, at most a few times a
second, however fast events come.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

RATE_WINDOW = 60.0
"""Seconds of frame completions behind ``frames_per_minute``."""


@dataclass
class Changes:
    """What changed since the screens last looked."""

    jobs: set[int] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    frames: set[int] = field(default_factory=set)
    """Jobs some of whose frames changed (for an open job screen)."""
    everything: bool = False
    """A fresh listing replaced the view (first load, reconnect, resync)."""

    def __bool__(self) -> bool:
        return bool(self.everything or self.jobs or self.agents or self.frames)

    def merge(self, other: Changes) -> None:
        self.jobs |= other.jobs
        self.agents |= other.agents
        self.frames |= other.frames
        self.everything = self.everything or other.everything


@dataclass
class FarmView:
    jobs: dict[int, pb.Job] = field(default_factory=dict)
    agents: dict[str, pb.Agent] = field(default_factory=dict)
    sequence: int = 0
    """The last event applied; a watch resumes after it."""
    completions: deque[float] = field(default_factory=deque)
    """Times of recent frame completions, for the rate."""
    pending: Changes = field(default_factory=Changes)

    def load(self, jobs: list[pb.Job], agents: list[pb.Agent], sequence: int) -> None:
        """Replace everything with a fresh listing taken at ``sequence``."""
        self.jobs = {j.id: j for j in jobs}
        self.agents = {a.id: a for a in agents}
        self.sequence = sequence
        self.pending = Changes(everything=True)

    def apply(self, event: fpb.WatchEventsResponse, now: float | None = None) -> None:
        """One change from the stream (a resync is the feed's business)."""
        self.sequence = max(self.sequence, event.sequence)
        kind = event.WhichOneof("resource")
        deleted = event.change == fpb.CHANGE_TYPE_DELETED
        if kind == "job":
            if deleted:
                self.jobs.pop(event.job.id, None)
            else:
                self.jobs[event.job.id] = event.job
            self.pending.jobs.add(event.job.id)
        elif kind == "agent":
            self.agents[event.agent.id] = event.agent
            self.pending.agents.add(event.agent.id)
        elif kind == "frame":
            self.pending.frames.add(event.frame.job_id)
            if event.frame.state == pb.FRAME_STATE_COMPLETED:
                self.completions.append(time.monotonic() if now is None else now)

    def take_changes(self) -> Changes:
        changes, self.pending = self.pending, Changes()
        return changes

    def frames_per_minute(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self.completions and self.completions[0] < now - RATE_WINDOW:
            self.completions.popleft()
        return float(len(self.completions)) * 60.0 / RATE_WINDOW

    def job_counts(self) -> Counter[int]:
        return Counter(j.state for j in self.jobs.values())


def eta_seconds(job: pb.Job, now: float | None = None) -> float | None:
    """Seconds left at the pace the job has kept since it started; None when unknown."""
    if job.state != pb.JOB_STATE_RUNNING or not job.HasField("start_time") or job.progress <= 0:
        return None
    elapsed = (time.time() if now is None else now) - job.start_time.ToNanoseconds() / 1e9
    return max(0.0, elapsed * (1.0 - job.progress) / job.progress)
