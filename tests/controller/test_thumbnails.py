"""Thumbnails sent with FrameCompleted: stored, listed with their output, read back."""

from __future__ import annotations

import duckdb
import grpc
import pytest

from renderq.controller.migrations import migration
from renderq.controller.model import Output
from renderq.controller.schema import FRAMES, NATIVE_LISTS
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from ..waiting import until
from .conftest import ScriptedAgent, until_agent_online
from .test_link_protocol import command_job, job_reaches

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100


async def completed_with(
    stub: fgrpc.FarmServiceStub, agent: ScriptedAgent, paths: list[str], thumbnails: list[apb.Thumbnail]
) -> int:
    """A one-frame job whose frame completed with ``paths`` as outputs and ``thumbnails``."""
    await until_agent_online(stub)
    job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    assign = (await agent.next_request("assign")).assign
    files = [pb.OutputFile(path=p, size_bytes=100, xxh3_128="ab" * 16) for p in paths]
    done = apb.FrameCompleted(frame=1, outputs=files, thumbnails=thumbnails)
    await agent.send(agent.event(assign.attempt_id, started=apb.TaskStarted(pid=1, workspace="/w")))
    await agent.send(agent.event(assign.attempt_id, frame_completed=done))
    await agent.send(agent.event(assign.attempt_id, finished=apb.TaskFinished(exit_code=0)))
    await job_reaches(stub, job.id, pb.JOB_STATE_COMPLETED)
    return job.id


async def listed(stub: fgrpc.FarmServiceStub, job_id: int) -> list[pb.OutputFile]:
    answer = await stub.ListOutputs(fpb.ListOutputsRequest(job_id=job_id))
    return [o for frame in answer.frames for o in frame.outputs]


async def read_thumbnail(stub: fgrpc.FarmServiceStub, job_id: int, path: str = "") -> bytes:
    request = fpb.ReadOutputRequest(job_id=job_id, frame=1, path=path, thumbnail=True)
    return b"".join([m.data async for m in stub.ReadOutput(request)])


async def test_a_thumbnail_is_stored_listed_and_read_back(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    paths = ["/w/frame.abc", "/w/frame.exr"]
    job_id = await completed_with(farm_stub, scripted_agent, paths, [apb.Thumbnail(path=paths[1], png=PNG)])

    async def has_thumbnail() -> bool:
        return any(o.HasField("thumbnail") for o in await listed(farm_stub, job_id))

    await until("the thumbnail is stored", has_thumbnail)
    outputs = await listed(farm_stub, job_id)
    assert [o.HasField("thumbnail") for o in outputs] == [False, True]
    assert outputs[1].thumbnail.size_bytes == len(PNG)
    assert await read_thumbnail(farm_stub, job_id, paths[1]) == PNG
    assert await read_thumbnail(farm_stub, job_id) == PNG  # no path: the first that has one

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await read_thumbnail(farm_stub, job_id, paths[0])
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "this output has no thumbnail" in (refused.value.details() or "")


async def test_thumbnails_of_other_files_or_not_png_are_ignored(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent
) -> None:
    path = "/w/frame.png"
    bad = [
        apb.Thumbnail(path="/etc/passwd", png=PNG),
        apb.Thumbnail(path=path, png=b"GIF89a not a png"),
        apb.Thumbnail(path=path, png=PNG + b"x" * (200 << 10)),
    ]
    job_id = await completed_with(farm_stub, scripted_agent, [path], bad)
    assert not any(o.HasField("thumbnail") for o in await listed(farm_stub, job_id))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await read_thumbnail(farm_stub, job_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_the_thumbnail_is_kept_in_the_frames_table_and_older_rows_still_read() -> None:
    column = next(c for c in FRAMES.columns if c.name == "outputs")
    encode, decode = column.encode, column.decode
    assert encode is not None and decode is not None
    stored = pb.OUTPUT_STORAGE_CONTROLLER
    with_thumbnail = Output("/r/1.exr", 10, "ab" * 16, stored, thumbnail=("cd" * 16, 99))
    assert [vars(o) for o in decode(encode([with_thumbnail]))] == [vars(with_thumbnail)]
    # Before NATIVE_LISTS, outputs were JSON lists of three items, six once stored somewhere.
    con = duckdb.connect()
    for version in range(1, NATIVE_LISTS):
        for statement in migration(version):
            con.execute(statement)
    old = '[["/r/1.png", 10, "abab"], ["/r/2.png", 5, "cdcd", 3, "", ""]]'
    con.execute("INSERT INTO frames (job_id, number, task_id, outputs) VALUES (1, 1, 1, ?)", [old])
    for statement in migration(NATIVE_LISTS):
        con.execute(statement)
    (frame,) = FRAMES.records_of(con.execute(FRAMES.select_sql()).fetchall())
    assert [(o.path, o.storage, o.thumbnail) for o in frame.outputs] == [
        ("/r/1.png", 0, None),
        ("/r/2.png", 3, None),
    ]
