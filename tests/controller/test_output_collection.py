"""Outputs back through a real controller: a completed frame's files pulled from the
scripted agent over its link a few chunks ahead, checked by hash, resumed after a broken
link, failed with the agent's words, left alone when the job keeps them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from ..s3_server import ACCESS_KEY
from ..waiting import until
from .conftest import ScriptedAgent, farm_client, start_controller, stop_controller, until_agent_online
from .test_blob_api import MIB, ref_of
from .test_link_protocol import command_job, job_reaches
from .test_object_storage import fetch, new_bucket

RENDER = os.urandom(2 * MIB + 1000)
"""A frame of three chunks, the last one short."""
PATH = "/farm/workspaces/ana/1/renders/frame_0001.exr"


async def completed_frame(
    stub: fgrpc.FarmServiceStub, agent: ScriptedAgent, data: bytes = RENDER, destination: str = ""
) -> int:
    """A one-frame job whose frame 1 completed with one output of ``data``; its id."""
    await until_agent_online(stub)
    job = command_job("1", 1)
    job.output_destination = destination
    created = (await stub.CreateJob(fpb.CreateJobRequest(job=job))).job
    assign = (await agent.next_request("assign")).assign
    ref = ref_of(data)
    output = pb.OutputFile(path=PATH, size_bytes=ref.size_bytes, xxh3_128=ref.xxh3_128)
    await agent.send(agent.event(assign.attempt_id, started=apb.TaskStarted(pid=1, workspace="/farm")))
    await agent.send(
        agent.event(assign.attempt_id, frame_completed=apb.FrameCompleted(frame=1, outputs=[output]))
    )
    await agent.send(agent.event(assign.attempt_id, finished=apb.TaskFinished(exit_code=0)))
    await job_reaches(stub, created.id, pb.JOB_STATE_COMPLETED)
    return created.id


async def answer(agent: ScriptedAgent, data: bytes, count: int | None = None, error: str = "") -> list[int]:
    """Answer ``count`` asks (default: until the last byte went) with ``data``'s chunks; the offsets."""
    offsets: list[int] = []
    while count is None or len(offsets) < count:
        wanted = (await agent.next_request("want_output")).want_output
        assert (wanted.path, wanted.owner, wanted.job_id) == (PATH, "ana", 1)
        offsets.append(wanted.offset)
        chunk = data[wanted.offset : wanted.offset + MIB]
        reply = apb.BlobChunk(
            blob=wanted.blob, offset=wanted.offset, data=b"" if error else chunk, error=error
        )
        await agent.send(apb.LinkResponse(output=reply))
        if count is None and (error or wanted.offset + len(chunk) >= len(data)):
            return offsets
    return offsets


async def stored_output(stub: fgrpc.FarmServiceStub, job_id: int, storage: int) -> pb.OutputFile:
    async def listed() -> bool:
        frames = (await stub.ListOutputs(fpb.ListOutputsRequest(job_id=job_id))).frames
        return frames[0].outputs[0].storage == storage

    await until(f"the output stored as {pb.OutputStorage.Name(storage)}", listed)
    return (await stub.ListOutputs(fpb.ListOutputsRequest(job_id=job_id, frames="1"))).frames[0].outputs[0]


async def read(stub: fgrpc.FarmServiceStub, job_id: int, offset: int = 0) -> bytes:
    request = fpb.ReadOutputRequest(job_id=job_id, frame=1, path=PATH, offset=offset)
    return b"".join([m.data async for m in stub.ReadOutput(request)])


