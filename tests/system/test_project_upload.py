"""Project files carried by the controller, with real processes: agents that share no
disk with the artist run a job from the folder it uploaded, gone from the artist's disk
by then, and the same project submitted again sends nothing."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from renderq.demo.png import encode_png

from ..png_pixels import decode_png
from ..waiting import eventually
from .conftest import Farm

pytestmark = pytest.mark.system

RENDER = """\
#!/bin/sh
# Run as {project}/shot010/render.sh FRAME OUTPUT: its data by paths relative to itself.
cd "$(dirname "$0")"
sleep 0.3
echo "frame $1: $(cat data/notes.txt) with $(cat ../refs/colour.txt)" | tee "$2"
"""


def make_project(artist: Path) -> tuple[Path, Path]:
    """``shot010/`` (a script anyone may run and the data it reads) and ``refs.zip``
    (unpacked into the project folder), byte for byte the same at every call."""
    shot = artist / "shot010"
    (shot / "data").mkdir(parents=True)
    (shot / "render.sh").write_text(RENDER)
    (shot / "render.sh").chmod(0o755)
    (shot / "data" / "notes.txt").write_text("notes of shot010")
    refs = artist / "refs.zip"
    with zipfile.ZipFile(refs, "w") as archive:
        archive.writestr(zipfile.ZipInfo("refs/colour.txt", date_time=(2026, 12, 1, 0, 0, 0)), "ACES colour")
    return shot, refs


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


def test_a_project_uploaded_runs_on_agents_that_share_no_disk_and_is_sent_once(
    two_agent_farm: Farm, tmp_path: Path
) -> None:
    farm = two_agent_farm
    artist = tmp_path / "artist"
    shot, refs = make_project(artist)
    argv = ["--param", "outputs={renders}/frame_{frame}.txt", "--", "{project}/shot010/render.sh", "{frame}"]
    argv += ["{renders}/frame_{frame}.txt"]
    uploads = ["--upload", str(shot), "--upload", str(refs)]
    job = farm.cli.json("submit", "command", "--frames", "1-4", *uploads, *argv)
    shutil.rmtree(artist)  # the agents have only what the controller carries
    assert job["files_sent"] == 3 and job["bytes_skipped"] == 0
    assert sorted((f["path"], f["mode"], f["unpack"]) for f in job["files"]) == [
        ("refs.zip", 0o644, True),
        ("shot010/data/notes.txt", 0o644, False),
        ("shot010/render.sh", 0o755, False),
    ]

    farm.cli.run("wait", str(job["id"]), "--timeout", "60")  # exit 0: it completed
    for frame in range(1, 5):
        log = farm.cli.run("logs", str(job["id"]), str(frame)).stdout
        assert f"frame {frame}: notes of shot010 with ACES colour" in log, log
    frames = farm.cli.json("frames", str(job["id"]))
    assert {f["agent_id"] for f in frames} == {a.agent_id for a in farm.agents.values()}
    fetched = fetch_all(farm, job["id"], tmp_path / "frames")
    assert {p.name: p.read_text() for p in fetched} == {
        f"frame_{n}.txt": f"frame {n}: notes of shot010 with ACES colour\n" for n in range(1, 5)
    }

    shot, refs = make_project(artist)
    again = farm.cli.json("submit", "command", "--frames", "1", *uploads, *argv)
    assert (again["bytes_sent"], again["bytes_skipped"], again["files_sent"]) == (0, job["bytes_sent"], 0)


def fetch_all(farm: Farm, job_id: int, folder: Path) -> list[Path]:
    """Every output of the job, once all reached the controller, fetched into ``folder``
    (verified by ``renderq fetch``); the files there."""

    def stored() -> bool:
        listed = farm.cli.json("outputs", str(job_id))
        return all(o["storage"] == "controller" for f in listed["frames"] for o in f["outputs"])

    eventually(f"every output of job {job_id} on the controller", stored)
    summary = farm.cli.json("fetch", str(job_id), "-o", str(folder))
    assert summary["missing"] == [] and summary["files_skipped"] == 0, summary
    return sorted(folder.iterdir())


TEXTURED_SCENE = r"""
import sys

import bpy

target = sys.argv[sys.argv.index("--") + 1]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 1
scene.cycles.use_denoising = False  # Debian's Blender has no OpenImageDenoise
scene.render.resolution_x = scene.render.resolution_y = 16
scene.render.resolution_percentage = 100
scene.view_settings.view_transform = "Standard"
scene.frame_start = scene.frame_end = 1
bpy.ops.wm.save_as_mainfile(filepath=target)  # from here on, // is the scene's folder

bpy.ops.mesh.primitive_plane_add(size=4.0)
material = bpy.data.materials.new("textured")
material.use_nodes = True
nodes, links = material.node_tree.nodes, material.node_tree.links
nodes.clear()
texture = nodes.new("ShaderNodeTexImage")
texture.image = bpy.data.images.load("//tex/green.png")
emission = nodes.new("ShaderNodeEmission")
output = nodes.new("ShaderNodeOutputMaterial")
links.new(texture.outputs["Color"], emission.inputs["Color"])
links.new(emission.outputs["Emission"], output.inputs["Surface"])
bpy.context.object.data.materials.append(material)
bpy.ops.object.camera_add(location=(0.0, 0.0, 5.0))
scene.camera = bpy.context.object
scene.camera.data.type = "ORTHO"
scene.camera.data.ortho_scale = 2.0
bpy.ops.wm.save_mainfile()
"""
"""A plane filling an orthographic camera, lit by its own texture, ``//tex/green.png``:
green in the render when the texture was found, Cycles' magenta when it was not."""


@pytest.mark.blender
def test_a_blender_scene_and_its_texture_by_relative_path_render_from_the_upload(
    two_agent_farm: Farm, blender: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shot = tmp_path / "artist" / "shot020"
    (shot / "tex").mkdir(parents=True)
    (shot / "tex" / "green.png").write_bytes(encode_png(4, 4, [b"\x00\xff\x00" * 4] * 4))
    subprocess.run(
        [blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", TEXTURED_SCENE,
         "--", str(shot / "shot020.blend")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    monkeypatch.chdir(shot.parent)
    job = two_agent_farm.cli.json(
        "submit", "blender", "--frames", "1", "--upload", "shot020", "--param", "scene=shot020/shot020.blend"
    )
    shutil.rmtree(shot)
    assert job["parameters"]["scene"] == "{project}/shot020/shot020.blend"
    two_agent_farm.cli.run("wait", str(job["id"]), "--timeout", "120")
    (fetched,) = fetch_all(two_agent_farm, job["id"], tmp_path / "frames")
    image = decode_png(fetched.read_bytes())
    red, green, blue = image.rows[8][24:27]
    assert green > 200 and red < 40 and blue < 40, f"pixel {(red, green, blue)}: the texture was not found"
