"""The work waiting for an agent: each job's queue of pending tasks, the set of jobs that
have some and may run now, and the one wake-up flag of the dispatcher.

Dispatch is event-driven: anything that can make work runnable (a submit, a freed slot,
an agent joining) sets the flag, and the dispatcher runs the scheduler once for however
many wake-ups piled up. No poll interval anywhere.
"""

from __future__ import annotations

import asyncio

from renderq.controller.model import Job, Task
from renderq.v1 import resources_pb2 as pb


class WorkQueue:
    def __init__(self) -> None:
        self.runnable: set[int] = set()
        """Ids of the jobs with pending tasks that may run now."""
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something changed that may let work start: run the dispatcher soon."""
        self._wake.set()

    async def wait(self) -> None:
        """Until the next wake-up (however many came meanwhile)."""
        await self._wake.wait()
        self._wake.clear()

    def queue(self, job: Job, task: Task) -> None:
        """Make ``task`` pending, at the end of its job's queue unless it is there already."""
        task.state = pb.TASK_STATE_PENDING
        if not task.queued:
            task.queued = True
            job.pending.append(task.index)

    def update_runnable(self, job: Job) -> None:
        """Keep ``job`` in the runnable set exactly while it has pending tasks and may run."""
        if job.pending and job.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING):
            if job.id not in self.runnable:
                self.runnable.add(job.id)
                self._wake.set()
        else:
            self.runnable.discard(job.id)

    def peek(self, job: Job) -> Task | None:
        """The task ``pop_pending`` would take next, left in place (stale entries dropped)."""
        while job.pending:
            task = job.tasks[job.pending[0]]
            if task.state == pb.TASK_STATE_PENDING:
                return task
            job.pending.popleft()
            task.queued = False
        return None

    def pop_pending(self, job: Job) -> Task | None:
        """The next pending task of ``job``, taken off its queue (entries gone stale are skipped)."""
        while job.pending:
            task = job.tasks[job.pending.popleft()]
            task.queued = False
            if task.state == pb.TASK_STATE_PENDING:
                self.update_runnable(job)
                return task
        self.update_runnable(job)
        return None

    def forget(self, job: Job) -> None:
        """``job`` was deleted or stopped: nothing of it is waiting any more."""
        job.pending.clear()
        self.runnable.discard(job.id)
