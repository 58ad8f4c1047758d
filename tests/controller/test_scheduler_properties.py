"""The scheduling policy's promises, checked on generated farms: never more tasks than
slots, never more cores, memory or GPUs reserved than an agent has, never one GPU twice,
never a limit exceeded, never a requirement broken or a blocked agent used, no owner
starved, and ``explain`` never disagreeing with the plan."""

from __future__ import annotations

from collections import Counter, deque

from hypothesis import given, settings
from hypothesis import strategies as st

from renderq.controller.model import Agent, Hold, Job
from renderq.controller.placement import GIB, idle_reason, refusal
from renderq.controller.scheduler import Assignment, explain, plan
from renderq.v1 import resources_pb2 as pb

LIMITS = ("maya", "arnold")


@st.composite
def agents(draw: st.DrawFn) -> list[Agent]:
    made = []
    for i in range(draw(st.integers(0, 6))):
        gpus = draw(st.integers(0, 4))
        agent = Agent(
            id=f"a{i}",
            status=draw(st.sampled_from([pb.AGENT_STATUS_ONLINE] * 3 + [pb.AGENT_STATUS_OFFLINE])),
            mode=draw(st.sampled_from([pb.AGENT_MODE_ENABLED] * 3 + [pb.AGENT_MODE_DRAINING])),
            slots=draw(st.integers(1, 4)),
            pool=draw(st.sampled_from(["", "", "gpu"])),
            tags=draw(st.lists(st.sampled_from(["x", "y"]), unique=True)),
            cost_per_hour=draw(st.sampled_from([0.0, 1.0, 2.5])),
            hardware=pb.Hardware(
                cpu_cores=draw(st.integers(1, 16)),
                ram_bytes=draw(st.integers(1, 96)) * GIB,
                os="Linux",
                gpus=[pb.Gpu(index=g, model="RTX", memory_bytes=24 * GIB) for g in range(gpus)],
            ),
        )
        for n in range(draw(st.integers(0, agent.slots))):
            used = [g for g in range(gpus) if g not in agent.gpus_in_use][: draw(st.integers(0, 1))]
            agent.holds[1000 + n] = Hold(
                task_id=n, job_id=0, owner="old", cores=1, memory=GIB, gpus=tuple(used)
            )
            agent.cores_reserved += 1
            agent.memory_reserved += GIB
            agent.gpus_in_use.update(used)
        made.append(agent)
    return made


@st.composite
def jobs(draw: st.DrawFn, agent_ids: list[str]) -> list[Job]:
    made = []
    for i in range(1, draw(st.integers(1, 6)) + 1):
        job = Job(
            id=i, name="", owner=draw(st.sampled_from(["ana", "bo", "cy"])), plugin="command",
            parameters={}, frames_spec="", chunk_size=1, priority=draw(st.sampled_from([10, 50, 50])),
            pool=draw(st.sampled_from(["", "", "gpu"])),
            requirements=pb.Requirements(
                tags=draw(st.lists(st.sampled_from(["x", "y"]), max_size=1)),
                min_gpu_count=draw(st.sampled_from([0, 0, 1])),
            ),
            environment={}, depends_on=[], max_retries=3, task_timeout=0,
            pending=deque(range(draw(st.integers(0, 8)))),
            limits=draw(st.lists(st.sampled_from(LIMITS), unique=True, max_size=2)),
            reservation=pb.TaskReservation(
                cores=draw(st.sampled_from([0, 0, 2, 8])),
                memory_bytes=draw(st.sampled_from([0, 0, 8, 40, 64])) * GIB,
                gpus=draw(st.sampled_from([0, 0, 1, 2])),
            ),
        )  # fmt: skip
        if agent_ids:
            blocked = draw(st.lists(st.sampled_from(agent_ids), unique=True, max_size=2))
            job.blocked = {a: "blocked after 3 failures: boom" for a in blocked}
        made.append(job)
    return made


@st.composite
def farms(draw: st.DrawFn) -> tuple[list[Agent], list[Job], dict[str, int], dict[str, int]]:
    fleet = draw(agents())
    work = draw(jobs([a.id for a in fleet]))
    free = {name: draw(st.integers(0, 4)) for name in LIMITS}
    running = {owner: draw(st.integers(0, 3)) for owner in ("ana", "bo", "cy")}
    return fleet, work, free, running


