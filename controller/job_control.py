"""What operators and scripts do to jobs: submit, cancel, suspend, resume, retry,
update and delete.

Each action checks that it makes sense now (FAILED_PRECONDITION with a sentence when
not), changes the records through the state rules, and leaves the rest to dispatch.
Job and task ids come from counters stored with the job that used them, so no id is
issued twice in a farm's life, across deletes and crashes.
"""

from __future__ import annotations

import logging
from itertools import chain, count, repeat
from typing import Any

from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.controller.farm_state import FarmState
from renderq.controller.long_lived import job_made
from renderq.controller.model import Frame, Job, Task
from renderq.controller.placement import unmet_requirement
from renderq.controller.state_rules import StateRules, state_word
from renderq.controller.validation import CheckedJob, check_frames
from renderq.controller.work_queue import WorkQueue
from renderq.frame_range import chunk
from renderq.states import FRAME_ACTIVE, JOB_FINAL, TASK_ACTIVE, TASK_FINAL
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

NEXT_JOB_ID = "next_job_id"
NEXT_TASK_ID = "next_task_id"
"""Meta keys of the id counters, stored with the job that used them."""


class JobControl:
    def __init__(self, state: FarmState, queue: WorkQueue, rules: StateRules) -> None:
        self.state = state
        self.queue = queue
        self.rules = rules
        self.next_job_id = 1
        self.next_task_id = 1

    def submit(self, checked: CheckedJob, allow_unmatched: bool = False) -> Job:
        if not allow_unmatched:
            self.check_some_agent_fits(
                checked.plugin, checked.pool, checked.requirements, checked.reservation
            )
        state = self.state
        job = Job(id=self.next_job_id, **checked.job_settings())
        self.next_job_id += 1
        with job_made(len(checked.frames)):  # up to a million frames and tasks at once
            self._make_records(job, checked)
            job.counts[pb.FRAME_STATE_PENDING] = len(job.frames)
            self.rules.dependencies.add(job)
            if job.test_frame_numbers or not self.rules.dependencies.all_ready(job):
                for task in job.tasks:
                    self.rules.queue_task(job, task)
            else:
                self.rules.queue.queue_new(job)
            state.rec.created(job)
        state.jobs[job.id] = job
        state.rec.set_meta(NEXT_JOB_ID, str(self.next_job_id))
        state.rec.set_meta(NEXT_TASK_ID, str(self.next_task_id))
        self.rules.refresh_job(job)
        log.info(
            "job submitted job=%d plugin=%s frames=%d tasks=%d owner=%s priority=%d",
            job.id,
            job.plugin,
            len(job.frames),
            len(job.tasks),
            job.owner,
            job.priority,
        )
        return job

    def _make_records(self, job: Job, checked: CheckedJob) -> None:
        """``job``'s tasks (its frames cut ``chunk_size`` each, numbered in a row) and frames, in
        the order of its range: made by ``map``, positionally, as the store expects them
        (controller/new_job_rows.py)."""
        chunks = chunk(checked.frames, checked.chunk_size)
        first = self.next_task_id
        self.next_task_id += len(chunks)
        ids = range(first, self.next_task_id)
        job.tasks = list(map(Task, ids, repeat(job.id), count(), chunks))
        self.state.tasks.update(zip(ids, job.tasks, strict=True))
        task_ids = chain.from_iterable(map(repeat, ids, map(len, chunks)))
        frames = map(Frame, repeat(job.id), checked.frames, task_ids)
        job.frames = dict(zip(checked.frames, frames, strict=True))
        for number in checked.test_frame_numbers:
            job.frames[number].test = True

    def check_some_agent_fits(
        self, plugin: str, pool: str, requirements: pb.Requirements, reservation: pb.TaskReservation
    ) -> None:
        """Refuse a job no known agent could ever run, naming what is missing."""
        agents = self.state.agents.values()
        if not agents:
            return
        reasons = [unmet_requirement(plugin, pool, requirements, a, reservation) for a in agents]
        if all(reasons):
            raise NotPossibleNow(f"no agent of this farm can run this job: it needs {reasons[0]}")

    def never_starts(self, task: Task) -> bool:
        """Whether ``task`` can no longer be dispatched: its job ended or was deleted, or
        the task itself was cancelled (a follower of its log stops waiting)."""
        job = self.state.jobs.get(task.job_id)
        return job is None or job.state in JOB_FINAL or task.state in TASK_FINAL

    def cancel(self, job_id: int) -> Job:
        job = self.state.job(job_id)
        if job.state in JOB_FINAL:
            raise NotPossibleNow(f"job {job_id} is already {state_word(job)}")
        was, job.state = job.state, pb.JOB_STATE_CANCELLED
        self.rules.stop_active(job, pb.FRAME_STATE_CANCELLED, "job cancelled")
        self.rules.refresh_job(job, was)
        log.info("job cancelled job=%d", job.id)
        return job

    def suspend(self, job_id: int) -> Job:
        job = self.state.job(job_id)
        if job.state in JOB_FINAL or job.state == pb.JOB_STATE_SUSPENDED:
            raise NotPossibleNow(
                f"job {job_id} is {state_word(job)}; only a queued or running job can be suspended"
            )
        was, job.state = job.state, pb.JOB_STATE_SUSPENDED
        self.rules.stop_active(job, pb.FRAME_STATE_SUSPENDED, "job suspended")
        self.rules.refresh_job(job, was)
        log.info("job suspended job=%d", job.id)
        return job

    def resume(self, job_id: int) -> Job:
        job = self.state.job(job_id)
        if job.state != pb.JOB_STATE_SUSPENDED:
            raise NotPossibleNow(f"job {job_id} is not suspended")
        was, job.state = job.state, pb.JOB_STATE_QUEUED
        for frame in job.frames.values():
            if frame.state == pb.FRAME_STATE_SUSPENDED:
                self.rules.set_frame_state(job, frame, pb.FRAME_STATE_PENDING)
                self.state.rec.changed(frame)
        for task in job.tasks:
            if task.state == pb.TASK_STATE_SUSPENDED:
                self.rules.settle_task(job, task)
        self.rules.refresh_job(job, was)
        log.info("job resumed job=%d", job.id)
        return job

    def retry(self, job_id: int, spec: str) -> tuple[Job, int]:
        """Queue frames again: those in ``spec``, or every failed or cancelled one."""
        job = self.state.job(job_id)
        frames = self._frames_to_retry(job, spec)
        # An operator's retry says "try again": the agents the job blocked get a new chance.
        job.blocked.clear()
        job.agent_failures.clear()
        was = job.state
        if job.state in (pb.JOB_STATE_CANCELLED, pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED):
            job.state = pb.JOB_STATE_QUEUED
        target = pb.FRAME_STATE_SUSPENDED if job.state == pb.JOB_STATE_SUSPENDED else pb.FRAME_STATE_PENDING
        tasks: dict[int, Task] = {}
        for frame in frames:
            self.rules.set_frame_state(job, frame, target)
            frame.failure_count = 0
            frame.error_message = ""
            frame.exit_code = 0
            frame.progress = 0.0
            frame.end_time = None
            self.state.rec.changed(frame)
            tasks[frame.task_id] = self.state.tasks[frame.task_id]
        for task in tasks.values():
            if task.state not in TASK_ACTIVE:
                self.rules.settle_task(job, task)
        self.rules.refresh_job(job, was)
        log.info("frames retried job=%d frames=%d", job.id, len(frames))
        return job, len(frames)

    @staticmethod
    def _frames_to_retry(job: Job, spec: str) -> list[Frame]:
        if not spec:
            frames = [
                f for f in job.frames.values() if f.state in (pb.FRAME_STATE_FAILED, pb.FRAME_STATE_CANCELLED)
            ]
            if not frames:
                raise NotPossibleNow(f"job {job.id} has no failed or cancelled frames to retry")
            return frames
        numbers = check_frames(spec)
        missing = [n for n in numbers if n not in job.frames]
        if missing:
            raise InvalidField(
                "frames", f"frame {missing[0]} is not part of job {job.id} ({job.frames_spec})"
            )
        busy = [n for n in numbers if job.frames[n].state in FRAME_ACTIVE]
        if busy:
            raise NotPossibleNow(f"frame {busy[0]} of job {job.id} is rendering now; retry it when it ends")
        return [job.frames[n] for n in numbers]

    def unblock(self, job_id: int, agent_id: str) -> Job:
        """Let ``job`` use ``agent_id`` again, its count of failures there forgotten."""
        job = self.state.job(job_id)
        if job.blocked.pop(agent_id, None) is None:
            blocked = ", ".join(sorted(job.blocked)) or "none"
            raise NoSuchResource(f"job {job_id} does not block agent {agent_id!r} (it blocks: {blocked})")
        job.agent_failures.pop(agent_id, None)
        self.state.rec.changed(job)
        self.queue.wake()
        log.info("agent unblocked for job job=%d agent=%s", job_id, agent_id)
        return job

    def update(self, job_id: int, changes: dict[str, Any]) -> Job:
        """Set the job's settings ``changes`` names (already checked); they take effect at
        the next dispatch, and running tasks keep going as they started."""
        job = self.state.job(job_id)
        for name, value in changes.items():
            setattr(job, name, value)
        self.state.rec.changed(job)
        self.queue.wake()
        log.info("job updated job=%d fields=%s", job_id, ",".join(sorted(changes)))
        return job

    def delete(self, job_id: int) -> None:
        state = self.state
        job = state.job(job_id)
        if job.state not in JOB_FINAL:
            raise NotPossibleNow(f"job {job_id} is not finished; cancel it before deleting it")
        if any(task.state in TASK_ACTIVE for task in job.tasks):
            raise NotPossibleNow(f"job {job_id} still has tasks stopping; try again in a moment")
        dependents = [
            d
            for d in self.rules.dependencies.dependents(job_id)
            if d in state.jobs and state.jobs[d].state not in JOB_FINAL
        ]
        if dependents:
            raise NotPossibleNow(f"job {dependents[0]} depends on job {job_id}; cancel or delete it first")
        del state.jobs[job_id]
        self.rules.forget_job(job)
        for task in job.tasks:
            state.tasks.pop(task.id, None)
        for attempt_id in [a.id for a in state.attempts.values() if a.job_id == job_id]:
            del state.attempts[attempt_id]
        state.logs.delete_job(job_id)
        state.rec.deleted(job)
        log.info("job deleted job=%d", job_id)
