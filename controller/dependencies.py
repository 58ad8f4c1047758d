"""Dependencies between jobs: which jobs wait for which, and, for a frame-by-frame job,
which of its tasks may start.

A job with ``depends_on`` waits until every job it names completed (the state rules
derive that from the jobs' states). A frame-by-frame job waits frame by frame instead:
its frame N is ready once frame N of every job it depends on completed; a frame number
a dependency does not have waits for that whole dependency to complete; a deleted
dependency holds nothing back (as for a whole-job dependency). A task may start once
all its frames are ready, those it already completed included.

Nothing here scans the farm. A reverse index (dependency -> the jobs naming it) finds
the jobs a change concerns, and each frame-by-frame job keeps, per task, the count of
(frame, dependency) pairs not yet satisfied: a dependency's frame that completes (or
is rendered again) moves the count of the one task of each dependent job that holds
that frame number. The counts live in memory only; ``add`` derives them again at
restore, from the frames as stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from renderq.controller.farm_state import FarmState
from renderq.controller.model import Frame, Job, Task
from renderq.v1 import resources_pb2 as pb


@dataclass(frozen=True)
class Change:
    """What a change of a dependency did to a frame-by-frame job ``job``."""

    job: Job
    task: Task | None
    """The task that became ready (``ready``) or not ready any more; None: only which
    jobs ``job`` waits for changed."""
    ready: bool = False


class Dependencies:
    def __init__(self, state: FarmState) -> None:
        self.state = state
        self._dependents: dict[int, dict[int, None]] = {}
        """Job id -> ids of the jobs that name it in ``depends_on`` (an ordered set)."""
        self._frame_dependents: dict[int, dict[int, None]] = {}
        """The same, for frame-by-frame jobs only: those a frame's change concerns."""
        self._unready: dict[int, list[int]] = {}
        """Frame-by-frame job id -> per task index, its (frame, dependency) pairs not satisfied."""
        self._missing: dict[int, dict[int, int]] = {}
        """Frame-by-frame job id -> dependency id -> its pairs on that dependency not satisfied."""
        self._lacking: dict[tuple[int, int], list[int]] = {}
        """(frame-by-frame job id, dependency id) -> the job's frame numbers the dependency
        does not have (they wait for it to complete); absent when none."""

    def add(self, job: Job) -> None:
        """Index a submitted (or restored) job; for a frame-by-frame one, count which of
        its tasks are ready. Its dependencies must be indexed already (their ids are lower)."""
        for dep_id in job.depends_on:
            self._dependents.setdefault(dep_id, {})[job.id] = None
            if job.frame_by_frame:
                self._frame_dependents.setdefault(dep_id, {})[job.id] = None
        if job.frame_by_frame:
            self._count(job)

    def remove(self, job: Job) -> list[Change]:
        """``job`` was deleted (and taken out of the farm's jobs): forget it. The
        frame-by-frame jobs that named it wait for it no more."""
        for dep_id in job.depends_on:
            self._dependents.get(dep_id, {}).pop(job.id, None)
            self._frame_dependents.get(dep_id, {}).pop(job.id, None)
            self._lacking.pop((job.id, dep_id), None)
        self._unready.pop(job.id, None)
        self._missing.pop(job.id, None)
        self._dependents.pop(job.id, None)
        changes: list[Change] = []
        for other_id in self._frame_dependents.pop(job.id, {}):
            other = self.state.jobs.get(other_id)
            if other is not None:
                changes += self._count(other)
        return changes

    def dependents(self, job_id: int) -> list[int]:
        """Ids of the jobs that name ``job_id`` in their ``depends_on``."""
        return list(self._dependents.get(job_id, ()))

    def ready(self, job: Job, task: Task) -> bool:
        """Whether every frame of ``task`` may start (always, unless its job is frame by frame)."""
        counts = self._unready.get(job.id)
        return counts is None or counts[task.index] == 0

    def all_ready(self, job: Job) -> bool:
        """Whether no frame of ``job`` waits for another job's frames (it is not frame by frame)."""
        return job.id not in self._unready

    def waiting_on(self, job: Job) -> list[int]:
        """Ids of the dependencies some frame of frame-by-frame ``job`` still waits for."""
        return [dep_id for dep_id, n in self._missing.get(job.id, {}).items() if n > 0]

    def frame_changed(self, dep: Job, number: int, completed: bool) -> list[Change]:
        """Frame ``number`` of ``dep`` became completed, or stopped being completed."""
        dependents = self._frame_dependents.get(dep.id)
        if not dependents:
            return []
        changes: list[Change] = []
        for job_id in dependents:
            job = self.state.jobs.get(job_id)
            frame = job.frames.get(number) if job is not None else None
            if job is not None and frame is not None:
                changes += self._move(job, dep.id, [frame], -1 if completed else 1)
        return changes

    def job_completed(self, dep: Job, completed: bool) -> list[Change]:
        """``dep`` became completed, or stopped being completed: the frames of its
        frame-by-frame dependents that it does not have are ready, or wait again."""
        changes: list[Change] = []
        for job_id in self._frame_dependents.get(dep.id, ()):
            job = self.state.jobs.get(job_id)
            lacking = self._lacking.get((job_id, dep.id))
            if job is not None and lacking:
                frames = [job.frames[n] for n in lacking]
                changes += self._move(job, dep.id, frames, -1 if completed else 1)
        return changes

    def _move(self, job: Job, dep_id: int, frames: Iterable[Frame], delta: int) -> list[Change]:
        """Count ``delta`` more unsatisfied pairs (frame, ``dep_id``) for each of ``frames``."""
        counts = self._unready[job.id]
        missing = self._missing[job.id]
        changes: list[Change] = []
        before = missing.get(dep_id, 0)
        for frame in frames:
            task = self.state.tasks[frame.task_id]
            was = counts[task.index]
            counts[task.index] = was + delta
            missing[dep_id] = missing.get(dep_id, 0) + delta
            if (was == 0) != (counts[task.index] == 0):
                changes.append(Change(job, task, ready=counts[task.index] == 0))
        if (before == 0) != (missing[dep_id] == 0) and not changes:
            changes.append(Change(job, None))
        return changes

    def _count(self, job: Job) -> list[Change]:
        """Count ``job``'s unsatisfied pairs afresh; the tasks whose readiness changed."""
        index = {task.id: task.index for task in job.tasks}
        unready = [0] * len(job.tasks)
        missing: dict[int, int] = {}
        for dep_id in job.depends_on:
            self._lacking.pop((job.id, dep_id), None)
            dep = self.state.jobs.get(dep_id)
            if dep is None:
                continue
            whole = dep.state == pb.JOB_STATE_COMPLETED
            lacking: list[int] = []
            waiting = 0
            for number, frame in job.frames.items():
                theirs = dep.frames.get(number)
                if theirs is None:
                    lacking.append(number)
                    ok = whole
                else:
                    ok = theirs.state == pb.FRAME_STATE_COMPLETED
                if not ok:
                    unready[index[frame.task_id]] += 1
                    waiting += 1
            missing[dep_id] = waiting
            if lacking:
                self._lacking[(job.id, dep_id)] = lacking
        old = self._unready.get(job.id)
        self._unready[job.id] = unready
        self._missing[job.id] = missing
        if old is None:
            return []
        changes = [
            Change(job, job.tasks[i], ready=now == 0)
            for i, (was, now) in enumerate(zip(old, unready, strict=True))
            if (was == 0) != (now == 0)
        ]
        return changes or [Change(job, None)]


