"""The ``blender`` plugin: its parameters and the Blender command line it builds."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from renderq.agent.task_setup import fill_tokens
from renderq.plugins.base import ErrorLine, FrameSaved, ParameterError
from renderq.plugins.blender import BlenderPlugin

from ..png_pixels import decode_png

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
        "device": "CPU",
        "threads": 0,
    }


DEFAULT_SETTINGS = """import bpy
scene = bpy.context.scene
if scene.cycles.use_denoising and not scene.cycles.denoiser:
    scene.cycles.use_denoising = False
    print('renderq: denoising turned off: this Blender has no denoiser')
scene.cycles.device = 'CPU'"""


def test_a_run_of_frames_renders_as_an_animation(scene: str) -> None:
    assert argv([5, 6, 7, 8], scene=scene) == [
        "blender", "-b", scene, "-E", "CYCLES",
        "--python-exit-code", "1",
        "--python-expr", DEFAULT_SETTINGS,
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
    assert line[line.index("--python-expr") + 1].endswith("\nscene.cycles.samples = 16")


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
        ({"format": "BMP"}, "format", "'format' must be one of PNG, OPEN_EXR, JPEG, TIFF, not 'BMP'"),
        ({"device": "CUDA"}, "device", "'device' must be one of CPU, GPU, not 'CUDA'"),
        ({"device": "GPU", "engine": "BLENDER_EEVEE"}, "device", "'device' GPU is a Cycles setting"),
        ({"resolution_percentage": 0}, "resolution_percentage", "must be from 1 to 100, not 0"),
        ({"resolution_percentage": 101}, "resolution_percentage", "must be from 1 to 100, not 101"),
        ({"camera": " "}, "camera", "'camera' is empty"),
        ({"camera": "Cam\nera"}, "camera", "has a control character"),
        ({"camera": "C" * 256}, "camera", "longer than Blender's names (255 bytes)"),
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


def expression(**params: Any) -> str:
    line = argv([1], scene="/farm/shot.blend", **params)
    return line[line.index("--python-expr") + 1]


def test_scene_settings_follow_the_parameters() -> None:
    expr = expression(samples=4, resolution_percentage=50, format="TIFF")
    assert expr.startswith(DEFAULT_SETTINGS)
    assert "\nscene.cycles.samples = 4\nscene.render.resolution_percentage = 50" in expr
    assert "camera" not in expr and "prefs" not in expr
    line = argv([1], scene="/farm/shot.blend", format="TIFF")
    assert line[line.index("-F") + 1] == "TIFF"


def test_a_camera_name_reaches_python_as_a_literal_that_runs_no_code() -> None:
    name = "Cam'); import os; os.system('x"
    expr = expression(camera=name)
    assert f"bpy.data.objects.get({name!r})" in expr
    compile(expr, "<expr>", "exec")  # valid Python whatever the name


def test_gpu_tries_each_compute_type_and_fails_with_a_sentence_without_one() -> None:
    expr = expression(device="GPU")
    assert "('OPTIX', 'CUDA', 'HIP', 'METAL', 'ONEAPI')" in expr
    assert "scene.cycles.device = 'GPU'" in expr and "'CPU'" not in expr
    assert "this node has no GPU Cycles can use" in expr
    compile(expr, "<expr>", "exec")


TWO_CAMERAS = r"""
import sys

import bpy

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 1
scene.cycles.use_denoising = False
scene.render.resolution_x = scene.render.resolution_y = 32
scene.render.resolution_percentage = 100
scene.view_settings.view_transform = "Standard"
scene.frame_start = scene.frame_end = 1
bpy.ops.mesh.primitive_plane_add(size=4.0)
material = bpy.data.materials.new("green")
material.use_nodes = True
emission = material.node_tree.nodes.new("ShaderNodeEmission")
emission.inputs["Color"].default_value = (0.0, 1.0, 0.0, 1.0)
output = material.node_tree.nodes["Material Output"]
material.node_tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
bpy.context.object.data.materials.append(material)
bpy.ops.object.camera_add(location=(0.0, 0.0, -5.0))
bpy.context.object.name = "Away"
scene.camera = bpy.context.object
bpy.ops.object.camera_add(location=(0.0, 0.0, 5.0))
bpy.context.object.name = "Down"
bpy.context.object.data.type = "ORTHO"
bpy.context.object.data.ortho_scale = 2.0
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[sys.argv.index("--") + 1])
"""
"""A green plane that the scene's camera ("Away", below it, facing away) does not see and
the second camera ("Down", above it) sees filling the frame; 32 x 32 pixels."""


def run_blender(blender: str, params: dict[str, Any], renders: Path) -> tuple[int, list[Any], str]:
    """The task's command run as the agent would: tokens replaced, output fed to the parser."""
    [command] = plugin.build_commands(plugin.validate(params), [1])
    line = [fill_tokens(arg, {"{renders}": str(renders)}) for arg in command.argv]
    result = subprocess.run(
        [blender, *line[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120
    )
    parser = plugin.output_parser()
    return (
        result.returncode,
        [e for text in result.stdout.splitlines() for e in parser.feed(text)],
        result.stdout,
    )


@pytest.fixture
def two_cameras(blender: str, tmp_path: Path) -> Path:
    scene = tmp_path / "two_cameras.blend"
    subprocess.run(
        [blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", TWO_CAMERAS,
         "--", str(scene)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return scene


@pytest.mark.blender
def test_the_camera_chosen_renders_at_the_percentage_given(
    blender: str, two_cameras: Path, tmp_path: Path
) -> None:
    params = {"scene": str(two_cameras), "camera": "Down", "resolution_percentage": 50}
    code, events, output = run_blender(blender, params, tmp_path / "renders")
    assert code == 0, output
    [saved] = [e for e in events if isinstance(e, FrameSaved)]
    image = decode_png(Path(saved.path).read_bytes())
    assert (image.width, image.height) == (16, 16)
    red, green, blue = image.rows[8][24:27]
    assert green > 200 and red < 40 and blue < 40, f"pixel {(red, green, blue)}: not the second camera"

    code, events, output = run_blender(blender, {"scene": str(two_cameras)}, tmp_path / "scene_camera")
    assert code == 0, output
    [saved] = [e for e in events if isinstance(e, FrameSaved)]
    image = decode_png(Path(saved.path).read_bytes())
    assert (image.width, image.height) == (32, 32)
    assert max(image.rows[16][48:51]) < 40, "the scene's own camera sees no plane"


@pytest.mark.blender
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"camera": "Sideways"}, "RuntimeError: the scene has no camera object named Sideways"),
        ({"device": "GPU"}, "RuntimeError: this node has no GPU Cycles can use"),
    ],
)
def test_a_missing_camera_or_gpu_fails_the_render_with_a_sentence(
    blender: str, two_cameras: Path, tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    if params.get("device") == "GPU" and Path("/dev/nvidiactl").exists():
        pytest.skip("this node has a GPU: the render would not fail")
    code, events, output = run_blender(blender, {"scene": str(two_cameras), **params}, tmp_path / "renders")
    assert code != 0, output
    errors = [e.message for e in events if isinstance(e, ErrorLine)]
    assert len(errors) == 1 and errors[0].startswith(message), output
    assert not [e for e in events if isinstance(e, FrameSaved)]
