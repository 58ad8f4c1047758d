"""Frame-by-frame dependencies: frame N of a job starts once frame N of every job it
depends on completed (not the whole job); a chunk starts once all its frames may; a
failed dependency holds back only the frames waiting for it, and they start by
themselves once it is retried; a controller restart derives which frames wait again."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from renderq.controller.dependencies import Dependencies, frame_waits
from renderq.controller.farm_state import FarmState
from renderq.controller.model import Frame, Job, Task
from renderq.controller.recorder import Recorder
from renderq.controller.task_logs import TaskLogs
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import (
    DEADLINE,
    ScriptedAgent,
    farm_client,
    serving,
    start_controller,
    stop_controller,
    until_agent_online,
)
from .test_link_protocol import command_job, job_reaches

J = pb.JobState


@pytest.fixture
async def scripted_agent() -> AsyncIterator[ScriptedAgent]:
    """The scripted agent with room for both jobs' tasks at once."""
    async with serving(ScriptedAgent(slots=8)) as agent:
        yield agent


class Inbox:
    """What the controller sent the scripted agent, assignments kept by job until asked for."""

    def __init__(self, agent: ScriptedAgent) -> None:
        self.agent = agent
        self.assigns: list[apb.AssignTask] = []

    async def _read(self) -> apb.LinkRequest:
        request = await asyncio.wait_for(self.agent.received.get(), DEADLINE)
        if request.WhichOneof("kind") == "assign":
            self.assigns.append(request.assign)
        return request

    async def assign(self, job_id: int) -> apb.AssignTask:
        """The next assignment of a task of ``job_id``."""
        while True:
            for assign in self.assigns:
                if assign.job_id == job_id:
                    self.assigns.remove(assign)
                    return assign
            await self._read()

    async def assigns_of(self, job_id: int, count: int) -> dict[int, apb.AssignTask]:
        """``count`` assignments of ``job_id``, by their first frame."""
        found = [await self.assign(job_id) for _ in range(count)]
        return {a.commands[0].frames[0]: a for a in found}

    async def stored(self, sequence: int) -> None:
        """Until the controller acked ``sequence`` (applied and stored); assignments are kept."""
        while True:
            request = await self._read()
            if request.WhichOneof("kind") == "ack" and request.ack.sequence >= sequence:
                return

    async def send(self, message: apb.LinkResponse) -> int:
        """Send one event; its sequence number."""
        await self.agent.send(message)
        return message.events.events[0].sequence

    async def start(self, assign: apb.AssignTask) -> None:
        await self.stored(
            await self.send(self.agent.event(assign.attempt_id, started=apb.TaskStarted(pid=1)))
        )

    async def frame_done(self, assign: apb.AssignTask, frame: int) -> None:
        done = apb.FrameCompleted(frame=frame)
        await self.send(self.agent.event(assign.attempt_id, frame_completed=done))

    async def finish(self, assign: apb.AssignTask, error: str = "") -> None:
        ended = apb.TaskFinished(exit_code=3 if error else 0, error_message=error)
        await self.stored(await self.send(self.agent.event(assign.attempt_id, finished=ended)))

    async def complete(self, assign: apb.AssignTask) -> None:
        """Start, complete every frame and finish ``assign``; back once it is stored."""
        await self.send(self.agent.event(assign.attempt_id, started=apb.TaskStarted(pid=1)))
        for frame in assign.commands[0].frames:
            await self.frame_done(assign, frame)
        await self.finish(assign)


async def submit(
    stub: fgrpc.FarmServiceStub, frames: str, chunk: int = 1, after: int = 0, retries: int = 3
) -> pb.Job:
    """A command job; ``after``: the job it depends on, frame by frame."""
    job = command_job(frames, chunk, retries)
    if after:
        job.depends_on.append(after)
        job.frame_by_frame = True
    return (await stub.CreateJob(fpb.CreateJobRequest(job=job))).job