def frame_waits(jobs: dict[int, Job], job: Job, number: int, task_frames: Iterable[int] = ()) -> list[str]:
    """What frame ``number`` of frame-by-frame ``job`` waits for, in words (empty: nothing).
    ``task_frames``: the frames of its task, which start together with it."""
    own = _waits(jobs, job, number)
    if own:
        return own
    for other in task_frames:
        if other != number and (theirs := _waits(jobs, job, other)):
            return [f"frame {number} starts with frame {other}, in the same task: {theirs[0]}"]
    return []


def _waits(jobs: dict[int, Job], job: Job, number: int) -> list[str]:
    reasons = []
    for dep_id in job.depends_on:
        dep = jobs.get(dep_id)
        if dep is None:
            continue
        theirs = dep.frames.get(number)
        if theirs is None:
            if dep.state != pb.JOB_STATE_COMPLETED:
                word = pb.JobState.Name(dep.state).removeprefix("JOB_STATE_").lower()
                reasons.append(
                    f"frame {number} waits for job {dep_id} to complete"
                    f" (it has no frame {number}; it is {word})"
                )
        elif theirs.state != pb.FRAME_STATE_COMPLETED:
            word = pb.FrameState.Name(theirs.state).removeprefix("FRAME_STATE_").lower()
            if theirs.state == pb.FRAME_STATE_FAILED and theirs.error_message:
                word = f"{word}: {theirs.error_message}"
            reasons.append(f"frame {number} waits for frame {number} of job {dep_id} ({word})")
    return reasons
