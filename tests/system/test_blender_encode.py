"""``renderq submit blender --encode``: the encode job the flags build, and with real
processes a Blender render on two agents encoded into a movie by a job that takes its
frames from the controller (``inputs_from``), fetched back with ``renderq fetch``."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from renderq.cli.encode_flow import Encode, encode_job, plan_encode
from renderq.cli.failures import UserError
from renderq.v1 import resources_pb2 as pb

from .conftest import Farm
from .harness import require
from .test_ffmpeg_python import movie_facts
from .test_project_upload import fetch_all

TINY_SCENE = r"""
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
bpy.ops.mesh.primitive_plane_add(size=4.0)
bpy.ops.object.camera_add(location=(0.0, 0.0, 5.0))
scene.camera = bpy.context.object
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[sys.argv.index("--") + 1])
"""
"""A plane under a camera, 32 x 32 pixels, one sample: a frame renders in a moment."""


def flags(**given: Any) -> argparse.Namespace:
    defaults = {"plugin": "blender", "frames": "1-12", "outputs": "", "json": True, "allow_unmatched": False}
    return argparse.Namespace(**{"encode": "mp4", "encode_fps": None, **defaults, **given})


def test_the_encode_job_takes_the_renders_frames_as_its_inputs() -> None:
    encode = plan_encode(
        flags(encode_fps=25.0), {"output": "{renders}/shot/beauty.###", "format": "OPEN_EXR"}
    )
    assert encode == Encode("mp4", 25.0, 12, "beauty.%03d.exr")
    render = pb.Job(id=41, name="shot 030/v2", frames="1-12", priority=70, owner="ana", pool="gpu")
    job = encode_job(flags(outputs="s3://bucket/shots"), render, encode)
    assert dict(job.parameters) == {
        "input": "{project}/job-41/beauty.%03d.exr",
        "output": "{renders}/shot_030_v2.mp4",
        "codec": "h264",
        "fps": 25.0,
    }
    assert (job.plugin, job.name, job.frames, job.chunk_size) == ("ffmpeg", "shot 030/v2 (mp4)", "1-12", 12)
    assert (list(job.depends_on), list(job.inputs_from)) == ([41], [41])
    assert (job.priority, job.owner, job.pool, job.output_destination) == (
        70,
        "ana",
        "gpu",
        "s3://bucket/shots",
    )


def test_a_mov_is_prores_and_blenders_defaults_give_the_pattern() -> None:
    encode = plan_encode(flags(encode="mov"), {"scene": "/s.blend"})
    assert encode == Encode("mov", None, 12, "frame_%04d.png")
    job = encode_job(flags(), pb.Job(id=5, name="", frames="1-12"), encode)
    assert dict(job.parameters) == {
        "input": "{project}/job-5/frame_%04d.png",
        "output": "{renders}/job-5.mov",
        "codec": "prores",
    }


def test_no_hashes_means_four_digits_at_the_end() -> None:
    assert plan_encode(flags(), {"output": "/share/out/shot_", "format": "JPEG"}) == Encode(
        "mp4", None, 12, "shot_%04d.jpg"
    )
    assert plan_encode(flags(encode=None), {}) is None


@pytest.mark.parametrize(
    ("given", "parameters", "message"),
    [
        ({"encode": None, "encode_fps": 24.0}, {}, "--encode-fps sets the frame rate of --encode's movie"),
        ({"plugin": "command"}, {}, "--encode encodes a blender render's frames; 'command' jobs have none"),
        ({"outputs": "keep"}, {}, "--encode needs the frames on the controller; --outputs keep"),
        ({"frames": "1-12x2"}, {}, "--encode needs frames without gaps (such as 1-250)"),
        ({"frames": "5-1"}, {}, "--frames '5-1': '5-1' ends before it starts"),
        ({"frames": None}, {}, "--encode needs the frames to encode: give --frames"),
        ({}, {"output": "{renders}/a_##_##"}, "one run of # in the blender output's file name"),
        ({}, {"output": "{renders}/a%d_##"}, "have a % in them"),
    ],
)
def test_what_cannot_be_encoded_is_refused_before_the_render_is_submitted(
    given: dict[str, Any], parameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError) as refused:
        plan_encode(flags(**given), parameters)
    assert message in refused.value.message


@pytest.fixture
def two_agent_farm(farm_factory: Callable[[], Farm]) -> Farm:
    farm = farm_factory()
    for name in ("a1", "a2"):
        farm.add_agent(name)
        farm.start_agent(name, "--slots", "1")
    controller = farm.start_controller()
    for agent in farm.agents.values():
        controller.wait_for_line(rf"agent online agent={agent.agent_id}\b")
    return farm


@pytest.mark.system
@pytest.mark.blender
def test_twelve_frames_rendered_on_two_agents_become_a_one_second_movie(
    two_agent_farm: Farm, blender: str, tmp_path: Path
) -> None:
    ffprobe = shutil.which("ffprobe")
    require(
        shutil.which("ffmpeg") is not None and ffprobe is not None,
        "ffmpeg and ffprobe (Debian package ffmpeg)",
    )
    assert ffprobe is not None
    scene = tmp_path / "tiny.blend"
    subprocess.run(
        [blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", TINY_SCENE,
         "--", str(scene)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    farm = two_agent_farm
    job = farm.cli.json(
        "submit", "blender", "--frames", "1-12", "--chunk", "3", "--name", "shot030",
        "--param", f"scene={scene}", "--encode", "mp4", "--encode-fps", "12",
    )  # fmt: skip
    encode = job["encode_job"]
    assert (encode["depends_on"], encode["inputs_from"]) == ([job["id"]], [job["id"]])
    assert encode["parameters"]["input"] == f"{{project}}/job-{job['id']}/frame_%04d.png"
    farm.cli.run("wait", str(encode["id"]), "--timeout", "180")
    frames = farm.cli.json("frames", str(job["id"]))
    assert {f["agent_id"] for f in frames} == {a.agent_id for a in farm.agents.values()}

    [movie] = fetch_all(farm, encode["id"], tmp_path / "fetched")
    assert movie.name == "shot030.mp4"
    counted, rate, seconds = movie_facts(ffprobe, movie)
    assert (counted, rate) == ("12", "12/1")
    assert seconds == pytest.approx(1.0, abs=0.05)
