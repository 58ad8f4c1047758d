"""Limits (licences): never more holders than capacity, across jobs and a controller
restart; lowering one stops new starts and kills nothing."""

from __future__ import annotations

from pathlib import Path

import grpc

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, farm_client, start_controller, stop_controller, until_agent_online
from .test_api import refused
from .test_link_protocol import command_job, complete


async def set_limit(stub: fgrpc.FarmServiceStub, name: str, capacity: int) -> pb.Limit:
    request = fpb.SetLimitRequest(limit=pb.Limit(name=name, capacity=capacity))
    return (await stub.SetLimit(request)).limit


async def licensed_job(stub: fgrpc.FarmServiceStub, *limits: str) -> pb.Job:
    job = command_job(frames="1", chunk=1)
    job.limits.extend(limits)
    return (await stub.CreateJob(fpb.CreateJobRequest(job=job))).job


async def limits(stub: fgrpc.FarmServiceStub) -> dict[str, pb.Limit]:
    return {limit.name: limit for limit in (await stub.ListLimits(fpb.ListLimitsRequest())).limits}


async def test_a_limit_of_one_lets_one_task_run_and_holds_across_a_restart(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        await until_agent_online(stub)
        await set_limit(stub, "maya", 1)
        first = await licensed_job(stub, "maya")
        second = await licensed_job(stub, "maya")
        assign = (await scripted_agent.next_request("assign")).assign
        assert assign.job_id == first.id
        held = (await limits(stub))["maya"]
        assert (held.capacity, held.in_use, list(held.holder_job_ids)) == (1, 1, [first.id])
    await stop_controller(task)

    # The agent still runs the first task: it says so in its hello after the restart.
    scripted_agent.known_attempts = [assign.attempt_id]
    scripted_agent.drop_link()
    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        await until_agent_online(stub)
        assert (await limits(stub))["maya"].in_use == 1
        await set_limit(stub, "maya", 1)  # a wake-up: the dispatcher runs, and must still wait
        await complete(scripted_agent, assign)
        nxt = (await scripted_agent.next_request("assign")).assign
        assert nxt.job_id == second.id, "the second job starts only once the first let go"
    await stop_controller(task)


async def test_limits_refuse_what_makes_no_sense(farm_stub: fgrpc.FarmServiceStub) -> None:
    job = command_job(frames="1")
    job.limits.append("nuke")
    details = await refused(
        farm_stub.CreateJob(fpb.CreateJobRequest(job=job)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert details.startswith("limits: there is no limit 'nuke'"), details
    for name, capacity, field in (("no spaces", 1, "limit.name"), ("ok", -1, "limit.capacity")):
        details = await refused(
            farm_stub.SetLimit(fpb.SetLimitRequest(limit=pb.Limit(name=name, capacity=capacity))),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert details.startswith(f"{field}: "), details
    await set_limit(farm_stub, "nuke", 2)
    named = await licensed_job(farm_stub, "nuke")
    details = await refused(
        farm_stub.DeleteLimit(fpb.DeleteLimitRequest(name="nuke")), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert f"job {named.id} still names limit 'nuke'" in details
    await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=named.id))
    await farm_stub.DeleteLimit(fpb.DeleteLimitRequest(name="nuke"))
    assert "nuke" not in await limits(farm_stub)
    await refused(farm_stub.DeleteLimit(fpb.DeleteLimitRequest(name="nuke")), grpc.StatusCode.NOT_FOUND)


async def test_lowering_a_limit_stops_new_starts_and_kills_nothing(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    await set_limit(farm_stub, "arnold", 2)
    first = await licensed_job(farm_stub, "arnold")
    running = (await scripted_agent.next_request("assign")).assign
    await scripted_agent.send(scripted_agent.event(running.attempt_id, started=apb.TaskStarted(pid=1)))
    await set_limit(farm_stub, "arnold", 1)
    second = await licensed_job(farm_stub, "arnold")
    held = (await limits(farm_stub))["arnold"]
    assert (held.capacity, held.in_use) == (1, 1)
    waiting = (await farm_stub.GetJob(fpb.GetJobRequest(job_id=second.id))).job
    assert waiting.state == pb.JOB_STATE_QUEUED
    (task,) = (await farm_stub.ListTasks(fpb.ListTasksRequest(job_id=first.id))).tasks
    assert (task.state, task.attempt_id) == (pb.TASK_STATE_RUNNING, running.attempt_id), "nothing was killed"
