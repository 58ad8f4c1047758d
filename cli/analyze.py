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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from renderq.cli.connection import client_verb
from renderq.cli.failures import FIXABLE, UserError, warn
from renderq.cli.output import print_json
from renderq.client import scene_analysis
from renderq.client.scene_analysis import analysable, describe, farm_analysis, frame_spec, missing_files
from renderq.plugins.blender_analysis import AnalysisFailed

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1 import resources_pb2 as pb
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


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
        analysis = scene_analysis.local_analysis(Path(args.file))
    except AnalysisFailed as failed:
        raise UserError(str(failed)) from None
    if analysis is None:
        return client_verb(_analyze_on_farm)(args)
    return _show(args, analysis)


async def _analyze_on_farm(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    return _show(args, await farm_analysis(stub, Path(args.file), args.plugin))


async def analysed(stub: FarmServiceAsyncStub, scene: Path, plugin: str) -> pb.SceneAnalysis:
    """``scene`` analysed here if this machine can, else by the farm; raises UserError."""
    try:
        return await scene_analysis.analysed(stub, scene, plugin)
    except AnalysisFailed as failed:
        raise UserError(str(failed)) from None


def refuse_missing(analysis: pb.SceneAnalysis, scene: str) -> None:
    """Raise UserError (exit 2) naming the missing files, if any."""
    missing = missing_files(analysis)
    if missing:
        raise UserError(f"{scene} needs {len(missing)} missing file(s): {', '.join(missing)}", FIXABLE)


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
    if not analysable(plugin, scene):
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
