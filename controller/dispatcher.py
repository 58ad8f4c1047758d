"""Dispatch: run the scheduler over the runnable jobs and the agents' free slots, and
send each assignment as a new attempt.

Fencing starts here: each dispatch is an attempt with a farm-unique id (the controller's
epoch in the high bits, so a restart never reuses one). Agent events name their
attempt; only the task's current attempt may change the task and its frames.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from renderq.controller import scheduler
from renderq.controller.farm_state import FarmState
from renderq.controller.holdings import hold_of
from renderq.controller.job_inputs import input_files, inputs_on_their_way
from renderq.controller.link_messages import assign_request
from renderq.controller.model import Agent, Attempt, Job, Task
from renderq.controller.path_mapping import NO_RULES, PathMapper
from renderq.controller.placement import idle_reason
from renderq.controller.state_rules import StateRules
from renderq.controller.time_slices import TimeSlices
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
        self.mapper_for: Callable[[str], PathMapper] = lambda os: NO_RULES
        """The path mapping rules compiled for an OS (set by the farm)."""
        self.delays = Durations(WAIT_BUCKETS)
        """Each assigned task's wait from pending to assigned (the metrics endpoint reads it)."""
        self.qualified = scheduler.Qualified()
        self._grouped: tuple[int, scheduler.Grouped] = (-1, {})
        """The runnable jobs in the scheduler's order, and the queue's version they are of."""
        self._open: set[str] | None = None
        """Agents that had room after the last pass (None: look at every agent). Others
        come back when they may have room again: a hold released, or ``queue.offer``."""
        self._filled: set[str] = set()
        """Agents this pass left without a free slot: they may take short tasks ahead."""

    async def run(self) -> None:
        while True:
            await self.queue.wait()
            for _ in self.dispatch():
                await asyncio.sleep(0)

    def dispatch(self) -> Iterator[None]:
        """Run the scheduler once and send what it assigns, then send short tasks ahead to
        the agents left full, pausing (yielding) at the end of each time slice so that a
        pass over a large farm never holds up the event loop (time_slices.py)."""
        self.passes += 1
        slices = TimeSlices()
        agents = self._agents_with_room()
        self._open = {a.id for a in agents}
        if self.queue.runnable and agents:
            yield from self._pass(agents, slices)
        yield from self._send_ahead(slices)

    def _pass(self, agents: list[Agent], slices: TimeSlices) -> Iterator[None]:
        state = self.state
        if self._grouped[0] != self.queue.version:
            runnable = (state.jobs[i] for i in self.queue.runnable)
            self._grouped = (self.queue.version, scheduler.group(runnable))
        free_limits = self.free_limits() if state.limits else {}
        starts = scheduler.assignments(
            self._grouped[1], agents, state.holdings.by_owner, free_limits, self.queue.peek, self.qualified
        )
        for start in starts:
            self._start(start)
            if slices.spent():
                yield
        self._open = {a.id for a in agents if a.free_slots > 0}

    def _agents_with_room(self) -> list[Agent]:
        """The linked agents taking work that may have a free slot."""
        state = self.state
        freed, offered = state.holdings.freed, self.queue.offered
        ids = state.links.keys() if self._open is None else self._open | freed | offered
        found = []
        for agent_id in ids:
            agent = state.agents.get(agent_id)
            if agent is None or agent_id not in state.links or idle_reason(agent) is not None:
                continue
            if agent.free_slots > 0:
                found.append(agent)
        freed.clear()
        offered.clear()
        return found

    def _start(self, start: scheduler.Assignment) -> None:
        """Make the start the scheduler chose, unless what it saw changed while the pass
        paused (the agent left or filled, a limit was lowered, the job stopped)."""
        job, agent, state = start.job, start.agent, self.state
        if agent.id not in state.links or agent.free_slots <= 0 or idle_reason(agent):
            return
        if agent.gpus_in_use.intersection(start.gpus) or not self._limits_free(job):
            return
        if job.inputs_from and inputs_on_their_way(state, job):
            return  # the output collector wakes the queue as each output settles
        task = self.queue.pop_pending(job)
        if task is not None:
            self._assign(job, task, agent, start.gpus)

    def _send_ahead(self, slices: TimeSlices) -> Iterator[None]:
        """Give the agents that have no free slot, running a job of short tasks, some of
        its tasks to wait for their slots (``queue_ahead``); yields between two agents
        when the slice is spent (each agent is looked at afresh after a pause)."""
        state, queue = self.state, self.queue
        full = self._filled | state.holdings.promoted
        self._filled.clear()
        state.holdings.promoted.clear()
        for agent_id in full:
            agent = state.agents.get(agent_id)
            if agent is None or agent_id not in state.links or agent.free_slots > 0 or idle_reason(agent):
                continue
            for job_id in {hold.job_id: None for hold in agent.holds.values() if not hold.queued}:
                job = state.jobs.get(job_id)
                if job is None or job_id not in queue.runnable:
                    continue
                room = state.pace.ahead(job) * agent.slots - agent.queued
                # A task whose memory was raised after an out-of-memory kill reserves it: not ahead.
                while (
                    room > 0 and (task := queue.peek(job)) is not None and not task.memory_reservation_bytes
                ):
                    queue.pop_pending(job)
                    self._assign(job, task, agent, (), ahead=True)
                    room -= 1
            if slices.spent():
                yield

    def _limits_free(self, job: Job) -> bool:
        limits, held = self.state.limits, self.state.holdings.by_limit
        return all(name in limits and held[name] < limits[name].capacity for name in job.limits)

    def _new_attempt_id(self) -> int:
        self._attempt_counter += 1
        return (self.epoch << 32) | self._attempt_counter

    def _assign(
        self, job: Job, task: Task, agent: Agent, gpus: tuple[int, ...], *, ahead: bool = False
    ) -> None:
        """Make ``task`` an attempt on ``agent`` and send it; ``ahead``: to wait there for a
        slot (``queue_ahead``)."""
        todo = [n for n in task.frames if job.frames[n].state == pb.FRAME_STATE_PENDING]
        if not todo:
            self.rules.settle_task(job, task)
            return
        paths = self.mapper_for(agent.hardware.os)
        commands = self._commands(job, task, todo, paths)
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
        task.attempt_ids = [*task.attempt_ids, attempt.id]
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
        task.gpu_indices = list(gpus)
        self.state.holdings.take(agent, attempt.id, replace(hold_of(job, task), queued=ahead))
        if agent.free_slots <= 0:
            self._filled.add(agent.id)
        job.running_tasks += 1
        rec.changed(attempt)
        rec.changed(task)
        rec.changed(agent)
        self.rules.refresh_job(job)
        log.debug(
            "assigned job=%d task=%d attempt=%d agent=%s frames=%d ahead=%s",
            job.id, task.id, attempt.id, agent.id, len(todo), ahead,
        )  # fmt: skip
        environment = {k: paths.map_text(v) for k, v in job.environment.items()} if paths else None
        shares = [rule.to_path for rule in paths.rules]
        inputs = input_files(self.state, job) if job.inputs_from else ()
        request = assign_request(job, attempt, commands, gpus, environment, shares, inputs, queued=ahead)
        self.state.links[agent.id].send(request)

    def _commands(self, job: Job, task: Task, todo: list[int], paths: PathMapper) -> list[CommandSpec] | None:
        """The plugin's commands for ``todo`` with the paths in them as the agent's OS mounts
        them (``paths``); None (the frames failed for good) if it cannot build them.

        Path parameters are mapped before the plugin sees them (it may derive other paths
        from them), then every argument and expected output (paths in other parameters)."""
        plugin = get_plugin(job.plugin)
        try:
            if plugin is None:
                raise ValueError(f"plugin {job.plugin!r} is not known to this controller")
            if not paths:
                return plugin.build_commands(job.parameters, todo)
            parameters = paths.map_parameters(job.parameters, plugin.parameters)
            return paths.map_commands(plugin.build_commands(parameters, todo))
        except Exception as e:
            log.exception("cannot build commands job=%d task=%d", job.id, task.id)
            for n in todo:
                self.rules.fail_frame(
                    job, job.frames[n], f"could not build the task's command: {e}", final=True
                )
            self.rules.settle_task(job, task)
            self.rules.refresh_job(job)
            return None
