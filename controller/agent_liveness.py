"""Whether each agent is there: its hello, its heartbeats, its goodbye, its silence.

An agent that says hello is reconciled with what the controller believes it runs; one
that says goodbye (it is stopping) has its frames requeued at once; one that goes
silent past the agent timeout is marked offline and its tasks return to the queue. A
lost attempt costs its frames no retry: the frame did nothing wrong.
"""

from __future__ import annotations

import logging
import time

from renderq.controller.farm_state import FarmState, LinkHandle
from renderq.controller.link_messages import cancel_request
from renderq.controller.model import Agent, AttemptState
from renderq.controller.state_rules import StateRules
from renderq.controller.work_queue import WorkQueue
from renderq.states import FRAME_ACTIVE, TASK_ACTIVE
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

DEAF_MARGIN = 0.5
"""Seconds a timeout check may come late before the delay is forgiven to every agent."""
LOAD_REFRESH = 10.0
"""Seconds after which an agent's load is published again, changed much or not."""


def _differs(told: pb.Load, now: pb.Load, agent: Agent) -> bool:
    """A change of load a person would notice in a table: 5 points of CPU, 0.5 of load
    average, or 2 % of the node's memory (256 MiB where its size is unknown)."""
    ram_step = agent.hardware.ram_bytes // 50 or 256 << 20
    return (
        abs(now.cpu_percent - told.cpu_percent) >= 5
        or abs(now.load_average - told.load_average) >= 0.5
        or abs(now.ram_used_bytes - told.ram_used_bytes) >= ram_step
    )


