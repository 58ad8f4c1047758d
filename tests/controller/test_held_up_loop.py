"""A controller whose event loop was held up (a huge submit, a slow disk) does not take the
time it could not listen for its agents' silence."""

from __future__ import annotations

import time
from pathlib import Path

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, farm_client, start_controller, stop_controller, until_agent_online
from .test_link_protocol import command_job, job_reaches

TIMEOUT = 2.0


async def test_an_agent_is_not_silent_for_the_time_the_controller_was_held_up(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address], agent_timeout=TIMEOUT)
    try:
        async with farm_client(tmp_path, port) as stub:
            await until_agent_online(stub)
            job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
            assign = (await scripted_agent.next_request("assign")).assign
            await scripted_agent.send(scripted_agent.event(assign.attempt_id, started=apb.TaskStarted(pid=1)))
            await job_reaches(stub, job.id, pb.JOB_STATE_RUNNING)  # the agent was just heard from
            # The controller runs on this event loop: blocking it stands for a long pass on
            # the controller's loop (the stall under test, not a wait for something).
            time.sleep(2 * TIMEOUT)  # noqa: ASYNC251 - the stall is the point
            # What the agent sent meanwhile arrives after the stall.
            await scripted_agent.send(apb.LinkResponse(heartbeat=apb.Heartbeat()))
            done_frame = apb.FrameCompleted(frame=1)
            await scripted_agent.send(scripted_agent.event(assign.attempt_id, frame_completed=done_frame))
            await scripted_agent.send(scripted_agent.event(assign.attempt_id, finished=apb.TaskFinished()))
            # Judged silent, its attempt would have been lost and the frame sent out again,
            # to an agent that never answers: the job would not complete.
            done = await job_reaches(stub, job.id, pb.JOB_STATE_COMPLETED)
            assert done.state == pb.JOB_STATE_COMPLETED
            (frame,) = (await stub.ListFrames(fpb.ListFramesRequest(job_id=job.id))).frames
            assert frame.attempt_count == 1
    finally:
        await stop_controller(task)
