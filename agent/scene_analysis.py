"""Scenes analysed when the controller asks (``renderq analyze`` from a machine without
the application): the agent runs the plugin's analyser with the application it has.

The scene is a path on storage this node reads, checked like an output path (absolute,
no ``..``, a regular file rather than a link the request could aim anywhere), or a blob
fetched into the cache. A blob is named by its content, so it is copied into a folder of
its own under its original name: Blender then sees the right extension, and the scene's
relative paths (``//tex/wood.png``) resolve in that folder rather than in the cache.
Blender runs in a worker thread with a deadline and is killed past it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath

from renderq.agent.blob_cache import BlobCache, BlobError
from renderq.plugins.blender_analysis import AnalysisFailed, analyse_with_blender
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

HardwareFactory = Callable[[], Awaitable[pb.Hardware]]


class SceneAnalyst:
    """The answers to ``analyze`` requests, one per request, never raising."""

    def __init__(self, blobs: BlobCache, hardware: HardwareFactory, scratch: Path) -> None:
        self._blobs = blobs
        self._hardware = hardware
        self._scratch = scratch
        """Where a fetched scene gets a folder of its own while Blender reads it."""

    async def analyse(self, request: apb.AnalyzeScene) -> apb.SceneAnalyzed:
        """The scene's analysis, or why there is none, with the request's id."""
        answer = apb.SceneAnalyzed(request_id=request.request_id)
        try:
            analysis = await self._analyse(request)
        except AnalysisFailed as exc:
            log.info("scene not analysed request=%d: %s", request.request_id, exc)
            answer.error = str(exc)
            return answer
        analysis.analyser += f" on {socket.gethostname()}"
        answer.analysis.CopyFrom(analysis)
        log.info("scene analysed request=%d files=%d", request.request_id, len(analysis.files))
        return answer

    async def _analyse(self, request: apb.AnalyzeScene) -> pb.SceneAnalysis:
        if request.plugin != "blender":
            raise AnalysisFailed(f"an agent analyses only Blender scenes, not {request.plugin!r} ones")
        hardware = await self._hardware()
        blender = next((r.path for r in hardware.renderers if r.name == "blender"), None)
        if blender is None:
            raise AnalysisFailed("this agent has no Blender")
        if request.path:
            scene = checked_scene_path(request.path)
            return await asyncio.to_thread(analyse_with_blender, blender, scene)
        name = checked_scene_name(request.name)
        try:
            cached = await self._blobs.fetch(request.blob, name)
        except BlobError as exc:
            raise AnalysisFailed(f"cannot fetch the scene: {exc}") from None
        return await asyncio.to_thread(self._analyse_copy, blender, cached, name)

    def _analyse_copy(self, blender: str, cached: Path, name: str) -> pb.SceneAnalysis:
        """``cached`` copied as ``name`` into a folder of its own, analysed, then removed."""
        self._scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._scratch) as folder:
            scene = Path(folder) / name
            shutil.copyfile(cached, scene)
            return analyse_with_blender(blender, scene)


def checked_scene_path(text: str) -> Path:
    """The scene the controller named: an absolute path without ``..`` that is a regular
    file, not a link; raises AnalysisFailed with a sentence."""
    path = Path(text)
    if "\0" in text or not path.is_absolute() or ".." in path.parts:
        raise AnalysisFailed(f"the scene path {text!r} is not an absolute path without '..' components")
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        raise AnalysisFailed(f"cannot read the scene {text}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise AnalysisFailed(f"the scene {text} is not a regular file (a link or a folder?)")
    return path


def checked_scene_name(name: str) -> str:
    """An uploaded scene's name: one plain .blend file name; raises AnalysisFailed."""
    pure = PurePosixPath(name)
    if (
        "\0" in name
        or "\\" in name
        or pure.name != name
        or name in (".", "..")
        or not name.endswith(".blend")
    ):
        raise AnalysisFailed(f"the scene name {name!r} is not one plain .blend file name")
    return name
