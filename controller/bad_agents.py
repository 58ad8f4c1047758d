"""Agents that keep failing a job stop getting it; tasks that "succeed" too fast fail.

A node with a broken plugin or a missing texture mount fails every frame it takes, and
would eat a whole job's retries in minutes. So each job counts its failed tasks per agent
and blocks an agent after ``max_agent_failures`` of them (the reason kept, shown by
``renderq job`` and lifted by ``renderq unblock``); the scheduler also prefers agents where
the job has failed least. A renderer that exits 0 without rendering is caught by the job's
``min_runtime``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from renderq.controller.model import Agent, Job
from renderq.controller.placement import refusal
from renderq.v1 import agent_service_pb2 as apb

log = logging.getLogger(__name__)


def too_quick(job: Job, fin: apb.TaskFinished) -> str:
    """Why a successful task counts as failed (it ended under the job's minimum), else ``""``."""
    if not job.min_runtime or fin.exit_code != 0 or fin.error_message or fin.cancelled:
        return ""
    took = fin.duration.ToTimedelta().total_seconds()
    if took >= job.min_runtime:
        return ""
    return f"exited after {took:.1f} s, the job's minimum is {job.min_runtime:g} s"


def note_failure(job: Job, agent_id: str, error: str) -> bool:
    """Count a failed task of ``job`` on ``agent_id``; True when that blocks the agent now."""
    failures = job.agent_failures[agent_id] = job.agent_failures.get(agent_id, 0) + 1
    if not job.max_agent_failures or failures < job.max_agent_failures or agent_id in job.blocked:
        return False
    job.blocked[agent_id] = f"blocked after {failures} failures: {error}"
    log.warning("agent blocked for job job=%d agent=%s failures=%d why=%r", job.id, agent_id, failures, error)
    return True


def stranded_reason(job: Job, agents: Iterable[Agent]) -> str:
    """Why no known agent may run ``job`` any more, when every one that could has been
    blocked by it; else ``""`` (an agent that is merely offline may come back)."""
    if not job.blocked:
        return ""
    if any(refusal(job, agent) is None for agent in agents):
        return ""
    return (
        f"every agent that could run it is blocked after repeated failures (`renderq unblock {job.id} AGENT`)"
    )
