"""The scheduler's policy, as a pure function of jobs and agents."""

from __future__ import annotations

from collections import deque

from renderq.controller.model import Agent, Job
from renderq.controller.scheduler import plan, unmet_requirement
from renderq.v1 import resources_pb2 as pb


def job(job_id: int, tasks: int, priority: int = 50, owner: str = "ana", plugin: str = "command") -> Job:
    return Job(
        id=job_id, name="", owner=owner, plugin=plugin, parameters={}, frames_spec="", chunk_size=1,
        priority=priority, pool="", requirements=pb.Requirements(), environment={}, depends_on=[],
        max_retries=3, task_timeout=0, pending=deque(range(tasks)),
    )  # fmt: skip


def agent(agent_id: str, slots: int = 1, cost: float = 0.0, **fields: object) -> Agent:
    return Agent(
        id=agent_id, status=pb.AGENT_STATUS_ONLINE, slots=slots, cost_per_hour=cost,
        hardware=pb.Hardware(cpu_cores=8, ram_bytes=16 << 30, os="Linux"), **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_cheapest_suitable_agent_is_used_first() -> None:
    (assignment,) = plan([job(1, 1)], [agent("dear", cost=3.0), agent("cheap", cost=0.5)], {})
    assert assignment.agent.id == "cheap"


def test_higher_priority_takes_the_slots_first() -> None:
    result = plan([job(1, 5, priority=10), job(2, 5, priority=90)], [agent("a", slots=3)], {})
    assert [a.job.id for a in result] == [2, 2, 2]


def test_owners_at_one_priority_take_turns() -> None:
    result = plan([job(1, 10, owner="ana"), job(2, 10, owner="bo")], [agent("a", slots=4)], {"ana": 3})
    assert [a.job.owner for a in result] == ["bo", "bo", "bo", "ana"]


def test_an_agent_that_refuses_the_plugin_is_never_offered_it() -> None:
    picky = agent("picky", allowed_plugins=["blender"])
    assert plan([job(1, 1, plugin="command")], [picky], {}) == []
    command = job(1, 1)
    assert (
        unmet_requirement(command.plugin, command.pool, command.requirements, picky)
        == "the command plugin (agent picky runs only blender)"
    )


def test_draining_and_disabled_agents_get_nothing() -> None:
    agents = [agent("d", mode=pb.AGENT_MODE_DRAINING), agent("x", mode=pb.AGENT_MODE_DISABLED)]
    assert plan([job(1, 3)], agents, {}) == []


def licensed(job_id: int, tasks: int, *limits: str, owner: str = "ana") -> Job:
    made = job(job_id, tasks, owner=owner)
    made.limits = list(limits)
    return made


def test_a_limit_caps_the_starts_across_jobs_and_an_unknown_or_used_up_one_starts_nothing() -> None:
    farm = [agent("a", slots=8)]
    result = plan([licensed(1, 4, "maya"), licensed(2, 4, "maya", owner="bo")], farm, {}, {"maya": 3})
    assert len(result) == 3
    assert plan([licensed(1, 4, "maya")], farm, {}, {"maya": 0}) == []
    assert plan([licensed(1, 4, "houdini")], farm, {}, {"maya": 5}) == []
    both = plan([licensed(1, 4, "maya", "arnold")], farm, {}, {"maya": 5, "arnold": 2})
    assert len(both) == 2, "a task holds every limit its job names"
    free = plan([licensed(1, 2, "maya"), job(2, 3)], farm, {}, {"maya": 0})
    assert [a.job.id for a in free] == [2, 2, 2], "jobs without limits are not held back"
