"""Short tasks sent ahead: once a job's tasks prove short, an agent with no free slot gets
a few more of them to wait there (``AssignTask.queued``); each takes the slot of a task
that ends, and cancelling the job or losing the agent hands the waiting ones back."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import pytest
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from renderq.controller import dispatcher, recorder
from renderq.controller.queue_ahead import LEARNING, MOST_AHEAD
from renderq.controller.time_slices import SLICE, TimeSlices
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb
from tests.waiting import DEADLINE, until

from .conftest import ScriptedAgent, until_agent_online
from .test_link_protocol import command_job, job_reaches

BLINK = duration_pb2.Duration(nanos=5_000_000)


class Slots:
    """Runs assignments as a real agent with ``agent.slots`` slots does: a task sent ahead
    waits while every slot is busy, and starts as the oldest running one ends."""

    def __init__(self, agent: ScriptedAgent) -> None:
        self.agent = agent
        self.running: list[apb.AssignTask] = []
        self.waiting: deque[apb.AssignTask] = deque()
        self.most_waiting = 0
        self.sent_ahead = 0

    async def take(self, assign: apb.AssignTask) -> None:
        self.sent_ahead += assign.queued
        if assign.queued and (self.waiting or len(self.running) >= self.agent.slots):
            self.waiting.append(assign)
            self.most_waiting = max(self.most_waiting, len(self.waiting))
        else:
            await self._start(assign)

    async def take_next(self) -> None:
        """The next assignment the controller sends (failing after the deadline)."""
        await self.take((await self.agent.next_request("assign")).assign)

    async def take_what_came(self) -> None:
        """Every assignment the controller has sent so far; one at least when all is idle."""
        if not (self.running or self.waiting):
            await self.take((await self.agent.next_request("assign")).assign)
        while not self.agent.received.empty():
            request = self.agent.received.get_nowait()
            if request.WhichOneof("kind") == "assign":
                await self.take(request.assign)

    async def until_cancelled(self) -> list[apb.AssignTask]:
        """Every attempt the agent holds, once the controller asked to cancel each one
        (taking what it assigned meanwhile)."""
        cancelled: set[int] = set()
        while not {a.attempt_id for a in [*self.running, *self.waiting]} <= cancelled:
            request = await asyncio.wait_for(self.agent.received.get(), DEADLINE)
            if request.WhichOneof("kind") == "assign":
                await self.take(request.assign)
            elif request.WhichOneof("kind") == "cancel":
                cancelled.add(request.cancel.attempt_id)
        return [*self.running, *self.waiting]

    async def end_oldest(self) -> None:
        assign = self.running.pop(0)
        frames = [n for command in assign.commands for n in command.frames]
        for n in frames:
            await self._event(assign, frame_completed=apb.FrameCompleted(frame=n))
        await self._event(assign, finished=apb.TaskFinished(duration=BLINK))
        if self.waiting:
            await self._start(self.waiting.popleft())

    async def _start(self, assign: apb.AssignTask) -> None:
        self.running.append(assign)
        await self._event(assign, started=apb.TaskStarted(pid=1))

    async def _event(self, assign: apb.AssignTask, **kind: Message) -> None:
        await self.agent.send(self.agent.event(assign.attempt_id, None, **kind))


async def slots_in_use(stub: fgrpc.FarmServiceStub, agent: ScriptedAgent) -> int:
    return (await stub.GetAgent(fpb.GetAgentRequest(agent_id=agent.agent_id))).agent.slots_used


@pytest.mark.parametrize("slice_seconds", [SLICE, 0.0], ids=["slices", "a-pause-after-each-step"])
async def test_short_tasks_wait_on_the_agent_and_each_takes_a_slot_as_one_ends(
    farm_stub: fgrpc.FarmServiceStub,
    scripted_agent: ScriptedAgent,
    monkeypatch: pytest.MonkeyPatch,
    slice_seconds: float,
) -> None:
    """With a pause after each step too (the dispatcher's pass, its tasks sent ahead and the
    commits' preparation let the loop run whenever their slice is spent: time_slices.py),
    while links and the API change the farm meanwhile."""
    for module in (dispatcher, recorder):
        monkeypatch.setattr(module, "TimeSlices", lambda: TimeSlices(slice_seconds))
    await until_agent_online(farm_stub)
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job("1-40", 1)))).job
    slots = Slots(scripted_agent)

    ended = 0
    while ended < 40:
        await slots.take_what_came()
        await slots.end_oldest()
        ended += 1
        assert await slots_in_use(farm_stub, scripted_agent) <= scripted_agent.slots

    done = await job_reaches(farm_stub, job.id, pb.JOB_STATE_COMPLETED)
    assert done.frames_completed == 40
    assert slots.sent_ahead > 0, f"none sent ahead after {LEARNING} short tasks"
    assert slots.most_waiting <= MOST_AHEAD * scripted_agent.slots
    frames = (await farm_stub.ListFrames(fpb.ListFramesRequest(job_id=job.id))).frames
    assert {frame.attempt_count for frame in frames} == {1}
    await until("the agent's slots free", lambda: slots_free(farm_stub, scripted_agent))


async def slots_free(stub: fgrpc.FarmServiceStub, agent: ScriptedAgent) -> bool:
    return await slots_in_use(stub, agent) == 0


async def short_job_with_tasks_waiting(
    stub: fgrpc.FarmServiceStub, agent: ScriptedAgent
) -> tuple[int, Slots]:
    """A job of short tasks run until some wait on the agent; its id and the agent's slots."""
    await until_agent_online(stub)
    job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1-60", 1)))).job
    slots = Slots(agent)
    while len(slots.running) < agent.slots:
        await slots.take_next()
    for _ in range(LEARNING + 1):  # the job proves short; each end waits for its slot's refill
        await slots.end_oldest()
        await slots.take_next()
    while not slots.waiting:  # no slot frees from here: what comes is sent ahead
        await slots.take_next()
    return job.id, slots


async def test_cancelling_the_job_cancels_the_waiting_tasks_and_frees_the_agent(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job_id, slots = await short_job_with_tasks_waiting(farm_stub, scripted_agent)
    await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=job_id))

    for assign in await slots.until_cancelled():
        finished = apb.TaskFinished(cancelled=True, error_message="cancelled: job cancelled")
        await scripted_agent.send(scripted_agent.event(assign.attempt_id, finished=finished))

    await job_reaches(farm_stub, job_id, pb.JOB_STATE_CANCELLED)
    await until("the agent's slots free", lambda: slots_free(farm_stub, scripted_agent))


