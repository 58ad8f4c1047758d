"""The ``blender`` plugin: its parameters and the Blender command line it builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from renderq.plugins.base import ParameterError
from renderq.plugins.blender import BlenderPlugin

plugin = BlenderPlugin()


@pytest.fixture
def scene(tmp_path: Path) -> str:
    return str(tmp_path / "shot.blend")


def argv(frames: list[int], **params: Any) -> list[str]:
    [command] = plugin.build_commands(plugin.validate(params), frames)
    assert command.frames == frames
    return command.argv


def refusal(**params: Any) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        plugin.validate(params)
    return caught.value


def test_defaults_are_filled_in(scene: str) -> None:
    assert plugin.validate({"scene": scene}) == {
        "scene": scene,
        "output": "{renders}/frame_####",
        "format": "PNG",
        "engine": "CYCLES",
        "threads": 0,
    }


def test_a_run_of_frames_renders_as_an_animation(scene: str) -> None:
    assert argv([5, 6, 7, 8], scene=scene) == [
        "blender", "-b", scene, "-E", "CYCLES",
        "--python-exit-code", "1",
        "--python-expr", "import bpy; scene = bpy.context.scene; scene.cycles.device = 'CPU'",
        "-o", "{renders}/frame_####", "-F", "PNG", "-t", "0",
        "-s", "5", "-e", "8", "-j", "1", "-a",
    ]  # fmt: skip


def test_scattered_frames_render_as_a_list(scene: str) -> None:
    assert argv([1, 3, 5], scene=scene)[-2:] == ["-f", "1,3,5"]


def test_a_single_frame_renders_with_f(scene: str) -> None:
    assert argv([7], scene=scene)[-2:] == ["-f", "7"]


def test_settings_come_before_the_render_flag(scene: str) -> None:
    """Blender applies options in order: anything after -a or -f would not apply to the render."""
    for frames in ([1, 2], [1, 3]):
        line = argv(frames, scene=scene, engine="BLENDER_EEVEE", format="OPEN_EXR", threads=4)
        render = line.index("-a") if "-a" in line else line.index("-f")
        for option in ("-b", "-E", "--python-expr", "-o", "-F", "-t"):
            assert line.index(option) < render, option
        assert line[line.index("-b") + 1] == scene


def test_samples_are_set_through_python(scene: str) -> None:
    line = argv([1], scene=scene, samples=16)
    assert line[line.index("--python-expr") + 1].endswith("; scene.cycles.samples = 16")


def test_parameters_reach_the_command(scene: str) -> None:
    line = argv(
        [1], scene=scene, output="/farm/shots/a_##", format="JPEG", engine="BLENDER_WORKBENCH", threads=3
    )
    assert line[line.index("-o") + 1] == "/farm/shots/a_##"
    assert line[line.index("-F") + 1] == "JPEG"
    assert line[line.index("-E") + 1] == "BLENDER_WORKBENCH"
    assert line[line.index("-t") + 1] == "3"


def test_a_scene_is_never_looked_for_on_the_controllers_disk(tmp_path: Path) -> None:
    """The client checked it where the user typed it; the controller may not mount that storage."""
    absent = str(tmp_path / "on-the-share-only" / "shot.blend")
    assert plugin.validate({"scene": absent})["scene"] == absent


@pytest.mark.parametrize("scene", ["P:\\shots\\a.blend", "\\\\nas\\shots\\a.blend", "/mnt/shots/a.blend"])
def test_absolute_paths_of_any_node_os_pass_as_given(scene: str) -> None:
    assert plugin.validate({"scene": scene})["scene"] == scene


@pytest.mark.parametrize("scene", ["shot.blend", "shots/a.blend", "~/a.blend"])
def test_a_relative_scene_is_refused_with_what_to_send(scene: str) -> None:
    error = refusal(scene=scene)
    assert (error.field, error.message) == (
        "scene",
        f"the scene {scene!r} is a relative path; it must be absolute, as `renderq submit` sends it, "
        "or start with {project}",
    )


def test_no_help_or_refusal_offers_to_send_the_scene_with_the_job() -> None:
    """Files cannot travel with a job yet."""
    (scene,) = (p for p in plugin.parameters if p.name == "scene")
    assert "with the job" not in scene.help
    assert "with the job" not in refusal(scene="a.blend").message


def test_scene_must_be_a_blend_file(tmp_path: Path) -> None:
    error = refusal(scene=str(tmp_path / "shot.ma"))
    assert (error.field, error.message) == (
        "scene",
        f"'scene' must be a .blend file, not '{tmp_path / 'shot.ma'}'",
    )


def test_scene_is_required() -> None:
    assert refusal().field == "scene"


def test_a_scene_under_an_agent_token_passes_as_given() -> None:
    assert plugin.validate({"scene": "{project}/shots/a.blend"})["scene"] == "{project}/shots/a.blend"


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"output": "{renders}/f_{frame}"}, "output", "write #### for the frame number, not {frame}"),
        ({"output": " "}, "output", "'output' is empty"),
        ({"output": "{render}/f_####"}, "output", "unknown token {render}"),
        ({"format": "TIFF"}, "format", "'format' must be one of PNG, OPEN_EXR, JPEG, not 'TIFF'"),
        ({"engine": "LUXCORE"}, "engine", "'engine' must be one of CYCLES, BLENDER_EEVEE, BLENDER_WORKBENCH"),
        ({"samples": 0}, "samples", "'samples' must be 1 or more, not 0"),
        ({"threads": -1}, "threads", "'threads' must be from 0 (every core) to 1024, not -1"),
        ({"threads": 2.5}, "threads", "'threads' must be a whole number, not 2.5"),
        ({"denoise": True}, "denoise", "blender has no parameter 'denoise'"),
    ],
)
def test_bad_parameters_are_named(scene: str, params: dict[str, Any], field: str, message: str) -> None:
    error = refusal(scene=scene, **params)
    assert error.field == field
    assert message in error.message


def test_whole_numbers_from_a_struct_are_integers(scene: str) -> None:
    """google.protobuf.Struct carries every number as a float."""
    params = plugin.validate({"scene": scene, "samples": 8.0, "threads": 2.0})
    assert (params["samples"], params["threads"]) == (8, 2)
    assert argv([1], scene=scene, threads=2.0)[-4:-2] == ["-t", "2"]


def test_needs_blender_and_completes_frames_at_their_saved_line() -> None:
    assert plugin.renderer == "blender"
    assert not plugin.output_parser().completes_on_exit
