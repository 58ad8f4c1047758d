"""The state rules of frames, tasks and jobs: how each follows from the ones below it.

A frame changes by events and operators; a task's state is derived from its frames
once it is idle; a job's from its frames and its dependencies (unless an operator fixed
it: cancelled, suspended). Every derived change is recorded, and a job that changes
state lets the jobs that depend on it derive theirs again.

A frame-by-frame job (``Job.frame_by_frame``) waits per frame, not as a whole: a task
of it stays held out of the queue until frame N of every dependency completed for each
of its frames N (``dependencies``), and a dependency's frame that completes releases
just the tasks waiting for it. Meanwhile the job is queued or running as any other,
its ``state_reason`` naming what the held frames wait for; it is WAITING only while no
frame of it has started and none is ready, and BLOCKED (with the same reasons as a
whole-job dependency, e.g. ``job 27 failed``) once nothing of it is queued or running
and what is left waits for a dependency that failed, was cancelled or is blocked. Tasks
already ready keep running then; the rest starts by itself once that dependency is
retried and its frames complete. A task already dispatched keeps running if a frame it
waited for is rendered again.
"""

from __future__ import annotations

import logging
import time

from renderq.controller.dependencies import Change, Dependencies
from renderq.controller.farm_state import FarmState
from renderq.controller.link_messages import cancel_request
from renderq.controller.model import Frame, Job, Task
from renderq.controller.test_frames import held_reason
from renderq.controller.work_queue import WorkQueue
from renderq.states import FRAME_ACTIVE, JOB_FINAL, TASK_ACTIVE, TASK_FINAL
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)


def state_word(job: Job) -> str:
    """``JOB_STATE_RUNNING`` -> ``running``, for sentences."""
    return pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()


