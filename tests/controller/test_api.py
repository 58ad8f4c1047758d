"""FarmService answers bad input with the right status and a sentence naming the field."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import until_agent_online
from .test_link_protocol import command_job


def job_with(
    plugin: str = "command", frames: str = "1-10", chunk: int | None = None, **params: Any
) -> pb.Job:
    struct = struct_pb2.Struct()
    struct.update(params or {"argv": ["true"]})
    job = pb.Job(plugin=plugin, frames=frames, parameters=struct)
    if chunk is not None:
        job.chunk_size = chunk
    return job


async def refused(call, code: grpc.StatusCode) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return info.value.details() or ""


@pytest.mark.parametrize(
    ("job", "field", "words"),
    [
        (job_with(frames="1-abc"), "frames", "'1-abc' is not a frame"),
        (job_with(chunk=0), "chunk_size", "1 or more"),
        (job_with(plugin="houdini"), "plugin", "unknown plugin 'houdini'"),
        (job_with(frames="1-1000000000"), "frames", "at most 1,000,000"),
        (
            job_with(plugin="blender", scene="shot.blend"),
            "parameters.scene",
            "'shot.blend' is a relative path",
        ),
        (job_with(argv=[]), "parameters.argv", "empty"),
    ],
    ids=["bad-range", "chunk-0", "unknown-plugin", "billion-frames", "relative-blend", "empty-argv"],
)
async def test_bad_submissions_are_invalid_argument_with_a_sentence(
    farm_stub: fgrpc.FarmServiceStub, job: pb.Job, field: str, words: str
) -> None:
    details = await refused(
        farm_stub.CreateJob(fpb.CreateJobRequest(job=job)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert details.startswith(f"{field}: "), details
    assert words in details, details


async def test_unknown_job_is_not_found(farm_stub: fgrpc.FarmServiceStub) -> None:
    details = await refused(farm_stub.GetJob(fpb.GetJobRequest(job_id=999)), grpc.StatusCode.NOT_FOUND)
    assert details == "job 999 does not exist"


async def test_priority_out_of_range_is_refused_and_in_range_is_applied(
    farm_stub: fgrpc.FarmServiceStub,
) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with()))).job
    assert job.priority == 50
    mask = field_mask_pb2.FieldMask(paths=["priority"])
    await refused(
        farm_stub.UpdateJob(fpb.UpdateJobRequest(job=pb.Job(id=job.id, priority=101), update_mask=mask)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    updated = (
        await farm_stub.UpdateJob(fpb.UpdateJobRequest(job=pb.Job(id=job.id, priority=0), update_mask=mask))
    ).job
    assert updated.priority == 0


async def test_frames_page_through_in_range_order(farm_stub: fgrpc.FarmServiceStub) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with(frames="1-2500x1")))).job
    await farm_stub.SuspendJob(fpb.SuspendJobRequest(job_id=job.id))
    numbers: list[int] = []
    token = ""
    while True:
        page = await farm_stub.ListFrames(
            fpb.ListFramesRequest(job_id=job.id, page_size=1000, page_token=token)
        )
        numbers += [f.number for f in page.frames]
        token = page.next_page_token
        if not token:
            break
    assert numbers == list(range(1, 2501))
    await refused(
        farm_stub.ListFrames(fpb.ListFramesRequest(job_id=job.id, page_token="x")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def test_deleting_a_running_job_is_a_failed_precondition(farm_stub: fgrpc.FarmServiceStub) -> None:
    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=command_job()))).job
    details = await refused(
        farm_stub.DeleteJob(fpb.DeleteJobRequest(job_id=job.id)), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "cancel it" in details
    await farm_stub.CancelJob(fpb.CancelJobRequest(job_id=job.id))
    await farm_stub.DeleteJob(fpb.DeleteJobRequest(job_id=job.id))
    await refused(farm_stub.GetJob(fpb.GetJobRequest(job_id=job.id)), grpc.StatusCode.NOT_FOUND)


async def test_a_job_no_agent_can_run_is_refused_naming_the_requirement(
    farm_stub: fgrpc.FarmServiceStub,
) -> None:
    await until_agent_online(farm_stub)
    job = job_with()
    job.requirements.min_cpu_cores = 64
    details = await refused(
        farm_stub.CreateJob(fpb.CreateJobRequest(job=job)), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "64 CPU cores" in details


async def test_list_plugins_describes_parameters(farm_stub: fgrpc.FarmServiceStub) -> None:
    plugins = {p.name: p for p in (await farm_stub.ListPlugins(fpb.ListPluginsRequest())).plugins}
    assert {"blender", "command", "demo"} <= set(plugins)
    scene = next(p for p in plugins["blender"].parameters if p.name == "scene")
    assert scene.required and scene.type == fpb.PARAMETER_TYPE_PATH
