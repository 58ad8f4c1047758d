"""Sending a project's blobs the controller lacks: once, resumably, checked as they go.

FindMissingBlobs says which blobs of the manifest the controller does not hold yet and
how many bytes of each it already received from an upload that broke off; UploadBlob
then streams each from there. A stream the network breaks (UNAVAILABLE, or a controller
that stops reading) is resumed from what the controller then says it has, a few times
with a growing pause, so one dropped connection does not cost a 50 GB project its
progress. Each file is hashed again as it is sent: one that changed since the manifest
was made is refused by name before its last byte leaves, instead of being stored under
the wrong hash (the controller would refuse it too, without knowing the file's name).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import grpc
import xxhash

from renderq.client.project_files import Project, ProjectFile, blob_key
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

CHUNK = 1 << 20
"""Bytes per UploadBlob message: far under the message limit, and little lost to a broken stream."""
STREAMS = 3
"""Blobs sent at once: while the controller checks and stores one, the others flow."""
PAUSES = (0.5, 1.0, 2.0, 4.0)
"""Seconds to wait before each new try of a broken stream; one try more than pauses."""
DEADLINE = 60.0
"""Longest wait for one answer or one chunk accepted, before the stream counts as broken."""


class FileChanged(Exception):
    """A file's size or content is not what was hashed when the manifest was made."""

    def __init__(self, source: os.PathLike[str]) -> None:
        super().__init__(
            f"{os.fspath(source)} changed while it was being submitted; submit again once it is saved"
        )
        self.message = str(self)


@dataclass(frozen=True)
class UploadReport:
    """What one upload did, for ``submit``'s summary."""

    files: int
    """Files in the manifest."""
    files_sent: int
    """Files whose content had to be sent (in whole or in part)."""
    bytes_sent: int
    """Bytes of content sent, counting again any a broken stream lost."""
    bytes_skipped: int
    """Bytes the controller already held (whole blobs and the received part of others)."""
    bytes_to_send: int
    """Bytes the controller lacked when the upload began."""


class Progress(Protocol):
    """What hears how an upload goes (a progress bar)."""

    def begin(self, total: int) -> None:
        """The bytes the controller lacks, before any is sent."""

    def advance(self, count: int) -> None:
        """Bytes sent; a negative count when a resume went back."""


class _Quiet:
    def begin(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


async def upload_project(
    stub: FarmServiceAsyncStub, project: Project, progress: Progress | None = None
) -> UploadReport:
    """Send every blob of ``project`` the controller lacks; raises FileChanged, or the
    call's error once the tries are spent."""
    blobs = project.blobs()
    missing = await find_missing(stub, [f.entry.blob for f in blobs.values()])
    to_send = sum(m.blob.size_bytes - m.received_bytes for m in missing)
    heard = progress or _Quiet()
    heard.begin(to_send)
    streams = asyncio.Semaphore(STREAMS)

    async def one(wanted: fpb.MissingBlob) -> int:
        async with streams:
            return await _upload_resuming(stub, blobs[blob_key(wanted.blob)], wanted.received_bytes, heard)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(wanted)) for wanted in missing]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # the first failure, as a caller expects it
    sent = sum(task.result() for task in tasks)
    keys = {blob_key(m.blob) for m in missing}
    total = sum(key[1] for key in blobs)
    return UploadReport(
        files=len(project.files),
        files_sent=sum(blob_key(f.entry.blob) in keys for f in project.files),
        bytes_sent=sent,
        bytes_skipped=total - to_send,
        bytes_to_send=to_send,
    )


async def find_missing(stub: FarmServiceAsyncStub, blobs: Sequence[pb.BlobRef]) -> list[fpb.MissingBlob]:
    request = fpb.FindMissingBlobsRequest(blobs=blobs)
    return list((await stub.FindMissingBlobs(request, timeout=DEADLINE)).missing)


