"""Dispatch: run the scheduler over the runnable jobs and the agents' free slots, and
send each assignment as a new attempt.

Fencing starts here: each dispatch is an attempt with a farm-unique id (the controller's
epoch in the high bits, so a restart never reuses one). Agent events name their
attempt; only the task's current attempt may change the task and its frames.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from renderq.controller import scheduler
from renderq.controller.farm_state import FarmState
from renderq.controller.holdings import hold_of
from renderq.controller.link_messages import assign_request
from renderq.controller.model import Agent, Attempt, Job, Task
from renderq.controller.state_rules import StateRules
from renderq.controller.work_queue import WorkQueue
from renderq.durations import WAIT_BUCKETS, Durations
from renderq.plugins.base import CommandSpec
from renderq.plugins.registry import get_plugin
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, state: FarmState, queue: WorkQueue, rules: StateRules, epoch: int) -> None:
        self.state = state
        self.queue = queue
        self.rules = rules
        self.epoch = epoch
        self._attempt_counter = 0
        self.passes = 0
        """Scheduler runs so far (benchmarks and tests read it)."""
        self.free_limits: Callable[[], dict[str, int]] = dict
        """How many more tasks may start under each limit (set by the farm)."""
        self.delays = Durations(WAIT_BUCKETS)
        """Each assigned task's wait from pending to assigned (the metrics endpoint reads it)."""

    async def run(self) -> None:
        while True:
            await self.queue.wait()
            self.dispatch()

    def dispatch(self) -> None:
        """Run the scheduler once and send what it assigns."""
        self.passes += 1
        state = self.state
        jobs = [state.jobs[i] for i in self.queue.runnable]
        if not jobs:
            return
        agents = [a for a in state.agents.values() if a.id in state.links]
        running_by_owner: dict[str, int] = {}
        for job in state.jobs.values():
            if job.running_tasks:
                running_by_owner[job.owner] = running_by_owner.get(job.owner, 0) + job.running_tasks
        free_limits = self.free_limits() if any(job.limits for job in jobs) else {}
        for assignment in scheduler.plan(jobs, agents, running_by_owner, free_limits):
            task = self.queue.pop_pending(assignment.job)
            if task is not None:
                self._assign(assignment.job, task, assignment.agent)

    def _new_attempt_id(self) -> int:
        self._attempt_counter += 1
        return (self.epoch << 32) | self._attempt_counter

    def _assign(self, job: Job, task: Task, agent: Agent) -> None:
        todo = [n for n in task.frames if job.frames[n].state == pb.FRAME_STATE_PENDING]
        if not todo:
            self.rules.settle_task(job, task)
            return
        commands = self._commands(job, task, todo)
        if commands is None:
            return
        attempt = Attempt(
            id=self._new_attempt_id(), task_id=task.id, job_id=job.id, agent_id=agent.id, frames=todo
        )
        self.state.attempts[attempt.id] = attempt
        self.delays.observe(time.monotonic() - task.pending_since)
        task.state = pb.TASK_STATE_ASSIGNED
        task.agent_id = agent.id
        task.attempt_id = attempt.id
        task.attempt_ids.append(attempt.id)
        task.attempt_count += 1
        task.progress = 0.0
        task.exit_code = 0
        task.error_message = ""
        task.end_time = None
        rec = self.state.rec
        for n in todo:
            frame = job.frames[n]
            self.rules.set_frame_state(job, frame, pb.FRAME_STATE_ASSIGNED)
            frame.agent_id = agent.id
            frame.attempt_id = attempt.id
            frame.attempt_count += 1
            frame.progress = 0.0
            frame.end_time = None
            rec.changed(frame)
        self.state.holdings.take(agent, attempt.id, hold_of(job, task))
        job.running_tasks += 1
        rec.changed(attempt)
        rec.changed(task)
        rec.changed(agent)
        self.rules.refresh_job(job)
        log.info(
            "assigned job=%d task=%d attempt=%d agent=%s frames=%d",
            job.id,
            task.id,
            attempt.id,
            agent.id,
            len(todo),
        )
        self.state.links[agent.id].send(assign_request(job, attempt, commands))

    def _commands(self, job: Job, task: Task, todo: list[int]) -> list[CommandSpec] | None:
        """The plugin's commands for ``todo``; None (the frames failed for good) if it cannot build them."""
        plugin = get_plugin(job.plugin)
        try:
            if plugin is None:
                raise ValueError(f"plugin {job.plugin!r} is not known to this controller")
            return plugin.build_commands(job.parameters, todo)
        except Exception as e:
            log.exception("cannot build commands job=%d task=%d", job.id, task.id)
            for n in todo:
                self.rules.fail_frame(
                    job, job.frames[n], f"could not build the task's command: {e}", final=True
                )
            self.rules.settle_task(job, task)
            self.rules.refresh_job(job)
            return None
