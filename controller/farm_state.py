"""What every part of the farm reads and changes: the records in memory, the links to
the agents, and the recorder that stores and publishes each change.

The controller's memory is the authority while it runs; each part (state rules,
dispatch, agent events, job and agent control) works on this one shared state, on the
event loop, and hands every change to the recorder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from renderq.controller.errors import NoSuchResource
from renderq.controller.holdings import Holdings
from renderq.controller.model import Agent, Attempt, Job, Limit, Task
from renderq.controller.queue_ahead import TaskPace
from renderq.controller.recorder import Recorder
from renderq.controller.task_logs import TaskLogs
from renderq.states import TASK_ACTIVE
from renderq.v1 import agent_service_pb2 as apb


class LinkHandle(Protocol):
    """What the farm needs of an agent link: a way to send it requests."""

    def send(self, request: apb.LinkRequest) -> None: ...


@dataclass(eq=False)
class FarmState:
    rec: Recorder
    logs: TaskLogs
    agent_timeout: float
    """Seconds of silence after which an agent is offline and its tasks are requeued."""
    jobs: dict[int, Job] = field(default_factory=dict)
    tasks: dict[int, Task] = field(default_factory=dict)
    attempts: dict[int, Attempt] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    links: dict[str, LinkHandle] = field(default_factory=dict)
    """The open link of each online agent."""
    refused: dict[str, Agent] = field(default_factory=dict)
    """Agents that failed the farm-key handshake, by id: listed, never used or stored."""
    limits: dict[str, Limit] = field(default_factory=dict)
    """Farm-wide counters (licences), by name."""
    holdings: Holdings = field(default_factory=Holdings)
    """What running attempts hold, with the totals per agent, limit and owner."""
    pace: TaskPace = field(default_factory=TaskPace)
    """How long each job's tasks take lately: short ones are sent ahead (``queue_ahead``)."""

    def job(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NoSuchResource(f"job {job_id} does not exist")
        return job

    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NoSuchResource(f"agent {agent_id!r} does not exist")
        return agent

    def is_current(self, attempt_id: int) -> bool:
        """Whether the attempt is its task's live one (the only one allowed to change it)."""
        attempt = self.attempts.get(attempt_id)
        task = self.tasks.get(attempt.task_id) if attempt is not None else None
        return task is not None and task.attempt_id == attempt_id and task.state in TASK_ACTIVE
