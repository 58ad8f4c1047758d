"""Ids are never issued twice, a job behind a failed dependency says so, and a log
follower before any attempt ends with its job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import DEADLINE, ScriptedAgent, farm_client, start_controller, stop_controller
from .test_link_protocol import command_job, complete, job_reaches

J = pb.JobState


async def submit(
    stub: fgrpc.FarmServiceStub, depends_on: tuple[int, ...] = (), frames: str = "1-2"
) -> pb.Job:
    job = command_job(frames=frames, chunk=1)
    job.depends_on.extend(depends_on)
    return (await stub.CreateJob(fpb.CreateJobRequest(job=job))).job


async def test_deleted_jobs_ids_are_not_issued_again_after_a_restart(tmp_path: Path) -> None:
    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        first = [await submit(stub) for _ in range(2)]
        tasks = [t.id for j in first for t in (await stub.ListTasks(fpb.ListTasksRequest(job_id=j.id))).tasks]
        for job in first:
            await stub.CancelJob(fpb.CancelJobRequest(job_id=job.id))
            await stub.DeleteJob(fpb.DeleteJobRequest(job_id=job.id))
    await stop_controller(task)

    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        again = await submit(stub)
        new_tasks = [t.id for t in (await stub.ListTasks(fpb.ListTasksRequest(job_id=again.id))).tasks]
    await stop_controller(task)
    assert again.id > max(j.id for j in first), f"job id {again.id} was issued before"
    assert min(new_tasks) > max(tasks), f"task ids {new_tasks} overlap the deleted {tasks}"


async def test_a_job_behind_a_cancelled_dependency_is_blocked_then_runs_once_it_completes(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    render = await submit(farm_stub)
    encode = await submit(farm_stub, (render.id,))
    assert encode.state == J.JOB_STATE_WAITING
    assert encode.state_reason.startswith(f"waiting for job {render.id} ("), encode.state_reason
    for _ in range(2):  # the agent takes both frames, then is told to stop them
        await scripted_agent.next_request("assign")
    await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=render.id))
    for _ in range(2):
        stop = (await scripted_agent.next_request("cancel")).cancel
        ended = apb.TaskFinished(exit_code=-15, cancelled=True, error_message="cancelled")
        await scripted_agent.send(scripted_agent.event(stop.attempt_id, finished=ended))

    blocked = await job_reaches(farm_stub, encode.id, J.JOB_STATE_BLOCKED)
    assert blocked.state_reason == f"job {render.id} cancelled"
    # A job submitted behind one that already ended badly is blocked at once, and says why.
    late = await submit(farm_stub, (render.id,))
    assert (late.state, late.state_reason) == (J.JOB_STATE_BLOCKED, f"job {render.id} cancelled")
    # Behind a blocked job is blocked too: a chain of scripts must not wait forever either.
    chained = await submit(farm_stub, (encode.id,))
    assert chained.state == J.JOB_STATE_BLOCKED
    assert chained.state_reason == f"job {encode.id} is blocked: job {render.id} cancelled"

    await farm_stub.RetryFrames(fpb.RetryFramesRequest(job_id=render.id))
    waiting = (await farm_stub.GetJob(fpb.GetJobRequest(job_id=encode.id))).job
    assert waiting.state == J.JOB_STATE_WAITING, J.Name(waiting.state)
    for _ in range(2):
        await complete(scripted_agent, (await scripted_agent.next_request("assign")).assign)
    await job_reaches(farm_stub, render.id, J.JOB_STATE_COMPLETED)
    queued = (await farm_stub.GetJob(fpb.GetJobRequest(job_id=encode.id))).job
    assert queued.state in (J.JOB_STATE_QUEUED, J.JOB_STATE_RUNNING), J.Name(queued.state)
    assert queued.state_reason == ""


async def test_blocked_state_and_reason_survive_a_restart(tmp_path: Path) -> None:
    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        render = await submit(stub)
        await stub.CancelJob(fpb.CancelJobRequest(job_id=render.id))
        encode = await submit(stub, (render.id,))
    await stop_controller(task)
    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        again = (await stub.GetJob(fpb.GetJobRequest(job_id=encode.id))).job
    await stop_controller(task)
    assert (again.state, again.state_reason) == (J.JOB_STATE_BLOCKED, f"job {render.id} cancelled")


async def test_following_the_log_of_a_task_that_never_starts_ends_when_the_job_is_cancelled(
    tmp_path: Path,
) -> None:
    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        job = await submit(stub)
        tail = stub.TailLog(fpb.TailLogRequest(job_id=job.id, frame=1, follow=True))
        reading = asyncio.ensure_future(tail.read())
        await stub.CancelJob(fpb.CancelJobRequest(job_id=job.id))
        try:
            async with asyncio.timeout(DEADLINE):
                first = await reading
        except TimeoutError:
            raise AssertionError("the log follower still waits after its job was cancelled") from None
        assert first is grpc.aio.EOF, first
    await stop_controller(task)
