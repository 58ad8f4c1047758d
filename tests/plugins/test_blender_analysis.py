"""The Blender scene analysis: its parser on output Blender printed, and a real Blender
reading a scene made for the test (two cameras, one texture there and one missing)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from renderq.demo.png import encode_png
from renderq.plugins.blender_analysis import (
    MARKER,
    AnalysisFailed,
    analyse_with_blender,
    parse_blender_analysis,
)

MULTI_CAMERA_SCENE = r"""
import sys

import bpy

target = sys.argv[sys.argv.index("--") + 1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.render.resolution_x, scene.render.resolution_y = 640, 360
scene.render.resolution_percentage = 50
scene.render.fps, scene.render.fps_base = 24, 1.001
scene.frame_start, scene.frame_end, scene.frame_step = 11, 42, 2
scene.render.filepath = "//render/shot_####"
scene.render.image_settings.file_format = "OPEN_EXR"
bpy.ops.wm.save_as_mainfile(filepath=target)  # from here on, // is the scene's folder
bpy.data.images.load("//tex/present.png").use_fake_user = True  # kept though unused
missing = bpy.data.images.new("missing", 4, 4)
missing.source, missing.filepath, missing.use_fake_user = "FILE", "//tex/missing.png", True
for name in ("wide", "close"):
    bpy.ops.object.camera_add()
    bpy.context.object.name = name
scene.camera = bpy.data.objects["close"]
bpy.ops.wm.save_mainfile()
"""
"""Two cameras (``close`` renders), an existing texture and a missing one."""


def make_scene(blender: str, folder: Path) -> Path:
    """The scene above saved as ``folder/shot.blend``, with ``tex/present.png`` beside it."""
    (folder / "tex").mkdir(parents=True)
    (folder / "tex" / "present.png").write_bytes(encode_png(2, 2, [bytes([0, 255, 0] * 2)] * 2))
    scene = folder / "shot.blend"
    subprocess.run(
        [blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", MULTI_CAMERA_SCENE,
         "--", str(scene)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return scene


def printed(document: dict[str, object]) -> str:
    return f"Blender 4.2.1\nRead blend: /s/shot.blend\n{MARKER}{json.dumps(document)}\nBlender quit\n"


def test_the_printed_line_becomes_the_analysis_with_a_warning_per_missing_file() -> None:
    analysis = parse_blender_analysis(
        printed({
            "version": "4.2.1", "frame_start": 1, "frame_end": 250, "frame_step": 1, "fps": 25.0,
            "resolution_x": 1920, "resolution_y": 1080, "resolution_percentage": 100, "engine": "CYCLES",
            "cameras": [{"name": "Camera", "active": True}], "output_path": "//out/", "output_format": "PNG",
            "files": [
                {"path": "//a.png", "resolved_path": "/s/a.png", "kind": "image", "exists": True,
                 "size_bytes": 9},
                {"path": "//lib.blend", "resolved_path": "/s/lib.blend", "kind": "library", "exists": False,
                 "size_bytes": 0},
            ],
        })
    )  # fmt: skip
    assert analysis.analyser == "blender 4.2.1"
    assert (analysis.frame_start, analysis.frame_end, analysis.fps) == (1, 250, 25.0)
    assert [(c.name, c.active) for c in analysis.cameras] == [("Camera", True)]
    assert list(analysis.warnings) == ["missing library //lib.blend (looked for /s/lib.blend)"]


@pytest.mark.parametrize(
    ("output", "why"),
    [
        ("Blender 4.2\nError: cannot read file\n", "printed no scene analysis"),
        (f"{MARKER}{{not json\n", "not readable"),
    ],
)
def test_output_without_a_readable_analysis_is_a_sentence(output: str, why: str) -> None:
    with pytest.raises(AnalysisFailed, match=why):
        parse_blender_analysis(output)


@pytest.mark.blender
def test_blender_names_the_cameras_the_active_one_and_the_missing_texture(
    blender: str, tmp_path: Path
) -> None:
    analysis = analyse_with_blender(blender, make_scene(blender, tmp_path))
    assert analysis.analyser.startswith("blender ")
    assert (analysis.frame_start, analysis.frame_end, analysis.frame_step) == (11, 42, 2)
    assert analysis.fps == pytest.approx(24 / 1.001)
    assert (analysis.resolution_x, analysis.resolution_y, analysis.resolution_percentage) == (640, 360, 50)
    assert (analysis.engine, analysis.output_path, analysis.output_format) == (
        "CYCLES", "//render/shot_####", "OPEN_EXR",
    )  # fmt: skip
    assert sorted((c.name, c.active) for c in analysis.cameras) == [("close", True), ("wide", False)]
    files = {f.path: f for f in analysis.files}
    assert files["//tex/present.png"].exists and files["//tex/present.png"].size_bytes > 0
    assert files["//tex/present.png"].resolved_path == str(tmp_path / "tex" / "present.png")
    assert not files["//tex/missing.png"].exists and files["//tex/missing.png"].kind == "image"
    assert any("//tex/missing.png" in warning for warning in analysis.warnings)


@pytest.mark.blender
def test_a_file_blender_cannot_open_is_a_sentence(blender: str, tmp_path: Path) -> None:
    scene = tmp_path / "broken.blend"
    scene.write_bytes(b"not a blend file")
    with pytest.raises(AnalysisFailed, match=r"could not analyse broken\.blend"):
        analyse_with_blender(blender, scene)
