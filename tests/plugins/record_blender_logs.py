"""Re-record the Blender logs the parser tests read: ``python tests/plugins/record_blender_logs.py``.

Each log is the merged output of the real Blender running the command the
``blender`` plugin builds, so the parser is tested against what nodes really print.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from renderq.agent.task_setup import fill_tokens
from renderq.demo.scene import ensure_demo_scene
from renderq.plugins.registry import get_plugin

LOGS = Path(__file__).parent / "logs"
WORK = Path("/tmp/renderq-blender-logs")


def blender_argv(scene: Path, frames: list[int], engine: str = "CYCLES") -> list[str]:
    plugin = get_plugin("blender")
    assert plugin is not None
    params = plugin.validate({"scene": str(scene), "engine": engine}) if scene.exists() else _unchecked(scene)
    [command] = plugin.build_commands(params, frames)
    return [fill_tokens(arg, {"{renders}": str(WORK / "renders")}) for arg in command.argv]


def _unchecked(scene: Path) -> dict[str, object]:
    """Parameters for a scene that is missing on purpose (validation would refuse it)."""
    return {
        "scene": str(scene),
        "output": "{renders}/frame_####",
        "format": "PNG",
        "engine": "CYCLES",
        "threads": 0,
    }


def record(name: str, argv: list[str]) -> None:
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    (LOGS / name).write_bytes(result.stdout)
    print(f"{name}: exit {result.returncode}, {len(result.stdout.splitlines())} lines")


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(exist_ok=True)
    scene = ensure_demo_scene(WORK)
    denoising = WORK / "denoising.blend"
    subprocess.run(
        ["blender", "-b", str(scene), "--python-exit-code", "1", "--python-expr",
         "import bpy; bpy.context.scene.cycles.use_denoising = True; "
         f"bpy.ops.wm.save_as_mainfile(filepath={str(denoising)!r}, copy=True)"],
        check=True, capture_output=True,
    )  # fmt: skip
    truncated = WORK / "truncated.blend"
    truncated.write_bytes(scene.read_bytes()[:100_000])
    record("render_frames_1-3.log", blender_argv(scene, [1, 2, 3]))
    record("render_frames_1_3.log", blender_argv(scene, [1, 3]))
    record("eevee_frame_1.log", blender_argv(scene, [1], engine="BLENDER_EEVEE"))
    record("denoising.log", blender_argv(denoising, [1, 2]))
    record("missing_scene.log", blender_argv(WORK / "missing.blend", [1, 2]))
    record("corrupt_scene.log", blender_argv(truncated, [1, 2]))
    record(
        "python_error.log",
        ["blender", "-b", str(scene), "--python-exit-code", "1", "--python-expr",
         "import bpy; bpy.context.scene.cycles.samples = 'eight'", "-f", "1"],
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
