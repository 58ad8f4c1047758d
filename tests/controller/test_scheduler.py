"""The scheduler's policy, as a pure function of jobs and agents."""

from __future__ import annotations

from collections import deque

from renderq.controller.model import Agent, Hold, Job, Task
from renderq.controller.placement import GIB, unmet_requirement
from renderq.controller.scheduler import explain, plan
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


def reserving(job_id: int, tasks: int, memory_gib: int = 0, gpus: int = 0, cores: int = 0) -> Job:
    made = job(job_id, tasks)
    made.reservation = pb.TaskReservation(cores=cores, memory_bytes=memory_gib * GIB, gpus=gpus)
    return made


def node(agent_id: str, slots: int, ram_gib: int, gpus: int = 0) -> Agent:
    made = agent(agent_id, slots=slots)
    made.hardware.ram_bytes = ram_gib * GIB
    made.hardware.gpus.extend(pb.Gpu(index=i, model="RTX A6000", memory_bytes=48 * GIB) for i in range(gpus))
    return made


def test_memory_is_bin_packed_one_64_and_two_8_gib_tasks_on_a_96_gib_node_never_two_64() -> None:
    big, small = reserving(1, 3, memory_gib=64), reserving(2, 3, memory_gib=8)
    result = plan([big, small], [node("n", slots=8, ram_gib=96)], {})
    assert sorted(a.job.id for a in result) == [1, 2, 2, 2]
    assert len(plan([big], [node("n", slots=8, ram_gib=96)], {})) == 1


def test_gpu_tasks_get_distinct_devices_and_never_one_in_use() -> None:
    box = node("n", slots=4, ram_gib=64, gpus=4)
    box.gpus_in_use = {1}
    result = plan([reserving(1, 5, gpus=1)], [box], {})
    assert [a.gpus for a in result] == [(0,), (2,), (3,)]
    pairs = plan([reserving(1, 5, gpus=2)], [node("m", slots=4, ram_gib=64, gpus=4)], {})
    assert [a.gpus for a in pairs] == [(0, 1), (2, 3)]


def test_a_task_whose_memory_was_raised_reserves_its_own() -> None:
    work = reserving(1, 2, memory_gib=8)
    work.tasks = [Task(id=1, job_id=1, index=0, frames=[1], memory_reservation_bytes=60 * GIB)]
    result = plan([work], [node("n", slots=4, ram_gib=64)], {}, next_task=lambda j: j.tasks[0])
    assert len(result) == 1 and result[0].task is work.tasks[0], "60 GiB fits once in 64"


def test_explain_names_the_room_that_is_missing() -> None:
    box = node("n", slots=4, ram_gib=96)
    box.memory_reserved = 84 * GIB
    box.holds = {7: Hold(task_id=7, job_id=9, owner="bo", memory=84 * GIB)}
    _, verdicts = explain(reserving(1, 1, memory_gib=40), [box], {})
    assert verdicts == [("n", "12 GiB of 96 GiB free and the task reserves 40 GiB")]
    _, gpu = explain(reserving(1, 1, gpus=2), [node("g", slots=4, ram_gib=64, gpus=1)], {})
    assert gpu == [("g", "lacks 2 GPUs (agent g has 1)")]


def test_a_task_that_reserves_nothing_starts_beside_reservations_past_the_hardware() -> None:
    """An agent whose tasks reserve more cores and memory than it now reports (it restarted
    with fewer) still takes a task that reserves neither, and ``explain`` says the same."""
    over = agent("over", slots=3)
    over.hardware.cpu_cores, over.hardware.ram_bytes = 1, GIB
    for n in range(2):
        over.holds[1000 + n] = Hold(task_id=n, job_id=0, owner="old", cores=1, memory=GIB, gpus=())
        over.cores_reserved += 1
        over.memory_reserved += GIB
    work = job(1, 3)
    (assignment,) = plan([work], [over], {})
    assert assignment.agent.id == "over"
    assert explain(work, [over], {}) == ([], [("over", "")])
