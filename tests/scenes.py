"""Scenes the tests render, made from the demo scene with Blender itself."""

from __future__ import annotations

import subprocess
from pathlib import Path


def denoising_copy(blender: str, scene: Path, dest: Path, timeout: float = 120.0) -> Path:
    """A copy of ``scene`` with Cycles denoising on, which Debian's Blender cannot do."""
    subprocess.run(
        [blender, "-b", str(scene), "--python-exit-code", "1", "--python-expr",
         "import bpy; bpy.context.scene.cycles.use_denoising = True; "
         f"bpy.ops.wm.save_as_mainfile(filepath={str(dest)!r}, copy=True)"],
        check=True, capture_output=True, timeout=timeout,
    )  # fmt: skip
    return dest
