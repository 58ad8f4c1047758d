"""The thumbnails agents send with a completed frame, kept in the controller's blob store.

They arrive inside FrameCompleted (agent/thumbnails.py makes them), so they are here as
soon as the frame is, with no transfer of the render itself: the TUI previews a frame
from a few KiB (ReadOutput with ``thumbnail``). Each is checked first, since it comes
from the network: it must name an output of that frame, be small, and be a PNG. Stored
by content, a frame rendered twice alike shares one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import xxhash

from renderq.controller.blob_store import BlobStore
from renderq.controller.errors import RequestRefused
from renderq.controller.farm_state import FarmState
from renderq.controller.model import Frame, Job, Output
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

MAX_PNG_BYTES = 128 << 10
"""Largest thumbnail kept (agents make them at most 64 KiB)."""
MAX_PER_FRAME = 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Thumbnails:
    """Stores thumbnails off the event loop and then marks the outputs they show."""

    def __init__(self, state: FarmState, blobs: BlobStore) -> None:
        self.state = state
        self.blobs = blobs
        self._storing: set[asyncio.Task[None]] = set()

    def frame_completed(self, job: Job, frame: Frame, thumbnails: Sequence[apb.Thumbnail]) -> None:
        """Store the acceptable ones among ``thumbnails`` of ``frame``'s outputs (just recorded)."""
        outputs = {output.path: output for output in frame.outputs}
        for thumbnail in thumbnails[:MAX_PER_FRAME]:
            problem = _problem(thumbnail, outputs)
            if problem:
                log.warning("thumbnail ignored job=%d frame=%d: %s", job.id, frame.number, problem)
                continue
            store = asyncio.create_task(
                self._store(job, frame, outputs[thumbnail.path], thumbnail.png),
                name=f"thumbnail {thumbnail.path}",
            )
            self._storing.add(store)
            store.add_done_callback(self._storing.discard)

    async def _store(self, job: Job, frame: Frame, output: Output, png: bytes) -> None:
        ref = pb.BlobRef(xxh3_128=xxhash.xxh3_128_hexdigest(png), size_bytes=len(png))
        try:
            await self.blobs.receive(ref, 0, _once(png))
        except (OSError, RequestRefused) as e:  # a full disk, say: the frame stands without its picture
            log.warning("thumbnail not stored job=%d frame=%d %s: %s", job.id, frame.number, output.path, e)
            return
        if self.state.jobs.get(job.id) is not job or not any(o is output for o in frame.outputs):
            return  # deleted or rendered again meanwhile: collected by age as unreferenced
        output.thumbnail = (ref.xxh3_128, ref.size_bytes)
        self.state.rec.changed(frame)


def _problem(thumbnail: apb.Thumbnail, outputs: dict[str, Output]) -> str:
    """Why ``thumbnail`` is not kept, in words ("" when it is)."""
    if thumbnail.path not in outputs:
        return f"{thumbnail.path!r} is not an output of the frame"
    if not 0 < len(thumbnail.png) <= MAX_PNG_BYTES:
        return f"{len(thumbnail.png):,} bytes; a thumbnail has 1 to {MAX_PNG_BYTES:,}"
    if not thumbnail.png.startswith(PNG_SIGNATURE):
        return "it is not a PNG"
    return ""


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