class AgentLiveness:
    def __init__(self, state: FarmState, queue: WorkQueue, rules: StateRules) -> None:
        self.state = state
        self.queue = queue
        self.rules = rules
        self._told: dict[str, tuple[float, pb.Load]] = {}
        """Per agent, when its load was last published and what it was."""

    def connected(self, link: LinkHandle, address: str, hello: apb.AgentHello) -> Agent:
        """An agent proved the farm key and said hello: record it and reconcile what
        each side believes runs."""
        state = self.state
        state.refused.pop(hello.agent_id, None)
        agent = state.agents.get(hello.agent_id)
        if agent is None:
            agent = state.agents[hello.agent_id] = Agent(id=hello.agent_id)
        agent.address = address
        agent.status = pb.AGENT_STATUS_ONLINE
        agent.hardware = hello.hardware
        agent.announced = pb.AgentSettings(
            slots=max(1, hello.slots),
            pool=hello.pool,
            tags=pb.TagList(tags=hello.tags),
            cost_per_hour=hello.cost_per_hour,
        )
        agent.settle_settings()
        agent.version = hello.version
        agent.allowed_plugins = list(hello.allowed_plugins)
        agent.last_seen = time.time()
        if hello.session_id != agent.session_id:
            agent.session_id = hello.session_id
            agent.last_sequence = 0
        state.links[agent.id] = link
        known = set(hello.known_attempt_ids)
        for attempt_id in [a for a in agent.holds if a not in known]:
            self.lose_attempt(agent, attempt_id, "the agent no longer knows it")
        for attempt_id in known:
            if not state.is_current(attempt_id):
                link.send(cancel_request(attempt_id, "not current on the controller"))
        state.rec.changed(agent)
        log.info(
            "agent online agent=%s address=%s slots=%d session=%s known=%d",
            agent.id,
            address,
            agent.slots,
            agent.session_id,
            len(known),
        )
        self.queue.offer(agent.id)
        return agent

    def refused(self, address: str, hello: apb.AgentHello, problem: str) -> None:
        """An agent did not prove the farm key: list it with the reason, use it never.

        Kept apart from the farm's agents, so a stranger naming itself after a real node
        cannot change that node's record."""
        state = self.state
        old = state.refused.get(hello.agent_id)
        if old is None or old.problem != problem:
            log.warning("agent refused agent=%s address=%s why=%r", hello.agent_id, address, problem)
        # Only what the link itself showed: the rest of its hello (hardware, pool, tags,
        # slots) is the word of a node that proved nothing.
        refused = state.refused[hello.agent_id] = Agent(
            id=hello.agent_id, address=address, slots=0, problem=problem
        )
        if hello.agent_id not in state.agents:
            state.rec.changed(refused, persist=False)

    def disconnected(self, agent_id: str, link: LinkHandle) -> None:
        """The link broke. Its tasks stay until the agent returns or times out."""
        state = self.state
        if state.links.get(agent_id) is not link:
            return
        del state.links[agent_id]
        agent = state.agents[agent_id]
        agent.status = pb.AGENT_STATUS_OFFLINE
        agent.load = pb.Load()
        state.rec.changed(agent)
        log.info("agent link lost agent=%s running=%d", agent_id, len(agent.holds))

    def left(self, agent_id: str, link: LinkHandle, reason: str) -> None:
        """The agent said goodbye (it is stopping and kills what it runs): requeue its
        frames now rather than after the heartbeat timeout, and list it offline."""
        if self.state.links.get(agent_id) is not link:
            return
        self.disconnected(agent_id, link)
        agent = self.state.agents[agent_id]
        lost = list(agent.holds)
        for attempt_id in lost:
            self.lose_attempt(agent, attempt_id, f"the agent stopped: {reason}")
        log.info("agent left agent=%s requeued=%d why=%r", agent_id, len(lost), reason)

    def heartbeat(self, agent_id: str, beat: apb.Heartbeat) -> None:
        """Keep the agent's load; tell watchers when it changed enough to see, or
        ``LOAD_REFRESH`` seconds after they last heard (5,000 agents beating every 2 s
        would otherwise send every watching terminal 2,500 agent events a second). A
        watcher's copy of its last-seen time is then up to that old; ListAgents reads it fresh."""
        agent = self.state.agents[agent_id]
        self.heard_from(agent)
        agent.load = beat.load
        now = time.monotonic()
        told = self._told.get(agent_id)
        if told is None or now - told[0] >= LOAD_REFRESH or _differs(told[1], beat.load, agent):
            self._told[agent_id] = (now, beat.load)
            self.state.rec.changed(agent, persist=False)

    def heard_from(self, agent: Agent) -> None:
        agent.last_seen = time.time()
        if not agent.online and agent.id in self.state.links:
            agent.status = pb.AGENT_STATUS_ONLINE
            self.state.rec.changed(agent)
            self.queue.offer(agent.id)
            log.info("agent back online agent=%s", agent.id)

    def forgive(self, deaf: float) -> None:
        """The controller could not listen for ``deaf`` seconds (its event loop held up: a
        huge submit, a slow disk): the agents' heartbeats waited unread meanwhile, which is
        not their silence, so it does not count towards their timeout. A late check by less
        than ``DEAF_MARGIN`` is the loop's ordinary jitter."""
        if deaf < DEAF_MARGIN:
            return
        log.warning("controller was held up seconds=%.1f: not counted as agents' silence", deaf)
        for agent in self.state.agents.values():
            agent.last_seen += deaf

    def check_timeouts(self, now: float) -> None:
        """Agents silent past the timeout go offline; their tasks return to the queue."""
        state = self.state
        for agent in state.agents.values():
            if not (agent.online or agent.holds) or now - agent.last_seen <= state.agent_timeout:
                continue
            silent = now - agent.last_seen
            if agent.online:
                agent.status = pb.AGENT_STATUS_OFFLINE
                state.rec.changed(agent)
            lost = list(agent.holds)
            link = state.links.get(agent.id)
            for attempt_id in lost:
                self.lose_attempt(agent, attempt_id, f"agent silent for {silent:.0f} s")
                if link is not None:
                    link.send(cancel_request(attempt_id, "requeued: the agent was silent too long"))
            log.warning("agent offline agent=%s silent_s=%.1f requeued=%d", agent.id, silent, len(lost))

    def lose_attempt(self, agent: Agent, attempt_id: int, why: str) -> None:
        """The attempt will report nothing more: requeue its frames, no failure counted."""
        state = self.state
        hold = state.holdings.release(agent, attempt_id)
        state.rec.changed(agent)
        attempt = state.attempts.get(attempt_id)
        if attempt is not None and attempt.end_time is None:
            attempt.state = AttemptState.LOST
            attempt.end_time = time.time()
            attempt.error_message = why
            state.rec.changed(attempt)
            state.logs.finish(attempt_id)
        task = state.tasks.get(hold.task_id) if hold is not None else None
        if task is None or task.attempt_id != attempt_id or task.state not in TASK_ACTIVE:
            return
        job = state.jobs[task.job_id]
        job.running_tasks -= 1
        for n in task.frames:
            frame = job.frames[n]
            if frame.state in FRAME_ACTIVE:
                self.rules.set_frame_state(job, frame, pb.FRAME_STATE_PENDING)
                frame.progress = 0.0
                state.rec.changed(frame)
        task.state = pb.TASK_STATE_PENDING
        task.progress = 0.0
        self.rules.settle_task(job, task)
        self.rules.refresh_job(job)
        log.warning(
            "attempt lost job=%d task=%d attempt=%d agent=%s why=%r",
            job.id,
            task.id,
            attempt_id,
            agent.id,
            why,
        )