async def test_an_agent_that_lost_its_waiting_tasks_gets_their_frames_again(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job_id, slots = await short_job_with_tasks_waiting(farm_stub, scripted_agent)
    # The agent comes back as a new session that knows nothing: every attempt is lost.
    scripted_agent.session_id = "second-session"
    scripted_agent.sequence = 0
    scripted_agent.drop_link()
    lost = {n for assign in [*slots.running, *slots.waiting] for c in assign.commands for n in c.frames}
    slots = Slots(scripted_agent)

    async def completed() -> bool:
        return (await farm_stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job.state == pb.JOB_STATE_COMPLETED

    # A read may overtake the agent's last event: with nothing to run, wait for work or the end.
    while not await completed():
        if slots.running or not scripted_agent.received.empty():
            await slots.take_what_came()
            await slots.end_oldest()
        else:
            await until("an assignment or the job's end", lambda: has_work_or(completed, scripted_agent))

    job = (await farm_stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job
    assert job.frames_completed == 60
    frames = (await farm_stub.ListFrames(fpb.ListFramesRequest(job_id=job_id))).frames
    again = {frame.number for frame in frames if frame.attempt_count > 1}
    assert lost <= again, "every frame of a lost attempt, running or waiting, was assigned again"
    await until("the agent's slots free", lambda: slots_free(farm_stub, scripted_agent))


async def has_work_or(done: Callable[[], Awaitable[bool]], agent: ScriptedAgent) -> bool:
    return not agent.received.empty() or await done()
