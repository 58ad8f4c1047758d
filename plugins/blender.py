"""The ``blender`` plugin: render a .blend headless with one Blender process per task.

Blender applies its command-line options in order, so the scene is loaded first,
then engine, device, output and format are set, and only then are frames rendered
(``-a`` or ``-f``): an option placed after the render flag would not apply.
Cycles is pinned to the CPU through a Python expression because the device is a
property of the scene, which the command line cannot set.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from renderq.plugins.base import CommandSpec, OutputParser, Parameter, ParameterError, ParamType, Plugin
from renderq.plugins.blender_output import BlenderOutputParser
from renderq.plugins.template import check_template, token_names, uses_agent_token

MAX_THREADS = 1024
"""Blender's own limit for ``-t``."""


class BlenderPlugin(Plugin):
    name = "blender"
    description = "Render a Blender scene headless (Cycles on the CPU), one Blender process per task."
    renderer = "blender"
    parameters = (
        Parameter(
            "scene",
            ParamType.PATH,
            "the .blend file as the render nodes open it: an absolute path on storage they share "
            "(`renderq submit` makes a relative one absolute from your directory and checks it "
            "there), or a path under {project}, the job's folder on each node",
            required=True,
        ),
        Parameter(
            "output",
            ParamType.STRING,
            "where Blender writes each frame (its -o pattern): #### becomes the zero-padded frame number",
            default="{renders}/frame_####",
        ),
        Parameter(
            "format",
            ParamType.CHOICE,
            "image file format",
            default="PNG",
            choices=("PNG", "OPEN_EXR", "JPEG"),
        ),
        Parameter(
            "engine",
            ParamType.CHOICE,
            "render engine",
            default="CYCLES",
            choices=("CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH"),
        ),
        Parameter("samples", ParamType.INTEGER, "Cycles samples per pixel; the scene's own when left out"),
        Parameter("threads", ParamType.INTEGER, "render threads; 0 uses every core of the node", default=0),
    )

    def check(self, params: dict[str, Any]) -> None:
        _check_scene(params["scene"])
        output: str = params["output"]
        if not output.strip():
            raise ParameterError("output", "'output' is empty; give a path such as {renders}/frame_####")
        if "frame" in token_names(output):
            raise ParameterError(
                "output", "'output' is a Blender pattern: write #### for the frame number, not {frame}"
            )
        check_template("output", output, ())
        samples = params.get("samples")
        if samples is not None and samples < 1:
            raise ParameterError("samples", f"'samples' must be 1 or more, not {samples}")
        if not 0 <= params["threads"] <= MAX_THREADS:
            raise ParameterError(
                "threads", f"'threads' must be from 0 (every core) to {MAX_THREADS}, not {params['threads']}"
            )

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        argv = [
            "blender", "-b", params["scene"],
            "-E", params["engine"],
            "--python-exit-code", "1",
            "--python-expr", _scene_settings(params.get("samples")),
            "-o", params["output"],
            "-F", params["format"],
            "-t", str(params["threads"]),
            *_frame_arguments(frames),
        ]  # fmt: skip
        return [CommandSpec(argv=argv, frames=list(frames))]

    def output_parser(self) -> OutputParser:
        return BlenderOutputParser()


def _check_scene(scene: str) -> None:
    """Only what the path itself says: a .blend, and a place every node can resolve.

    It is never looked for on the controller's disk, which may not mount the studio's
    storage at all: the client checked it where the user typed it. A relative path would
    be resolved from each node's own working directory, so it must come absolute (as
    ``renderq submit`` sends it), POSIX or Windows, or start from an agent token.
    """
    if not scene.lower().endswith(".blend"):
        raise ParameterError("scene", f"'scene' must be a .blend file, not {scene!r}")
    check_template("scene", scene, ())
    if uses_agent_token(scene):
        return
    if not (PurePosixPath(scene).is_absolute() or PureWindowsPath(scene).is_absolute()):
        raise ParameterError(
            "scene",
            f"the scene {scene!r} is a relative path; it must be absolute, as `renderq submit` sends it, "
            "or start with {project}",
        )


def _scene_settings(samples: int | None) -> str:
    expr = "import bpy; scene = bpy.context.scene; scene.cycles.device = 'CPU'"
    if samples is not None:
        expr += f"; scene.cycles.samples = {samples}"
    return expr


def _frame_arguments(frames: list[int]) -> list[str]:
    """``-s A -e B -j 1 -a`` for a run of frames, ``-f 1,3,5`` for any other list.

    ``-j 1`` because ``-a`` steps by the scene's own frame step, which may skip frames.
    """
    if len(frames) > 1 and frames == list(range(frames[0], frames[-1] + 1)):
        return ["-s", str(frames[0]), "-e", str(frames[-1]), "-j", "1", "-a"]
    return ["-f", ",".join(str(f) for f in frames)]
