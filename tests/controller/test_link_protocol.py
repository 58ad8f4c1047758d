"""The controller's side of the Link: dispatch, acks after storage, replays, fencing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from google.protobuf import struct_pb2

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import (
    DEADLINE,
    ScriptedAgent,
    farm_client,
    start_controller,
    stop_controller,
    until_agent,
    until_agent_online,
)

J = pb.JobState
F = pb.FrameState


def command_job(frames: str = "1-4", chunk: int = 2, retries: int = 3) -> pb.Job:
    params = struct_pb2.Struct()
    params.update({"argv": ["true"]})
    return pb.Job(
        name="t",
        owner="ana",
        plugin="command",
        parameters=params,
        frames=frames,
        chunk_size=chunk,
        max_retries=retries,
    )


async def job_reaches(stub: fgrpc.FarmServiceStub, job_id: int, state: int) -> pb.Job:
    """Watch the job's events until it is in ``state``."""
    listing = await stub.ListJobs(fpb.ListJobsRequest())
    job = (await stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job
    if job.state == state:
        return job
    stream = stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=listing.event_sequence, job_id=job_id))
    try:
        async with asyncio.timeout(DEADLINE):
            async for event in stream:
                if event.WhichOneof("resource") == "resync":
                    job = (await stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job
                elif event.WhichOneof("resource") == "job":
                    job = event.job
                if job.state == state:
                    return job
    except TimeoutError:
        raise AssertionError(
            f"job {job_id} never reached {J.Name(state)}; last seen {J.Name(job.state)}"
        ) from None
    finally:
        stream.cancel()
    raise AssertionError("event stream ended")


async def complete(agent: ScriptedAgent, assign: apb.AssignTask) -> None:
    aid = assign.attempt_id
    await agent.send(agent.event(aid, started=apb.TaskStarted(pid=1)))
    for command in assign.commands:
        for n in command.frames:
            out = pb.OutputFile(path=f"/r/{n}.png", size_bytes=10, xxh3_128="ab" * 16)
            await agent.send(agent.event(aid, frame_completed=apb.FrameCompleted(frame=n, outputs=[out])))
    await agent.send(agent.event(aid, finished=apb.TaskFinished(exit_code=0)))


async def test_agent_that_says_hello_is_listed_online(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    agent = await until_agent_online(farm_stub)
    assert agent.id == "scripted-1"
    assert agent.slots == 2


async def test_job_completes_from_agent_events_with_hashes(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job()))).job
    first = (await scripted_agent.next_request("assign")).assign
    second = (await scripted_agent.next_request("assign")).assign
    assert sorted([list(first.commands[0].frames), list(second.commands[0].frames)]) == [[1, 2], [3, 4]]
    assert first.attempt_id != second.attempt_id
    await complete(scripted_agent, first)
    await complete(scripted_agent, second)
    await scripted_agent.ack_reaching(scripted_agent.sequence)
    done = await job_reaches(farm_stub, job.id, J.JOB_STATE_COMPLETED)
    assert done.frames_completed == 4
    frames = (await farm_stub.ListFrames(fpb.ListFramesRequest(job_id=job.id))).frames
    assert [f.number for f in frames] == [1, 2, 3, 4]
    assert all(f.state == F.FRAME_STATE_COMPLETED and f.outputs[0].xxh3_128 == "ab" * 16 for f in frames)


async def test_replayed_events_are_applied_once(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    assign = (await scripted_agent.next_request("assign")).assign
    aid = assign.attempt_id
    started = scripted_agent.event(aid, started=apb.TaskStarted(pid=1))
    done = scripted_agent.event(aid, frame_completed=apb.FrameCompleted(frame=1))
    finished = scripted_agent.event(aid, finished=apb.TaskFinished(exit_code=0))
    for message in (started, done, started, done, finished, finished):
        await scripted_agent.send(message)
    await scripted_agent.ack_reaching(finished.events.events[0].sequence)
    result = await job_reaches(farm_stub, job.id, J.JOB_STATE_COMPLETED)
    assert result.frames_completed == 1
    frames = (await farm_stub.ListFrames(fpb.ListFramesRequest(job_id=job.id))).frames
    assert frames[0].attempt_count == 1


async def test_results_of_a_superseded_attempt_are_history_only(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    old = (await scripted_agent.next_request("assign")).assign
    # The agent comes back as a new session that knows nothing: the task is requeued.
    scripted_agent.session_id = "second-session"
    scripted_agent.sequence = 0
    scripted_agent.drop_link()
    new = (await scripted_agent.next_request("assign")).assign
    assert new.attempt_id != old.attempt_id and new.task_id == old.task_id
    # A late failure of the old attempt must not touch the frame.
    await scripted_agent.send(
        scripted_agent.event(
            old.attempt_id, finished=apb.TaskFinished(exit_code=1, error_message="late", failed_frames=[1])
        )
    )
    await complete(scripted_agent, new)
    result = await job_reaches(farm_stub, job.id, J.JOB_STATE_COMPLETED)
    assert result.frames_completed == 1 and result.frames_failed == 0
    frame = (await farm_stub.ListFrames(fpb.ListFramesRequest(job_id=job.id))).frames[0]
    assert frame.failure_count == 0 and frame.attempt_id == new.attempt_id


async def test_failing_frame_is_retried_then_fails_with_its_error(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("7", 1, retries=1)))).job
    for _ in range(2):
        assign = (await scripted_agent.next_request("assign")).assign
        await scripted_agent.send(scripted_agent.event(assign.attempt_id, started=apb.TaskStarted(pid=1)))
        await scripted_agent.send(
            scripted_agent.event(
                assign.attempt_id,
                finished=apb.TaskFinished(
                    exit_code=3, error_message="exited with code 3: boom", failed_frames=[7]
                ),
            )
        )
    failed = await job_reaches(farm_stub, job.id, J.JOB_STATE_FAILED)
    assert "boom" in failed.last_error
    frame = (await farm_stub.ListFrames(fpb.ListFramesRequest(job_id=job.id))).frames[0]
    assert frame.state == F.FRAME_STATE_FAILED and frame.failure_count == 2 and frame.exit_code == 3
    retried = await farm_stub.RetryFrames(fpb.RetryFramesRequest(job_id=job.id))
    assert retried.frames_retried == 1
    again = (await scripted_agent.next_request("assign")).assign
    await complete(scripted_agent, again)
    await job_reaches(farm_stub, job.id, J.JOB_STATE_COMPLETED)


