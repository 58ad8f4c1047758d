"""An agent that keeps failing a job is blocked for it (and can be unblocked); a task that
succeeds faster than the job's minimum counts as failed."""

from __future__ import annotations

from datetime import timedelta

import grpc
from google.protobuf import duration_pb2

from renderq.controller.scheduler import plan
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, until_agent_online
from .test_api import refused
from .test_link_protocol import command_job, job_reaches
from .test_scheduler import agent, job


async def fail(agent_: ScriptedAgent, assign: apb.AssignTask, error: str = "license checkout failed") -> None:
    await agent_.send(agent_.event(assign.attempt_id, started=apb.TaskStarted(pid=1)))
    finished = apb.TaskFinished(exit_code=1, error_message=error)
    await agent_.send(agent_.event(assign.attempt_id, finished=finished))


async def test_an_agent_failing_a_job_twice_is_blocked_and_a_job_left_without_agents_ends(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    submitted = command_job(frames="1-3", chunk=1, retries=9)
    submitted.max_agent_failures = 2
    created = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=submitted))).job
    for _ in range(2):
        await fail(scripted_agent, (await scripted_agent.next_request("assign")).assign)
    # With 2 slots, a third task went out before the block; it fails too.
    await fail(scripted_agent, (await scripted_agent.next_request("assign")).assign)
    # The only agent is blocked: the job must end rather than wait for an agent forever.
    ended = await job_reaches(farm_stub, created.id, pb.JOB_STATE_FAILED)
    (entry,) = ended.blocked_agents
    assert (entry.agent_id, entry.failures) == (scripted_agent.agent_id, 3)
    assert entry.reason == "blocked after 2 failures: license checkout failed"
    frames = (await farm_stub.ListFrames(fpb.ListFramesRequest(job_id=created.id))).frames
    assert any("every agent that could run it is blocked" in f.error_message for f in frames)

    unblocked = await farm_stub.UnblockAgent(
        fpb.UnblockAgentRequest(job_id=created.id, agent_id=scripted_agent.agent_id)
    )
    assert not unblocked.job.blocked_agents
    details = await refused(
        farm_stub.UnblockAgent(fpb.UnblockAgentRequest(job_id=created.id, agent_id="nobody")),
        grpc.StatusCode.NOT_FOUND,
    )
    assert "does not block agent 'nobody'" in details
    await farm_stub.RetryFrames(fpb.RetryFramesRequest(job_id=created.id))
    again = (await scripted_agent.next_request("assign")).assign
    assert again.job_id == created.id, "a retried job runs on the agent again"


async def test_a_task_that_succeeds_under_the_minimum_run_time_fails_a_try(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    submitted = command_job(frames="1", chunk=1, retries=0)
    submitted.min_runtime.CopyFrom(duration_pb2.Duration(seconds=5))
    created = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=submitted))).job
    assign = (await scripted_agent.next_request("assign")).assign
    aid = assign.attempt_id
    await scripted_agent.send(scripted_agent.event(aid, started=apb.TaskStarted(pid=1)))
    await scripted_agent.send(scripted_agent.event(aid, frame_completed=apb.FrameCompleted(frame=1)))
    quick = apb.TaskFinished(exit_code=0)
    quick.duration.FromTimedelta(timedelta(seconds=0.2))
    await scripted_agent.send(scripted_agent.event(aid, finished=quick))
    await job_reaches(farm_stub, created.id, pb.JOB_STATE_FAILED)
    (frame,) = (await farm_stub.ListFrames(fpb.ListFramesRequest(job_id=created.id))).frames
    assert frame.error_message == "exited after 0.2 s, the job's minimum is 5 s"


def test_a_blocked_agent_is_never_used_and_the_least_failed_one_comes_first() -> None:
    broken, fine, spare = agent("broken", slots=4), agent("fine", slots=1), agent("spare", slots=1)
    work = job(1, 6)
    work.blocked = {"broken": "blocked after 3 failures: boom"}
    work.agent_failures = {"broken": 3, "fine": 1}
    result = plan([work], [broken, fine, spare], {})
    assert [a.agent.id for a in result] == ["spare", "fine"]