@settings(max_examples=400, deadline=None)
@given(farms())
def test_the_plan_keeps_every_promise(
    farm: tuple[list[Agent], list[Job], dict[str, int], dict[str, int]],
) -> None:
    fleet, work, free_limits, running = farm
    result = plan(work, fleet, running, free_limits)
    per_agent: dict[str, list[Assignment]] = {}
    for start in result:
        assert idle_reason(start.agent) is None, f"{start.agent.id} takes no work"
        assert refusal(start.job, start.agent) is None, f"job {start.job.id} may not run on {start.agent.id}"
        assert len(start.gpus) == start.job.reservation.gpus
        per_agent.setdefault(start.agent.id, []).append(start)
    for agent in fleet:
        starts = per_agent.get(agent.id, [])
        hw = agent.hardware
        assert len(starts) <= agent.free_slots, "more tasks than slots"
        cores = sum(s.job.reservation.cores for s in starts)
        assert agent.cores_reserved + cores <= hw.cpu_cores or not cores, "cores over-reserved"
        memory = sum(s.job.reservation.memory_bytes for s in starts)
        assert agent.memory_reserved + memory <= hw.ram_bytes or not memory, "memory over-reserved"
        given_gpus = [g for s in starts for g in s.gpus]
        assert len(given_gpus) == len(set(given_gpus)), "one GPU given twice"
        assert not set(given_gpus) & agent.gpus_in_use, "a GPU in use given again"
        assert set(given_gpus) <= {g.index for g in hw.gpus}
    for name in LIMITS:
        assert sum(name in s.job.limits for s in result) <= free_limits[name], f"limit {name} exceeded"
    per_job = Counter(s.job.id for s in result)
    assert all(per_job[j.id] <= len(j.pending) for j in work)


@settings(max_examples=300, deadline=None)
@given(
    owners=st.dictionaries(st.sampled_from(["ana", "bo", "cy", "di"]), st.integers(0, 6), min_size=1),
    slots=st.lists(st.integers(1, 4), min_size=1, max_size=4),
)
def test_no_owner_is_starved(owners: dict[str, int], slots: list[int]) -> None:
    """Alike jobs, one per owner: the slots fill the owners running least first."""
    work = [
        Job(
            id=i,
            name="",
            owner=owner,
            plugin="command",
            parameters={},
            frames_spec="",
            chunk_size=1,
            priority=50,
            pool="",
            requirements=pb.Requirements(),
            environment={},
            depends_on=[],
            max_retries=3,
            task_timeout=0,
            pending=deque(range(50)),
        )
        for i, owner in enumerate(sorted(owners), 1)
    ]
    fleet = [
        Agent(id=f"a{i}", status=pb.AGENT_STATUS_ONLINE, slots=n, hardware=pb.Hardware(cpu_cores=4))
        for i, n in enumerate(slots)
    ]
    got = Counter(s.job.owner for s in plan(work, fleet, owners))
    assert sum(got.values()) == sum(slots)
    totals = {owner: owners[owner] + got[owner] for owner in owners}
    for owner in owners:
        if got[owner]:
            assert all(totals[other] >= totals[owner] - 1 for other in owners), (owners, got)


@settings(max_examples=400, deadline=None)
@given(farms())
def test_why_agrees_with_the_plan(
    farm: tuple[list[Agent], list[Job], dict[str, int], dict[str, int]],
) -> None:
    fleet, work, free_limits, _ = farm
    job = work[0]
    job.pending = deque(range(3))
    assigned = {s.agent.id for s in plan([job], fleet, {}, free_limits)}
    held, verdicts = explain(job, fleet, free_limits)
    could = {agent_id for agent_id, why in verdicts if not why}
    if held:
        assert not assigned, f"explain says {held} yet the plan assigned to {assigned}"
    else:
        assert assigned and assigned <= could, (assigned, verdicts)
    assert assigned <= could, "the plan used an agent explain passes over"
