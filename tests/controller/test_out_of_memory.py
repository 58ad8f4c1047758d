"""A task the kernel killed for lack of memory runs again reserving 1.5 times its peak,
using up no retry and blaming no agent; a second such kill is an ordinary failure."""

from __future__ import annotations

from pathlib import Path

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, farm_client, start_controller, stop_controller, until_agent_online
from .test_link_protocol import command_job

GIB = 1 << 30
WORDS = "killed by the kernel for lack of memory (peak 4.0 GiB)"


async def killed_for_memory(agent: ScriptedAgent, assign: apb.AssignTask, peak: int = 4 * GIB) -> None:
    """The agent reports the attempt killed by the kernel's OOM killer at ``peak``."""
    aid = assign.attempt_id
    await agent.send(agent.event(aid, started=apb.TaskStarted(pid=1)))
    frames = [n for command in assign.commands for n in command.frames]
    finished = apb.TaskFinished(
        exit_code=-9, error_message=WORDS, failed_frames=frames, peak_rss_bytes=peak, out_of_memory=True
    )
    await agent.send(agent.event(aid, finished=finished))


async def submit(stub: fgrpc.FarmServiceStub, retries: int, max_agent_failures: int) -> pb.Job:
    job = command_job(frames="1-2", chunk=2, retries=retries)
    job.reservation.memory_bytes = GIB
    job.max_agent_failures = max_agent_failures
    return (await stub.CreateJob(fpb.CreateJobRequest(job=job))).job


async def task_and_frames(stub: fgrpc.FarmServiceStub, job_id: int) -> tuple[pb.Task, list[pb.Frame]]:
    (task,) = (await stub.ListTasks(fpb.ListTasksRequest(job_id=job_id))).tasks
    frames = (await stub.ListFrames(fpb.ListFramesRequest(job_id=job_id))).frames
    return task, list(frames)


async def test_a_task_killed_for_memory_runs_again_with_more_without_a_retry_or_a_block(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    # No retry at all, and one failure blocks the agent: a counted failure would end the job.
    created = await submit(farm_stub, retries=0, max_agent_failures=1)
    first = (await scripted_agent.next_request("assign")).assign
    await killed_for_memory(scripted_agent, first)

    again = (await scripted_agent.next_request("assign")).assign
    assert again.task_id == first.task_id and again.attempt_id != first.attempt_id
    task, frames = await task_and_frames(farm_stub, created.id)
    assert task.out_of_memory
    assert task.memory_reservation_bytes == 6 * GIB, "1.5 times the 4 GiB peak"
    assert task.attempt_count == 2
    assert [(f.attempt_count, f.failure_count) for f in frames] == [(2, 0), (2, 0)]
    assert all(f.error_message == WORDS for f in frames), "the frames still say what happened"
    job = (await farm_stub.GetJob(fpb.GetJobRequest(job_id=created.id))).job
    assert not job.blocked_agents
    assert job.state != pb.JOB_STATE_FAILED
    agent = (await farm_stub.GetAgent(fpb.GetAgentRequest(agent_id=scripted_agent.agent_id))).agent
    assert agent.memory_reserved_bytes == 6 * GIB, "the new attempt holds the raised reservation"


async def test_a_second_kill_for_memory_is_an_ordinary_failure(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    created = await submit(farm_stub, retries=1, max_agent_failures=0)
    await killed_for_memory(scripted_agent, (await scripted_agent.next_request("assign")).assign)
    second = (await scripted_agent.next_request("assign")).assign
    await killed_for_memory(scripted_agent, second, peak=5 * GIB)

    third = (await scripted_agent.next_request("assign")).assign
    assert third.task_id == second.task_id
    task, frames = await task_and_frames(farm_stub, created.id)
    assert task.attempt_count == 3
    assert task.memory_reservation_bytes == 6 * GIB, "raised once, by the first kill only"
    assert [(f.attempt_count, f.failure_count) for f in frames] == [(3, 1), (3, 1)]
    job = (await farm_stub.GetJob(fpb.GetJobRequest(job_id=created.id))).job
    assert job.last_error == f"frame 2: {WORDS}"


async def test_a_peak_under_the_jobs_reservation_keeps_the_jobs(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    created = await submit(farm_stub, retries=0, max_agent_failures=0)
    await killed_for_memory(scripted_agent, (await scripted_agent.next_request("assign")).assign, GIB // 2)

    await scripted_agent.next_request("assign")
    task, _ = await task_and_frames(farm_stub, created.id)
    assert task.out_of_memory
    assert task.memory_reservation_bytes == GIB


async def test_the_kill_of_a_superseded_attempt_changes_nothing(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    await until_agent_online(farm_stub)
    created = await submit(farm_stub, retries=0, max_agent_failures=0)
    old = (await scripted_agent.next_request("assign")).assign
    # The agent comes back as a new session that knows nothing: the task is requeued.
    scripted_agent.session_id = "second-session"
    scripted_agent.sequence = 0
    scripted_agent.drop_link()
    await scripted_agent.next_request("assign")
    await killed_for_memory(scripted_agent, old)
    await scripted_agent.ack_reaching(scripted_agent.sequence)

    task, _ = await task_and_frames(farm_stub, created.id)
    assert not task.out_of_memory
    assert task.memory_reservation_bytes == 0


async def test_the_raised_reservation_and_the_used_chance_survive_a_restart(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    try:
        async with farm_client(tmp_path, port) as stub:
            await until_agent_online(stub)
            created = await submit(stub, retries=0, max_agent_failures=0)
            await killed_for_memory(scripted_agent, (await scripted_agent.next_request("assign")).assign)
            await scripted_agent.next_request("assign")
    finally:
        await stop_controller(task)
    task, port = await start_controller(tmp_path, [])
    try:
        async with farm_client(tmp_path, port) as stub:
            restored, _ = await task_and_frames(stub, created.id)
    finally:
        await stop_controller(task)
    assert restored.out_of_memory
    assert restored.memory_reservation_bytes == 6 * GIB