async def test_cancel_tells_the_agent_to_kill_the_attempt(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    assign = (await scripted_agent.next_request("assign")).assign
    cancelled = (await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=job.id))).job
    assert cancelled.state == J.JOB_STATE_CANCELLED
    cancel = (await scripted_agent.next_request("cancel")).cancel
    assert cancel.attempt_id == assign.attempt_id
    try:
        await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=job.id))
    except grpc.aio.AioRpcError as e:
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "already cancelled" in (e.details() or "")
    else:
        raise AssertionError("cancelling a cancelled job was accepted")


async def test_suspend_and_resume_requeue_the_work(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    first = (await scripted_agent.next_request("assign")).assign
    suspended = (await farm_stub.SuspendJob(fpb.SuspendJobRequest(job_id=job.id))).job
    assert suspended.state == J.JOB_STATE_SUSPENDED
    assert (await scripted_agent.next_request("cancel")).cancel.attempt_id == first.attempt_id
    await scripted_agent.send(
        scripted_agent.event(first.attempt_id, finished=apb.TaskFinished(exit_code=-15, cancelled=True))
    )
    await farm_stub.ResumeJob(fpb.ResumeJobRequest(job_id=job.id))
    second = (await scripted_agent.next_request("assign")).assign
    assert second.attempt_id != first.attempt_id
    await complete(scripted_agent, second)
    await job_reaches(farm_stub, job.id, J.JOB_STATE_COMPLETED)


async def test_restart_restores_jobs_and_continues_event_numbering(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1-2", 1)))).job
        first = (await scripted_agent.next_request("assign")).assign
        second = (await scripted_agent.next_request("assign")).assign
        await complete(scripted_agent, first)
        await scripted_agent.ack_reaching(scripted_agent.sequence)
        before = (await stub.ListJobs(fpb.ListJobsRequest())).event_sequence
    await stop_controller(task)
    # The agent still runs the second attempt when the controller returns.
    scripted_agent.known_attempts = [second.attempt_id]
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    try:
        async with farm_client(tmp_path, port) as stub:
            restored = (await stub.GetJob(fpb.GetJobRequest(job_id=job.id))).job
            assert restored.frames_completed == 1
            assert (await stub.ListJobs(fpb.ListJobsRequest())).event_sequence >= before
            await complete(scripted_agent, second)
            await job_reaches(stub, job.id, J.JOB_STATE_COMPLETED)
    finally:
        await stop_controller(task)


async def test_a_deleted_jobs_late_result_still_frees_the_slot(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    assign = (await scripted_agent.next_request("assign")).assign
    await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=job.id))
    await farm_stub.DeleteJob(fpb.DeleteJobRequest(job_id=job.id))
    await until_agent(farm_stub, "holding the slot", lambda a: a.slots_used == 1)
    await scripted_agent.send(
        scripted_agent.event(assign.attempt_id, finished=apb.TaskFinished(cancelled=True))
    )
    await until_agent(farm_stub, "with its slot free", lambda a: a.slots_used == 0)


async def test_an_agent_back_from_a_cut_is_told_to_stop_what_is_no_longer_current(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    assign = (await scripted_agent.next_request("assign")).assign
    scripted_agent.accepting = False
    scripted_agent.drop_link()
    await until_agent(farm_stub, "offline", lambda a: a.status == pb.AGENT_STATUS_OFFLINE)
    await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=job.id))
    scripted_agent.known_attempts = [assign.attempt_id]
    scripted_agent.accepting = True
    cancel = (await scripted_agent.next_request("cancel")).cancel
    assert cancel.attempt_id == assign.attempt_id
