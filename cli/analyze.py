"""``renderq analyze FILE``: what a scene says about itself before it is submitted: frame
range, fps, resolution, engine, cameras, output, and the files it needs (the missing ones
as warnings, refused with ``--strict``).

It reads the scene where it can, nearest first: a Maya ASCII scene is text, parsed here;
a .blend file with the Blender of this machine; otherwise the file is uploaded and the
farm analyses it (AnalyzeScene: an agent that has Blender). ``submit blender`` without
``--frames`` uses the same analysis for the scene's range, and ``submit --strict``
refuses a scene with missing files.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from renderq.cli.connection import client_verb
from renderq.cli.failures import FIXABLE, UserError, warn
from renderq.cli.output import print_json
from renderq.client.project_files import read_project
from renderq.client.units import format_size
from renderq.client.upload import upload_project
from renderq.plugins.blender_analysis import AnalysisFailed, analyse_with_blender, missing_warnings
from renderq.plugins.maya_ascii import look_for_files, parse_maya_ascii
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

ANALYSED_BY_PLUGIN = {"blender": ".blend", "maya": ".ma"}
"""The plugins whose ``scene`` parameter ``submit`` can analyse, and that scene's extension."""


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    text = "what a scene says: frame range, fps, resolution, cameras, output, the files it needs"
    parser = verbs.add_parser("analyze", parents=[common], help=text, description=text.capitalize() + ".")
    parser.add_argument("file", metavar="FILE", help="the scene: a .blend or Maya ASCII (.ma) file")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a file the scene needs is missing")
    parser.add_argument(
        "--plugin", default="", metavar="NAME", help="the plugin that renders it (blender, maya)"
    )
    parser.set_defaults(run=_analyze)


def _analyze(args: argparse.Namespace) -> int:
    """Analyse here when this machine can, without dialling the controller; else on the farm."""
    try:
        analysis = local_analysis(Path(args.file))
    except AnalysisFailed as failed:
        raise UserError(str(failed)) from None
    if analysis is None:
        return client_verb(_analyze_on_farm)(args)
    return _show(args, analysis)


async def _analyze_on_farm(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    return _show(args, await farm_analysis(stub, Path(args.file), args.plugin))


def local_analysis(scene: Path) -> pb.SceneAnalysis | None:
    """``scene`` analysed on this machine (Maya ASCII parsed, a .blend by the local
    Blender); None when only the farm can. Raises AnalysisFailed."""
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
    its path as the render nodes see it."""
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


async def analysed(stub: FarmServiceAsyncStub, scene: Path, plugin: str) -> pb.SceneAnalysis:
    """``scene`` analysed here if this machine can, else by the farm; raises UserError."""
    try:
        analysis = await asyncio.to_thread(local_analysis, scene)
    except AnalysisFailed as failed:
        raise UserError(str(failed)) from None
    return analysis if analysis is not None else await farm_analysis(stub, scene, plugin)


def missing_files(analysis: pb.SceneAnalysis) -> list[str]:
    """The files the scene names that were looked for and are not there."""
    return [file.path for file in analysis.files if file.resolved_path and not file.exists]


def refuse_missing(analysis: pb.SceneAnalysis, scene: str) -> None:
    """Raise UserError (exit 2) naming the missing files, if any."""
    missing = missing_files(analysis)
    if missing:
        raise UserError(f"{scene} needs {len(missing)} missing file(s): {', '.join(missing)}", FIXABLE)


def frame_spec(analysis: pb.SceneAnalysis) -> str:
    """The scene's frame range in the ``--frames`` grammar (``1-250``, ``1-250x5``)."""
    spec = f"{analysis.frame_start}-{analysis.frame_end}"
    return f"{spec}x{analysis.frame_step}" if analysis.frame_step > 1 else spec


async def frames_and_files(
    args: argparse.Namespace, stub: FarmServiceAsyncStub, parameters: dict[str, Any]
) -> None:
    """For ``submit``: the scene's range as ``args.frames`` when ``--frames`` is left out
    (blender only), and with ``--strict`` a refusal of a scene whose files are missing."""
    plugin, scene = args.plugin, parameters.get("scene")
    if args.frames is None and plugin != "blender":
        raise UserError(
            "give --frames: only `submit blender` takes the scene's frame range when it is left out"
        )
    if not isinstance(scene, str) or (args.frames is not None and not args.strict):
        return
    if plugin not in ANALYSED_BY_PLUGIN or not scene.lower().endswith(ANALYSED_BY_PLUGIN[plugin]):
        return
    analysis = await analysed(stub, Path(scene), plugin)
    if args.strict:
        refuse_missing(analysis, scene)
    if args.frames is None:
        args.frames = frame_spec(analysis)


def _show(args: argparse.Namespace, analysis: pb.SceneAnalysis) -> int:
    for warning in analysis.warnings:
        warn(warning, args.json)
    if args.json:
        print_json(analysis)
    else:
        print("\n".join(describe(analysis)))
    if args.strict:
        refuse_missing(analysis, args.file)
    return 0


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
