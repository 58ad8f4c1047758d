"""AnalyzeScene on a real controller: Maya ASCII scenes parsed there (by path or uploaded),
Blender scenes refused when no online agent has Blender, other formats refused in words."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import pytest

from renderq.client.project_files import read_project
from renderq.client.upload import upload_project
from renderq.controller.scene_analysis import UNCHECKED
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from .conftest import until_agent_online

SCENE = Path(__file__).parent.parent / "plugins" / "scenes" / "shot010.ma"


async def test_a_maya_ascii_scene_is_parsed_on_the_controller_by_path(
    farm_stub: fgrpc.FarmServiceStub,
) -> None:
    answer = await farm_stub.AnalyzeScene(fpb.AnalyzeSceneRequest(plugin="maya", path=str(SCENE.absolute())))
    analysis = answer.analysis
    assert (analysis.frame_start, analysis.frame_end, analysis.engine) == (1001, 1100, "arnold")
    assert [c.name for c in analysis.cameras if c.active] == ["shotCam"]
    assert UNCHECKED in analysis.warnings and not any(f.exists for f in analysis.files)


async def test_an_uploaded_maya_ascii_scene_is_parsed_from_the_blob_store(
    farm_stub: fgrpc.FarmServiceStub, tmp_path: Path
) -> None:
    copy = tmp_path / "upload" / "shot010.ma"
    copy.parent.mkdir()
    shutil.copyfile(SCENE, copy)
    project = read_project([copy])
    await upload_project(farm_stub, project)  # type: ignore[arg-type]
    blob = project.files[0].entry.blob
    answer = await farm_stub.AnalyzeScene(fpb.AnalyzeSceneRequest(blob=blob, name="shot010.ma"))
    assert answer.analysis.resolution_x == 2048


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (fpb.AnalyzeSceneRequest(path="/shots/a.blend"), grpc.StatusCode.FAILED_PRECONDITION,
         "no online agent has blender to analyse the scene"),
        (fpb.AnalyzeSceneRequest(path="/shots/a.c4d"), grpc.StatusCode.FAILED_PRECONDITION,
         "cannot analyse .c4d files without Cinema 4D"),
        (fpb.AnalyzeSceneRequest(path="shots/a.ma"), grpc.StatusCode.INVALID_ARGUMENT,
         "not an absolute path"),
        (fpb.AnalyzeSceneRequest(plugin="blender", path="/shots/a.ma"), grpc.StatusCode.INVALID_ARGUMENT,
         "a maya scene, not a blender one"),
        (fpb.AnalyzeSceneRequest(blob=pb.BlobRef(xxh3_128="0" * 32, size_bytes=3), name="a.blend"),
         grpc.StatusCode.NOT_FOUND, "upload the scene first"),
        (fpb.AnalyzeSceneRequest(blob=pb.BlobRef(xxh3_128="0" * 32, size_bytes=3), name="../a.blend"),
         grpc.StatusCode.INVALID_ARGUMENT, "not a plain file name"),
        (fpb.AnalyzeSceneRequest(), grpc.StatusCode.INVALID_ARGUMENT, "by a path or by an uploaded blob"),
        (fpb.AnalyzeSceneRequest(path="/nowhere/a.ma"), grpc.StatusCode.FAILED_PRECONDITION,
         "cannot read /nowhere/a.ma"),
    ],
)  # fmt: skip
async def test_what_cannot_be_analysed_is_said_in_a_sentence(
    farm_stub: fgrpc.FarmServiceStub, request_: fpb.AnalyzeSceneRequest, code: grpc.StatusCode, message: str
) -> None:
    await until_agent_online(farm_stub)  # online, but without Blender
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await farm_stub.AnalyzeScene(request_)
    assert refused.value.code() == code
    assert message in (refused.value.details() or "")
