"""CleanupWorkspaces against a real controller and a scripted agent: which jobs are picked
(or refused), the request on the link, the answer routed back by request id, a silent or
offline agent reported; and task logs removed after the retention."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2

from renderq.controller import cleanup
from renderq.controller.errors import NotPossibleNow
from renderq.controller.model import Attempt, Job, Task
from renderq.controller.task_logs import DAY, TaskLogs
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb
from tests.waiting import until

from .conftest import (
    ScriptedAgent,
    farm_client,
    start_controller,
    stop_controller,
    until_agent,
    until_agent_online,
)
from .test_link_protocol import command_job, complete, job_reaches

J = pb.JobState


async def completed_job(stub: fgrpc.FarmServiceStub, agent: ScriptedAgent, owner: str = "ana") -> int:
    """A one-frame job of ``owner`` that ``agent`` ran to completion."""
    job = command_job("1", 1)
    job.owner = owner
    job_id = (await stub.CreateJob(fpb.CreateJobRequest(job=job))).job.id
    assign = (await agent.next_request("assign")).assign
    assert (assign.owner, assign.job_id) == (owner, job_id)
    await complete(agent, assign)
    await job_reaches(stub, job_id, J.JOB_STATE_COMPLETED)
    return job_id


async def refusal(call: object) -> tuple[grpc.StatusCode, str]:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details() or ""
    raise AssertionError("the request was accepted")


async def test_every_agent_is_asked_and_its_answer_comes_back(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job_id = await completed_job(farm_stub, scripted_agent)

    call = asyncio.ensure_future(farm_stub.CleanupWorkspaces(fpb.CleanupWorkspacesRequest(job_ids=[job_id])))
    asked = (await scripted_agent.next_request("cleanup")).cleanup
    assert list(asked.job_ids) == [job_id]
    # An answer to another request is not this one's.
    await scripted_agent.send(apb.LinkResponse(cleaned=apb.CleanupDone(request_id=asked.request_id + 7)))
    await scripted_agent.send(
        apb.LinkResponse(
            cleaned=apb.CleanupDone(request_id=asked.request_id, workspaces_removed=1, bytes_freed=4096)
        )
    )
    answer = await call

    assert list(answer.job_ids) == [job_id]
    assert list(answer.agents) == [
        fpb.AgentCleanup(agent_id="scripted-1", workspaces_removed=1, bytes_freed=4096)
    ]


async def test_deleting_a_job_asks_the_agents_to_remove_its_workspaces(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = await completed_job(farm_stub, scripted_agent)

    with caplog.at_level(logging.INFO, logger="renderq.controller.cleanup"):
        # DeleteJob answers while the agent has not answered the cleanup yet.
        await farm_stub.DeleteJob(fpb.DeleteJobRequest(job_id=job_id))
        asked = (await scripted_agent.next_request("cleanup")).cleanup
        assert list(asked.job_ids) == [job_id]
        await scripted_agent.send(
            apb.LinkResponse(
                cleaned=apb.CleanupDone(request_id=asked.request_id, workspaces_removed=1, bytes_freed=4096)
            )
        )
        logged = f"jobs=[{job_id}] agent=scripted-1 workspaces_removed=1 bytes_freed=4096"
        await until("the agent's answer is logged", lambda: logged in caplog.text)


async def test_a_silent_agent_is_reported_after_the_deadline(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cleanup, "REPLY_TIMEOUT", 0.2)
    job_id = await completed_job(farm_stub, scripted_agent)

    answer = await farm_stub.CleanupWorkspaces(fpb.CleanupWorkspacesRequest(job_ids=[job_id]))

    assert list(answer.agents) == [
        fpb.AgentCleanup(agent_id="scripted-1", error="it did not answer within 0.2 s")
    ]
    assert (await scripted_agent.next_request("cleanup")).cleanup.job_ids == [job_id]


async def test_filters_pick_ended_jobs_by_owner_and_age_and_an_offline_agent_is_said(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    ana = await completed_job(farm_stub, scripted_agent, "ana")
    bo = await completed_job(farm_stub, scripted_agent, "bo")
    scripted_agent.accepting = False
    scripted_agent.drop_link()
    await until_agent(farm_stub, "offline", lambda a: a.status == pb.AGENT_STATUS_OFFLINE)

    by_owner = await farm_stub.CleanupWorkspaces(fpb.CleanupWorkspacesRequest(owner="bo"))
    every_ended = await farm_stub.CleanupWorkspaces(
        fpb.CleanupWorkspacesRequest(states=[J.JOB_STATE_COMPLETED, J.JOB_STATE_FAILED])
    )
    week_old = await farm_stub.CleanupWorkspaces(
        fpb.CleanupWorkspacesRequest(older_than=duration_pb2.Duration(seconds=7 * 86400))
    )

    assert list(by_owner.job_ids) == [bo]
    assert list(by_owner.agents) == [
        fpb.AgentCleanup(agent_id="scripted-1", error="offline: it was not asked")
    ]
    assert sorted(every_ended.job_ids) == sorted([ana, bo])
    assert (list(week_old.job_ids), list(week_old.agents)) == ([], [])


async def test_jobs_that_did_not_end_or_do_not_exist_are_refused(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    job_id = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job.id
    await scripted_agent.next_request("assign")
    running = await farm_stub.GetJob(fpb.GetJobRequest(job_id=job_id))

    def clean(**fields: object) -> object:
        return farm_stub.CleanupWorkspaces(fpb.CleanupWorkspacesRequest(**fields))  # type: ignore[arg-type]

    state = J.Name(running.job.state).removeprefix("JOB_STATE_").lower()
    assert await refusal(clean(job_ids=[job_id])) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"job {job_id} is {state}; cancel it or let it end first",
    )
    assert await refusal(clean(job_ids=[999])) == (grpc.StatusCode.NOT_FOUND, "job 999 does not exist")
    assert await refusal(clean(job_ids=[job_id], owner="ana")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "job_ids: name jobs, or filter them by states, older_than and owner; not both",
    )
    assert await refusal(clean(states=[J.JOB_STATE_RUNNING])) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "states: JOB_STATE_RUNNING is not a state jobs end in: completed, failed or cancelled",
    )
    assert await refusal(clean(older_than=duration_pb2.Duration(seconds=-1))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "older_than: must not be negative",
    )


async def test_a_log_past_the_retention_is_removed_and_tail_log_says_so(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    retention = 1e-9  # days: past as soon as the job ends
    task, port = await start_controller(tmp_path, [scripted_agent.address], log_retention=retention)
    async with farm_client(tmp_path, port) as stub:
        job_id = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job.id
        assign = (await scripted_agent.next_request("assign")).assign
        await scripted_agent.send(
            scripted_agent.event(assign.attempt_id, log=apb.LogChunk(data=b"rendering\n"))
        )
        await complete(scripted_agent, assign)
        await job_reaches(stub, job_id, J.JOB_STATE_COMPLETED)
    await stop_controller(task)
    log_file = (
        tmp_path / "logs" / f"job-{job_id}" / f"task-{assign.task_id}" / f"attempt-{assign.attempt_id}.log"
    )
    assert log_file.read_bytes() == b"rendering\n"

    # The retention is applied at start (then hourly).
    task, port = await start_controller(tmp_path, [scripted_agent.address], log_retention=retention)
    try:
        await until("the retention removed the job's logs", lambda: not log_file.parent.parent.exists())
        async with farm_client(tmp_path, port) as stub:
            code, message = await refusal(_drain(stub.TailLog(fpb.TailLogRequest(job_id=job_id, frame=1))))
            tasks = (await stub.ListTasks(fpb.ListTasksRequest(job_id=job_id))).tasks
    finally:
        await stop_controller(task)

    assert (code, message) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"the log of attempt {assign.attempt_id} was removed after {retention:g} days (log retention)",
    )
    assert list(tasks[0].attempt_ids) == [assign.attempt_id]
    assert not (tmp_path / "logs" / f"job-{job_id}").exists()


async def _drain(stream: object) -> None:
    async for _ in stream:  # type: ignore[attr-defined]
        pass


def _job(job_id: int, ended: float | None, attempts: list[int]) -> Job:
    job = Job(job_id, "j", "ana", "command", {}, "1", 1, 50, "", pb.Requirements(), {}, [], 3, 0.0)
    job.state = J.JOB_STATE_COMPLETED if ended is not None else J.JOB_STATE_RUNNING
    job.end_time = ended
    job.tasks = [Task(id=job_id * 10, job_id=job_id, index=0, frames=[1], attempt_ids=attempts)]
    return job


async def test_prune_keeps_young_running_and_open_logs(tmp_path: Path) -> None:
    logs = TaskLogs(tmp_path, retention_days=1)
    now = 100 * DAY
    jobs = {1: _job(1, now - 2 * DAY, [11, 12]), 2: _job(2, now - DAY / 2, [21]), 3: _job(3, None, [31])}
    for job in jobs.values():
        for attempt_id in job.tasks[0].attempt_ids:
            logs.append(job.id, job.tasks[0].id, attempt_id, 0, b"line\n")
            if attempt_id != 12:
                logs.finish(attempt_id)

    assert await logs.prune(jobs, now) == [1]

    assert not logs.path(1, 10, 11).exists()
    assert logs.path(1, 10, 12).exists()  # still open: a retry's attempt
    assert logs.path(2, 20, 21).exists() and logs.path(3, 30, 31).exists()
    old = Attempt(id=11, task_id=10, job_id=1, agent_id="a", frames=[1], end_time=now - 2 * DAY, log_size=5)
    with pytest.raises(NotPossibleNow, match="removed after 1 days"):
        logs.check_kept(old, now)
    logs.finish(12)