class StateRules:
    def __init__(self, state: FarmState, queue: WorkQueue) -> None:
        self.state = state
        self.queue = queue
        self.dependencies = Dependencies(state)
        """Who depends on whom; which tasks of frame-by-frame jobs are ready."""
        self.frames_completed = 0
        self.frames_failed = 0
        """Frames that ended completed, and failed for good, since the controller started
        (the metrics endpoint reads them)."""
        self.frame_failures = 0
        """Failed tries of frames, retried or not."""

    def set_frame_state(self, job: Job, frame: Frame, new: pb.FrameState) -> None:
        """Move ``frame`` to ``new``, keeping the job's counts and rendering set in step."""
        if frame.state == new:
            return
        was_completed = frame.state == pb.FRAME_STATE_COMPLETED
        job.counts[frame.state] -= 1
        job.counts[new] = job.counts.get(new, 0) + 1
        if new == pb.FRAME_STATE_RENDERING:
            job.rendering.add(frame.number)
        elif frame.state == pb.FRAME_STATE_RENDERING:
            job.rendering.discard(frame.number)
        if new == pb.FRAME_STATE_COMPLETED:
            self.frames_completed += 1
        elif new == pb.FRAME_STATE_FAILED:
            self.frames_failed += 1
        frame.state = new
        if was_completed != (new == pb.FRAME_STATE_COMPLETED) and (
            changes := self.dependencies.frame_changed(job, frame.number, not was_completed)
        ):
            self.follow(changes)

    def fail_frame(
        self, job: Job, frame: Frame, error: str, *, final: bool = False, exit_code: int = 0
    ) -> None:
        """One failed try of ``frame``; it fails for good past the job's retries."""
        frame.failure_count += 1
        self.frame_failures += 1
        frame.error_message = error
        frame.exit_code = exit_code
        frame.progress = 0.0
        job.last_error = f"frame {frame.number}: {error}"
        if final or frame.failure_count > job.max_retries:
            self.set_frame_state(job, frame, pb.FRAME_STATE_FAILED)
            frame.end_time = time.time()
        else:
            self.set_frame_state(job, frame, pb.FRAME_STATE_PENDING)
        self.state.rec.changed(frame)

    def settle_task(self, job: Job, task: Task) -> None:
        """Derive an idle task's state from its frames; queue it if frames wait."""
        states = [job.frames[n].state for n in task.frames]
        self.queue.unhold(job, task)
        if pb.FRAME_STATE_PENDING in states:
            if not task.queued:
                task.pending_since = time.monotonic()
            self.queue_task(job, task)
            self.queue.update_runnable(job)
        elif pb.FRAME_STATE_SUSPENDED in states:
            task.state = pb.TASK_STATE_SUSPENDED
        elif all(s == pb.FRAME_STATE_COMPLETED for s in states):
            task.state = pb.TASK_STATE_COMPLETED
            task.progress = 1.0
        elif pb.FRAME_STATE_FAILED in states:
            task.state = pb.TASK_STATE_FAILED
        else:
            task.state = pb.TASK_STATE_CANCELLED
        self.state.rec.changed(task)

    def queue_task(self, job: Job, task: Task) -> None:
        """Make ``task`` pending: in its job's queue, or held while some of its frames
        wait for frames of the jobs it depends on (frame by frame)."""
        if self.dependencies.ready(job, task):
            self.queue.queue(job, task)
        else:
            self.queue.hold(job, task)

    def follow(self, changes: list[Change]) -> None:
        """Dependencies changed for some frame-by-frame jobs: queue their tasks that became
        ready, hold again the queued ones that no longer are; those jobs derive their
        state again."""
        touched: dict[int, Job] = {}
        for change in changes:
            job, task = change.job, change.task
            touched[job.id] = job
            if task is None:
                continue
            if change.ready:
                if self.queue.release(job, task):
                    task.pending_since = time.monotonic()
            elif task.queued:
                self.queue.hold(job, task)
        for job in touched.values():
            self.refresh_job(job)

    def forget_job(self, job: Job) -> None:
        """``job`` was deleted: the jobs that depended on it frame by frame wait for it no more."""
        self.queue.forget(job)
        self.follow(self.dependencies.remove(job))

    def dependency_hold(self, job: Job) -> tuple[pb.JobState, str] | None:
        """``(WAITING or BLOCKED, reason)`` while a dependency is not completed; None once all are.

        A dependency that failed or was cancelled (or is itself blocked) blocks the job:
        it must not wait in silence all night, and it runs by itself once that job is
        retried or resumed and completes. For a frame-by-frame job, only the
        dependencies some of its frames still wait for count."""
        if job.frame_by_frame:
            return self._hold(self.dependencies.waiting_on(job), "waiting for frames of job")
        return self._hold(job.depends_on, "waiting for job")

    def _hold(self, dep_ids: list[int], waiting_for: str) -> tuple[pb.JobState, str] | None:
        waiting: tuple[pb.JobState, str] | None = None
        for dep_id in dep_ids:
            dep = self.state.jobs.get(dep_id)
            if dep is None or dep.state == pb.JOB_STATE_COMPLETED:
                continue
            if dep.state in (pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED):
                return pb.JOB_STATE_BLOCKED, f"job {dep_id} {state_word(dep)}"
            if dep.state == pb.JOB_STATE_BLOCKED:
                return pb.JOB_STATE_BLOCKED, f"job {dep_id} is blocked: {dep.state_reason}"
            waiting = waiting or (pb.JOB_STATE_WAITING, f"{waiting_for} {dep_id} ({state_word(dep)})")
        return waiting

    def refresh_job(self, job: Job, was: pb.JobState | None = None) -> None:
        """Derive the job's state from its frames (unless an operator fixed it).

        ``was``: the state before an operator's action set one, so that the jobs that
        depend on this one learn of the change too."""
        old = job.state if was is None else was
        old_reason, job.state_reason = job.state_reason, ""
        if job.state not in (pb.JOB_STATE_CANCELLED, pb.JOB_STATE_SUSPENDED):
            job.state = self._derived_state(job)
        elif job.state == pb.JOB_STATE_SUSPENDED:
            job.state_reason = held_reason(job)
        if job.state == pb.JOB_STATE_RUNNING and job.start_time is None:
            job.start_time = time.time()
        if job.state in JOB_FINAL:
            job.end_time = job.end_time or time.time()
        else:
            job.end_time = None
        self.queue.update_runnable(job)
        self.state.rec.changed(job)
        if (old == pb.JOB_STATE_COMPLETED) != (job.state == pb.JOB_STATE_COMPLETED):
            self.follow(self.dependencies.job_completed(job, job.state == pb.JOB_STATE_COMPLETED))
        if old != job.state:
            log.info("job state job=%d state=%s reason=%r", job.id, state_word(job), job.state_reason)
        if old != job.state or old_reason != job.state_reason:
            self._refresh_dependents(job)

    def _derived_state(self, job: Job) -> pb.JobState:
        """The state ``job``'s dependencies and frames give it (and its reason, if it waits)."""
        hold = self.dependency_hold(job) if job.depends_on and not job.frame_by_frame else None
        if hold is not None:
            state, job.state_reason = hold
            return state
        total = len(job.frames)
        done = job.count(pb.FRAME_STATE_COMPLETED)
        ended = done + job.count(pb.FRAME_STATE_FAILED) + job.count(pb.FRAME_STATE_CANCELLED)
        if done == total:
            return pb.JOB_STATE_COMPLETED
        if ended == total:
            return pb.JOB_STATE_FAILED
        started = bool(job.running_tasks) or job.start_time is not None
        if job.frame_by_frame and self.queue.held_count(job):
            hold = self.dependency_hold(job)
            if hold is not None:
                state, job.state_reason = hold
                idle = not job.running_tasks and self.queue.peek(job) is None
                if idle and (state == pb.JOB_STATE_BLOCKED or not started):
                    return state
        return pb.JOB_STATE_RUNNING if started else pb.JOB_STATE_QUEUED

    def _refresh_dependents(self, job: Job) -> None:
        """A job changed state (or reason): the jobs held by it may now wait, be blocked,
        or run; a frame-by-frame one, running or not, says anew what its frames wait for."""
        for other_id in self.dependencies.dependents(job.id):
            other = self.state.jobs.get(other_id)
            if other is None:
                continue
            if other.state in (pb.JOB_STATE_WAITING, pb.JOB_STATE_BLOCKED) or (
                other.frame_by_frame and other.state not in JOB_FINAL
            ):
                self.refresh_job(other)

    def stop_active(self, job: Job, frame_state: pb.FrameState, reason: str) -> None:
        """Take every unfinished frame of ``job`` to ``frame_state`` and kill its running tasks."""
        for task in job.tasks:
            if task.state in TASK_ACTIVE:
                self._release(job, task, reason)
            if task.state not in TASK_FINAL:
                touched = False
                for n in task.frames:
                    frame = job.frames[n]
                    if frame.state in FRAME_ACTIVE or frame.state in (
                        pb.FRAME_STATE_PENDING,
                        pb.FRAME_STATE_SUSPENDED,
                    ):
                        self.set_frame_state(job, frame, frame_state)
                        frame.progress = 0.0
                        self.state.rec.changed(frame)
                        touched = True
                if touched:
                    self.settle_task(job, task)
            task.queued = False
        job.pending.clear()

    def _release(self, job: Job, task: Task, reason: str) -> None:
        """The task stops counting as running; its agent is told to kill it. The slot
        stays taken until the agent reports the attempt finished."""
        job.running_tasks -= 1
        link = self.state.links.get(task.agent_id)
        if link is not None:
            link.send(cancel_request(task.attempt_id, reason))
        task.state = pb.TASK_STATE_PENDING
