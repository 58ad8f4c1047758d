"""The Maya ASCII parser on a scene written in Maya's ASCII syntax (scenes/shot010.ma)."""

from __future__ import annotations

from pathlib import Path

from renderq.plugins.maya_ascii import ANALYSER, look_for_files, parse_maya_ascii, statements

SCENES = Path(__file__).parent / "scenes"


def test_the_render_settings_cameras_and_files_of_a_scene() -> None:
    analysis = parse_maya_ascii((SCENES / "shot010.ma").read_text())
    assert analysis.analyser == ANALYSER
    assert (analysis.frame_start, analysis.frame_end, analysis.frame_step) == (1001, 1100, 2)
    assert analysis.fps == 25.0
    assert (analysis.resolution_x, analysis.resolution_y, analysis.resolution_percentage) == (2048, 858, 100)
    assert (analysis.engine, analysis.output_format) == ("arnold", "exr")
    assert analysis.output_path == "renders/<Scene>/<RenderLayer>/<Scene>"
    assert [(c.name, c.active) for c in analysis.cameras] == [
        ("persp", False),
        ("top", False),
        ("shotCam", True),
    ]
    assert [(f.kind, f.path) for f in analysis.files] == [
        ("reference", "/proj/assets/hero/hero_rig.ma"),
        ("image", "sourceimages/wood_diffuse.png"),
        ("image", "/proj/tex/sky; overcast.exr"),
        ("cache", "/proj/cache/crowd.abc"),
        ("cache", "/proj/cache/cloth/clothShape.xml"),
    ]
    assert not analysis.warnings and not any(f.resolved_path for f in analysis.files)


def test_files_are_looked_for_beside_the_scene_and_the_missing_ones_named() -> None:
    analysis = parse_maya_ascii((SCENES / "shot010.ma").read_text())
    look_for_files(analysis, SCENES)
    found = {f.path: (f.exists, f.size_bytes) for f in analysis.files}
    assert found["sourceimages/wood_diffuse.png"] == (True, 3)
    assert found["/proj/cache/crowd.abc"] == (False, 0)
    assert "missing cache /proj/cache/crowd.abc (looked for /proj/cache/crowd.abc)" in analysis.warnings
    assert len(analysis.warnings) == 4


def test_playback_options_give_the_range_when_the_render_globals_do_not() -> None:
    scene = (
        'currentUnit -t 23.976fps;\ncreateNode script -n "s";\n'
        '\tsetAttr ".b" -type "string" "playbackOptions -min 5 -max 9 ";\n'
    )
    analysis = parse_maya_ascii(scene)
    assert (analysis.frame_start, analysis.frame_end, analysis.frame_step, analysis.fps) == (5, 9, 1, 23.976)
    assert (analysis.engine, analysis.resolution_x, analysis.resolution_y) == ("mayaSoftware", 640, 480)


def test_an_unknown_time_unit_is_a_warning() -> None:
    assert parse_maya_ascii("currentUnit -t lunar;").warnings == [
        "the time unit 'lunar' is not one this parser knows; fps left at 24"
    ]


def test_statements_keep_semicolons_and_escaped_quotes_inside_strings() -> None:
    text = (
        '// a comment; not a statement\nsetAttr ".ftn" -type "string" "a;b \\"c\\"";\nrequires maya "2024" ;'
    )
    assert list(statements(text)) == [
        ["setAttr", ".ftn", "-type", "string", 'a;b "c"'],
        ["requires", "maya", "2024"],
    ]