async def _upload_resuming(
    stub: FarmServiceAsyncStub, project_file: ProjectFile, offset: int, progress: Progress
) -> int:
    """Bytes sent for one blob, from ``offset``, across as many tries as it takes; after
    a broken stream the controller says again where to resume."""
    blob = project_file.entry.blob
    sent = 0
    reached = offset  # where the progress bar believes this blob is
    resume_at: int | None = offset
    pauses = iter(PAUSES)
    while True:
        counter = _Counter(progress)
        try:
            if resume_at is None:
                still = await find_missing(stub, [blob])
                resume_at = still[0].received_bytes if still else blob.size_bytes
                progress.advance(resume_at - reached)
                reached = resume_at
                if not still:
                    return sent
            await _send(stub, project_file, resume_at, counter)
            return sent + counter.bytes
        except (grpc.aio.AioRpcError, TimeoutError) as error:
            sent += counter.bytes
            reached += counter.bytes
            pause = next(pauses, None)
            if pause is None or not (_broken(error) or await _moved_on(stub, blob, resume_at, error)):
                raise
        await asyncio.sleep(pause)
        resume_at = None


def _broken(error: Exception) -> bool:
    """A failure another try may get past: the connection, not the request."""
    if isinstance(error, TimeoutError):
        return True
    assert isinstance(error, grpc.aio.AioRpcError)
    return error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def _moved_on(
    stub: FarmServiceAsyncStub, blob: pb.BlobRef, tried: int | None, error: Exception
) -> bool:
    """Whether the controller refused the offset because it holds more of the blob than it
    said: the broken stream before this one was still being written. Another try then
    resumes from there; a refusal for any other reason (a full disk) stands."""
    if not isinstance(error, grpc.aio.AioRpcError) or error.code() != grpc.StatusCode.FAILED_PRECONDITION:
        return False
    still = await find_missing(stub, [blob])
    return not still or still[0].received_bytes != tried


class _Counter:
    """Bytes written on one stream, passed on to the progress bar."""

    def __init__(self, progress: Progress) -> None:
        self.bytes = 0
        self._progress = progress

    def add(self, count: int) -> None:
        self.bytes += count
        self._progress.advance(count)


async def _send(
    stub: FarmServiceAsyncStub, project_file: ProjectFile, offset: int, counter: _Counter
) -> None:
    """One UploadBlob stream from ``offset`` to the end of the blob; the file is read on
    a worker thread, so the event loop keeps the stream moving."""
    blob = project_file.entry.blob
    reader = await asyncio.to_thread(_Reader, project_file, offset)
    call = stub.UploadBlob()
    try:
        await _within(call.write(fpb.UploadBlobRequest(blob=blob, offset=offset)))
        while data := await asyncio.to_thread(reader.next_chunk):
            await _within(call.write(fpb.UploadBlobRequest(data=data)))
            counter.add(len(data))
        await _within(call.done_writing())
        await _within(call)
    except BaseException:
        call.cancel()
        raise
    finally:
        reader.close()


async def _within(step: Awaitable[object]) -> None:
    """One step of a stream, given up (as a broken stream) after ``DEADLINE``."""
    async with asyncio.timeout(DEADLINE):
        await step


class _Reader:
    """A file read from an offset in chunks, hashed whole on the way: the bytes before
    the offset (which the controller has) are read again for that. The last chunk is held
    back until the whole file hashes as the manifest says, else FileChanged."""

    def __init__(self, project_file: ProjectFile, offset: int) -> None:
        self._file = project_file
        self._handle = open(project_file.source, "rb")  # noqa: SIM115  # closed by close()
        self._digest = xxhash.xxh3_128()
        self._left = project_file.entry.blob.size_bytes
        self._held = b""
        self._checked = False
        try:
            if os.fstat(self._handle.fileno()).st_size != self._left:
                raise FileChanged(project_file.source)
            while (done := project_file.entry.blob.size_bytes - self._left) < offset:
                self._read(min(CHUNK, offset - done))
        except BaseException:
            self._handle.close()
            raise

    def _read(self, count: int) -> bytes:
        data = self._handle.read(count)
        if not data:
            raise FileChanged(self._file.source)
        self._digest.update(data)
        self._left -= len(data)
        return data

    def next_chunk(self) -> bytes:
        """The next chunk to send; empty once all is sent."""
        while self._left > 0:
            held, self._held = self._held, self._read(min(CHUNK, self._left))
            if held:
                return held
        if not self._checked:
            if self._handle.read(1) or self._digest.hexdigest() != self._file.entry.blob.xxh3_128:
                raise FileChanged(self._file.source)
            self._checked = True
        held, self._held = self._held, b""
        return held

    def close(self) -> None:
        self._handle.close()
