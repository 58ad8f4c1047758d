"""The farm: the in-memory authority over jobs, tasks, frames, attempts and agents.

Every state change happens here, on the event loop, and is handed to the recorder
(DuckDB, then the event bus). Dispatch is event-driven: anything that can make work
runnable (a submit, a freed slot, an agent joining) sets one wake-up flag, and the
dispatcher runs the scheduler once for however many wake-ups piled up.

Fencing: each dispatch is an attempt with a farm-unique id. Agent events name their
attempt; only the task's current attempt may change the task and its frames, so a late
report from a superseded attempt is kept as that attempt's history and nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from renderq.controller import scheduler
from renderq.controller.errors import FailedPrecondition, InvalidArgument, NotFound
from renderq.controller.model import (
    FRAME_ACTIVE,
    JOB_FINAL,
    TASK_ACTIVE,
    TASK_FINAL,
    Agent,
    Attempt,
    F,
    Frame,
    J,
    Job,
    Output,
    T,
    Task,
    duration,
)
from renderq.controller.recorder import Recorder
from renderq.controller.store import Loaded
from renderq.controller.task_logs import TaskLogs
from renderq.controller.validation import CheckedJob, check_frames
from renderq.plugins.registry import get_plugin
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

NEXT_JOB_ID = "next_job_id"
NEXT_TASK_ID = "next_task_id"
"""Meta keys of the id counters, stored with the job that used them."""


class LinkHandle(Protocol):
    """What the farm needs of an agent link: a way to send and to ack."""

    def send(self, request: apb.LinkRequest) -> None: ...


def ack_request(sequence: int) -> apb.LinkRequest:
    return apb.LinkRequest(ack=apb.Ack(sequence=sequence))


def state_word(job: Job) -> str:
    """``JOB_STATE_RUNNING`` -> ``running``, for sentences."""
    return pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()  # type: ignore[arg-type]


def cancel_request(attempt_id: int, reason: str) -> apb.LinkRequest:
    return apb.LinkRequest(cancel=apb.CancelTask(attempt_id=attempt_id, reason=reason))


class Farm:
    def __init__(self, recorder: Recorder, logs: TaskLogs, epoch: int, agent_timeout: float) -> None:
        self.rec = recorder
        self.logs = logs
        self.epoch = epoch
        self.agent_timeout = agent_timeout
        self.jobs: dict[int, Job] = {}
        self.tasks: dict[int, Task] = {}
        self.attempts: dict[int, Attempt] = {}
        self.agents: dict[str, Agent] = {}
        self.links: dict[str, LinkHandle] = {}
        self.refused: dict[str, Agent] = {}
        """Agents that failed the farm-key handshake, by id: listed, never used or stored."""
        self._runnable: set[int] = set()
        self._next_job_id = 1
        self._next_task_id = 1
        self._attempt_counter = 0
        self._wake = asyncio.Event()
        self.dispatch_passes = 0
        self.on_forget: Callable[[str, str], None] = lambda agent_id, address: None
        """Called with an agent's id and address once it is forgotten (the links stop dialling it)."""

    # ----------------------------------------------------------------- restore
    def restore(self, loaded: Loaded) -> None:
        """Rebuild memory from the database at start. Agents start offline; tasks
        they were running stay theirs until they reconnect or time out."""
        now = time.time()
        for agent in loaded.agents:
            agent.status = pb.AGENT_STATUS_OFFLINE
            agent.last_seen = now
            self.agents[agent.id] = agent
        for attempt in loaded.attempts:
            self.attempts[attempt.id] = attempt
        for job in loaded.jobs:
            self.jobs[job.id] = job
            for frame in job.frames.values():
                job.counts[frame.state] = job.counts.get(frame.state, 0) + 1
                if frame.state == F.FRAME_STATE_RENDERING:
                    job.rendering.add(frame.number)
            for task in job.tasks:
                self.tasks[task.id] = task
                if task.state == T.TASK_STATE_PENDING:
                    self._queue(job, task)
                elif task.state in TASK_ACTIVE:
                    agent = self.agents.setdefault(task.agent_id, Agent(id=task.agent_id, last_seen=now))
                    agent.running[task.attempt_id] = task.id
                    job.running_tasks += 1
            self._update_runnable(job)
        for attempt in sorted(self.attempts.values(), key=lambda a: a.id):
            attempted = self.tasks.get(attempt.task_id)
            if attempted is not None:
                attempted.attempt_ids.append(attempt.id)
        # The stored counters outlive deleted jobs: no id is issued twice in a farm's life.
        self._next_job_id = max(int(loaded.meta.get(NEXT_JOB_ID, "1")), max(self.jobs, default=0) + 1)
        self._next_task_id = max(int(loaded.meta.get(NEXT_TASK_ID, "1")), max(self.tasks, default=0) + 1)
        for job in self.jobs.values():
            if job.state in (J.JOB_STATE_WAITING, J.JOB_STATE_BLOCKED):
                self._refresh_job(job)
        log.info(
            "restored jobs=%d tasks=%d attempts=%d agents=%d epoch=%d",
            len(self.jobs),
            len(self.tasks),
            len(self.attempts),
            len(self.agents),
            self.epoch,
        )
        self._wake.set()

    # ---------------------------------------------------------------- dispatch
    async def run_dispatcher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self.dispatch()

    def wake(self) -> None:
        self._wake.set()

    def dispatch(self) -> None:
        """Run the scheduler once and send what it assigns."""
        self.dispatch_passes += 1
        jobs = [self.jobs[i] for i in self._runnable]
        if not jobs:
            return
        agents = [a for a in self.agents.values() if a.id in self.links]
        running_by_owner: dict[str, int] = {}
        for job in self.jobs.values():
            if job.running_tasks:
                running_by_owner[job.owner] = running_by_owner.get(job.owner, 0) + job.running_tasks
        for assignment in scheduler.plan(jobs, agents, running_by_owner):
            task = self._pop_pending(assignment.job)
            if task is not None:
                self._assign(assignment.job, task, assignment.agent)

    def _pop_pending(self, job: Job) -> Task | None:
        while job.pending:
            task = job.tasks[job.pending.popleft()]
            task.queued = False
            if task.state == T.TASK_STATE_PENDING:
                self._update_runnable(job)
                return task
        self._update_runnable(job)
        return None

    def _queue(self, job: Job, task: Task) -> None:
        task.state = T.TASK_STATE_PENDING
        if not task.queued:
            task.queued = True
            job.pending.append(task.index)

    def _update_runnable(self, job: Job) -> None:
        if job.pending and job.state in (J.JOB_STATE_QUEUED, J.JOB_STATE_RUNNING):
            if job.id not in self._runnable:
                self._runnable.add(job.id)
                self._wake.set()
        else:
            self._runnable.discard(job.id)

    def _new_attempt_id(self) -> int:
        self._attempt_counter += 1
        return (self.epoch << 32) | self._attempt_counter

    def _assign(self, job: Job, task: Task, agent: Agent) -> None:
        todo = [n for n in task.frames if job.frames[n].state == F.FRAME_STATE_PENDING]
        if not todo:
            self._settle_task(job, task)
            return
        plugin = get_plugin(job.plugin)
        try:
            if plugin is None:
                raise ValueError(f"plugin {job.plugin!r} is not known to this controller")
            commands = plugin.build_commands(job.parameters, todo)
        except Exception as e:
            log.exception("cannot build commands job=%d task=%d", job.id, task.id)
            for n in todo:
                self._fail_frame(job, job.frames[n], f"could not build the task's command: {e}", final=True)
            self._settle_task(job, task)
            self._refresh_job(job)
            return
        attempt = Attempt(
            id=self._new_attempt_id(), task_id=task.id, job_id=job.id, agent_id=agent.id, frames=todo
        )
        self.attempts[attempt.id] = attempt
        task.state = T.TASK_STATE_ASSIGNED
        task.agent_id = agent.id
        task.attempt_id = attempt.id
        task.attempt_ids.append(attempt.id)
        task.attempt_count += 1
        task.progress = 0.0
        task.exit_code = 0
        task.error_message = ""
        task.end_time = None
        for n in todo:
            frame = job.frames[n]
            self._set_frame_state(job, frame, F.FRAME_STATE_ASSIGNED)
            frame.agent_id = agent.id
            frame.attempt_id = attempt.id
            frame.attempt_count += 1
            frame.progress = 0.0
            frame.end_time = None
            self.rec.changed(frame)
        agent.running[attempt.id] = task.id
        job.running_tasks += 1
        self.rec.changed(attempt)
        self.rec.changed(task)
        self.rec.changed(agent)
        self._refresh_job(job)
        assign = apb.AssignTask(
            attempt_id=attempt.id,
            task_id=task.id,
            job_id=job.id,
            plugin=job.plugin,
            commands=[
                apb.Command(
                    argv=c.argv,
                    frames=c.frames,
                    expected_outputs=[
                        apb.ExpectedOutput(frame=o.frame, path=o.path) for o in c.expected_outputs
                    ],
                )
                for c in commands
            ],
            environment=job.environment,
        )
        if job.task_timeout:
            assign.timeout.CopyFrom(duration(job.task_timeout))
        log.info(
            "assigned job=%d task=%d attempt=%d agent=%s frames=%d",
            job.id,
            task.id,
            attempt.id,
            agent.id,
            len(todo),
        )
        self.links[agent.id].send(apb.LinkRequest(assign=assign))

    # ------------------------------------------------------------ state rules
    def _set_frame_state(self, job: Job, frame: Frame, state: int) -> None:
        if frame.state == state:
            return
        job.counts[frame.state] -= 1
        job.counts[state] = job.counts.get(state, 0) + 1
        if state == F.FRAME_STATE_RENDERING:
            job.rendering.add(frame.number)
        elif frame.state == F.FRAME_STATE_RENDERING:
            job.rendering.discard(frame.number)
        frame.state = state

    def _fail_frame(
        self, job: Job, frame: Frame, error: str, *, final: bool = False, exit_code: int = 0
    ) -> None:
        """One failed try of ``frame``; it fails for good past the job's retries."""
        frame.failure_count += 1
        frame.error_message = error
        frame.exit_code = exit_code
        frame.progress = 0.0
        job.last_error = f"frame {frame.number}: {error}"
        if final or frame.failure_count > job.max_retries:
            self._set_frame_state(job, frame, F.FRAME_STATE_FAILED)
            frame.end_time = time.time()
        else:
            self._set_frame_state(job, frame, F.FRAME_STATE_PENDING)
        self.rec.changed(frame)

    def _settle_task(self, job: Job, task: Task) -> None:
        """Derive an idle task's state from its frames; queue it if frames wait."""
        states = [job.frames[n].state for n in task.frames]
        if F.FRAME_STATE_PENDING in states:
            self._queue(job, task)
            self._update_runnable(job)
        elif F.FRAME_STATE_SUSPENDED in states:
            task.state = T.TASK_STATE_SUSPENDED
        elif all(s == F.FRAME_STATE_COMPLETED for s in states):
            task.state = T.TASK_STATE_COMPLETED
            task.progress = 1.0
        elif F.FRAME_STATE_FAILED in states:
            task.state = T.TASK_STATE_FAILED
        else:
            task.state = T.TASK_STATE_CANCELLED
        self.rec.changed(task)

    def _dependency_hold(self, job: Job) -> tuple[int, str] | None:
        """``(WAITING or BLOCKED, reason)`` while a dependency is not completed; None once all are.

        A dependency that failed or was cancelled (or is itself blocked) blocks the job:
        it must not wait in silence all night, and it runs by itself once that job is
        retried or resumed and completes."""
        waiting: tuple[int, str] | None = None
        for dep_id in job.depends_on:
            dep = self.jobs.get(dep_id)
            if dep is None or dep.state == J.JOB_STATE_COMPLETED:
                continue
            if dep.state in (J.JOB_STATE_FAILED, J.JOB_STATE_CANCELLED):
                return J.JOB_STATE_BLOCKED, f"job {dep_id} {state_word(dep)}"
            if dep.state == J.JOB_STATE_BLOCKED:
                return J.JOB_STATE_BLOCKED, f"job {dep_id} is blocked: {dep.state_reason}"
            waiting = waiting or (J.JOB_STATE_WAITING, f"waiting for job {dep_id} ({state_word(dep)})")
        return waiting

    def _refresh_job(self, job: Job, was: int | None = None) -> None:
        """Derive the job's state from its frames (unless an operator fixed it).

        ``was``: the state before an operator's action set one, so that the jobs that
        depend on this one learn of the change too."""
        old = job.state if was is None else was
        job.state_reason = ""
        if job.state not in (J.JOB_STATE_CANCELLED, J.JOB_STATE_SUSPENDED):
            total = len(job.frames)
            done = job.count(F.FRAME_STATE_COMPLETED)
            ended = done + job.count(F.FRAME_STATE_FAILED) + job.count(F.FRAME_STATE_CANCELLED)
            hold = self._dependency_hold(job) if job.depends_on else None
            if hold is not None:
                job.state, job.state_reason = hold
            elif done == total:
                job.state = J.JOB_STATE_COMPLETED
            elif ended == total:
                job.state = J.JOB_STATE_FAILED
            elif job.running_tasks or job.start_time is not None:
                job.state = J.JOB_STATE_RUNNING
            else:
                job.state = J.JOB_STATE_QUEUED
        if job.state == J.JOB_STATE_RUNNING and job.start_time is None:
            job.start_time = time.time()
        if job.state in JOB_FINAL:
            job.end_time = job.end_time or time.time()
        else:
            job.end_time = None
        self._update_runnable(job)
        self.rec.changed(job)
        if old != job.state:
            log.info("job state job=%d state=%s reason=%r", job.id, state_word(job), job.state_reason)
            self._refresh_dependents(job)

    def _refresh_dependents(self, job: Job) -> None:
        """A job changed state: the jobs held by it may now wait, be blocked, or run."""
        for other in self.jobs.values():
            if job.id in other.depends_on and other.state in (J.JOB_STATE_WAITING, J.JOB_STATE_BLOCKED):
                self._refresh_job(other)

    # ------------------------------------------------------------------ submit
    def submit(self, checked: CheckedJob) -> Job:
        self._check_some_agent_fits(checked)
        job = Job(
            id=self._next_job_id,
            name=checked.name,
            owner=checked.owner,
            plugin=checked.plugin,
            parameters=checked.parameters,
            frames_spec=checked.frames_spec,
            chunk_size=checked.chunk_size,
            priority=checked.priority,
            pool=checked.pool,
            requirements=checked.requirements,
            environment=checked.environment,
            depends_on=checked.depends_on,
            max_retries=checked.max_retries,
            task_timeout=checked.task_timeout,
        )
        self._next_job_id += 1
        for index, frames in enumerate(checked.tasks):
            task = Task(id=self._next_task_id, job_id=job.id, index=index, frames=frames)
            self._next_task_id += 1
            job.tasks.append(task)
            self.tasks[task.id] = task
            for n in frames:
                job.frames[n] = Frame(job_id=job.id, number=n, task_id=task.id)
            self._queue(job, task)
            self.rec.changed(task, publish=False)
        job.counts[F.FRAME_STATE_PENDING] = len(job.frames)
        for frame in job.frames.values():
            self.rec.changed(frame, publish=False)
        self.jobs[job.id] = job
        self.rec.set_meta(NEXT_JOB_ID, str(self._next_job_id))
        self.rec.set_meta(NEXT_TASK_ID, str(self._next_task_id))
        self._refresh_job(job)
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

    def _check_some_agent_fits(self, checked: CheckedJob) -> None:
        """Refuse a job no known agent could ever run, naming what is missing."""
        if not self.agents:
            return
        probe = Job(
            id=0,
            name="",
            owner="",
            plugin=checked.plugin,
            parameters={},
            frames_spec="",
            chunk_size=1,
            priority=0,
            pool=checked.pool,
            requirements=checked.requirements,
            environment={},
            depends_on=[],
            max_retries=0,
            task_timeout=0,
        )
        reasons = [scheduler.unmet_requirement(probe, a) for a in self.agents.values()]
        if all(reasons):
            raise FailedPrecondition(f"no agent of this farm can run this job: it needs {reasons[0]}")

    # ---------------------------------------------------------- lookups
    def job(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job

    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFound(f"agent {agent_id!r} does not exist")
        return agent

    # --------------------------------------------------------- job control
    def _stop_active(self, job: Job, frame_state: int, reason: str) -> None:
        """Take every unfinished frame of ``job`` to ``frame_state`` and kill its running tasks."""
        for task in job.tasks:
            if task.state in TASK_ACTIVE:
                self._release(task, reason)
            if task.state not in (T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, T.TASK_STATE_CANCELLED):
                touched = False
                for n in task.frames:
                    frame = job.frames[n]
                    if frame.state in FRAME_ACTIVE or frame.state in (
                        F.FRAME_STATE_PENDING,
                        F.FRAME_STATE_SUSPENDED,
                    ):
                        self._set_frame_state(job, frame, frame_state)
                        frame.progress = 0.0
                        self.rec.changed(frame)
                        touched = True
                if touched:
                    self._settle_task(job, task)
            task.queued = False
        job.pending.clear()

    def _release(self, task: Task, reason: str) -> None:
        """The task stops counting as running; its agent is told to kill it. The slot
        stays taken until the agent reports the attempt finished."""
        job = self.jobs[task.job_id]
        job.running_tasks -= 1
        link = self.links.get(task.agent_id)
        if link is not None:
            link.send(cancel_request(task.attempt_id, reason))
        task.state = T.TASK_STATE_PENDING

    def cancel(self, job_id: int) -> Job:
        job = self.job(job_id)
        if job.state in JOB_FINAL:
            raise FailedPrecondition(f"job {job_id} is already {state_word(job)}")
        was, job.state = job.state, J.JOB_STATE_CANCELLED
        self._stop_active(job, F.FRAME_STATE_CANCELLED, "job cancelled")
        self._refresh_job(job, was)
        log.info("job cancelled job=%d", job.id)
        return job

    def suspend(self, job_id: int) -> Job:
        job = self.job(job_id)
        if job.state in JOB_FINAL or job.state == J.JOB_STATE_SUSPENDED:
            raise FailedPrecondition(
                f"job {job_id} is {state_word(job)}; only a queued or running job can be suspended"
            )
        was, job.state = job.state, J.JOB_STATE_SUSPENDED
        self._stop_active(job, F.FRAME_STATE_SUSPENDED, "job suspended")
        self._refresh_job(job, was)
        log.info("job suspended job=%d", job.id)
        return job

    def resume(self, job_id: int) -> Job:
        job = self.job(job_id)
        if job.state != J.JOB_STATE_SUSPENDED:
            raise FailedPrecondition(f"job {job_id} is not suspended")
        was, job.state = job.state, J.JOB_STATE_QUEUED
        for frame in job.frames.values():
            if frame.state == F.FRAME_STATE_SUSPENDED:
                self._set_frame_state(job, frame, F.FRAME_STATE_PENDING)
                self.rec.changed(frame)
        for task in job.tasks:
            if task.state == T.TASK_STATE_SUSPENDED:
                self._settle_task(job, task)
        self._refresh_job(job, was)
        log.info("job resumed job=%d", job.id)
        return job

    def retry(self, job_id: int, spec: str) -> tuple[Job, int]:
        """Queue frames again: those in ``spec``, or every failed or cancelled one."""
        job = self.job(job_id)
        if spec:
            numbers = check_frames(spec)
            missing = [n for n in numbers if n not in job.frames]
            if missing:
                raise InvalidArgument(
                    "frames", f"frame {missing[0]} is not part of job {job_id} ({job.frames_spec})"
                )
            busy = [n for n in numbers if job.frames[n].state in FRAME_ACTIVE]
            if busy:
                raise FailedPrecondition(
                    f"frame {busy[0]} of job {job_id} is rendering now; retry it when it ends"
                )
            frames = [job.frames[n] for n in numbers]
        else:
            frames = [
                f for f in job.frames.values() if f.state in (F.FRAME_STATE_FAILED, F.FRAME_STATE_CANCELLED)
            ]
            if not frames:
                raise FailedPrecondition(f"job {job_id} has no failed or cancelled frames to retry")
        was = job.state
        if job.state in (J.JOB_STATE_CANCELLED, J.JOB_STATE_COMPLETED, J.JOB_STATE_FAILED):
            job.state = J.JOB_STATE_QUEUED
        target = F.FRAME_STATE_SUSPENDED if job.state == J.JOB_STATE_SUSPENDED else F.FRAME_STATE_PENDING
        tasks: dict[int, Task] = {}
        for frame in frames:
            self._set_frame_state(job, frame, target)
            frame.failure_count = 0
            frame.error_message = ""
            frame.exit_code = 0
            frame.progress = 0.0
            frame.end_time = None
            self.rec.changed(frame)
            tasks[frame.task_id] = self.tasks[frame.task_id]
        for task in tasks.values():
            if task.state not in TASK_ACTIVE:
                self._settle_task(job, task)
        self._refresh_job(job, was)
        log.info("frames retried job=%d frames=%d", job.id, len(frames))
        return job, len(frames)

    def update(self, job_id: int, priority: int | None, name: str | None, max_retries: int | None) -> Job:
        job = self.job(job_id)
        if priority is not None:
            job.priority = priority
        if name is not None:
            job.name = name
        if max_retries is not None:
            job.max_retries = max_retries
        self.rec.changed(job)
        self._wake.set()
        return job

    def delete(self, job_id: int) -> None:
        job = self.job(job_id)
        if job.state not in JOB_FINAL:
            raise FailedPrecondition(f"job {job_id} is not finished; cancel it before deleting it")
        if any(task.state in TASK_ACTIVE for task in job.tasks):
            raise FailedPrecondition(f"job {job_id} still has tasks stopping; try again in a moment")
        dependents = [j.id for j in self.jobs.values() if job_id in j.depends_on and j.state not in JOB_FINAL]
        if dependents:
            raise FailedPrecondition(
                f"job {dependents[0]} depends on job {job_id}; cancel or delete it first"
            )
        del self.jobs[job_id]
        self._runnable.discard(job_id)
        for task in job.tasks:
            self.tasks.pop(task.id, None)
        for attempt_id in [a.id for a in self.attempts.values() if a.job_id == job_id]:
            del self.attempts[attempt_id]
        self.logs.delete_job(job_id)
        self.rec.deleted(job)
        log.info("job deleted job=%d", job_id)

    # -------------------------------------------------------- agent control
    def set_agent_mode(self, agent_id: str, mode: int) -> Agent:
        agent = self.agent(agent_id)
        agent.mode = mode
        link = self.links.get(agent_id)
        if mode == pb.AGENT_MODE_DRAINING and link is not None:
            link.send(apb.LinkRequest(drain=apb.Drain()))
        self.rec.changed(agent)
        self._wake.set()
        return agent

    def forget(self, agent_id: str) -> None:
        """Remove an offline agent from the records for good; ``on_forget`` stops its dialling."""
        agent = self.agents.get(agent_id)
        refused = self.refused.pop(agent_id, None)
        if agent is None:
            if refused is None:
                raise NotFound(f"agent {agent_id!r} does not exist")
            self.on_forget(agent_id, refused.address)
            self.rec.deleted(refused)
            return
        if agent_id in self.links:
            raise FailedPrecondition(
                f"agent {agent_id} is online; stop the agent on its node first (a running agent "
                "would be found again over mDNS), or disable it to keep work off it"
            )
        if agent.running:
            raise FailedPrecondition(
                f"agent {agent_id} still holds {len(agent.running)} task(s); they return to the queue "
                f"once it has been silent for {self.agent_timeout:.0f} s: forget it then"
            )
        del self.agents[agent_id]
        self.on_forget(agent_id, agent.address)
        self.rec.deleted(agent)
        log.info("agent forgotten agent=%s address=%s", agent_id, agent.address)

    # ------------------------------------------------------------ agent link
    def agent_connected(self, link: LinkHandle, address: str, hello: apb.AgentHello) -> Agent:
        """An agent said hello: record it and reconcile what each side believes runs."""
        self.refused.pop(hello.agent_id, None)
        agent = self.agents.get(hello.agent_id)
        if agent is None:
            agent = self.agents[hello.agent_id] = Agent(id=hello.agent_id)
        agent.address = address
        agent.status = pb.AGENT_STATUS_ONLINE
        agent.hardware = hello.hardware
        agent.slots = max(1, hello.slots)
        agent.pool = hello.pool
        agent.tags = list(hello.tags)
        agent.version = hello.version
        agent.cost_per_hour = hello.cost_per_hour
        agent.allowed_plugins = list(hello.allowed_plugins)
        agent.last_seen = time.time()
        if hello.session_id != agent.session_id:
            agent.session_id = hello.session_id
            agent.last_sequence = 0
        self.links[agent.id] = link
        known = set(hello.known_attempt_ids)
        for attempt_id in [a for a in agent.running if a not in known]:
            self._lose_attempt(agent, attempt_id, "the agent no longer knows it")
        for attempt_id in known:
            if not self._is_current(attempt_id):
                link.send(cancel_request(attempt_id, "not current on the controller"))
        self.rec.changed(agent)
        log.info(
            "agent online agent=%s address=%s slots=%d session=%s known=%d",
            agent.id,
            address,
            agent.slots,
            agent.session_id,
            len(known),
        )
        self._wake.set()
        return agent

    def agent_refused(self, address: str, hello: apb.AgentHello, problem: str) -> None:
        """An agent did not prove the farm key: list it with the reason, use it never.

        Kept apart from the farm's agents, so a stranger naming itself after a real node
        cannot change that node's record."""
        old = self.refused.get(hello.agent_id)
        if old is None or old.problem != problem:
            log.warning("agent refused agent=%s address=%s why=%r", hello.agent_id, address, problem)
        # Only what the link itself showed: the rest of its hello (hardware, pool, tags,
        # slots) is the word of a node that proved nothing.
        refused = self.refused[hello.agent_id] = Agent(
            id=hello.agent_id, address=address, slots=0, problem=problem
        )
        if hello.agent_id not in self.agents:
            self.rec.changed(refused, persist=False)

    def never_starts(self, task: Task) -> bool:
        """Whether ``task`` can no longer be dispatched: its job ended or was deleted, or
        the task itself was cancelled (a follower of its log stops waiting)."""
        job = self.jobs.get(task.job_id)
        return job is None or job.state in JOB_FINAL or task.state in TASK_FINAL

    def _is_current(self, attempt_id: int) -> bool:
        """Whether the attempt is its task's live one (the only one allowed to change it)."""
        attempt = self.attempts.get(attempt_id)
        task = self.tasks.get(attempt.task_id) if attempt is not None else None
        return task is not None and task.attempt_id == attempt_id and task.state in TASK_ACTIVE

    def agent_disconnected(self, agent_id: str, link: LinkHandle) -> None:
        """The link broke. Its tasks stay until the agent returns or times out."""
        if self.links.get(agent_id) is not link:
            return
        del self.links[agent_id]
        agent = self.agents[agent_id]
        agent.status = pb.AGENT_STATUS_OFFLINE
        agent.load = pb.Load()
        self.rec.changed(agent)
        log.info("agent link lost agent=%s running=%d", agent_id, len(agent.running))

    def agent_left(self, agent_id: str, link: LinkHandle, reason: str) -> None:
        """The agent said goodbye (it is stopping and kills what it runs): requeue its
        frames now rather than after the heartbeat timeout, and list it offline."""
        if self.links.get(agent_id) is not link:
            return
        self.agent_disconnected(agent_id, link)
        agent = self.agents[agent_id]
        lost = list(agent.running)
        for attempt_id in lost:
            self._lose_attempt(agent, attempt_id, f"the agent stopped: {reason}")
        log.info("agent left agent=%s requeued=%d why=%r", agent_id, len(lost), reason)

    def heartbeat(self, agent_id: str, beat: apb.Heartbeat) -> None:
        agent = self.agents[agent_id]
        self._heard_from(agent)
        agent.load = beat.load
        self.rec.changed(agent, persist=False)

    def _heard_from(self, agent: Agent) -> None:
        agent.last_seen = time.time()
        if not agent.online and agent.id in self.links:
            agent.status = pb.AGENT_STATUS_ONLINE
            self.rec.changed(agent)
            self._wake.set()
            log.info("agent back online agent=%s", agent.id)

    def check_timeouts(self, now: float) -> None:
        """Agents silent past the timeout go offline; their tasks return to the queue."""
        for agent in self.agents.values():
            if not (agent.online or agent.running) or now - agent.last_seen <= self.agent_timeout:
                continue
            silent = now - agent.last_seen
            if agent.online:
                agent.status = pb.AGENT_STATUS_OFFLINE
                self.rec.changed(agent)
            lost = list(agent.running)
            link = self.links.get(agent.id)
            for attempt_id in lost:
                self._lose_attempt(agent, attempt_id, f"agent silent for {silent:.0f} s")
                if link is not None:
                    link.send(cancel_request(attempt_id, "requeued: the agent was silent too long"))
            log.warning("agent offline agent=%s silent_s=%.1f requeued=%d", agent.id, silent, len(lost))

    def _lose_attempt(self, agent: Agent, attempt_id: int, why: str) -> None:
        """The attempt will report nothing more: requeue its frames, no failure counted."""
        task_id = agent.running.pop(attempt_id)
        self.rec.changed(agent)
        attempt = self.attempts.get(attempt_id)
        if attempt is not None and attempt.end_time is None:
            attempt.state = "lost"
            attempt.end_time = time.time()
            attempt.error_message = why
            self.rec.changed(attempt)
            self.logs.finish(attempt_id)
        task = self.tasks.get(task_id)
        if task is None or task.attempt_id != attempt_id or task.state not in TASK_ACTIVE:
            return
        job = self.jobs[task.job_id]
        job.running_tasks -= 1
        for n in task.frames:
            frame = job.frames[n]
            if frame.state in FRAME_ACTIVE:
                self._set_frame_state(job, frame, F.FRAME_STATE_PENDING)
                frame.progress = 0.0
                self.rec.changed(frame)
        task.state = T.TASK_STATE_PENDING
        task.progress = 0.0
        self._settle_task(job, task)
        self._refresh_job(job)
        log.warning(
            "attempt lost job=%d task=%d attempt=%d agent=%s why=%r",
            job.id,
            task.id,
            attempt_id,
            agent.id,
            why,
        )

    def agent_event(self, agent_id: str, link: LinkHandle, event: apb.AgentEvent) -> None:
        """Apply one numbered agent event (once, however often it is replayed)."""
        agent = self.agents[agent_id]
        self._heard_from(agent)
        if event.sequence <= agent.last_sequence:
            seq = agent.last_sequence
            self.rec.after_commit(("ack", agent_id), lambda: link.send(ack_request(seq)))
            return
        agent.last_sequence = event.sequence
        self.rec.changed(agent, publish=False)
        seq = event.sequence
        self.rec.after_commit(("ack", agent_id), lambda: link.send(ack_request(seq)))
        attempt = self.attempts.get(event.attempt_id)
        if attempt is None:
            # Its job was deleted (or it predates the controller's records): only its slot matters.
            if event.HasField("finished") and agent.running.pop(event.attempt_id, None) is not None:
                self.rec.changed(agent)
                self._wake.set()
            log.info("event for unknown attempt agent=%s attempt=%d", agent_id, event.attempt_id)
            return
        task = self.tasks.get(attempt.task_id)
        current = self._is_current(attempt.id)
        kind = event.WhichOneof("kind")
        if kind == "log":
            attempt.log_size = self.logs.append(
                attempt.job_id, attempt.task_id, attempt.id, event.log.offset, event.log.data
            )
            self.rec.changed(attempt)
            return
        when = event.time.ToNanoseconds() / 1e9 if event.HasField("time") else time.time()
        if kind == "finished":
            self._attempt_finished(agent, attempt, event.finished, when)
            return
        if not current or task is None:
            if kind == "frame_completed":
                attempt.completed_frames.append(event.frame_completed.frame)
                self.rec.changed(attempt)
            return
        job = self.jobs[task.job_id]
        if kind == "started":
            attempt.state = "running"
            attempt.start_time = when
            self.rec.changed(attempt)
            task.state = T.TASK_STATE_RUNNING
            task.start_time = time.time()
            self.rec.changed(task)
            self._start_next_frame(job, attempt)
        elif kind == "progress":
            self._progress(job, task, attempt, event.progress)
        elif kind == "frame_completed":
            self._frame_completed(job, task, attempt, event.frame_completed)
        self._refresh_job(job)

    def _start_next_frame(self, job: Job, attempt: Attempt, number: int | None = None) -> None:
        if number is None:
            number = next((n for n in attempt.frames if job.frames[n].state == F.FRAME_STATE_ASSIGNED), None)
        if number is None or number not in attempt.frames:
            return
        frame = job.frames[number]
        if frame.state == F.FRAME_STATE_ASSIGNED:
            self._set_frame_state(job, frame, F.FRAME_STATE_RENDERING)
            frame.start_time = time.time()
            self.rec.changed(frame)

    def _progress(self, job: Job, task: Task, attempt: Attempt, p: apb.TaskProgress) -> None:
        if p.frame and p.frame in attempt.frames:
            self._start_next_frame(job, attempt, p.frame)
            frame = job.frames[p.frame]
        else:
            frame = next(
                (job.frames[n] for n in attempt.frames if job.frames[n].state == F.FRAME_STATE_RENDERING),
                None,
            )  # type: ignore[assignment]
        if frame is None or frame.state != F.FRAME_STATE_RENDERING:
            return
        frame.progress = max(0.0, min(1.0, p.frame_progress))
        self.rec.changed(frame)
        done = sum(1 for n in attempt.frames if job.frames[n].state == F.FRAME_STATE_COMPLETED)
        task.progress = (done + frame.progress) / len(attempt.frames)
        self.rec.changed(task)

    def _frame_completed(self, job: Job, task: Task, attempt: Attempt, done: apb.FrameCompleted) -> None:
        attempt.completed_frames.append(done.frame)
        self.rec.changed(attempt)
        frame = job.frames.get(done.frame)
        if frame is None or done.frame not in attempt.frames or frame.state not in FRAME_ACTIVE:
            return
        self._set_frame_state(job, frame, F.FRAME_STATE_COMPLETED)
        frame.outputs = [Output(o.path, o.size_bytes, o.xxh3_128) for o in done.outputs]
        frame.render_time = done.render_time.ToTimedelta().total_seconds()
        frame.progress = 1.0
        frame.exit_code = 0
        frame.error_message = ""
        frame.start_time = frame.start_time or time.time()
        frame.end_time = time.time()
        self.rec.changed(frame)
        completed = sum(1 for n in attempt.frames if job.frames[n].state == F.FRAME_STATE_COMPLETED)
        task.progress = completed / len(attempt.frames)
        self.rec.changed(task)
        self._start_next_frame(job, attempt)

    def _attempt_finished(self, agent: Agent, attempt: Attempt, fin: apb.TaskFinished, when: float) -> None:
        """Close the attempt's history; if it is current, settle its task's frames.

        ``when`` is the agent's own time of the end, as the start is (see "started"),
        so an attempt's times measure the process, not the network."""
        self.logs.finish(attempt.id)
        agent.running.pop(attempt.id, None)
        self.rec.changed(agent)
        self._wake.set()
        attempt.end_time = when
        attempt.exit_code = fin.exit_code
        attempt.error_message = fin.error_message
        attempt.peak_rss_bytes = fin.peak_rss_bytes
        attempt.cpu_time = fin.cpu_time.ToTimedelta().total_seconds()
        attempt.state = (
            "cancelled"
            if fin.cancelled and not fin.timed_out
            else "completed"
            if not fin.error_message
            else "failed"
        )
        self.rec.changed(attempt)
        task = self.tasks.get(attempt.task_id)
        if task is None or task.attempt_id != attempt.id or task.state not in TASK_ACTIVE:
            log.info("late result kept as history attempt=%d task=%d", attempt.id, attempt.task_id)
            return
        job = self.jobs[task.job_id]
        job.running_tasks -= 1
        task.exit_code = fin.exit_code
        task.error_message = fin.error_message
        task.peak_rss_bytes = fin.peak_rss_bytes
        task.cpu_time = attempt.cpu_time
        task.end_time = attempt.end_time
        for n in attempt.frames:
            frame = job.frames[n]
            if frame.state == F.FRAME_STATE_COMPLETED and frame.attempt_id == attempt.id:
                frame.peak_rss_bytes = fin.peak_rss_bytes
                self.rec.changed(frame)
            elif frame.state in FRAME_ACTIVE:
                if fin.cancelled and not fin.timed_out:
                    # The agent stopped it on its own (shutting down): not the frame's fault.
                    self._set_frame_state(job, frame, F.FRAME_STATE_PENDING)
                    frame.progress = 0.0
                    self.rec.changed(frame)
                else:
                    error = fin.error_message or f"the task ended without finishing frame {n}"
                    frame.peak_rss_bytes = fin.peak_rss_bytes
                    self._fail_frame(job, frame, error, exit_code=fin.exit_code)
        task.state = T.TASK_STATE_PENDING
        self._settle_task(job, task)
        self._refresh_job(job)
        log.info(
            "attempt finished job=%d task=%d attempt=%d agent=%s exit=%d state=%s",
            job.id,
            task.id,
            attempt.id,
            agent.id,
            fin.exit_code,
            attempt.state,
        )
