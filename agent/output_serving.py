"""A frame's output files, served to the controller over the link (``want_output``).

The controller collects what a frame wrote by pulling it: it asks for one chunk at a
time (``OutputWanted``, a few ahead) and checks the whole file's hash on arrival. The
agent answers each ask with one ``BlobChunk`` read off the event loop, in the order
asked, so the controller's asking is the flow control (as for blobs the other way,
``controller/blob_serving.py``).

The agent often runs as root and the paths come from the network, so it reads only
what a task may have it read: an output this process hashed itself as a frame
completed (``HashedOutputs``, one per agent process), or a file below the job's workspace
(``<workspaces>/<owner>/<job>``) reached through no link, which serves outputs after an
agent restart. The file is opened as the regular file it is, never through a link,
and must still have the size it was hashed with. Anything else is answered with a
sentence naming the path and why, never with the file.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from renderq.agent.blob_cache import check_ref
from renderq.agent.outputs import leaves
from renderq.agent.workspace import owner_folder
from renderq.regular_files import open_regular
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
"""Most bytes of one answer (the controller asks for the rest of a shorter one's chunk)."""
REMEMBERED = 50_000
"""Outputs remembered, the newest kept: an agent runs for months, and a forgotten one
below its job's workspace is still served."""

Send = Callable[[apb.LinkResponse], Awaitable[None]]


class Refused(Exception):
    """An output the agent does not serve; the message names the path and why."""


@dataclass(frozen=True)
class Hashed:
    """An output as this process hashed it when its frame completed."""

    size_bytes: int
    xxh3_128: str
    workspace: Path | None
    """The workspace of the attempt that wrote it; None when it had none."""


class HashedOutputs:
    """The outputs this agent process hashed itself, by job and path: the controller may
    have them back, wherever they lie (a share outside the workspace included)."""

    def __init__(self, limit: int = REMEMBERED) -> None:
        self._limit = limit
        self._outputs: OrderedDict[tuple[int, str], Hashed] = OrderedDict()

    def remember(self, job_id: int, output: pb.OutputFile, workspace: Path | None) -> None:
        key = (job_id, output.path)
        self._outputs[key] = Hashed(output.size_bytes, output.xxh3_128, workspace)
        self._outputs.move_to_end(key)
        if len(self._outputs) > self._limit:
            self._outputs.popitem(last=False)

    def find(self, job_id: int, path: str) -> Hashed | None:
        return self._outputs.get((job_id, path))


class OutputServing:
    """The answers to one link's OutputWanted, one chunk each, in the order asked."""

    def __init__(self, hashed: HashedOutputs, workspaces: Path, send: Send) -> None:
        self._hashed = hashed
        self._workspaces = workspaces
        self._send = send
        self._wanted: asyncio.Queue[apb.OutputWanted] = asyncio.Queue()

    def want(self, wanted: apb.OutputWanted) -> None:
        self._wanted.put_nowait(wanted)

    async def serve(self) -> None:
        """Answer the asks as they come, until the link ends (its owner cancels this)."""
        while True:
            wanted = await self._wanted.get()
            await self._send(apb.LinkResponse(output=await self.answer(wanted)))

    async def answer(self, wanted: apb.OutputWanted) -> apb.BlobChunk:
        """One chunk of the file from where the controller asked, or why it gets none."""
        chunk = apb.BlobChunk(blob=wanted.blob, offset=wanted.offset)
        try:
            path, workspace = self._allowed(wanted)
            size = wanted.blob.size_bytes
            chunk.data = await asyncio.to_thread(_read_chunk, path, workspace, size, wanted.offset)
        except Refused as exc:
            log.warning("output refused job=%d path=%r: %s", wanted.job_id, wanted.path, exc)
            chunk.error = str(exc)
        return chunk

    def _allowed(self, wanted: apb.OutputWanted) -> tuple[Path, Path | None]:
        """The file to read and the workspace no link on its way may leave (None: no such
        check, for an output hashed outside its workspace). Touches no disk."""
        path = _checked_path(wanted.path)
        if problem := check_ref(wanted.blob):
            raise Refused(f"{path}: the blob asked for is not one: {problem}")
        size, offset = wanted.blob.size_bytes, wanted.offset
        if not 0 <= offset <= size:
            raise Refused(f"offset {offset} is outside {path}, which has {size} bytes")
        hashed = self._hashed.find(wanted.job_id, wanted.path)
        if hashed is not None:
            if (hashed.xxh3_128, hashed.size_bytes) != (wanted.blob.xxh3_128, size):
                raise Refused(
                    f"{path} changed since it was hashed: this agent last hashed it as {hashed.xxh3_128} "
                    f"({hashed.size_bytes} bytes), not {wanted.blob.xxh3_128} ({size} bytes)"
                )
            return path, hashed.workspace
        workspace = (self._workspaces / owner_folder(wanted.owner) / str(wanted.job_id)).absolute()
        if not path.is_relative_to(workspace):
            raise Refused(
                f"{path} is not an output of job {wanted.job_id} on this agent: it hashed no such "
                f"output, and the file is not below the job's workspace {workspace}"
            )
        return path, workspace


def _checked_path(text: str) -> Path:
    """The path the controller named, if it is absolute and never climbs (``..``): only
    then does lying below a folder by name mean lying below it on disk."""
    path = Path(text)
    if "\0" in text or not path.is_absolute() or ".." in path.parts:
        raise Refused(f"the output path {text!r} is not an absolute path without '..' components")
    return path


def _read_chunk(path: Path, workspace: Path | None, size: int, offset: int) -> bytes:
    """Up to CHUNK_BYTES of ``path`` from ``offset`` (within ``size``, checked). Blocking:
    call it in a thread. Raises Refused when a link on the way leads out of ``workspace``,
    the file is no regular file or cannot be read, or its size is no longer ``size``."""
    if workspace is not None and _linked_out(path, workspace):
        raise Refused(f"{path} is not served: a link on its way leads out of its job's workspace {workspace}")
    try:
        with open_regular(path) as file:
            found = os.fstat(file.fileno()).st_size
            if found != size:
                raise Refused(f"{path} changed since it was hashed: it has {found} bytes, not {size}")
            file.seek(offset)
            return file.read(min(CHUNK_BYTES, size - offset))
    except OSError as exc:
        raise Refused(f"the agent cannot read {path}: {exc.strerror or exc}") from None


def _linked_out(path: Path, workspace: Path) -> bool:
    """Whether a link leads elsewhere on the way to ``path``'s folder from the folder of
    every workspace: the owner's folder or the job's (a task running as the agent's user
    could swap either for a link to /etc), or a folder below them (``leaves``)."""
    if not path.is_relative_to(workspace):
        return False  # an output hashed outside its workspace, on a share
    top = workspace.parent.parent
    where = Path(os.path.realpath(top)) / workspace.relative_to(top)
    return Path(os.path.realpath(workspace)) != where or leaves(path, workspace)
