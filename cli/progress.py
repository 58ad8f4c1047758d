"""Following a job to its end through the event stream, and showing how far it got.

Shared by ``renderq wait`` and ``renderq up --demo``. The job is read once, then every
change arrives on ``WatchEvents``; nothing is polled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from renderq.client.enums import label
from renderq.client.errors import NotFound
from renderq.client.units import progress_bar
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

SETTLED = frozenset(
    {pb.JOB_STATE_COMPLETED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED, pb.JOB_STATE_BLOCKED}
)
"""Where following a job stops: it ended, or it is blocked by a dependency that failed
or was cancelled, and will not end before someone retries that one."""


async def follow_job(stub: FarmServiceAsyncStub, job_id: int, on_change: Callable[[pb.Job], None]) -> pb.Job:
    """The job once it is completed, failed, cancelled or blocked (``SETTLED``);
    ``on_change`` sees every state it passes through on the way."""
    while True:
        # The cursor comes before the read: a change landing between the two is then
        # both in the read and replayed by the watch, never lost.
        cursor = (await stub.ListJobs(fpb.ListJobsRequest(page_size=1))).event_sequence
        job = await _get(stub, job_id, on_change)
        if job.state in SETTLED:
            return job
        call = stub.WatchEvents(fpb.WatchEventsRequest(job_id=job_id, after_sequence=cursor, jobs_only=True))
        try:
            async for event in call:
                kind = event.WhichOneof("resource")
                if kind == "resync":
                    job = await _get(stub, job_id, on_change)
                elif kind == "job" and event.job.id == job_id:
                    if event.change == fpb.CHANGE_TYPE_DELETED:
                        raise NotFound(f"job {job_id} was deleted while waiting for it")
                    job = event.job
                    on_change(job)
                if job.state in SETTLED:
                    return job
        finally:
            call.cancel()
        # The server ended the stream (a restart, a shutdown): read again and re-watch.


async def _get(stub: FarmServiceAsyncStub, job_id: int, on_change: Callable[[pb.Job], None]) -> pb.Job:
    job = (await stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job
    on_change(job)
    return job


def blocked_sentence(job: pb.Job) -> str:
    """What blocks a BLOCKED job and what lets it run, for ``wait`` and ``submit``."""
    reason = job.state_reason or "a job it depends on failed or was cancelled"
    return f"job {job.id} is blocked: {reason}; it runs by itself once that job is retried and completes"


class JobProgress:
    """On a terminal, one line redrawn in place; elsewhere (logs, CI), a line per state."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._drawn = False
        self._last_state: int | None = None

    def update(self, job: pb.Job) -> None:
        line = (
            f"job {job.id} {label(pb.JobState, job.state):<9} {progress_bar(job.progress)}  "
            f"{job.frames_completed}/{job.frame_count} frames  {job.frames_failed} failed"
        )
        if self._live:
            self._stream.write(f"\r{line}\x1b[K")
            self._drawn = True
        elif job.state != self._last_state:
            self._stream.write(line + "\n")
        self._last_state = job.state
        self._stream.flush()

    def close(self) -> None:
        """End the live line so what follows starts on its own line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
