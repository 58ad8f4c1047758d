"""The demo job: Blender on the demo scene when there is one, the pattern renderer otherwise."""

from __future__ import annotations

from pathlib import Path

from google.protobuf.json_format import MessageToDict

from renderq.demo.job import demo_job
from renderq.frame_range import chunk, parse_frames
from renderq.plugins.registry import get_plugin


def test_with_a_scene_blender_renders_it(tmp_path: Path) -> None:
    scene = tmp_path / "demo.blend"
    scene.write_bytes(b"BLENDER")
    job = demo_job(scene)
    assert (job.name, job.plugin, job.frames, job.chunk_size) == ("demo", "blender", "1-24", 4)
    params = MessageToDict(job.parameters)
    assert params == {"scene": str(scene)}
    plugin = get_plugin(job.plugin)
    assert plugin is not None
    assert plugin.validate(params)["scene"] == str(scene)


def test_without_a_scene_the_pattern_renders_with_its_defaults() -> None:
    job = demo_job(None)
    assert (job.name, job.plugin, job.frames, job.chunk_size) == ("demo", "demo", "1-24", 4)
    plugin = get_plugin(job.plugin)
    assert plugin is not None
    assert plugin.validate(MessageToDict(job.parameters))["width"] == 320


def test_the_demo_splits_into_six_tasks() -> None:
    job = demo_job(None)
    assert len(chunk(parse_frames(job.frames), job.chunk_size)) == 6