async def get_job(stub: fgrpc.FarmServiceStub, job_id: int) -> pb.Job:
    return (await stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job


async def why(stub: fgrpc.FarmServiceStub, job_id: int, frame: int) -> list[str]:
    return list((await stub.ExplainJob(fpb.ExplainJobRequest(job_id=job_id, frame=frame))).reasons)


async def frames_of(stub: fgrpc.FarmServiceStub, job_id: int) -> dict[int, pb.Frame]:
    listing = await stub.ListFrames(fpb.ListFramesRequest(job_id=job_id))
    return {f.number: f for f in listing.frames}


async def task_states(stub: fgrpc.FarmServiceStub, job_id: int) -> list[int]:
    return [t.state for t in (await stub.ListTasks(fpb.ListTasksRequest(job_id=job_id))).tasks]


async def test_frame_n_starts_once_frame_n_of_its_dependency_completed(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    render = await submit(farm_stub, "1-3", chunk=3)  # one task: it runs through the whole test
    comp = await submit(farm_stub, "1-3", after=render.id)
    assert comp.state == J.JOB_STATE_WAITING, J.Name(comp.state)
    assert comp.state_reason.startswith(f"waiting for frames of job {render.id} ("), comp.state_reason
    rendering = await inbox.assign(render.id)
    await inbox.start(rendering)
    assert await why(farm_stub, comp.id, 1) == [f"frame 1 waits for frame 1 of job {render.id} (rendering)"]

    await inbox.frame_done(rendering, 1)
    first = await inbox.assign(comp.id)
    assert list(first.commands[0].frames) == [1]
    still = await get_job(farm_stub, render.id)
    assert (still.state, still.frames_completed) == (J.JOB_STATE_RUNNING, 1), still
    assert await task_states(farm_stub, comp.id) == [
        pb.TASK_STATE_ASSIGNED,
        pb.TASK_STATE_PENDING,
        pb.TASK_STATE_PENDING,
    ]
    assert await why(farm_stub, comp.id, 2) == [f"frame 2 waits for frame 2 of job {render.id} (rendering)"]
    await inbox.complete(first)

    await inbox.frame_done(rendering, 2)
    second = await inbox.assign(comp.id)
    assert list(second.commands[0].frames) == [2]
    await inbox.frame_done(rendering, 3)
    await inbox.finish(rendering)
    third = await inbox.assign(comp.id)
    await inbox.complete(second)
    await inbox.complete(third)
    done = await job_reaches(farm_stub, comp.id, J.JOB_STATE_COMPLETED)
    assert done.frames_completed == 3
    renders, comps = await frames_of(farm_stub, render.id), await frames_of(farm_stub, comp.id)
    for n in (1, 2, 3):
        assert comps[n].start_time.ToNanoseconds() >= renders[n].end_time.ToNanoseconds(), n
    assert comps[1].end_time.ToNanoseconds() <= renders[3].end_time.ToNanoseconds()


async def test_a_chunk_starts_once_every_one_of_its_frames_may(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    render = await submit(farm_stub, "1-4")
    comp = await submit(farm_stub, "1-4", chunk=2, after=render.id)
    renders = await inbox.assigns_of(render.id, 4)
    await inbox.complete(renders[1])
    assert await task_states(farm_stub, comp.id) == [pb.TASK_STATE_PENDING, pb.TASK_STATE_PENDING]
    assert await why(farm_stub, comp.id, 1) == [
        f"frame 1 starts with frame 2, in the same task: "
        f"frame 2 waits for frame 2 of job {render.id} (assigned)"
    ]
    assert (await get_job(farm_stub, comp.id)).state == J.JOB_STATE_WAITING

    await inbox.complete(renders[2])
    chunk = await inbox.assign(comp.id)
    assert list(chunk.commands[0].frames) == [1, 2]
    await inbox.complete(renders[4])
    assert await why(farm_stub, comp.id, 4) == [
        f"frame 4 starts with frame 3, in the same task: "
        f"frame 3 waits for frame 3 of job {render.id} (assigned)"
    ]
    await inbox.complete(renders[3])
    last = await inbox.assign(comp.id)
    assert list(last.commands[0].frames) == [3, 4]
    await inbox.complete(chunk)
    await inbox.complete(last)
    await job_reaches(farm_stub, comp.id, J.JOB_STATE_COMPLETED)


async def test_frames_behind_a_failed_dependency_say_so_and_run_once_it_is_retried(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    render = await submit(farm_stub, "1-3", retries=0)
    comp = await submit(farm_stub, "1-3", after=render.id)
    renders = await inbox.assigns_of(render.id, 3)
    await inbox.complete(renders[1])
    first = await inbox.assign(comp.id)
    await inbox.start(renders[2])
    await inbox.finish(renders[2], error="boom")
    assert await why(farm_stub, comp.id, 2) == [
        f"frame 2 waits for frame 2 of job {render.id} (failed: boom)"
    ]
    await inbox.complete(renders[3])
    third = await inbox.assign(comp.id)
    await job_reaches(farm_stub, render.id, J.JOB_STATE_FAILED)
    # The frames that were ready still run, while the job says what holds the rest back.
    running = await get_job(farm_stub, comp.id)
    assert (running.state, running.state_reason) == (J.JOB_STATE_RUNNING, f"job {render.id} failed")
    await inbox.complete(first)
    await inbox.complete(third)
    blocked = await job_reaches(farm_stub, comp.id, J.JOB_STATE_BLOCKED)
    assert (blocked.state_reason, blocked.frames_completed) == (f"job {render.id} failed", 2)

    await farm_stub.RetryFrames(fpb.RetryFramesRequest(job_id=render.id))
    again = await inbox.assign(render.id)
    waiting = await get_job(farm_stub, comp.id)
    assert waiting.state == J.JOB_STATE_RUNNING, J.Name(waiting.state)
    assert waiting.state_reason.startswith(f"waiting for frames of job {render.id} ("), waiting.state_reason
    await inbox.complete(again)
    second = await inbox.assign(comp.id)
    assert list(second.commands[0].frames) == [2]
    await inbox.complete(second)
    done = await job_reaches(farm_stub, comp.id, J.JOB_STATE_COMPLETED)
    assert done.state_reason == ""


async def test_a_restarted_controller_knows_which_frames_still_wait(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        render = await submit(stub, "1-3")
        comp = await submit(stub, "1-3", after=render.id)
        renders = await inbox.assigns_of(render.id, 3)
        await inbox.complete(renders[1])
        await inbox.complete(await inbox.assign(comp.id))
        await inbox.start(renders[2])
        await inbox.start(renders[3])
    await stop_controller(task)

    # The agent still runs frames 2 and 3 of the render: it says so in its hello.
    scripted_agent.known_attempts = [renders[2].attempt_id, renders[3].attempt_id]
    scripted_agent.drop_link()
    task, port = await start_controller(tmp_path, [])
    async with farm_client(tmp_path, port) as stub:
        restored = await get_job(stub, comp.id)
        assert (restored.state, restored.frames_completed) == (J.JOB_STATE_RUNNING, 1), restored
        assert restored.state_reason == f"waiting for frames of job {render.id} (running)"
        assert await why(stub, comp.id, 2) == [f"frame 2 waits for frame 2 of job {render.id} (rendering)"]
        await until_agent_online(stub)
        assert await task_states(stub, comp.id) == [
            pb.TASK_STATE_COMPLETED,
            pb.TASK_STATE_PENDING,
            pb.TASK_STATE_PENDING,
        ]
        await inbox.frame_done(renders[3], 3)
        await inbox.finish(renders[3])
        third = await inbox.assign(comp.id)
        assert list(third.commands[0].frames) == [3]
        assert (await frames_of(stub, comp.id))[2].state == pb.FRAME_STATE_PENDING
        await inbox.frame_done(renders[2], 2)
        await inbox.finish(renders[2])
        second = await inbox.assign(comp.id)
        await inbox.complete(second)
        await inbox.complete(third)
        await job_reaches(stub, comp.id, J.JOB_STATE_COMPLETED)
    await stop_controller(task)


async def test_a_deleted_dependency_holds_no_frame_back(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    inbox = Inbox(scripted_agent)
    render = await submit(farm_stub, "1-2")
    comp = await submit(farm_stub, "1-2", after=render.id)
    await inbox.assigns_of(render.id, 2)
    await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=render.id))
    blocked = await job_reaches(farm_stub, comp.id, J.JOB_STATE_BLOCKED)
    assert blocked.state_reason == f"job {render.id} cancelled"
    await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=comp.id))
    for _ in range(2):
        stop = (await scripted_agent.next_request("cancel")).cancel
        ended = apb.TaskFinished(exit_code=-15, cancelled=True, error_message="cancelled")
        await scripted_agent.send(scripted_agent.event(stop.attempt_id, finished=ended))
    await scripted_agent.ack_reaching(scripted_agent.sequence)
    await farm_stub.DeleteJob(fpb.DeleteJobRequest(job_id=render.id))
    # As for a whole-job dependency, a deleted one counts as done: nothing waits for it.
    await farm_stub.RetryFrames(fpb.RetryFramesRequest(job_id=comp.id))
    both = await inbox.assigns_of(comp.id, 2)
    for assign in both.values():
        await inbox.complete(assign)
    await job_reaches(farm_stub, comp.id, J.JOB_STATE_COMPLETED)


def _job(job_id: int, frames: range, chunk: int, state: FarmState, after: tuple[int, ...] = ()) -> Job:
    job = Job(
        id=job_id, name="t", owner="o", plugin="command", parameters={}, frames_spec="", chunk_size=chunk,
        priority=50, pool="", requirements=pb.Requirements(), environment={}, depends_on=list(after),
        max_retries=0, task_timeout=0.0, frame_by_frame=bool(after),
    )  # fmt: skip
    numbers = list(frames)
    for index in range(0, len(numbers), chunk):
        task = Task(
            id=job_id * 100 + index,
            job_id=job_id,
            index=len(job.tasks),
            frames=numbers[index : index + chunk],
        )
        job.tasks.append(task)
        state.tasks[task.id] = task
        for n in task.frames:
            job.frames[n] = Frame(job_id=job_id, number=n, task_id=task.id)
    state.jobs[job_id] = job
    return job


def test_ready_tasks_follow_every_change_of_the_dependencies_as_a_recount_would() -> None:
    """The counts kept by events agree with what the frames say, whatever the order."""
    state = FarmState(cast(Recorder, None), cast(TaskLogs, None), 1.0)
    deps = Dependencies(state)
    first, second = _job(1, range(1, 7), 1, state), _job(2, range(3, 10), 3, state)
    comp = _job(3, range(1, 9), 2, state, after=(1, 2))
    for job in (first, second, comp):
        deps.add(job)
    rng = random.Random(27)
    for _ in range(500):
        dep = rng.choice([first, second])
        if rng.random() < 0.15:
            done = dep.state != pb.JOB_STATE_COMPLETED
            dep.state = pb.JOB_STATE_COMPLETED if done else pb.JOB_STATE_RUNNING
            changes = deps.job_completed(dep, done)
        else:
            frame = dep.frames[rng.choice(list(dep.frames))]
            done = frame.state != pb.FRAME_STATE_COMPLETED
            frame.state = pb.FRAME_STATE_COMPLETED if done else pb.FRAME_STATE_PENDING
            changes = deps.frame_changed(dep, frame.number, done)
        assert {c.job.id for c in changes} <= {comp.id}
        for task in comp.tasks:
            expected = not any(frame_waits(state.jobs, comp, n) for n in task.frames)
            assert deps.ready(comp, task) == expected, (task.frames, changes)
        waited = [d for d in comp.depends_on if any(
            frame_waits({d: state.jobs[d]}, comp, n) for n in comp.frames
        )]  # fmt: skip
        assert deps.waiting_on(comp) == waited
    assert deps.frame_changed(comp, 1, True) == [], "nothing depends on the comp"
