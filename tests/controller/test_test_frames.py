"""Test frames: their tasks run first and alone, on the fastest agents; a failed one stops
the job when asked; the job can be held after them; their render times give its
estimate, which a restarted controller derives again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import duration_pb2

from renderq.controller.model import Agent, Frame, Job, Task
from renderq.controller.scheduler import plan
from renderq.controller.work_queue import WorkQueue
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import (
    ScriptedAgent,
    farm_client,
    serving,
    start_controller,
    stop_controller,
    until_agent_online,
)
from .test_agent_overrides import override
from .test_frame_by_frame import Inbox, frames_of, get_job
from .test_link_protocol import command_job, job_reaches
from .test_scheduler import agent

J = pb.JobState


@pytest.fixture
async def scripted_agent() -> AsyncIterator[ScriptedAgent]:
    """The scripted agent with room for many tasks at once."""
    async with serving(ScriptedAgent(slots=8)) as agent:
        yield agent


async def submit(
    stub: fgrpc.FarmServiceStub, frames: str, tests: str = "", chunk: int = 1, retries: int = 3, **flags: bool
) -> pb.Job:
    job = command_job(frames, chunk, retries)
    job.test_frames = tests
    for name, value in flags.items():
        setattr(job, name, value)
    return (await stub.CreateJob(fpb.CreateJobRequest(job=job))).job


def seconds(value: float) -> duration_pb2.Duration:
    made = duration_pb2.Duration()
    made.FromNanoseconds(int(value * 1e9))
    return made


async def render(inbox: Inbox, assign: apb.AssignTask, render_time: float) -> None:
    """Start ``assign``, complete its frames in ``render_time`` each, finish it; back once stored."""
    await inbox.send(inbox.agent.event(assign.attempt_id, started=apb.TaskStarted(pid=1)))
    for frame in assign.commands[0].frames:
        done = apb.FrameCompleted(frame=frame, render_time=seconds(render_time))
        await inbox.send(inbox.agent.event(assign.attempt_id, frame_completed=done))
    await inbox.finish(assign)


async def no_other_assignment(stub: fgrpc.FarmServiceStub, inbox: Inbox, job_id: int) -> None:
    """A later job's single frame is assigned (so a dispatch pass ran after ``job_id``'s
    state changed) and nothing more of ``job_id`` was."""
    probe = await submit(stub, "1")
    await inbox.assign(probe.id)
    assert [a.commands[0].frames[0] for a in inbox.assigns if a.job_id == job_id] == []


def frame_numbers(assigns: dict[int, apb.AssignTask]) -> set[int]:
    return {n for a in assigns.values() for n in a.commands[0].frames}


async def test_test_frames_run_first_and_alone_then_the_estimate_follows(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    await until_agent_online(farm_stub)
    await override(farm_stub, ["cost_per_hour"], cost_per_hour=4.0)
    job = await submit(farm_stub, "1-10", tests="first,last")
    firsts = await inbox.assigns_of(job.id, 2)
    assert set(firsts) == {1, 10}
    await no_other_assignment(farm_stub, inbox, job.id)
    await render(inbox, firsts[1], 60.0)
    await no_other_assignment(farm_stub, inbox, job.id)  # frame 10 has not ended yet
    assert (await get_job(farm_stub, job.id)).estimate.frames_measured == 1
    await render(inbox, firsts[10], 120.0)
    rest = await inbox.assigns_of(job.id, 6)  # the slots the probes left
    assert frame_numbers(rest) <= set(range(2, 10))
    estimate = (await get_job(farm_stub, job.id)).estimate
    assert estimate.frames_measured == 2
    assert estimate.total_render_time.seconds == 900  # a mean of 90 s x 10 frames
    assert estimate.time_left.seconds == 720  # 8 frames left on the one agent
    assert estimate.cost == pytest.approx(1.0)  # 0.25 h at 4.00 an hour


async def test_a_failed_test_frame_stops_the_job_before_any_other_frame_starts_and_retry_recovers(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    job = await submit(farm_stub, "1-6", tests="3", retries=0, stop_on_test_failure=True)
    test = await inbox.assign(job.id)
    assert list(test.commands[0].frames) == [3]
    await inbox.start(test)
    await inbox.finish(test, error="missing texture wood.png")
    failed = await job_reaches(farm_stub, job.id, J.JOB_STATE_FAILED)
    assert failed.last_error == "test frame 3 failed: missing texture wood.png"
    states = {n: f.state for n, f in (await frames_of(farm_stub, job.id)).items()}
    assert states.pop(3) == pb.FRAME_STATE_FAILED
    assert set(states.values()) == {pb.FRAME_STATE_CANCELLED}
    await no_other_assignment(farm_stub, inbox, job.id)

    await farm_stub.RetryFrames(fpb.RetryFramesRequest(job_id=job.id))
    again = await inbox.assign(job.id)
    assert list(again.commands[0].frames) == [3]  # the test frame first again
    await no_other_assignment(farm_stub, inbox, job.id)


async def test_without_stop_on_test_failure_the_rest_runs_after_a_failed_test_frame(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    job = await submit(farm_stub, "1-3", tests="first", retries=0)
    test = await inbox.assign(job.id)
    await inbox.start(test)
    await inbox.finish(test, error="boom")
    assert frame_numbers(await inbox.assigns_of(job.id, 2)) == {2, 3}


async def test_the_whole_chunk_of_a_test_frame_runs_first(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    job = await submit(farm_stub, "1-9", tests="5", chunk=3)
    test = await inbox.assign(job.id)
    assert list(test.commands[0].frames) == [4, 5, 6]
    await no_other_assignment(farm_stub, inbox, job.id)


async def test_a_job_held_after_its_test_frames_waits_for_resume_and_a_restart_keeps_hold_and_estimate(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        job = await submit(stub, "1-4", tests="first", hold_after_test=True)
        await render(inbox, await inbox.assign(job.id), 30.0)
        held = await job_reaches(stub, job.id, J.JOB_STATE_SUSPENDED)
        reason = f"held after its test frames: look at them, then renderq resume {job.id}"
        assert held.state_reason == reason
        assert (held.estimate.frames_measured, held.estimate.total_render_time.seconds) == (1, 120)
        await no_other_assignment(stub, inbox, job.id)
    await stop_controller(task)

    scripted_agent.drop_link()
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        restored = await get_job(stub, job.id)
        assert (restored.state, restored.state_reason) == (J.JOB_STATE_SUSPENDED, reason)
        assert restored.estimate == held.estimate
        await stub.ResumeJob(fpb.ResumeJobRequest(job_id=job.id))
        assert (await get_job(stub, job.id)).state_reason == ""
        assert frame_numbers(await inbox.assigns_of(job.id, 3)) == {2, 3, 4}
    await stop_controller(task)


def job_with_tests(frames: int, tests: list[int]) -> Job:
    """A job of ``frames`` one-frame tasks, all queued, ``tests`` its test frames."""
    made = Job(
        id=1, name="", owner="ana", plugin="command", parameters={}, frames_spec="", chunk_size=1,
        priority=50, pool="", requirements=pb.Requirements(), environment={}, depends_on=[],
        max_retries=3, task_timeout=0, test_frame_numbers=tests,
    )  # fmt: skip
    queue = WorkQueue()
    for n in range(1, frames + 1):
        made.frames[n] = Frame(job_id=1, number=n, task_id=n, test=n in tests)
        made.tasks.append(Task(id=n, job_id=1, index=n - 1, frames=[n]))
        queue.queue(made, made.tasks[-1])
    return made


def cores(agent_id: str, count: int, cost: float = 0.0) -> Agent:
    made = agent(agent_id, slots=4, cost=cost)
    made.hardware.cpu_cores = count
    return made


def test_test_tasks_queue_first_and_go_to_the_agent_with_most_cores_before_the_cheapest() -> None:
    job = job_with_tests(5, [4, 2])
    assert list(job.pending)[:2] == [1, 3]  # frames 2 and 4 ahead of frame 1
    queue = WorkQueue()
    farm = [cores("cheap", 4), cores("big", 32, cost=2.0), cores("mid", 16, cost=1.0)]
    starts = plan([job], farm, {}, next_task=lambda j: queue.pop_pending(j))
    assert [(s.task.frames if s.task else [], s.agent.id) for s in starts] == [([2], "big"), ([4], "big")]
    assert queue.peek(job) is None  # the others wait for the test frames


def test_a_test_task_reserving_gpus_goes_to_the_agent_with_most_gpus() -> None:
    job = job_with_tests(2, [1])
    job.reservation = pb.TaskReservation(gpus=1)
    few, many = cores("few", 64), cores("many", 8)
    few.hardware.gpus.add(index=0)
    many.hardware.gpus.extend([pb.Gpu(index=i) for i in range(4)])
    (start,) = plan([job], [few, many], {}, next_task=lambda j: WorkQueue().pop_pending(j))
    assert start.agent.id == "many"


def test_without_a_next_task_the_plan_keeps_the_cheapest_first() -> None:
    job = job_with_tests(1, [1])
    (start,) = plan([job], [cores("cheap", 4), cores("big", 32, cost=2.0)], {})
    assert start.agent.id == "cheap"
