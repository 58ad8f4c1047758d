"""ExplainJob says why a job or a frame is not running (its agreement with the scheduler:
test_scheduler_properties.py)."""

from __future__ import annotations

import grpc

from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc

from .conftest import ScriptedAgent, until_agent_online
from .test_api import job_with, refused
from .test_frame_by_frame import Inbox
from .test_limits import licensed_job, set_limit
from .test_test_frames import submit


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


async def test_why_says_a_job_waits_for_its_test_frames_while_they_run(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    job = await submit(farm_stub, "1-6", tests="first,last")
    inbox = Inbox(scripted_agent)
    await inbox.assigns_of(job.id, 2)
    why = await farm_stub.ExplainJob(fpb.ExplainJobRequest(job_id=job.id))
    assert list(why.reasons) == ["waiting for its test frames (2 running)"]
    assert list(why.agents) == []
