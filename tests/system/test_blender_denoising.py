"""A scene saved with denoising on, on a farm whose Blender has no denoiser (Debian's): its
frames render with denoising turned off, and the task's log says so (Cycles would otherwise
fail every frame; that error's wording is checked against a recorded log in
tests/plugins/test_blender_output.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from renderq.demo.scene import ensure_demo_scene
from tests.scenes import denoising_copy

from .conftest import Farm

pytestmark = [pytest.mark.system, pytest.mark.blender]


def test_a_denoising_scene_renders_with_denoising_turned_off_and_says_so(
    farm_factory: Callable[[], Farm], blender: str, tmp_path: Path
) -> None:
    scene = denoising_copy(blender, ensure_demo_scene(tmp_path / "scene"), tmp_path / "denoising.blend")
    farm: Farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    farm.start_controller().wait_for_line(r"agent online")
    job_id = str(
        farm.cli.json(
            "submit", "blender", "--frames", "1", "--max-retries", "0", "--param", f"scene={scene}"
        )["id"]
    )
    assert farm.cli.run("wait", job_id, "--timeout", "300", check=False).returncode == 0
    (frame,) = farm.cli.json("frames", job_id)
    assert frame["state"] == "completed"
    log = farm.cli.run("logs", job_id, "1").stdout
    assert "renderq: denoising turned off: this Blender has no denoiser" in log
