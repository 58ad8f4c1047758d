"""Scene analysis with real processes: a CLI on a machine without Blender uploads the
scene and an agent that has Blender analyses it; ``submit blender`` without ``--frames``
takes the scene's range, ``--strict`` refuses a scene whose files are missing, and such a
scene still renders through the camera a job names."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.plugins.test_blender_analysis import make_scene
from tests.png_pixels import decode_png

from .conftest import Farm
from .harness import Cli
from .test_project_upload import fetch_all

pytestmark = [pytest.mark.system, pytest.mark.blender]


@pytest.fixture
def farm(farm_factory: Callable[[], Farm], blender: str) -> Farm:
    """A controller and one agent with Blender on its PATH."""
    farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1", "--slots", "1")
    controller = farm.start_controller()
    controller.wait_for_line(rf"agent online agent={farm.agents['a1'].agent_id}\b")
    return farm


def without_blender(cli: Cli, tmp_path: Path) -> Cli:
    """The same CLI run with a PATH that holds no Blender (the artist's laptop)."""
    empty = tmp_path / "no-blender-bin"
    empty.mkdir()
    env = shutil.which("env")
    assert env is not None
    return Cli(cli.controller, cli.data_dir, wrap=lambda argv: [env, f"PATH={empty}", *argv])


def test_a_scene_uploaded_from_a_machine_without_blender_is_analysed_on_the_agent(
    farm: Farm, blender: str, tmp_path: Path
) -> None:
    scene = make_scene(blender, tmp_path / "shot")
    cli = without_blender(farm.cli, tmp_path)
    analysis = cli.json("analyze", str(scene))
    assert analysis["analyser"].startswith("blender ") and " on " in analysis["analyser"]
    assert (analysis["frame_start"], analysis["frame_end"], analysis["frame_step"]) == (11, 42, 2)
    assert sorted((c["name"], c["active"]) for c in analysis["cameras"]) == [("close", True), ("wide", False)]
    files = {f["path"]: f for f in analysis["files"]}
    # Only the scene went up: its relative files are looked for here, beside it.
    assert not files["//tex/missing.png"]["exists"]
    assert files["//tex/present.png"]["exists"] and files["//tex/present.png"]["size_bytes"] > 0

    text = cli.run("analyze", str(scene))
    assert "close (active)" in text.stdout and "11-42x2 (16 frames)" in text.stdout
    assert "missing image //tex/missing.png" in text.stderr

    strict = cli.run("analyze", str(scene), "--strict", check=False)
    assert strict.returncode == 2
    assert "//tex/missing.png" in strict.stderr and "present.png" not in strict.stderr


def test_submit_blender_without_frames_takes_the_scene_range_and_strict_refuses_missing_files(
    farm: Farm, blender: str, tmp_path: Path
) -> None:
    scene = make_scene(blender, tmp_path / "shot")
    cli = without_blender(farm.cli, tmp_path)
    job = cli.json("submit", "blender", "--param", f"scene={scene}", "--paths-on-nodes")
    assert job["frames"] == "11-42x2"
    refused = cli.run("submit", "blender", "--strict", "--param", f"scene={scene}", check=False)
    assert refused.returncode == 2
    assert "//tex/missing.png" in refused.stderr and "present.png" not in refused.stderr
    other = cli.run("submit", "command", "--", "true", check=False)
    assert other.returncode == 2 and "give --frames" in other.stderr


NO_DENOISING = "import bpy; bpy.context.scene.cycles.use_denoising = False; bpy.ops.wm.save_mainfile()"


def without_denoising(blender: str, scene: Path) -> None:
    """``scene`` saved with Cycles' denoiser off: Debian's Blender has no OpenImageDenoise
    and fails a render that asks for it."""
    subprocess.run(
        [blender, "-b", str(scene), "--factory-startup", "--python-exit-code", "1",
         "--python-expr", NO_DENOISING],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def test_a_scene_with_a_missing_texture_is_analysed_then_rendered_through_its_other_camera(
    farm: Farm, blender: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = make_scene(blender, tmp_path / "shot")
    without_denoising(blender, scene)
    cli = without_blender(farm.cli, tmp_path)
    analysis = cli.json("analyze", str(scene))
    assert not {f["path"]: f for f in analysis["files"]}["//tex/missing.png"]["exists"]
    other = next(c["name"] for c in analysis["cameras"] if not c["active"])
    assert other == "wide"

    monkeypatch.chdir(scene.parent.parent)
    job = cli.json(
        "submit", "blender", "--frames", str(analysis["frame_start"]), "--upload", "shot",
        "--param", "scene=shot/shot.blend", "--param", f"camera={other}", "--param", "samples=1",
    )  # fmt: skip
    # A missing image does not stop Blender (where one is used it draws magenta): the frame is written.
    cli.run("wait", str(job["id"]), "--timeout", "120")
    (frame,) = fetch_all(farm, job["id"], tmp_path / "frames")
    image = decode_png(frame.read_bytes())
    scale = analysis["resolution_percentage"] / 100
    assert (image.width, image.height) == (
        round(analysis["resolution_x"] * scale), round(analysis["resolution_y"] * scale),
    )  # fmt: skip
    assert (image.width, image.height) == (320, 180)
