"""ExplainJob says why a job or a frame is not running, and agrees with the scheduler."""

from __future__ import annotations

import grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from renderq.controller.model import Agent, Hold
from renderq.controller.scheduler import explain, plan
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, until_agent_online
from .test_api import job_with, refused
from .test_limits import licensed_job, set_limit
from .test_scheduler import agent, job


async def test_why_names_the_used_up_limit_its_holders_and_each_agents_reason(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    await set_limit(farm_stub, "maya", 1)
    holder = await licensed_job(farm_stub, "maya")
    await scripted_agent.next_request("assign")
    waiting = await licensed_job(farm_stub, "maya")
    why = await farm_stub.ExplainJob(fpb.ExplainJobRequest(job_id=waiting.id))
    assert f"limit maya 1/1 held by jobs {holder.id}" in why.reasons
    assert [(v.agent_id, v.reason) for v in why.agents] == [(scripted_agent.agent_id, "")]

    frame = await farm_stub.ExplainJob(fpb.ExplainJobRequest(job_id=holder.id, frame=1))
    assert list(frame.reasons) == [f"frame 1 is running, on agent {scripted_agent.agent_id}"]
    await farm_stub.SuspendJob(fpb.SuspendJobRequest(job_id=waiting.id))
    suspended = await farm_stub.ExplainJob(fpb.ExplainJobRequest(job_id=waiting.id))
    assert list(suspended.reasons) == [f"job {waiting.id} is suspended; `renderq resume {waiting.id}`"]


def fleet_agent(i: int, slots: int, running: int, online: bool, mode: int, pool: str) -> Agent:
    made = agent(f"a{i}", slots=slots, mode=mode, pool=pool)
    made.status = pb.AGENT_STATUS_ONLINE if online else pb.AGENT_STATUS_OFFLINE
    made.holds = {n: Hold(task_id=n, job_id=0, owner="") for n in range(min(running, slots))}
    return made


AGENTS = st.lists(
    st.builds(
        fleet_agent,
        st.integers(0, 99),
        st.integers(1, 3),
        st.integers(0, 3),
        st.booleans(),
        st.sampled_from([pb.AGENT_MODE_ENABLED, pb.AGENT_MODE_DISABLED, pb.AGENT_MODE_DRAINING]),
        st.sampled_from(["", "gpu"]),
    ),
    max_size=5,
    unique_by=lambda a: a.id,
)


@settings(max_examples=200, deadline=None)
@given(agents=AGENTS, pool=st.sampled_from(["", "gpu"]), blocked=st.booleans(), free_limit=st.integers(0, 2))
def test_why_agrees_with_the_plan(agents: list[Agent], pool: str, blocked: bool, free_limit: int) -> None:
    work = job(1, 3)
    work.pool = pool
    work.limits = ["maya"]
    if blocked and agents:
        work.blocked = {agents[0].id: "blocked after 3 failures: boom"}
    assigned = {a.agent.id for a in plan([work], agents, {}, {"maya": free_limit})}
    held, verdicts = explain(work, agents, {"maya": free_limit})
    could = {agent_id for agent_id, why in verdicts if not why}
    if held:
        assert not assigned, f"explain says {held} yet the plan assigned to {assigned}"
    else:
        assert assigned and assigned <= could, (assigned, verdicts)
    assert assigned <= could, "the plan used an agent explain passes over"


async def test_a_job_no_agent_could_run_is_refused_unless_allowed_and_why_says_so(
    farm_stub: fgrpc.FarmServiceStub,
) -> None:
    await until_agent_online(farm_stub)
    needy = job_with()
    needy.requirements.min_gpu_count = 8
    details = await refused(
        farm_stub.CreateJob(fpb.CreateJobRequest(job=needy)), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "8 GPUs" in details
    created = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=needy, allow_unmatched=True))).job
    why = await farm_stub.ExplainJob(fpb.ExplainJobRequest(job_id=created.id))
    assert "no known agent could ever run it; it waits for one that can" in why.reasons
    assert all(v.reason.startswith("lacks 8 GPUs") for v in why.agents)