async def test_a_completed_frames_output_comes_to_the_controllers_store_and_reads_back(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job_id = await completed_frame(farm_stub, scripted_agent)
    assert await answer(scripted_agent, RENDER) == [0, MIB, 2 * MIB]

    output = await stored_output(farm_stub, job_id, pb.OUTPUT_STORAGE_CONTROLLER)
    assert (output.size_bytes, output.storage_error) == (len(RENDER), "")
    assert await read(farm_stub, job_id) == RENDER  # the agent's path exists nowhere here
    assert await read(farm_stub, job_id, offset=MIB + 5) == RENDER[MIB + 5 :]


async def test_a_transfer_cut_by_a_lost_link_resumes_where_the_store_stopped(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job_id = await completed_frame(farm_stub, scripted_agent)
    assert await answer(scripted_agent, RENDER, count=1) == [0]
    unanswered = [(await scripted_agent.next_request("want_output")).want_output.offset for _ in range(2)]
    assert unanswered == [MIB, 2 * MIB]  # asked ahead on the link about to break
    await until_received(farm_stub, MIB)
    scripted_agent.drop_link()

    assert await answer(scripted_agent, RENDER) == [MIB, 2 * MIB]  # the controller dialled again
    await stored_output(farm_stub, job_id, pb.OUTPUT_STORAGE_CONTROLLER)
    assert await read(farm_stub, job_id) == RENDER


async def until_received(stub: fgrpc.FarmServiceStub, size: int) -> None:
    """The store holds the first ``size`` bytes of the render (a partial upload: FindMissingBlobs)."""

    async def holds() -> bool:
        answer = await stub.FindMissingBlobs(fpb.FindMissingBlobsRequest(blobs=[ref_of(RENDER)]))
        return [m.received_bytes for m in answer.missing] == [size]

    await until(f"{size:,} bytes of the render in the controller's store", holds)


async def test_bytes_that_do_not_match_the_hash_are_fetched_again_then_the_output_fails(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job_id = await completed_frame(farm_stub, scripted_agent)
    damaged = bytes(len(RENDER))
    assert await answer(scripted_agent, damaged) == [0, MIB, 2 * MIB]
    assert await answer(scripted_agent, damaged) == [0, MIB, 2 * MIB]  # once more, from the start

    output = await stored_output(farm_stub, job_id, pb.OUTPUT_STORAGE_FAILED)
    assert f"hash to {ref_of(damaged).xxh3_128}, not {ref_of(RENDER).xxh3_128}" in output.storage_error


async def test_an_agent_that_cannot_send_the_file_fails_the_output_in_its_words(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    job_id = await completed_frame(farm_stub, scripted_agent)
    why = f"{PATH} changed since it was hashed"
    await answer(scripted_agent, RENDER, error=why)

    output = await stored_output(farm_stub, job_id, pb.OUTPUT_STORAGE_FAILED)
    assert output.storage_error == why


async def test_outputs_a_job_keeps_stay_where_they_were_written(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, tmp_path: Path
) -> None:
    job_id = await completed_frame(farm_stub, scripted_agent, destination="keep")
    job = (await farm_stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job
    assert job.output_destination == "keep"
    frames = (await farm_stub.ListFrames(fpb.ListFramesRequest(job_id=job_id))).frames
    assert [o.storage for o in frames[0].outputs] == [pb.OUTPUT_STORAGE_KEPT]


async def test_an_output_already_in_the_store_is_not_sent_again(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    first = await completed_frame(farm_stub, scripted_agent)
    await answer(scripted_agent, RENDER)
    await stored_output(farm_stub, first, pb.OUTPUT_STORAGE_CONTROLLER)

    second = await completed_frame(farm_stub, scripted_agent)  # the same picture again
    await stored_output(farm_stub, second, pb.OUTPUT_STORAGE_CONTROLLER)
    assert await read(farm_stub, second) == RENDER


async def test_a_controller_restarted_mid_transfer_asks_for_the_rest(
    tmp_path: Path, scripted_agent: ScriptedAgent
) -> None:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        job_id = await completed_frame(stub, scripted_agent)
        assert await answer(scripted_agent, RENDER, count=1) == [0]
        await until_received(stub, MIB)
    await stop_controller(task)
    while not scripted_agent.received.empty():  # asked ahead by the controller that stopped
        scripted_agent.received.get_nowait()

    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        assert (await answer(scripted_agent, RENDER))[0] == MIB
        await stored_output(stub, job_id, pb.OUTPUT_STORAGE_CONTROLLER)
        assert await read(stub, job_id) == RENDER
    await stop_controller(task)


async def test_outputs_for_s3_are_pushed_once_stored_and_get_download_urls(
    tmp_path: Path, scripted_agent: ScriptedAgent, s3_endpoint: str
) -> None:
    bucket = new_bucket(s3_endpoint)
    settings = {
        "s3_endpoint": s3_endpoint,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": ACCESS_KEY,
    }
    task, port = await start_controller(tmp_path, [scripted_agent.address], **settings)
    async with farm_client(tmp_path, port) as stub:
        job_id = await completed_frame(stub, scripted_agent, destination=f"s3://{bucket}/shots/sh010/")
        await answer(scripted_agent, RENDER)

        async def pushed() -> bool:
            frames = (await stub.ListOutputs(fpb.ListOutputsRequest(job_id=job_id))).frames
            return bool(frames[0].outputs[0].object_url or frames[0].outputs[0].storage_error)

        await until("the output pushed to the bucket", pushed)
        request = fpb.ListOutputsRequest(job_id=job_id, urls=True, url_ttl=duration_pb2.Duration(seconds=600))
        output = (await stub.ListOutputs(request)).frames[0].outputs[0]
        assert (output.storage_error, output.object_url) == (
            "",
            f"s3://{bucket}/shots/sh010/job-{job_id}/frame_0001.exr",
        )
        assert await asyncio.to_thread(fetch, output.download_url) == RENDER

        wrong = command_job("1", 1)
        wrong.output_destination = "s3://Not_A_Bucket/x"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateJob(fpb.CreateJobRequest(job=wrong))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Not_A_Bucket" in refused.value.details()
    await stop_controller(task)
