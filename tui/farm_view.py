"""The farm as the TUI sees it: jobs and agents kept current from ``WatchEventBatches``.

Pure data, no Textual: the feed (feed.py) fills it, the screens read it, and the
benchmark drives it without a terminal. Applying an event only records what changed;
screens redraw the changed rows when the feed tells them, at most a few times a
second, however fast events come.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

RATE_WINDOW = 60.0
"""Seconds of frame completions behind ``frames_per_minute``."""
ETA_MIN_FRAMES = 3
ETA_MIN_SHARE = 0.05
"""No ETA before this many frames (or this share of the job, if fewer) finished here: the
first frames of a job also load the scene and warm caches, so they mislead."""
SMOOTHING = 0.3
"""Weight of the newest render time in a job's smoothed render time."""


@dataclass
class Changes:
    """What changed since the screens last looked."""

    jobs: set[int] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    everything: bool = False
    """A fresh listing replaced the view (first load, reconnect, resync)."""

    def __bool__(self) -> bool:
        return bool(self.everything or self.jobs or self.agents)

    def __or__(self, other: Changes) -> Changes:
        """Both together, as one look would have seen them (neither is changed)."""
        everything = self.everything or other.everything
        return Changes(self.jobs | other.jobs, self.agents | other.agents, everything)


@dataclass
class Pace:
    """How fast a job's frames render, from the completions this view saw (not the job's
    history: after a restart of the TUI the estimate waits for new frames again)."""

    frames: int = 0
    """Completed frames seen with a render time."""
    seconds: float = 0.0
    """Their render time, smoothed: one slow frame moves the ETA a little, not all of it."""
    running: int = 0
    """The job's last non-zero count of rendering frames: between two tasks it is 0 for
    a moment, which must not make the ETA jump."""

    def add(self, render_seconds: float) -> None:
        self.frames += 1
        weight = 1.0 if self.frames == 1 else SMOOTHING
        self.seconds += weight * (render_seconds - self.seconds)


@dataclass
class FarmView:
    jobs: dict[int, pb.Job] = field(default_factory=dict)
    agents: dict[str, pb.Agent] = field(default_factory=dict)
    sequence: int = 0
    """The last event applied; a watch resumes after it."""
    completions: deque[float] = field(default_factory=deque)
    """Times of recent frame completions, for the rate."""
    pending: Changes = field(default_factory=Changes)
    paces: dict[int, Pace] = field(default_factory=dict)
    """Job id -> its pace, for the ETA; kept across listings (render times stay true)."""
    agents_online: int = 0
    """How many of ``agents`` are online, kept as they change: the status line shows it
    ten times a second, and counting 5,000 agents each time showed in profiles."""

    def load(self, jobs: list[pb.Job], agents: list[pb.Agent], sequence: int) -> None:
        """Replace everything with a fresh listing taken at ``sequence``."""
        self.jobs = {j.id: j for j in jobs}
        self.agents = {a.id: a for a in agents}
        self.agents_online = sum(map(is_online, agents))
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
                self.paces.pop(event.job.id, None)
            else:
                self.jobs[event.job.id] = event.job
                if event.job.frames_running and event.job.id in self.paces:
                    self.paces[event.job.id].running = event.job.frames_running
            self.pending.jobs.add(event.job.id)
        elif kind == "agent":
            self._agent(event.agent, deleted)
        elif kind == "frame" and event.frame.state == pb.FRAME_STATE_COMPLETED:
            self.completions.append(time.monotonic() if now is None else now)
            self._timed(event.frame)

    def _agent(self, agent: pb.Agent, deleted: bool) -> None:
        """An agent changed, or was forgotten (``deleted``): its row goes."""
        before = self.agents.pop(agent.id, None) if deleted else self.agents.get(agent.id)
        if not deleted:
            self.agents[agent.id] = agent
        self.agents_online += (not deleted and is_online(agent)) - (before is not None and is_online(before))
        self.pending.agents.add(agent.id)

    def _timed(self, frame: pb.Frame) -> None:
        render = frame.render_time.seconds + frame.render_time.nanos / 1e9
        if render > 0:
            pace = self.paces.setdefault(frame.job_id, Pace())
            pace.add(render)
            self.pending.jobs.add(frame.job_id)  # its ETA changed
            job = self.jobs.get(frame.job_id)
            if job is not None and job.frames_running:
                pace.running = job.frames_running

    def eta(self, job: pb.Job) -> float | None:
        return eta_seconds(job, self.paces.get(job.id))

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


def is_online(agent: pb.Agent) -> bool:
    return agent.status == pb.AGENT_STATUS_ONLINE


def eta_seconds(job: pb.Job, pace: Pace | None) -> float | None:
    """Seconds left for a running job: the frames left times the smoothed render time of
    one, shared by the frames rendering at once. None until enough frames finished with
    a render time (``ETA_MIN_FRAMES``), and for jobs that are not running."""
    if job.state != pb.JOB_STATE_RUNNING or pace is None:
        return None
    needed = max(1, min(ETA_MIN_FRAMES, math.ceil(ETA_MIN_SHARE * job.frame_count)))
    left = job.frame_count - job.frames_completed - job.frames_failed
    if pace.frames < needed or left <= 0:
        return None
    return left * pace.seconds / max(1, job.frames_running or pace.running)
