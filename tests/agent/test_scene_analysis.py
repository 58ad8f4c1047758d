"""The scenes an agent agrees to open for an analysis: no relative path, no '..', no link."""

from __future__ import annotations

from pathlib import Path

import pytest

from renderq.agent.scene_analysis import checked_scene_name, checked_scene_path
from renderq.plugins.blender_analysis import AnalysisFailed


def test_a_regular_file_by_absolute_path_is_opened(tmp_path: Path) -> None:
    scene = tmp_path / "shot.blend"
    scene.write_bytes(b"BLENDER")
    assert checked_scene_path(str(scene)) == scene


@pytest.mark.parametrize("text", ["shot.blend", "/shots/../etc/shot.blend", "/shots/a\0.blend"])
def test_relative_climbing_or_odd_paths_are_refused(text: str) -> None:
    with pytest.raises(AnalysisFailed, match="not an absolute path"):
        checked_scene_path(text)


def test_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "shot.blend").symlink_to("/etc/passwd")
    with pytest.raises(AnalysisFailed, match="not a regular file"):
        checked_scene_path(str(tmp_path / "shot.blend"))


@pytest.mark.parametrize("name", ["../shot.blend", "a/shot.blend", "shot.exe", "..", "a\\b.blend"])
def test_an_uploaded_scene_is_one_plain_blend_name(name: str) -> None:
    with pytest.raises(AnalysisFailed, match=r"plain \.blend file name"):
        checked_scene_name(name)
