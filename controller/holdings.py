"""What running attempts hold: a slot, cores, memory and GPUs on their agent, and the
limits (licences) their job names; with the totals the scheduler reads kept in step, per
agent, per limit and per owner, so a scheduling pass never counts them by a scan.

An attempt holds from its assignment until its agent reports its process ended (or the
agent is lost), including while it is being stopped: a licence is free only once the
process that used it is gone. What an attempt holds is fixed when it starts; changing a
job's limits or reservation in flight changes only the attempts that start afterwards.

A task sent ahead (``Hold.queued``) holds nothing while it waits on its agent; when an
attempt there ends, the first one waiting takes its slot, as the agent starts it then.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace
from typing import TypeVar

from renderq.controller.model import Agent, Hold, Job, Task

K = TypeVar("K", str, int)


def task_memory(job: Job, task: Task) -> int:
    """The memory ``task`` reserves: raised after an out-of-memory kill, else its job's."""
    return task.memory_reservation_bytes or job.reservation.memory_bytes


def hold_of(job: Job, task: Task) -> Hold:
    """What ``task`` holds while its current attempt runs (its GPUs chosen at assignment)."""
    return Hold(
        task_id=task.id,
        job_id=job.id,
        owner=job.owner,
        cores=job.reservation.cores,
        memory=task_memory(job, task),
        gpus=tuple(task.gpu_indices),
        limits=tuple(job.limits),
    )


class Holdings:
    def __init__(self) -> None:
        self.by_limit: Counter[str] = Counter()
        """Limit name -> attempts holding it."""
        self.limit_jobs: defaultdict[str, Counter[int]] = defaultdict(Counter)
        """Limit name -> job id -> attempts of that job holding it."""
        self.by_owner: Counter[str] = Counter()
        """Owner -> attempts of that owner's jobs holding a slot (fair share reads it)."""
        self.freed: set[str] = set()
        """Agents that released a hold since the dispatcher last looked (they have room)."""
        self.promoted: set[str] = set()
        """Agents where a task sent ahead took a slot since the dispatcher last looked
        (they may take another one ahead)."""

    def take(self, agent: Agent, attempt_id: int, hold: Hold) -> None:
        """``attempt_id`` holds ``hold`` on ``agent`` from now on."""
        agent.holds[attempt_id] = hold
        if hold.queued:
            agent.queued += 1
            return
        self._count(agent, hold)

    def _count(self, agent: Agent, hold: Hold) -> None:
        agent.cores_reserved += hold.cores
        agent.memory_reserved += hold.memory
        agent.gpus_in_use.update(hold.gpus)
        self.by_owner[hold.owner] += 1
        for name in hold.limits:
            self.by_limit[name] += 1
            self.limit_jobs[name][hold.job_id] += 1

    def release(self, agent: Agent, attempt_id: int) -> Hold | None:
        """``attempt_id`` holds nothing any more; what it held, or None if it held nothing."""
        hold = agent.holds.pop(attempt_id, None)
        if hold is None:
            return None
        if hold.queued:
            agent.queued -= 1
            return hold
        if not self._promote(agent):
            self.freed.add(agent.id)
        agent.cores_reserved -= hold.cores
        agent.memory_reserved -= hold.memory
        agent.gpus_in_use.difference_update(hold.gpus)
        _less(self.by_owner, hold.owner)
        for name in hold.limits:
            _less(self.by_limit, name)
            jobs = self.limit_jobs[name]
            _less(jobs, hold.job_id)
            if not jobs:
                del self.limit_jobs[name]
        return hold

    def _promote(self, agent: Agent) -> bool:
        """The first task waiting on ``agent`` takes the slot just freed, as the agent
        starts it (sent ahead, it holds only a slot); False when none waits."""
        if not agent.queued:
            return False
        attempt_id, hold = next((i, h) for i, h in agent.holds.items() if h.queued)
        running = agent.holds[attempt_id] = replace(hold, queued=False)
        agent.queued -= 1
        self._count(agent, running)
        self.promoted.add(agent.id)
        return True


def _less(counter: Counter[K], key: K) -> None:
    """One fewer of ``key``; gone at zero, so the counters list only what is held."""
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
