"""A renderer's failure reaches the operator as the frame's error, in words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from renderq.demo.scene import ensure_demo_scene
from tests.scenes import denoising_copy

from .conftest import Farm

pytestmark = [pytest.mark.system, pytest.mark.blender]


def test_denoising_scene_fails_with_the_denoiser_named_on_the_frame(
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
    assert farm.cli.run("wait", job_id, "--timeout", "300", check=False).returncode == 1
    (frame,) = farm.cli.json("frames", job_id)
    assert frame["state"] == "failed"
    assert "OpenImageDenoise" in frame["error_message"]
    assert "cannot denoise" in farm.cli.run("frames", job_id).stdout, "the frames table must show the error"
    assert "OpenImageDenoise" in farm.cli.run("job", job_id).stdout, "the job view must show the whole error"
