"""The bundled demo scene, built by Blender itself the first time it is needed.

Shipping a script instead of a .blend keeps the package text-only and the scene
readable: a monkey that turns and slides over frames 1-24, small and quick to
render on one CPU core (160x90, 8 samples). Denoising stays off because Debian's
Blender is built without OpenImageDenoise, and a denoising scene fails there.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

SCENE_NAME = "demo.blend"
BUILD_TIMEOUT = 300.0
"""Seconds Blender may take to build the scene (a few on any machine) before it counts as stuck."""

SCENE_SCRIPT = r"""
import math
import sys

import bpy

target = sys.argv[sys.argv.index("--") + 1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene

bpy.ops.mesh.primitive_plane_add(size=12.0, location=(0.0, 0.0, -1.0))
floor_material = bpy.data.materials.new("floor")
floor_material.diffuse_color = (0.2, 0.25, 0.3, 1.0)
bpy.context.object.data.materials.append(floor_material)

bpy.ops.mesh.primitive_monkey_add(size=1.4, location=(-1.5, 0.0, 0.0))
monkey = bpy.context.object
bpy.ops.object.shade_smooth()
material = bpy.data.materials.new("monkey")
material.use_nodes = True
material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.9, 0.35, 0.1, 1.0)
monkey.data.materials.append(material)
for frame, x, turn in ((1, -1.5, 0.0), (24, 1.5, 2.0 * math.pi)):
    monkey.location.x = x
    monkey.rotation_euler.z = turn
    monkey.keyframe_insert("location", index=0, frame=frame)
    monkey.keyframe_insert("rotation_euler", index=2, frame=frame)

bpy.ops.object.camera_add(location=(0.0, -7.0, 2.0), rotation=(math.radians(78.0), 0.0, 0.0))
scene.camera = bpy.context.object
bpy.ops.object.light_add(type="SUN", location=(3.0, -3.0, 6.0), rotation=(0.6, 0.2, 0.4))
bpy.context.object.data.energy = 4.0
world = bpy.data.worlds.new("sky")
world.color = (0.4, 0.5, 0.7)
scene.world = world

scene.frame_start = 1
scene.frame_end = 24
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 8
scene.cycles.use_adaptive_sampling = False
scene.cycles.use_denoising = False
scene.cycles.use_preview_denoising = False
scene.render.resolution_x = 160
scene.render.resolution_y = 90
scene.render.resolution_percentage = 100
scene.render.image_settings.file_format = "PNG"
scene.render.filepath = "//renders/frame_####"
bpy.ops.wm.save_as_mainfile(filepath=target, compress=False)
"""


class DemoSceneError(RuntimeError):
    """Blender could not build the demo scene; the message says why."""


def ensure_demo_scene(directory: Path, blender: str = "blender") -> Path:
    """Return ``directory/demo.blend``, asking Blender to build it when it is missing.

    Blender writes to a temporary name first, so a half-written scene never passes
    for a finished one (two farms starting at once both get a whole file).
    """
    target = directory / SCENE_NAME
    if target.exists():
        return target
    executable = shutil.which(blender)
    if executable is None:
        raise DemoSceneError(
            f"cannot build the demo scene: Blender ({blender!r}) is not installed or not on PATH"
        )
    partial = directory / f".{SCENE_NAME}.{os.getpid()}.blend"
    argv = [
        executable, "-b", "--factory-startup", "--python-exit-code", "1",
        "--python-expr", SCENE_SCRIPT, "--", str(partial),
    ]  # fmt: skip
    log.info("building demo scene path=%s", target)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        raise DemoSceneError(f"Blender took more than {BUILD_TIMEOUT:g} s to build the demo scene") from None
    except OSError as e:
        raise DemoSceneError(f"cannot build the demo scene in {directory}: {e.strerror or e}") from None
    if result.returncode != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-8:])
        raise DemoSceneError(f"Blender could not build the demo scene (exit {result.returncode}):\n{tail}")
    os.replace(partial, target)
    return target
