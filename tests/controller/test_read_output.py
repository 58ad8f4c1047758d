"""ReadOutput streams a frame's recorded output, and nothing else on the controller's disk."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import ScriptedAgent, until_agent_online
from .test_link_protocol import command_job, job_reaches


async def frame_with_outputs(
    stub: fgrpc.FarmServiceStub, agent: ScriptedAgent, outputs: list[Path], workspace: Path | None = None
) -> int:
    """A one-frame job whose frame 1 completed recording ``outputs``, its attempt's workspace
    ``workspace`` (by default the folder of the first output); its id."""
    workspace = workspace or outputs[0].parent
    await until_agent_online(stub)
    job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job("1", 1)))).job
    assign = (await agent.next_request("assign")).assign
    files = [pb.OutputFile(path=str(p), size_bytes=p.lstat().st_size, xxh3_128="ab" * 16) for p in outputs]
    started = apb.TaskStarted(pid=1, workspace=str(workspace))
    await agent.send(agent.event(assign.attempt_id, started=started))
    await agent.send(
        agent.event(assign.attempt_id, frame_completed=apb.FrameCompleted(frame=1, outputs=files))
    )
    await agent.send(agent.event(assign.attempt_id, finished=apb.TaskFinished(exit_code=0)))
    await job_reaches(stub, job.id, pb.JOB_STATE_COMPLETED)
    return job.id


async def read_output(
    stub: fgrpc.FarmServiceStub, job_id: int, path: str = ""
) -> list[fpb.ReadOutputResponse]:
    return [m async for m in stub.ReadOutput(fpb.ReadOutputRequest(job_id=job_id, frame=1, path=path))]


async def test_a_recorded_output_is_streamed_byte_exact_in_blocks(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, tmp_path: Path
) -> None:
    beauty, depth = tmp_path / "beauty.png", tmp_path / "depth.exr"
    content = os.urandom(200_000)  # four 64 KiB blocks, the last one short
    beauty.write_bytes(b"first output")
    depth.write_bytes(content)
    job_id = await frame_with_outputs(farm_stub, scripted_agent, [beauty, depth])

    messages = await read_output(farm_stub, job_id, str(depth))
    assert b"".join(m.data for m in messages) == content
    assert messages[0].size_bytes == len(content)
    assert [m.offset for m in messages] == [0, 65536, 131072, 196608]

    first = await read_output(farm_stub, job_id)
    assert b"".join(m.data for m in first) == b"first output"


async def test_a_path_the_frame_did_not_record_is_refused(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, tmp_path: Path
) -> None:
    output = tmp_path / "frame.png"
    output.write_bytes(b"png")
    job_id = await frame_with_outputs(farm_stub, scripted_agent, [output])
    secret = tmp_path / "auth_tokens"
    secret.write_bytes(b"not for you")
    for path in (str(secret), "/etc/passwd", f"{tmp_path}/../{tmp_path.name}/frame.png"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await read_output(farm_stub, job_id, path)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.value.details() == f"path: {path} is not an output of frame 1"


async def test_an_output_gone_from_storage_is_a_failed_precondition(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, tmp_path: Path
) -> None:
    output = tmp_path / "frame.png"
    output.write_bytes(b"png")
    job_id = await frame_with_outputs(farm_stub, scripted_agent, [output])
    output.unlink()
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await read_output(farm_stub, job_id)
    assert gone.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no longer on the controller's storage" in (gone.value.details() or "")


async def test_a_frame_that_does_not_exist_is_not_found(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, tmp_path: Path
) -> None:
    output = tmp_path / "frame.png"
    output.write_bytes(b"png")
    job_id = await frame_with_outputs(farm_stub, scripted_agent, [output])
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await anext(aiter(farm_stub.ReadOutput(fpb.ReadOutputRequest(job_id=job_id, frame=7))))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing.value.details() == f"job {job_id} has no frame 7"


async def test_a_file_over_the_limit_is_refused(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.exr"
    huge.touch()
    os.truncate(huge, (256 << 20) + 1)  # sparse: takes no disk
    job_id = await frame_with_outputs(farm_stub, scripted_agent, [huge])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await read_output(farm_stub, job_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "268,435,457 bytes" in (refused.value.details() or "")


async def refusal(stub: fgrpc.FarmServiceStub, job_id: int) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await read_output(stub, job_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    return refused.value.details() or ""


async def test_only_regular_files_below_the_workspace_or_a_share_are_read(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, tmp_path: Path
) -> None:
    workspace, share = tmp_path / "ws", tmp_path / "share"
    (workspace / "renders").mkdir(parents=True)
    share.mkdir()
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:secret")
    outside = await frame_with_outputs(farm_stub, scripted_agent, [secret], workspace)
    assert "not inside its job's workspace nor a mapped share" in await refusal(farm_stub, outside)

    linked = workspace / "renders" / "f1.png"
    linked.symlink_to(secret)
    via_link = await frame_with_outputs(farm_stub, scripted_agent, [linked], workspace)
    assert "not inside its job's workspace" in await refusal(farm_stub, via_link)

    (workspace / "renders" / "real.png").write_bytes(b"png")
    inner_link = workspace / "renders" / "f2.png"
    inner_link.symlink_to(workspace / "renders" / "real.png")
    link_inside = await frame_with_outputs(farm_stub, scripted_agent, [inner_link], workspace)
    assert "it is a symbolic link" in await refusal(farm_stub, link_inside)

    pipe = workspace / "renders" / "f3.png"
    os.mkfifo(pipe)
    fifo = await frame_with_outputs(farm_stub, scripted_agent, [pipe], workspace)
    assert "not a regular file" in await refusal(farm_stub, fifo)

    on_share = share / "f4.png"
    on_share.write_bytes(b"shared frame")
    mapping = pb.PathMapping(from_path="Z:\\projects", to_path=str(share), os="Linux")
    await farm_stub.AddPathMapping(fpb.AddPathMappingRequest(mapping=mapping))
    shared = await frame_with_outputs(farm_stub, scripted_agent, [on_share], workspace)
    assert b"".join(m.data for m in await read_output(farm_stub, shared)) == b"shared frame"
