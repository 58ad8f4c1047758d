"""Whether an agent can take a task, in words: what it could ever run (requirements,
reservations beyond its hardware, a job's block) and what it has room for now (slots,
cores, memory, GPUs not yet reserved).

The scheduler decides with these predicates and ``renderq why`` explains with them, so
the two never disagree. Each returns None when the agent qualifies, else the first
reason it does not, as a phrase an operator reads after "agent a7 ...".
"""

from __future__ import annotations

from dataclasses import dataclass

from renderq.controller.model import Agent, Job
from renderq.plugins.registry import get_plugin
from renderq.v1 import resources_pb2 as pb

GIB = 1 << 30
NO_RESERVATION = pb.TaskReservation()


def gib(size: int) -> str:
    """``42949672960`` -> ``40 GiB``; tenths below 10 GiB."""
    value = size / GIB
    return f"{value:.1f} GiB" if value < 10 and value != int(value) else f"{value:.0f} GiB"


def unmet_requirement(
    plugin: str,
    pool: str,
    req: pb.Requirements,
    agent: Agent,
    reservation: pb.TaskReservation = NO_RESERVATION,
) -> str | None:
    """What ``agent`` lacks to ever run a job of ``plugin`` in ``pool`` needing ``req`` and
    reserving ``reservation`` per task, in words, or None if it qualifies."""
    hw = agent.hardware
    if agent.allowed_plugins and plugin not in agent.allowed_plugins:
        return f"the {plugin} plugin (agent {agent.id} runs only {', '.join(agent.allowed_plugins)})"
    if pool and agent.pool != pool:
        return f"pool {pool!r} (agent {agent.id} is in pool {agent.pool!r})"
    cores = max(req.min_cpu_cores, reservation.cores)
    if cores and hw.cpu_cores < cores:
        return f"{cores} CPU cores (agent {agent.id} has {hw.cpu_cores})"
    memory = max(req.min_ram_bytes, reservation.memory_bytes)
    if memory and hw.ram_bytes < memory:
        return f"{gib(memory)} of RAM (agent {agent.id} has {gib(hw.ram_bytes)})"
    gpus = max(req.min_gpu_count, reservation.gpus)
    if gpus and len(hw.gpus) < gpus:
        return f"{gpus} GPUs (agent {agent.id} has {len(hw.gpus)})"
    if req.min_gpu_memory_bytes and not any(g.memory_bytes >= req.min_gpu_memory_bytes for g in hw.gpus):
        return f"a GPU with {gib(req.min_gpu_memory_bytes)} of memory (agent {agent.id} has none)"
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


def refusal(job: Job, agent: Agent, memory: int | None = None) -> str | None:
    """Why ``agent`` never takes a task of ``job`` (blocked, or lacking what it needs);
    ``memory`` is the task's own reservation where it differs from the job's."""
    if agent.id in job.blocked:
        return job.blocked[agent.id]
    unmet = unmet_by_task(job, agent, memory)
    return f"lacks {unmet}" if unmet else None


def unmet_by_task(job: Job, agent: Agent, memory: int | None = None) -> str | None:
    """What ``agent`` lacks to ever run a task of ``job`` (its blocks aside)."""
    reservation = job.reservation
    if memory is not None and memory != reservation.memory_bytes:
        reservation = pb.TaskReservation(cores=reservation.cores, memory_bytes=memory, gpus=reservation.gpus)
    return unmet_requirement(job.plugin, job.pool, job.requirements, agent, reservation)


Kind = tuple[object, ...]
"""What decides which jobs an agent could ever run (its hardware but not its name): agents
of one kind qualify for the same jobs."""


def kind_of(agent: Agent) -> Kind:
    hw = agent.hardware
    return (
        agent.pool,
        tuple(sorted(agent.tags)),
        tuple(sorted(agent.allowed_plugins)),
        hw.cpu_cores,
        hw.ram_bytes,
        hw.os.lower(),
        tuple(sorted(g.memory_bytes for g in hw.gpus)),
        tuple(sorted({r.name for r in hw.renderers})),
    )


@dataclass(eq=False, slots=True)
class Room:
    """What an agent has left for new tasks during one scheduling pass."""

    agent: Agent
    slots: int
    cores: int
    memory: int
    gpus: list[int]
    """Free GPU indices, lowest first."""
    kind: Kind = ()

    @classmethod
    def of(cls, agent: Agent, kind: Kind = ()) -> Room:
        hw = agent.hardware
        return cls(
            agent=agent,
            slots=agent.free_slots,
            cores=hw.cpu_cores - agent.cores_reserved,
            memory=hw.ram_bytes - agent.memory_reserved,
            gpus=sorted(g.index for g in hw.gpus if g.index not in agent.gpus_in_use),
            kind=kind,
        )

    def fits(self, cores: int, memory: int, gpus: int) -> bool:
        """Whether one more task reserving these fits now (the fast form of ``room_reason``).
        A task that reserves no cores or memory fits beside an agent's reservations even when
        they exceed its hardware (it reported fewer cores since they were made)."""
        return (
            self.slots > 0
            and (not cores or self.cores >= cores)
            and (not memory or self.memory >= memory)
            and len(self.gpus) >= gpus
        )

    def take(self, cores: int, memory: int, gpus: int) -> tuple[int, ...]:
        """Reserve one task's share; the GPU indices it gets."""
        self.slots -= 1
        self.cores -= cores
        self.memory -= memory
        given = tuple(self.gpus[:gpus])
        del self.gpus[:gpus]
        return given


def room_reason(room: Room, cores: int, memory: int, gpus: int) -> str | None:
    """Why one more task reserving these does not fit in ``room`` now, in words."""
    agent, hw = room.agent, room.agent.hardware
    if room.slots <= 0:
        return f"busy with {agent.slots - room.slots} of {agent.slots} slots"
    if cores and room.cores < cores:
        return f"{max(0, room.cores)} of {hw.cpu_cores} cores free and the task reserves {cores}"
    if memory and room.memory < memory:
        return f"{gib(max(0, room.memory))} of {gib(hw.ram_bytes)} free and the task reserves {gib(memory)}"
    if gpus and len(room.gpus) < gpus:
        return f"{len(room.gpus)} of {len(hw.gpus)} GPUs free and the task reserves {gpus}"
    return None
