"""Short tasks sent ahead: an agent running a job whose tasks end in a blink gets a few
more of them to wait for its slots (``AssignTask.queued``), so a slot never idles through
the round trip between two tasks (the end reported, a dispatch pass, the next assignment).

Only a job whose tasks hold nothing but a slot qualifies (no cores, memory or GPUs
reserved, no limits, no inputs from other jobs, no minimum run time, no test frames still
open): a task sent ahead takes the slot of whichever task ends first on its agent, so it
must fit wherever one fits. How many wait per slot follows how short the job's tasks have
been: enough for about ``AHEAD_SECONDS`` of work, at least one, at most ``MOST_AHEAD``;
tasks of ``SHORT_TASK`` seconds or more are never sent ahead (the round trip is nothing
beside them, and a waiting task could have started elsewhere).
"""

from __future__ import annotations

from renderq.controller.model import Job
from renderq.controller.test_frames import tests_open

SHORT_TASK = 1.0
"""Seconds: a job whose tasks take this long or more on average is never sent ahead."""
AHEAD_SECONDS = 0.05
"""About how much work waits behind each slot of an agent running a short job."""
MOST_AHEAD = 8
"""Most tasks waiting per slot, however short they are."""
LEARNING = 3
"""Tasks of a job that ended well before its pace is trusted."""
SMOOTHING = 0.2
"""Weight of the newest task in a job's pace (an exponential moving average)."""


class TaskPace:
    """How long each job's tasks have taken lately, from the agents' own measure.

    In memory only (a few dozen bytes per job that ran since the controller started):
    after a restart a job shows its pace again within ``LEARNING`` tasks."""

    def __init__(self) -> None:
        self._pace: dict[int, tuple[int, float]] = {}
        """Job id -> (tasks that ended well, their smoothed duration in seconds)."""

    def finished(self, job_id: int, seconds: float) -> None:
        """A task of ``job_id`` ended well after ``seconds``."""
        count, mean = self._pace.get(job_id, (0, seconds))
        self._pace[job_id] = (count + 1, mean + (seconds - mean) * SMOOTHING)

    def ahead(self, job: Job) -> int:
        """How many of ``job``'s tasks may wait per slot of an agent running it (0: none)."""
        count, mean = self._pace.get(job.id, (0, 0.0))
        if count < LEARNING or mean >= SHORT_TASK or not holds_only_a_slot(job):
            return 0
        return max(1, min(MOST_AHEAD, int(AHEAD_SECONDS / max(mean, 1e-3))))


def holds_only_a_slot(job: Job) -> bool:
    """Whether ``job``'s tasks need nothing but a free slot to start (see the module)."""
    wants = job.reservation
    return not (
        wants.cores
        or wants.memory_bytes
        or wants.gpus
        or job.limits
        or job.inputs_from
        or job.min_runtime
        or tests_open(job)
    )
