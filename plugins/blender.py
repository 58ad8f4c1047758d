"""The ``blender`` plugin: render a .blend headless with one Blender process per task.

Blender applies its command-line options in order, so the scene is loaded first,
then engine, device, output and format are set, and only then are frames rendered
(``-a`` or ``-f``): an option placed after the render flag would not apply.
Cycles' device, the camera and the resolution are set through a Python expression
because they are properties of the scene (and, for the GPU, of the preferences), which
the command line cannot set. The expression fails the render with a sentence when the
camera is not in the scene or the node has no GPU Cycles can use.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from renderq.plugins.base import CommandSpec, OutputParser, Parameter, ParameterError, ParamType, Plugin
from renderq.plugins.blender_output import BlenderOutputParser
from renderq.plugins.template import check_template, token_names, uses_agent_token

MAX_THREADS = 1024
"""Blender's own limit for ``-t``."""
MAX_NAME_BYTES = 255
"""Most UTF-8 bytes of an object's name in any Blender (3.x and 4.x stop at 63)."""
GPU_TYPES = ("OPTIX", "CUDA", "HIP", "METAL", "ONEAPI")
"""Cycles' compute device types, tried in this order: the first the node has renders."""
EXTENSIONS = {"PNG": ".png", "OPEN_EXR": ".exr", "JPEG": ".jpg", "TIFF": ".tif"}
"""The extension Blender gives each ``format``'s files."""


class BlenderPlugin(Plugin):
    name = "blender"
    description = "Render a Blender scene headless (Cycles on the CPU or a GPU), one process per task."
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
            choices=tuple(EXTENSIONS),
        ),
        Parameter(
            "engine",
            ParamType.CHOICE,
            "render engine",
            default="CYCLES",
            choices=("CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH"),
        ),
        Parameter(
            "device",
            ParamType.CHOICE,
            "Cycles' device: GPU uses the node's first of " + ", ".join(GPU_TYPES) + " and fails the "
            "render on a node without one",
            default="CPU",
            choices=("CPU", "GPU"),
        ),
        Parameter(
            "camera", ParamType.STRING, "the camera object to render through; the scene's own when left out"
        ),
        Parameter(
            "resolution_percentage",
            ParamType.INTEGER,
            "the scene's resolution scaled by this percentage (1 to 100); the scene's own when left out",
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
        percentage = params.get("resolution_percentage")
        if percentage is not None and not 1 <= percentage <= 100:
            raise ParameterError(
                "resolution_percentage", f"'resolution_percentage' must be from 1 to 100, not {percentage}"
            )
        if params.get("camera") is not None:
            _check_camera(params["camera"])
        if params["device"] == "GPU" and params["engine"] != "CYCLES":
            raise ParameterError(
                "device",
                f"'device' GPU is a Cycles setting; {params['engine']} renders with the node's graphics "
                "whatever it says: leave 'device' out or choose the CYCLES engine",
            )
        if not 0 <= params["threads"] <= MAX_THREADS:
            raise ParameterError(
                "threads", f"'threads' must be from 0 (every core) to {MAX_THREADS}, not {params['threads']}"
            )

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        argv = [
            "blender", "-b", params["scene"],
            "-E", params["engine"],
            "--python-exit-code", "1",
            "--python-expr", _scene_settings(params),
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


def _check_camera(camera: str) -> None:
    """A name Blender could give an object; it is passed to Python as a literal (``repr``),
    so no name can run code, and the scene itself says whether it has the camera."""
    if not camera.strip():
        raise ParameterError("camera", "'camera' is empty; name the camera object, or leave it out")
    if any(ord(c) < 32 or ord(c) == 127 for c in camera):
        raise ParameterError("camera", f"'camera' {camera!r} has a control character, which no name has")
    if len(camera.encode()) > MAX_NAME_BYTES:
        raise ParameterError("camera", f"'camera' is longer than Blender's names ({MAX_NAME_BYTES} bytes)")


_CAMERA = """
camera = bpy.data.objects.get({name!r})
if camera is None or camera.type != 'CAMERA':
    raise RuntimeError('the scene has no camera object named ' + {name!r} + ': check the camera parameter')
scene.camera = camera"""
"""Blender prints the RuntimeError line, which the parser reports as the frame's error."""

_GPU = f"""
prefs = bpy.context.preferences.addons['cycles'].preferences
for kind in {GPU_TYPES!r}:
    try:
        prefs.compute_device_type = kind
    except TypeError:
        continue
    prefs.get_devices()
    if any(d.type == kind for d in prefs.devices):
        for d in prefs.devices:
            d.use = d.type == kind
        break
else:
    raise RuntimeError('this node has no GPU Cycles can use (it tried {", ".join(GPU_TYPES)}): '
                       'render with device CPU, or on a node with a GPU')
scene.cycles.device = 'GPU'"""
"""A compute type the build lacks raises TypeError when set; one it has may list no device."""


_NO_DENOISER = """if scene.cycles.use_denoising and not scene.cycles.denoiser:
    scene.cycles.use_denoising = False
    print('renderq: denoising turned off: this Blender has no denoiser')"""
"""A scene saved with denoising on renders on a Blender built without a denoiser (Debian's):
Cycles would stop with "Build without OpenImageDenoiser" instead (its denoiser is then
an empty choice)."""


def _scene_settings(params: dict[str, Any]) -> str:
    """The Python run after the scene loads: one top-level statement or block per line, so
    a setting after a block (GPU, camera) is never taken into it."""
    lines = ["import bpy", "scene = bpy.context.scene", _NO_DENOISER]
    lines.append(_GPU.strip() if params["device"] == "GPU" else "scene.cycles.device = 'CPU'")
    if params.get("samples") is not None:
        lines.append(f"scene.cycles.samples = {params['samples']}")
    if params.get("resolution_percentage") is not None:
        lines.append(f"scene.render.resolution_percentage = {params['resolution_percentage']}")
    if params.get("camera") is not None:
        lines.append(_CAMERA.format(name=params["camera"]).strip())
    return "\n".join(lines)


def _frame_arguments(frames: list[int]) -> list[str]:
    """``-s A -e B -j 1 -a`` for a run of frames, ``-f 1,3,5`` for any other list.

    ``-j 1`` because ``-a`` steps by the scene's own frame step, which may skip frames.
    """
    if len(frames) > 1 and frames == list(range(frames[0], frames[-1] + 1)):
        return ["-s", str(frames[0]), "-e", str(frames[-1]), "-j", "1", "-a"]
    return ["-f", ",".join(str(f) for f in frames)]
