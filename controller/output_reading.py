"""``ReadOutput``: a frame's recorded output, streamed from the controller's store once
collected from its agent (controller/output_collection.py), else from the controller's disk
(a farm on one machine, or outputs on shared storage).

Only what the farm recorded is read, and only where a job may write: below the workspace
the agent reported for the attempt that rendered the frame, or below a path mapping's
target (a share). The file itself must be a regular file, opened without following a
link, so a task that made its output a link to /etc/shadow gets an error, not the file.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from renderq.controller.blob_store import BlobStore
from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.controller.farm_state import FarmState
from renderq.controller.model import Output
from renderq.controller.object_storage import MAX_URL_TTL
from renderq.controller.validation import check_frames
from renderq.regular_files import open_regular
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

READ_BLOCK = 64 << 10
STORED_BLOCK = 1 << 20
"""Bytes per answer read from the controller's store (fetching whole renders)."""
MAX_OUTPUT_BYTES = 256 << 20
"""Largest output ReadOutput streams: it is for previews, and a file this big would tie up a
controller thread and the caller's memory for no picture anyone can see in a terminal."""


def recorded_output(state: FarmState, request: fpb.ReadOutputRequest) -> tuple[Output, str]:
    """The output of the frame that ``request.path`` names (its thumbnail, stored on the
    controller, when ``request.thumbnail``), and the workspace of the attempt that wrote it
    ("" when unknown)."""
    job = state.job(request.job_id)
    frame = job.frames.get(request.frame)
    if frame is None:
        raise NoSuchResource(f"job {job.id} has no frame {request.frame}")
    attempt = state.attempts.get(frame.attempt_id)
    workspace = attempt.workspace if attempt is not None else ""
    if not request.path:
        if not frame.outputs:
            raise NotPossibleNow(f"frame {frame.number} of job {job.id} has recorded no output yet")
        shown = [o for o in frame.outputs if o.thumbnail] if request.thumbnail else []
        return _asked_for((shown or frame.outputs)[0], request), workspace
    for output in frame.outputs:
        if output.path == request.path:
            return _asked_for(output, request), workspace
    raise InvalidField("path", f"{request.path} is not an output of frame {frame.number}")


def _asked_for(output: Output, request: fpb.ReadOutputRequest) -> Output:
    """``output`` itself, or with ``request.thumbnail`` its thumbnail as a stored file."""
    if not request.thumbnail:
        return output
    if output.thumbnail is None:
        raise NotPossibleNow(f"this output has no thumbnail ({output.path} of frame {request.frame})")
    digest, size = output.thumbnail
    return Output(output.path, size, digest, storage=pb.OUTPUT_STORAGE_CONTROLLER)


def open_output(path: str, roots: Iterable[str]) -> BinaryIO:
    """``path`` opened for reading if it lies below one of ``roots`` with no link on the way.
    Blocking: call it in a thread."""
    real = Path(os.path.realpath(path))
    if not any(root and real.is_relative_to(os.path.realpath(root)) for root in roots):
        raise NotPossibleNow(
            f"the output {path} is not inside its job's workspace nor a mapped share (or a link "
            "leads out of them): the controller does not read it"
        )
    try:
        return open_regular(path)
    except FileNotFoundError:
        raise NotPossibleNow(
            f"the output {path} is no longer on the controller's storage (moved or deleted since it "
            "was rendered)"
        ) from None
    except OSError as e:
        raise NotPossibleNow(f"the controller cannot read the output {path}: {e.strerror or e}") from None


async def stream_output(
    output: Output, roots: list[str], frame: int, offset: int, blobs: BlobStore
) -> AsyncIterator[fpb.ReadOutputResponse]:
    """The file from ``offset`` in blocks, its size in the first answer: from the
    controller's store once it arrived there (verified, any size), else from where the
    renderer wrote it (a share, or this machine)."""
    if not 0 <= offset <= output.size_bytes:
        raise InvalidField("offset", f"{offset:,} is outside the output's {output.size_bytes:,} bytes")
    if output.storage == pb.OUTPUT_STORAGE_CONTROLLER:
        blocks = _stored_blocks(output, offset, blobs)
    else:
        blocks = _disk_blocks(output, roots, frame, offset)
    first = True
    async for at, data in blocks:
        yield fpb.ReadOutputResponse(offset=at, data=data, size_bytes=output.size_bytes if first else 0)
        first = False
    if first:
        yield fpb.ReadOutputResponse(offset=offset, size_bytes=output.size_bytes)


async def _stored_blocks(output: Output, offset: int, blobs: BlobStore) -> AsyncIterator[tuple[int, bytes]]:
    while offset < output.size_bytes:
        data = await asyncio.to_thread(blobs.read, output.blob, offset, STORED_BLOCK)
        if not data:
            raise NotPossibleNow(f"the stored copy of {output.path} ends early: fetch it again later")
        yield offset, data
        offset += len(data)


async def _disk_blocks(
    output: Output, roots: list[str], frame: int, offset: int
) -> AsyncIterator[tuple[int, bytes]]:
    handle = await asyncio.to_thread(open_output, output.path, roots)
    try:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_OUTPUT_BYTES:
            raise NotPossibleNow(
                f"the output {output.path} is {size:,} bytes; at most {MAX_OUTPUT_BYTES:,} can be read "
                "where it was written (outputs sent to the controller can be read at any size)"
            )
        await asyncio.to_thread(handle.seek, offset)
        while offset < size:
            data = await asyncio.to_thread(handle.read, min(READ_BLOCK, size - offset))
            if not data:
                raise NotPossibleNow(f"the output {output.path} of frame {frame} shrank while it was read")
            yield offset, data
            offset += len(data)
    finally:
        handle.close()


Presign = Callable[[str, float], str]
"""An ``s3://bucket/key`` and seconds -> a download URL (controller/output_pushing.py)."""
DEFAULT_URL_TTL = 3600.0


def list_outputs(
    state: FarmState, request: fpb.ListOutputsRequest, presign: Presign
) -> fpb.ListOutputsResponse:
    """The outputs of the job's frames (those ``request.frames`` names), with download URLs
    for those in object storage when asked."""
    job = state.job(request.job_id)
    wanted = set(check_frames(request.frames)) if request.frames else None
    ttl = request.url_ttl.ToTimedelta().total_seconds() if request.HasField("url_ttl") else DEFAULT_URL_TTL
    if request.urls and not 0 < ttl <= MAX_URL_TTL:
        raise InvalidField("url_ttl", f"must be more than 0 s and at most 7 days, not {ttl:g} s")
    answer = fpb.ListOutputsResponse()
    for frame in job.frames.values():
        if not frame.outputs or (wanted is not None and frame.number not in wanted):
            continue
        listed = answer.frames.add(frame=frame.number, agent_id=frame.agent_id)
        for output in frame.outputs:
            file = listed.outputs.add()
            file.CopyFrom(output.to_proto())
            if request.urls and output.object_url:
                file.download_url = presign(output.object_url, ttl)
    return answer
