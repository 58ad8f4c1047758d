"""Outputs back: each completed frame's output files pulled from the agent that rendered
them into the controller's blob store, their hash checked on arrival.

A studio with no shared storage gets its frames where the farm is, not on whichever
node rendered them. The controller pulls rather than the agent pushing, as agents pull
project files (controller/blob_serving.py): it asks the agent for one chunk at a time, a
few ahead (``OutputWanted``), so its asking is the flow control, and a transfer broken by
a lost link or a restart resumes from the bytes the store already holds. Each agent sends
one file at a time, so a node finishing many frames never floods its link; identical
files (by content) travel once. A job whose outputs are ``keep`` is left alone; one whose
destination is ``s3://...`` is pushed there once stored (controller/output_pushing.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from renderq.controller.blob_store import BlobStore, Key, key_of
from renderq.controller.errors import RequestRefused
from renderq.controller.farm_state import FarmState
from renderq.controller.model import Frame, Job, Output
from renderq.controller.object_storage import KEEP
from renderq.controller.output_pushing import OutputPushing
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

CHUNK = 1 << 20
"""Bytes asked for at a time."""
WINDOW = 4
"""Chunks asked for ahead of the one awaited."""
ANSWER_TIMEOUT = 60.0
"""Seconds to wait for an agent's chunk before the transfer counts as failed (an agent of a
version that does not serve outputs never answers)."""


class _Refused(Exception):
    """The transfer cannot succeed by retrying now: the sentence says why."""


@dataclass(eq=False)
class _Wanted:
    """One file (by content) an agent holds for the controller, and where it belongs."""

    ref: pb.BlobRef
    job_id: int
    owner: str
    path: str
    frames: set[tuple[int, int]] = field(default_factory=set)
    """(job id, frame number) of the frames whose output this content is."""


class OutputCollector:
    """The pulls of every agent: queued as frames complete, run while the agent is linked."""

    def __init__(self, state: FarmState, blobs: BlobStore, pushing: OutputPushing) -> None:
        self.state = state
        self.blobs = blobs
        self.pushing = pushing
        self._restored_pushes: list[tuple[Job, Frame, Output]] = []
        self._wanted: dict[str, dict[Key, _Wanted]] = {}
        """Per agent: what it still has to send, in the order frames completed."""
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._answers: dict[str, asyncio.Queue[apb.BlobChunk]] = {}
        """Per agent: the chunks of the transfer running now."""
        self._pushes: set[asyncio.Task[None]] = set()
        self.settled: Callable[[], None] = lambda: None
        """Called once outputs are stored or failed: jobs taking them as inputs may start."""

    def frame_completed(self, job: Job, frame: Frame) -> None:
        """Mark the new frame's outputs kept or on their way, and queue their pulls."""
        if not frame.outputs:
            return
        if job.output_destination == KEEP:
            for output in frame.outputs:
                output.storage = pb.OUTPUT_STORAGE_KEPT
            return
        for output in frame.outputs:
            output.storage = pb.OUTPUT_STORAGE_PENDING
            self._want(job, frame, output)

    def restore(self, job: Job, frame: Frame) -> None:
        """At start: queue again what a frame's agent had not sent before the stop."""
        for output in frame.outputs:
            if output.storage == pb.OUTPUT_STORAGE_PENDING:
                self._want(job, frame, output)
            elif self.pushing.unpushed(job, output):
                self._restored_pushes.append((job, frame, output))

    def push_restored(self) -> None:
        """Once serving: push what a stopped controller had stored but not pushed."""
        for job, frame, output in self._restored_pushes:
            self._push(job, frame, output)
        self._restored_pushes.clear()

    def linked(self, agent_id: str) -> None:
        """The agent is (back) online on a new link: send for what it holds, afresh (a
        transfer on the old link would wait for answers that never come)."""
        self._stop(agent_id)
        self._start(agent_id)

    def unlinked(self, agent_id: str) -> None:
        """The link closed: stop, keeping the partial file to resume from (unless a newer
        link of the agent took over already)."""
        if agent_id not in self.state.links:
            self._stop(agent_id)

    def _start(self, agent_id: str) -> None:
        if self._wanted.get(agent_id) and agent_id not in self._workers and agent_id in self.state.links:
            self._workers[agent_id] = asyncio.create_task(
                self._collect(agent_id), name=f"outputs of {agent_id}"
            )

    def _stop(self, agent_id: str) -> None:
        worker = self._workers.pop(agent_id, None)
        if worker is not None:
            worker.cancel()
        self._answers.pop(agent_id, None)

    def received(self, agent_id: str, chunk: apb.BlobChunk) -> None:
        answers = self._answers.get(agent_id)
        if answers is None:
            log.debug("output chunk with no transfer agent=%s blob=%s", agent_id, chunk.blob.xxh3_128)
            return
        answers.put_nowait(chunk)

    def waiting(self) -> int:
        """Files still to collect, all agents together (a metric, and for tests)."""
        return sum(len(w) for w in self._wanted.values())

    def _want(self, job: Job, frame: Frame, output: Output) -> None:
        agent_wants = self._wanted.setdefault(frame.agent_id, {})
        key = (output.xxh3_128, output.size_bytes)
        wanted = agent_wants.get(key)
        if wanted is None:
            wanted = agent_wants[key] = _Wanted(output.blob, job.id, job.owner, output.path)
        wanted.frames.add(frame.key)
        self._start(frame.agent_id)

    async def _collect(self, agent_id: str) -> None:
        """Pull the agent's files one at a time until none is left."""
        try:
            agent_wants = self._wanted.get(agent_id, {})
            while agent_wants and agent_id in self.state.links:
                key, wanted = next(iter(agent_wants.items()))
                error = await self._pull(agent_id, wanted)
                del agent_wants[key]
                self._settle(wanted, error)
        finally:
            if self._workers.get(agent_id) is asyncio.current_task():
                del self._workers[agent_id]
                self._answers.pop(agent_id, None)
            if not self._wanted.get(agent_id):
                self._wanted.pop(agent_id, None)

    async def _pull(self, agent_id: str, wanted: _Wanted) -> str:
        """One file into the store, its hash checked; the reason it failed, or ""."""
        if await asyncio.to_thread(self.blobs.has, wanted.ref):
            return ""
        for attempt in (1, 2):
            try:
                held = await asyncio.to_thread(self.blobs.missing, [wanted.ref])
                offset = held[0][1] if held else 0
                await self.blobs.receive(wanted.ref, offset, self._chunks(agent_id, wanted, offset))
                return ""
            except _Refused as e:
                return str(e)
            except RequestRefused as e:  # a hash mismatch: the file changed, or bytes were lost
                log.warning(
                    "output transfer failed agent=%s path=%s try=%d: %s", agent_id, wanted.path, attempt, e
                )
                reason = e.message
        return reason

    async def _chunks(self, agent_id: str, wanted: _Wanted, offset: int) -> AsyncIterator[bytes]:
        """The file's bytes from ``offset``, asked for ``WINDOW`` chunks ahead."""
        answers = self._answers[agent_id] = asyncio.Queue()
        link = self.state.links[agent_id]
        size, asked, got = wanted.ref.size_bytes, offset, offset
        while got < size:
            while asked < size and asked - got < WINDOW * CHUNK:
                link.send(_want_request(wanted, asked))
                asked += CHUNK
            try:
                chunk = await asyncio.wait_for(answers.get(), ANSWER_TIMEOUT)
            except TimeoutError:
                raise _Refused(
                    f"agent {agent_id} did not send its output in {ANSWER_TIMEOUT:.0f} s (a version "
                    "that does not send outputs back?)"
                ) from None
            if chunk.error:
                raise _Refused(chunk.error)
            if key_of(chunk.blob) != key_of(wanted.ref) or chunk.offset != got or not chunk.data:
                raise _Refused(f"agent {agent_id} answered out of turn for {wanted.path}")
            yield chunk.data
            got += len(chunk.data)

    def _settle(self, wanted: _Wanted, error: str) -> None:
        """Record each frame's output with this content as stored, or failed with ``error``."""
        for job_id, number in wanted.frames:
            job = self.state.jobs.get(job_id)
            frame = job.frames.get(number) if job is not None else None
            if job is None or frame is None:
                continue  # deleted meanwhile; an unreferenced blob is collected by age
            for output in frame.outputs:
                if (output.xxh3_128, output.size_bytes) != key_of(wanted.ref):
                    continue
                output.storage = pb.OUTPUT_STORAGE_FAILED if error else pb.OUTPUT_STORAGE_CONTROLLER
                output.storage_error = error
                if not error and self.pushing.unpushed(job, output):
                    self._push(job, frame, output)
            self.state.rec.changed(frame)
            if error:
                log.warning("output not collected job=%d frame=%d: %s", job_id, number, error)
        self.settled()

    def _push(self, job: Job, frame: Frame, output: Output) -> None:
        push = asyncio.create_task(self.pushing.push(job, frame, output), name=f"push {output.path}")
        self._pushes.add(push)
        push.add_done_callback(self._pushes.discard)


def _want_request(wanted: _Wanted, offset: int) -> apb.LinkRequest:
    return apb.LinkRequest(
        want_output=apb.OutputWanted(
            job_id=wanted.job_id, owner=wanted.owner, path=wanted.path, blob=wanted.ref, offset=offset
        )
    )
