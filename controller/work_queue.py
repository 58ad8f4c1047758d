"""The work waiting for an agent: each job's queue of pending tasks (and those held out of
it until their frames are ready), the set of jobs that have some queued and may run now,
and the one wake-up flag of the dispatcher.

Dispatch is event-driven: anything that can make work runnable (a submit, a freed slot,
an agent joining) sets the flag, and the dispatcher runs the scheduler once for however
many wake-ups piled up. No poll interval anywhere.

A job with test frames queues the tasks holding them ahead of its others, and hands out
none of the others while a test frame has not ended (``test_frames.py``).
"""

from __future__ import annotations

import asyncio

from renderq.controller.model import Job, Task
from renderq.controller.test_frames import is_test_task, tests_open
from renderq.v1 import resources_pb2 as pb


class WorkQueue:
    def __init__(self) -> None:
        self.runnable: set[int] = set()
        """Ids of the jobs with pending tasks that may run now."""
        self.version = 0
        """Changes whenever ``runnable`` does (or the order of its jobs): the dispatcher
        keeps its grouping of them until then."""
        self.held: dict[int, set[int]] = {}
        """Job id -> indexes of its pending tasks kept out of its queue: some of their frames
        wait for frames of other jobs (frame-by-frame dependencies)."""
        self.offered: set[str] = set()
        """Agents that may have room for work since the last pass (joined, enabled, more slots)."""
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something changed that may let work start: run the dispatcher soon."""
        self._wake.set()

    def offer(self, agent_id: str) -> None:
        """``agent_id`` may take work it could not before: look at it at the next pass.
        (A released hold needs no offer: ``Holdings`` notes those.)"""
        self.offered.add(agent_id)
        self._wake.set()

    async def wait(self) -> None:
        """Until the next wake-up (however many came meanwhile)."""
        await self._wake.wait()
        self._wake.clear()

    def queue(self, job: Job, task: Task) -> None:
        """Make ``task`` pending, at the end of its job's queue unless it is there already
        (a test task after the test tasks at its front)."""
        task.state = pb.TASK_STATE_PENDING
        self.unhold(job, task)
        if task.queued:
            return
        task.queued = True
        if not is_test_task(job, task):
            job.pending.append(task.index)
            return
        front = 0
        while front < len(job.pending) and is_test_task(job, job.tasks[job.pending[front]]):
            front += 1
        job.pending.insert(front, task.index)

    def queue_new(self, job: Job) -> None:
        """Every task of a job just made, none held: pending, in order, at once (a
        million-frame submit would otherwise pay ``queue``'s checks a million times)."""
        for task in job.tasks:
            task.state = pb.TASK_STATE_PENDING
            task.queued = True
        job.pending.extend(range(len(job.tasks)))

    def hold(self, job: Job, task: Task) -> None:
        """Make ``task`` pending but keep it out of its job's queue until ``release``."""
        task.state = pb.TASK_STATE_PENDING
        if task.queued:
            job.pending.remove(task.index)
            task.queued = False
        self.held.setdefault(job.id, set()).add(task.index)

    def release(self, job: Job, task: Task) -> bool:
        """Queue ``task`` if it was held and is still pending; whether it was queued."""
        if not self.unhold(job, task) or task.state != pb.TASK_STATE_PENDING:
            return False
        self.queue(job, task)
        return True

    def unhold(self, job: Job, task: Task) -> bool:
        """``task`` is held no more (queued, or no longer pending); whether it was."""
        held = self.held.get(job.id)
        if held is None or task.index not in held:
            return False
        held.discard(task.index)
        if not held:
            del self.held[job.id]
        return True

    def held_count(self, job: Job) -> int:
        """How many pending tasks of ``job`` wait for frames of other jobs."""
        return len(self.held.get(job.id, ()))

    def update_runnable(self, job: Job) -> None:
        """Keep ``job`` in the runnable set exactly while it has pending tasks and may run."""
        if job.pending and job.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING):
            if job.id not in self.runnable:
                self.runnable.add(job.id)
                self.version += 1
                self._wake.set()
        elif job.id in self.runnable:
            self.runnable.discard(job.id)
            self.version += 1

    def reordered(self) -> None:
        """A runnable job's priority changed: the scheduler's order of them is stale."""
        self.version += 1
        self._wake.set()

    def peek(self, job: Job) -> Task | None:
        """The task ``pop_pending`` would take next, left in place (stale entries dropped);
        None also while it must wait for the job's test frames to end."""
        while job.pending:
            task = job.tasks[job.pending[0]]
            if task.state == pb.TASK_STATE_PENDING:
                if job.test_frame_numbers and not is_test_task(job, task) and tests_open(job):
                    return None
                return task
            job.pending.popleft()
            task.queued = False
        return None

    def pop_pending(self, job: Job) -> Task | None:
        """The next pending task of ``job``, taken off its queue (entries gone stale are
        skipped); None when none may start now."""
        task = self.peek(job)
        if task is not None:
            job.pending.popleft()
            task.queued = False
        self.update_runnable(job)
        return task

    def forget(self, job: Job) -> None:
        """``job`` was deleted or stopped: nothing of it is waiting any more."""
        job.pending.clear()
        self.held.pop(job.id, None)
        if job.id in self.runnable:
            self.runnable.discard(job.id)
            self.version += 1
