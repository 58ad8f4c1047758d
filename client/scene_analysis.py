"""What a scene says about itself before it is submitted (frame range, fps, resolution,
engine, cameras, output, the files it needs), read where it can be, nearest first.

A Maya ASCII scene is text, parsed here; a .blend file is read by this machine's Blender;
otherwise the file is uploaded and the farm analyses it (AnalyzeScene: an agent that has
Blender). The command line (``renderq analyze``, ``submit``) and the TUI's submit form
both use this one flow, so they cannot disagree about a scene.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from renderq.client.project_files import read_project
from renderq.client.units import format_size
from renderq.client.upload import upload_project
from renderq.plugins.blender_analysis import AnalysisFailed, analyse_with_blender, missing_warnings
from renderq.plugins.maya_ascii import look_for_files, parse_maya_ascii
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

__all__ = [
    "ANALYSED_BY_PLUGIN",
    "AnalysisFailed",
    "analysable",
    "analysed",
    "describe",
    "farm_analysis",
    "frame_spec",
    "local_analysis",
    "look_for_relative_files",
    "missing_files",
]

ANALYSED_BY_PLUGIN = {"blender": ".blend", "maya": ".ma"}
"""The plugins whose ``scene`` parameter can be analysed, and that scene's extension."""


def analysable(plugin: str, scene: str) -> bool:
    """Whether ``scene``, the ``scene`` parameter of a ``plugin`` job, is a file type that
    can be analysed (a .blend for blender, a .ma for maya)."""
    suffix = ANALYSED_BY_PLUGIN.get(plugin)
    return suffix is not None and scene.lower().endswith(suffix)


def local_analysis(scene: Path) -> pb.SceneAnalysis | None:
    """``scene`` analysed on this machine (Maya ASCII parsed, a .blend by the local
    Blender); None when only the farm can. Raises AnalysisFailed. Blocking."""
    if not scene.is_file():
        return None
    suffix = scene.suffix.lower()
    if suffix == ".ma":
        analysis = parse_maya_ascii(scene.read_text(errors="replace"))
        look_for_files(analysis, scene.absolute().parent)
        return analysis
    blender = shutil.which("blender")
    if suffix != ".blend" or blender is None:
        return None
    analysis = analyse_with_blender(blender, scene.absolute())
    analysis.analyser += f" on {socket.gethostname()}"
    return analysis


async def farm_analysis(stub: FarmServiceAsyncStub, scene: Path, plugin: str) -> pb.SceneAnalysis:
    """The farm's analysis of ``scene``: uploaded when it is a file here, else named by
    its path as the render nodes see it. Raises grpc.aio.AioRpcError."""
    if not await asyncio.to_thread(scene.is_file):
        request = fpb.AnalyzeSceneRequest(plugin=plugin, path=str(scene))
    else:
        project = await asyncio.to_thread(read_project, [scene])
        await upload_project(stub, project)
        blob = project.files[0].entry.blob
        request = fpb.AnalyzeSceneRequest(plugin=plugin, blob=blob, name=scene.name)
    analysis = (await stub.AnalyzeScene(request)).analysis
    if request.HasField("blob"):  # only the scene travelled: its relative files are here
        await asyncio.to_thread(look_for_relative_files, analysis, scene)
    return analysis


def look_for_relative_files(analysis: pb.SceneAnalysis, scene: Path) -> None:
    """Check the files the scene names relative to itself (Blender's ``//``) beside the
    scene on this machine, where they are, rather than beside the node's uploaded copy;
    the missing-file warnings are made again from what is found."""
    folder = scene.absolute().parent
    for file in analysis.files:
        if file.path.startswith("//"):
            here = folder / file.path[2:].replace("\\", "/")
            file.resolved_path = os.path.normpath(here)
            file.exists = here.is_file()
            file.size_bytes = here.stat().st_size if file.exists else 0
    others = [w for w in analysis.warnings if not w.startswith("missing ")]
    del analysis.warnings[:]
    analysis.warnings.extend([*others, *missing_warnings(analysis)])


async def analysed(stub: FarmServiceAsyncStub | None, scene: Path, plugin: str) -> pb.SceneAnalysis:
    """``scene`` analysed here if this machine can, else by the farm (``stub``; None when
    there is no controller to ask). Raises AnalysisFailed (here) or grpc.aio.AioRpcError
    (the farm)."""
    analysis = await asyncio.to_thread(local_analysis, scene)
    if analysis is not None:
        return analysis
    if stub is None:
        raise AnalysisFailed(f"this machine cannot read {scene.name} and the controller is not connected")
    return await farm_analysis(stub, scene, plugin)


def missing_files(analysis: pb.SceneAnalysis) -> list[str]:
    """The files the scene names that were looked for and are not there."""
    return [file.path for file in analysis.files if file.resolved_path and not file.exists]


def frame_spec(analysis: pb.SceneAnalysis) -> str:
    """The scene's frame range in the ``--frames`` grammar (``1-250``, ``1-250x5``)."""
    spec = f"{analysis.frame_start}-{analysis.frame_end}"
    return f"{spec}x{analysis.frame_step}" if analysis.frame_step > 1 else spec


def describe(analysis: pb.SceneAnalysis) -> list[str]:
    """The analysis in lines, for people."""
    count = len(range(analysis.frame_start, analysis.frame_end + 1, max(1, analysis.frame_step)))
    size = f"{analysis.resolution_x}x{analysis.resolution_y}"
    cameras = ", ".join(f"{c.name} (active)" if c.active else c.name for c in analysis.cameras) or "none"
    output = f"{analysis.output_path or '(not set)'}" + (
        f" as {analysis.output_format}" if analysis.output_format else ""
    )
    lines = [
        f"analysed by  {analysis.analyser}",
        f"frames       {frame_spec(analysis)} ({count} frames)",
        f"fps          {analysis.fps:g}",
        f"resolution   {size} at {analysis.resolution_percentage}%",
        f"engine       {analysis.engine}",
        f"cameras      {cameras}",
        f"output       {output}",
        f"files        {len(analysis.files)}" + (":" if analysis.files else ""),
    ]
    for file in analysis.files:
        if not file.resolved_path:
            state = "not looked for"
        else:
            state = f"{format_size(file.size_bytes)}" if file.exists else "MISSING"
        lines.append(f"  {file.kind:<9} {file.path}  {state}")
    return lines
