"""Which pending task goes to which agent: a pure function of demand and capacity.

Called by the farm whenever something changed (work added, slot freed, agent joined);
never on a timer. Higher priority first; within a priority, each free slot goes to the
owner running the fewest tasks, so one user's thousand-frame job does not starve
another's. Among suitable agents the cheapest is preferred, then the least busy. The
requirement check is shared with submit, which refuses a job no known agent could
ever run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from renderq.controller.model import Agent, Job
from renderq.plugins.registry import get_plugin
from renderq.v1 import resources_pb2 as pb

GIB = 1 << 30


def unmet_requirement(plugin: str, pool: str, req: pb.Requirements, agent: Agent) -> str | None:
    """What ``agent`` lacks to ever run a job of ``plugin`` in ``pool`` needing ``req``, in
    words, or None if it qualifies."""
    hw = agent.hardware
    if agent.allowed_plugins and plugin not in agent.allowed_plugins:
        return f"the {plugin} plugin (agent {agent.id} runs only {', '.join(agent.allowed_plugins)})"
    if pool and agent.pool != pool:
        return f"pool {pool!r} (agent {agent.id} is in pool {agent.pool!r})"
    if req.min_cpu_cores and hw.cpu_cores < req.min_cpu_cores:
        return f"{req.min_cpu_cores} CPU cores (agent {agent.id} has {hw.cpu_cores})"
    if req.min_ram_bytes and hw.ram_bytes < req.min_ram_bytes:
        return f"{req.min_ram_bytes / GIB:.1f} GiB of RAM (agent {agent.id} has {hw.ram_bytes / GIB:.1f} GiB)"
    if req.min_gpu_count and len(hw.gpus) < req.min_gpu_count:
        return f"{req.min_gpu_count} GPUs (agent {agent.id} has {len(hw.gpus)})"
    if req.min_gpu_memory_bytes and not any(g.memory_bytes >= req.min_gpu_memory_bytes for g in hw.gpus):
        return f"a GPU with {req.min_gpu_memory_bytes / GIB:.1f} GiB of memory (agent {agent.id} has none)"
    if req.os and hw.os.lower() != req.os.lower():
        return f"OS {req.os} (agent {agent.id} runs {hw.os or 'an unknown OS'})"
    installed = {r.name for r in hw.renderers}
    for renderer in required_renderers(plugin, req):
        if renderer not in installed:
            return f"renderer {renderer!r} (agent {agent.id} has {', '.join(sorted(installed)) or 'none'})"
    missing_tags = [t for t in req.tags if t not in agent.tags]
    if missing_tags:
        return f"tag {missing_tags[0]!r} (agent {agent.id} has {', '.join(agent.tags) or 'no tags'})"
    return None


def required_renderers(plugin_name: str, req: pb.Requirements) -> list[str]:
    """The renderers asked for, and the plugin's own."""
    plugin = get_plugin(plugin_name)
    names = list(req.renderers)
    if plugin is not None and plugin.renderer and plugin.renderer not in names:
        names.append(plugin.renderer)
    return names


def idle_reason(agent: Agent) -> str | None:
    """Why ``agent`` takes no new task of any job, in words; None when it takes work."""
    if not agent.online:
        return "offline"
    if agent.mode == pb.AGENT_MODE_DISABLED:
        return "disabled"
    if agent.mode == pb.AGENT_MODE_DRAINING:
        return "draining"
    return None


def refusal(job: Job, agent: Agent) -> str | None:
    """Why ``agent`` never takes a task of ``job`` (blocked, or lacking what it needs)."""
    if agent.id in job.blocked:
        return job.blocked[agent.id]
    unmet = unmet_requirement(job.plugin, job.pool, job.requirements, agent)
    return f"lacks {unmet}" if unmet else None


def explain(
    job: Job, agents: Sequence[Agent], free_limits: dict[str, int]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Why ``job``'s pending tasks do not start: the reasons that hold the whole job back,
    and for each agent the first reason ``plan`` passes it over (empty: it could take one).
    The same predicates as ``plan``, in the same order, so the two never disagree."""
    held = [f"limit {name} is used up" for name in job.limits if free_limits.get(name, 0) <= 0]
    verdicts = []
    for agent in sorted(agents, key=lambda a: a.id):
        why = idle_reason(agent) or refusal(job, agent)
        if why is None and agent.free_slots <= 0:
            why = f"busy with {len(agent.holds)} of {agent.slots} slots"
        verdicts.append((agent.id, why or ""))
    if not agents:
        held.append("no agent has joined the farm")
    elif all(refusal(job, agent) for agent in agents):
        held.append("no known agent could ever run it; it waits for one that can")
    elif all(why for _, why in verdicts):
        held.append("no agent can take one of its tasks now")
    return held, verdicts


def _suitable(job: Job, candidates: list[Agent]) -> list[Agent]:
    """The agents that may run ``job``: not blocked by it, meeting what it needs; those
    where it failed least first (a failed frame tries another agent when one is free)."""
    fit = [a for a in candidates if refusal(job, a) is None]
    if job.agent_failures:
        fit.sort(key=lambda a: job.agent_failures.get(a.id, 0))
    return fit


@dataclass(frozen=True)
class Assignment:
    job: Job
    agent: Agent


def plan(
    jobs: Iterable[Job],
    agents: Sequence[Agent],
    running_by_owner: dict[str, int],
    free_limits: dict[str, int] | None = None,
) -> list[Assignment]:
    """Assign pending tasks of ``jobs`` to free slots of ``agents``.

    ``jobs`` are those with pending tasks that may run now; ``running_by_owner``
    counts tasks already running per owner (for fairness); ``free_limits`` says how
    many more tasks may start under each limit (a job whose limit is used up, or
    unknown, starts nothing). Each assignment stands for one task: the next in that
    job's pending queue.
    """
    limits = dict(free_limits or {})
    free = {a.id: a.free_slots for a in agents if idle_reason(a) is None and a.free_slots > 0}
    if not free:
        return []
    candidates = sorted((a for a in agents if a.id in free), key=lambda a: (a.cost_per_hour, -a.free_slots))
    by_priority: dict[int, list[Job]] = defaultdict(list)
    for job in jobs:
        by_priority[job.priority].append(job)
    owners = dict(running_by_owner)
    result: list[Assignment] = []
    suitable: dict[int, list[Agent]] = {}
    for priority in sorted(by_priority, reverse=True):
        left = {job.id: len(job.pending) for job in by_priority[priority]}
        while any(free.values()):
            # Each slot goes to the owner running the fewest tasks (then the oldest job).
            waiting = [j for j in by_priority[priority] if left[j.id]]
            if not waiting:
                break
            job = min(waiting, key=lambda j: (owners.get(j.owner, 0), j.id))
            if job.id not in suitable:
                suitable[job.id] = _suitable(job, candidates)
            agent = next((a for a in suitable[job.id] if free[a.id] > 0), None)
            if agent is None or not all(limits.get(name, 0) > 0 for name in job.limits):
                left[job.id] = 0
                continue
            for name in job.limits:
                limits[name] -= 1
            free[agent.id] -= 1
            left[job.id] -= 1
            owners[job.owner] = owners.get(job.owner, 0) + 1
            result.append(Assignment(job, agent))
    return result
