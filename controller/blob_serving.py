"""The blob store as the farm uses it: uploads from clients, chunks to agents over their
link, and collection of what no job references any more.

Agents ask for what their cache lacks one chunk at a time (a few chunks ahead); the
controller answers each ask with one chunk read off the event loop, so the agent's asking
is the flow control. An agent reads only the blobs of the jobs it runs now: the farm key
lets it in, but a project file belongs to its job, not to any node that asks for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Collection

from renderq.controller.blob_store import BlobStore, Key, check_ref, key_of
from renderq.controller.errors import InvalidField, NotPossibleNow, RequestRefused
from renderq.controller.farm_state import FarmState, LinkHandle
from renderq.controller.job_inputs import input_blobs
from renderq.controller.link_messages import blob_chunk_request
from renderq.controller.model import Job
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
"""Most bytes of one chunk sent to an agent."""
RETENTION = 7 * 24 * 3600.0
"""Seconds an unreferenced blob is kept (CollectBlobs' default, and the daily collection's):
a project uploaded for a job not yet submitted, or resubmitted after a delete, stays."""


async def uploaded(
    requests: AsyncIterator[fpb.UploadBlobRequest],
) -> tuple[fpb.UploadBlobRequest, AsyncIterator[bytes]]:
    """The first message of an UploadBlob stream (the blob and its offset) and the data of
    all of them, the first included."""
    first = await anext(requests, None)
    if first is None or not first.HasField("blob"):
        raise InvalidField("blob", "the first message of an upload names the blob (xxh3_128 and size_bytes)")

    async def data() -> AsyncIterator[bytes]:
        yield first.data
        async for later in requests:
            if later.HasField("blob") and later.blob != first.blob:
                raise InvalidField("blob", "one upload carries one blob: only the first message names it")
            yield later.data

    return first, data()


def referenced(state: FarmState) -> set[Key]:
    """Every blob some existing job names: its project files, its frames' outputs in the
    store or on their way there, and their thumbnails (one walk over the frames, once a day
    or when asked)."""
    keys: set[Key] = set().union(*(job.blobs for job in state.jobs.values() if job.files))
    for job in state.jobs.values():
        for frame in job.frames.values():
            keys.update((o.xxh3_128, o.size_bytes) for o in frame.outputs if o.storage in _IN_STORE)
            keys.update(o.thumbnail for o in frame.outputs if o.thumbnail)
    return keys


_IN_STORE = frozenset({pb.OUTPUT_STORAGE_PENDING, pb.OUTPUT_STORAGE_CONTROLLER})


def _names(state: FarmState, job: Job, key: Key) -> bool:
    """``job`` names the blob: one of its files, or a stored output of a job it takes
    inputs from (those change as outputs arrive, so they are looked up now)."""
    return key in job.blobs or (bool(job.inputs_from) and key in input_blobs(state, job))


async def collect(
    state: FarmState, blobs: BlobStore, older_than: float, dry_run: bool
) -> tuple[int, int, int]:
    """``BlobStore.collect`` of what no job references, off the event loop."""
    return await asyncio.to_thread(blobs.collect, referenced(state), older_than, dry_run)


class BlobServing:
    """The answers to one agent link's BlobWanted, one chunk each, in the order asked."""

    def __init__(
        self,
        state: FarmState,
        blobs: BlobStore,
        agent_id: str,
        session: LinkHandle,
        lent: Callable[[str], Collection[Key]],
    ) -> None:
        self.state = state
        self.lent = lent
        """The blobs of the scene analyses an agent was asked for (``SceneAnalyses.blobs_for``)."""
        self.blobs = blobs
        self.agent_id = agent_id
        self.session = session
        self._wanted: asyncio.Queue[apb.BlobWanted] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def want(self, wanted: apb.BlobWanted) -> None:
        self._wanted.put_nowait(wanted)
        if self._task is None:
            self._task = asyncio.create_task(self._serve(), name=f"blobs to {self.agent_id}")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _serve(self) -> None:
        while True:
            wanted = await self._wanted.get()
            self.session.send(await self.answer(wanted))

    async def answer(self, wanted: apb.BlobWanted) -> apb.LinkRequest:
        """One chunk from where the agent asked, or the reason it gets none."""
        try:
            check_ref(wanted.blob)
            self._check_runs_job_with(wanted.blob)
            data = await asyncio.to_thread(self.blobs.read, wanted.blob, wanted.offset, CHUNK_BYTES)
        except RequestRefused as e:
            log.warning("blob refused agent=%s blob=%s: %s", self.agent_id, wanted.blob.xxh3_128, e.message)
            return blob_chunk_request(wanted, error=e.message)
        except OSError as e:
            log.error("blob unreadable agent=%s blob=%s: %s", self.agent_id, wanted.blob.xxh3_128, e)
            return blob_chunk_request(
                wanted, error=f"the controller cannot read blob {wanted.blob.xxh3_128}: {e}"
            )
        return blob_chunk_request(wanted, data=data)

    def _check_runs_job_with(self, ref: pb.BlobRef) -> None:
        """The agent holds an attempt of a job naming the blob (it fetches a task's files
        between the assignment and the start, while the attempt holds its slot), or was
        asked to analyse the scene the blob is."""
        key = key_of(ref)
        if key in self.lent(self.agent_id):
            return  # the scene of an analysis this agent was asked for
        agent = self.state.agents.get(self.agent_id)
        jobs = (self.state.jobs.get(h.job_id) for h in (agent.holds.values() if agent else ()))
        if not any(job is not None and _names(self.state, job, key) for job in jobs):
            raise NotPossibleNow(
                f"blob {ref.xxh3_128} is in no job this agent runs now: the controller serves a "
                "project's files only to the agents running its tasks"
            )
