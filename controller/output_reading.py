"""``ReadOutput``: a frame's recorded output, streamed from the controller's disk (a farm
on one machine, or outputs on shared storage).

Only what the farm recorded is read, and only where a job may write: below the workspace
the agent reported for the attempt that rendered the frame, or below a path mapping's
target (a share). The file itself must be a regular file, opened without following a
link, so a task that made its output a link to /etc/shadow gets an error, not the file.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import BinaryIO

from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.controller.farm_state import FarmState
from renderq.controller.model import Output
from renderq.regular_files import open_regular
from renderq.v1 import farm_service_pb2 as fpb

READ_BLOCK = 64 << 10
MAX_OUTPUT_BYTES = 256 << 20
"""Largest output ReadOutput streams: it is for previews, and a file this big would tie up a
controller thread and the caller's memory for no picture anyone can see in a terminal."""


def recorded_output(state: FarmState, request: fpb.ReadOutputRequest) -> tuple[Output, str]:
    """The output of the frame that ``request.path`` names, and the workspace of the attempt
    that wrote it ("" when unknown)."""
    job = state.job(request.job_id)
    frame = job.frames.get(request.frame)
    if frame is None:
        raise NoSuchResource(f"job {job.id} has no frame {request.frame}")
    attempt = state.attempts.get(frame.attempt_id)
    workspace = attempt.workspace if attempt is not None else ""
    if not request.path:
        if not frame.outputs:
            raise NotPossibleNow(f"frame {frame.number} of job {job.id} has recorded no output yet")
        return frame.outputs[0], workspace
    for output in frame.outputs:
        if output.path == request.path:
            return output, workspace
    raise InvalidField("path", f"{request.path} is not an output of frame {frame.number}")


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
    output: Output, roots: list[str], frame: int
) -> AsyncIterator[fpb.ReadOutputResponse]:
    """The file in blocks, its size in the first answer."""
    handle = await asyncio.to_thread(open_output, output.path, roots)
    try:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_OUTPUT_BYTES:
            raise NotPossibleNow(
                f"the output {output.path} is {size:,} bytes; at most {MAX_OUTPUT_BYTES:,} can be read"
            )
        offset = 0
        while offset < size:
            data = await asyncio.to_thread(handle.read, min(READ_BLOCK, size - offset))
            if not data:
                raise NotPossibleNow(f"the output {output.path} of frame {frame} shrank while it was read")
            yield fpb.ReadOutputResponse(offset=offset, data=data, size_bytes=size if offset == 0 else 0)
            offset += len(data)
    finally:
        handle.close()
