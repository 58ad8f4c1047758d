"""What a .blend file says about itself, read by Blender: frame range, fps, resolution,
engine, cameras, output and every external file it needs.

Only Blender reads a .blend reliably, so the analysis is a script Blender runs headless
(``SCRIPT``) that prints one JSON line behind ``MARKER``; ``parse_blender_analysis`` turns
that line into a SceneAnalysis without Blender, so it is tested on its own. The CLI (where
the artist has Blender) and the agent (where the farm has it) both run it through
``analyse_with_blender``: one command line, one deadline, one parser.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from google.protobuf import json_format

from renderq.v1 import resources_pb2 as pb

MARKER = "RENDERQ_SCENE_ANALYSIS "
"""The prefix of the one line the script prints (Blender prints its own lines around it)."""

TIMEOUT = 50.0
"""Seconds Blender may take to open a scene and describe it (a large scene with many
libraries takes a while; the controller waits 60 s for an agent's answer)."""

SCRIPT = r"""
import json, os, sys
import bpy

def described(kind, path, library=None):
    resolved = os.path.normpath(bpy.path.abspath(path, library=library))
    exists = os.path.exists(resolved)
    size = os.path.getsize(resolved) if os.path.isfile(resolved) else 0
    return {"path": path, "resolved_path": resolved, "kind": kind, "exists": exists,
            "size_bytes": size}

def unpacked(block):
    return block.filepath and getattr(block, "packed_file", None) is None

scene = bpy.context.scene
render = scene.render
files = []
for image in bpy.data.images:
    if image.source in {"FILE", "SEQUENCE", "MOVIE", "TILED"} and unpacked(image):
        files.append(described("image", image.filepath, image.library))
for library in bpy.data.libraries:
    files.append(described("library", library.filepath, library.library))
for kind, blocks in (("cache", bpy.data.cache_files), ("sound", bpy.data.sounds),
                     ("font", bpy.data.fonts), ("volume", bpy.data.volumes)):
    for block in blocks:
        if unpacked(block) and block.filepath != "<builtin>":
            files.append(described(kind, block.filepath, block.library))
cameras = [{"name": o.name, "active": o == scene.camera} for o in scene.objects if o.type == "CAMERA"]
print("RENDERQ_SCENE_ANALYSIS " + json.dumps({
    "version": bpy.app.version_string,
    "frame_start": scene.frame_start, "frame_end": scene.frame_end, "frame_step": scene.frame_step,
    "fps": render.fps / render.fps_base,
    "resolution_x": render.resolution_x, "resolution_y": render.resolution_y,
    "resolution_percentage": render.resolution_percentage,
    "engine": render.engine, "cameras": cameras,
    "output_path": render.filepath, "output_format": render.image_settings.file_format,
    "files": files,
}), flush=True)
"""
"""Run by Blender on the opened scene; nothing in it depends on renderq."""


class AnalysisFailed(Exception):
    """The scene could not be analysed; the message says why, in words."""


def analysis_command(blender: str, scene: Path) -> list[str]:
    """Blender, headless, opening ``scene`` without the user's startup file or add-ons, and
    exiting non-zero if the script fails."""
    headless = ("-b", str(scene), "--factory-startup", "--python-exit-code", "1")
    return [blender, *headless, "--python-expr", SCRIPT]


def analyse_with_blender(blender: str, scene: Path, timeout: float = TIMEOUT) -> pb.SceneAnalysis:
    """``scene`` analysed by ``blender`` (killed past ``timeout``); raises AnalysisFailed.
    Blocking: call it in a worker thread from an event loop."""
    try:
        ran = subprocess.run(
            analysis_command(blender, scene),
            capture_output=True, text=True, errors="replace", timeout=timeout, check=False,
            stdin=subprocess.DEVNULL, cwd=scene.parent,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AnalysisFailed(f"Blender did not analyse {scene.name} within {timeout:g} s") from None
    except OSError as exc:
        raise AnalysisFailed(f"cannot run Blender ({blender}): {exc.strerror or exc}") from None
    try:
        return parse_blender_analysis(ran.stdout)
    except AnalysisFailed:
        if ran.returncode == 0:
            raise
        last = next((line for line in reversed((ran.stdout + ran.stderr).splitlines()) if line.strip()), "")
        raise AnalysisFailed(
            f"Blender could not analyse {scene.name} (exit {ran.returncode}): {last.strip()}"
        ) from None


def parse_blender_analysis(output: str) -> pb.SceneAnalysis:
    """The SceneAnalysis in Blender's output (the last line behind MARKER), with a warning
    for each file the scene needs that is not where it says; raises AnalysisFailed."""
    lines = [line[len(MARKER) :] for line in output.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise AnalysisFailed("Blender printed no scene analysis")
    try:
        document = json.loads(lines[-1])
        version = document.pop("version")
        analysis = json_format.ParseDict(document, pb.SceneAnalysis())
    except (ValueError, KeyError, AttributeError, json_format.ParseError) as exc:
        raise AnalysisFailed(f"Blender's scene analysis is not readable: {exc}") from None
    analysis.analyser = f"blender {version}"
    analysis.warnings.extend(missing_warnings(analysis))
    return analysis


def missing_warnings(analysis: pb.SceneAnalysis) -> list[str]:
    """One sentence per external file that was looked for and is not there."""
    return [
        f"missing {file.kind} {file.path} (looked for {file.resolved_path})"
        for file in analysis.files
        if file.resolved_path and not file.exists
    ]
