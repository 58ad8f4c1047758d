"""Building the demo scene with Blender, once, and the errors when that cannot work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from renderq.demo.scene import DemoSceneError, ensure_demo_scene


@pytest.mark.blender
def test_the_scene_is_built_once(blender: str, demo_scene: Path) -> None:
    assert demo_scene.name == "demo.blend"
    assert demo_scene.read_bytes().startswith(b"BLENDER")
    before = demo_scene.stat().st_mtime_ns
    assert ensure_demo_scene(demo_scene.parent, blender) == demo_scene
    assert demo_scene.stat().st_mtime_ns == before
    assert [p.name for p in demo_scene.parent.iterdir()] == ["demo.blend"]


def test_missing_blender_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        DemoSceneError, match="Blender \\('no-such-blender'\\) is not installed or not on PATH"
    ):
        ensure_demo_scene(tmp_path, "no-such-blender")


def test_failing_blender_is_a_clear_error_with_its_last_words(tmp_path: Path) -> None:
    broken = tmp_path / "broken-blender"
    broken.write_text(f"#!{sys.executable}\nimport sys\nprint('Error: no GPU, no luck')\nsys.exit(3)\n")
    broken.chmod(0o755)
    scenes = tmp_path / "scenes"
    with pytest.raises(DemoSceneError) as caught:
        ensure_demo_scene(scenes, str(broken))
    assert str(caught.value) == "Blender could not build the demo scene (exit 3):\nError: no GPU, no luck"
    assert not list(scenes.iterdir())


def test_a_directory_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DemoSceneError, match=f"cannot build the demo scene in {blocker / 'demo'}: "):
        ensure_demo_scene(blocker / "demo", sys.executable)  # refused before anything runs
