"""The demo job: what a new farm renders first, with Blender when there is a scene, else the pattern."""

from __future__ import annotations

from pathlib import Path

from renderq.v1 import resources_pb2

FRAMES = "1-24"
CHUNK_SIZE = 4


def demo_job(scene: Path | None) -> resources_pb2.Job:
    """The demo scene rendered with the ``blender`` plugin, or the ``demo`` plugin's pattern without one."""
    job = resources_pb2.Job(name="demo", frames=FRAMES, chunk_size=CHUNK_SIZE)
    if scene is None:
        job.plugin = "demo"
    else:
        job.plugin = "blender"
        job.parameters.update({"scene": str(scene)})
    return job
