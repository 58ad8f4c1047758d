"""A task lists every attempt it had, so each attempt's log stays reachable (TailLog)."""

from __future__ import annotations

from pathlib import Path

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, farm_client, start_controller, stop_controller
from .test_link_protocol import command_job, complete, job_reaches


async def fail_then_complete(
    stub: fgrpc.FarmServiceStub, agent: ScriptedAgent
) -> tuple[pb.Job, apb.AssignTask, apb.AssignTask]:
    """A one-frame job whose first attempt prints a line and fails; the retry completes it."""
    job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1, retries=1)))).job
    first = (await agent.next_request("assign")).assign
    await agent.send(agent.event(first.attempt_id, started=apb.TaskStarted(pid=1)))
    await agent.send(agent.event(first.attempt_id, log=apb.LogChunk(data=b"first attempt: boom\n")))
    await agent.send(
        agent.event(
            first.attempt_id,
            finished=apb.TaskFinished(exit_code=3, error_message="exited with code 3", failed_frames=[1]),
        )
    )
    second = (await agent.next_request("assign")).assign
    await agent.send(agent.event(second.attempt_id, log=apb.LogChunk(data=b"second attempt\n")))
    await complete(agent, second)
    await agent.ack_reaching(agent.sequence)
    await job_reaches(stub, job.id, pb.JOB_STATE_COMPLETED)
    return job, first, second


async def only_task(stub: fgrpc.FarmServiceStub, job_id: int) -> pb.Task:
    tasks = (await stub.ListTasks(fpb.ListTasksRequest(job_id=job_id))).tasks
    assert len(tasks) == 1
    return tasks[0]


async def read_log(stub: fgrpc.FarmServiceStub, job_id: int, task_id: int, attempt_id: int) -> bytes:
    request = fpb.TailLogRequest(job_id=job_id, task_id=task_id, attempt_id=attempt_id)
    return b"".join([chunk.data async for chunk in stub.TailLog(request)])


async def test_a_retried_task_lists_both_attempts_and_the_first_log_stays_readable(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job, first, second = await fail_then_complete(farm_stub, scripted_agent)
    task = await only_task(farm_stub, job.id)
    assert list(task.attempt_ids) == [first.attempt_id, second.attempt_id]
    assert task.attempt_id == second.attempt_id and task.attempt_count == 2
    assert await read_log(farm_stub, job.id, task.id, task.attempt_ids[0]) == b"first attempt: boom\n"
    assert await read_log(farm_stub, job.id, task.id, task.attempt_ids[1]) == b"second attempt\n"


async def test_attempt_ids_survive_a_controller_restart(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    try:
        async with farm_client(tmp_path, port) as stub:
            job, first, second = await fail_then_complete(stub, scripted_agent)
    finally:
        await stop_controller(task)
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    try:
        async with farm_client(tmp_path, port) as stub:
            restored = await only_task(stub, job.id)
            assert list(restored.attempt_ids) == [first.attempt_id, second.attempt_id]
            assert await read_log(stub, job.id, restored.id, first.attempt_id) == b"first attempt: boom\n"
    finally:
        await stop_controller(task)
