"""Project files through a real controller: uploads by content (resumed, verified), jobs
that name them (checked: uploaded, and safe as paths on any agent), their collection, and
the chunks an agent asks for over its link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import xxhash
from google.protobuf import duration_pb2

from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

from ..waiting import until
from .conftest import ScriptedAgent, until_agent_online
from .test_link_protocol import command_job

MIB = 1 << 20


def ref_of(data: bytes) -> pb.BlobRef:
    return pb.BlobRef(xxh3_128=xxhash.xxh3_128(data).hexdigest(), size_bytes=len(data))


async def messages(ref: pb.BlobRef, data: bytes, offset: int = 0) -> AsyncIterator[fpb.UploadBlobRequest]:
    """An upload as a client sends it: the blob and offset first, then 1 MiB chunks."""
    yield fpb.UploadBlobRequest(blob=ref, offset=offset, data=data[offset : offset + MIB])
    for start in range(offset + MIB, len(data), MIB):
        yield fpb.UploadBlobRequest(data=data[start : start + MIB])


async def missing(stub: fgrpc.FarmServiceStub, *refs: pb.BlobRef) -> list[tuple[str, int]]:
    answer = await stub.FindMissingBlobs(fpb.FindMissingBlobsRequest(blobs=refs))
    return [(m.blob.xxh3_128, m.received_bytes) for m in answer.missing]


def job_with(*files: pb.FileEntry) -> pb.Job:
    job = command_job("1", 1)
    job.files.extend(files)
    return job


async def refused(call: object, code: grpc.StatusCode) -> str:
    """The details of the refusal ``call`` (an awaitable gRPC call) ends in, which must be ``code``."""
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call  # type: ignore[misc]
    assert e.value.code() == code, e.value.details()
    return e.value.details() or ""


async def test_an_upload_in_chunks_resumes_where_it_broke_off_and_is_then_not_missing(
    farm_stub: fgrpc.FarmServiceStub,
) -> None:
    data = bytes(range(256)) * (10 * 1024)  # 2.5 MiB: three chunks
    ref = ref_of(data)
    assert await missing(farm_stub, ref) == [(ref.xxh3_128, 0)]
    cut = asyncio.Event()

    async def broken_off() -> AsyncIterator[fpb.UploadBlobRequest]:
        async for message in messages(ref, data[: 2 * MIB]):
            yield message
        await cut.wait()

    call = farm_stub.UploadBlob(broken_off())
    await until("two chunks are received", lambda: _received(farm_stub, ref, 2 * MIB))
    call.cancel()
    cut.set()

    details = await refused(farm_stub.UploadBlob(messages(ref, data)), grpc.StatusCode.FAILED_PRECONDITION)
    assert f"resume from byte {2 * MIB}" in details
    answer = await farm_stub.UploadBlob(messages(ref, data, offset=2 * MIB))
    assert answer.blob == ref
    assert await missing(farm_stub, ref) == []


async def _received(stub: fgrpc.FarmServiceStub, ref: pb.BlobRef, size: int) -> bool:
    return await missing(stub, ref) == [(ref.xxh3_128, size)]


async def test_an_upload_is_refused_without_its_blob_or_when_its_data_is_not_what_it_names(
    farm_stub: fgrpc.FarmServiceStub,
) -> None:
    nameless = farm_stub.UploadBlob(_one(fpb.UploadBlobRequest(data=b"who am I")))
    assert "names the blob" in await refused(nameless, grpc.StatusCode.INVALID_ARGUMENT)

    ref = ref_of(b"the scene as hashed")
    damaged_ref = pb.BlobRef(xxh3_128=ref.xxh3_128, size_bytes=len(b"the scene garbled"))
    damaged = farm_stub.UploadBlob(_one(fpb.UploadBlobRequest(blob=damaged_ref, data=b"the scene garbled")))
    details = await refused(damaged, grpc.StatusCode.INVALID_ARGUMENT)
    assert ref.xxh3_128 in details and xxhash.xxh3_128(b"the scene garbled").hexdigest() in details
    assert await missing(farm_stub, damaged_ref) == [(ref.xxh3_128, 0)]


async def _one(message: fpb.UploadBlobRequest) -> AsyncIterator[fpb.UploadBlobRequest]:
    yield message


async def test_a_job_is_refused_until_its_files_are_uploaded_and_when_a_path_could_escape(
    farm_stub: fgrpc.FarmServiceStub,
) -> None:
    scene = b"a scene"
    entry = pb.FileEntry(path="shots/scene.blend", blob=ref_of(scene), mode=0o644)
    create = farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with(entry), allow_unmatched=True))
    details = await refused(create, grpc.StatusCode.FAILED_PRECONDITION)
    assert f"upload blob {entry.blob.xxh3_128} (shots/scene.blend) first" in details

    await farm_stub.UploadBlob(messages(entry.blob, scene))
    for name in ("../../etc/passwd", "/abs", "C:\\x", "a\\b", "nul\0byte", "a//b", "x:stream", "dot./b"):
        bad = pb.FileEntry(path=name, blob=entry.blob)
        create = farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with(entry, bad), allow_unmatched=True))
        details = await refused(create, grpc.StatusCode.INVALID_ARGUMENT)
        assert details.startswith("files[1].path: ") and repr(name) in details, details
    twin = pb.FileEntry(path="Shots/Scene.BLEND", blob=entry.blob)
    create = farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with(entry, twin), allow_unmatched=True))
    assert "ignore case" in await refused(create, grpc.StatusCode.INVALID_ARGUMENT)
    unpacked = pb.FileEntry(path="notes.txt", blob=entry.blob, unpack=True)
    create = farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with(unpacked), allow_unmatched=True))
    assert "not an archive" in await refused(create, grpc.StatusCode.INVALID_ARGUMENT)

    job = (await farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with(entry), allow_unmatched=True))).job
    assert list(job.files) == [entry]
    assert list((await farm_stub.GetJob(fpb.GetJobRequest(job_id=job.id))).job.files) == [entry]


async def test_collection_removes_only_the_blobs_no_job_names(farm_stub: fgrpc.FarmServiceStub) -> None:
    used, unused = b"a texture a job uses", b"a texture of a deleted job"
    for data in (used, unused):
        await farm_stub.UploadBlob(messages(ref_of(data), data))
    entry = pb.FileEntry(path="tex.png", blob=ref_of(used))
    await farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with(entry), allow_unmatched=True))
    now = duration_pb2.Duration(seconds=0)

    default = await farm_stub.CollectBlobs(fpb.CollectBlobsRequest())
    assert (default.blobs_removed, default.blobs_kept) == (0, 2)  # young: kept for 7 days
    dry = await farm_stub.CollectBlobs(fpb.CollectBlobsRequest(older_than=now, dry_run=True))
    assert (dry.blobs_removed, dry.bytes_freed, dry.blobs_kept) == (1, len(unused), 1)
    done = await farm_stub.CollectBlobs(fpb.CollectBlobsRequest(older_than=now))
    assert (done.blobs_removed, done.bytes_freed, done.blobs_kept) == (1, len(unused), 1)
    assert await missing(farm_stub, ref_of(used), ref_of(unused)) == [(ref_of(unused).xxh3_128, 0)]
    negative = farm_stub.CollectBlobs(fpb.CollectBlobsRequest(older_than=duration_pb2.Duration(seconds=-1)))
    assert "older_than" in await refused(negative, grpc.StatusCode.INVALID_ARGUMENT)


async def test_an_agent_gets_the_chunks_of_its_tasks_files_it_asks_for_and_no_others(
    farm_stub: fgrpc.FarmServiceStub, scripted_agent: ScriptedAgent, tmp_path: Path
) -> None:
    scene, other = bytes(range(256)) * (9 * 1024), b"another job's file"  # 2.25 MiB: three chunks
    for data in (scene, other):
        await farm_stub.UploadBlob(messages(ref_of(data), data))
    entry = pb.FileEntry(path="scene.blend", blob=ref_of(scene), mode=0o644)
    await until_agent_online(farm_stub)
    await farm_stub.CreateJob(fpb.CreateJobRequest(job=job_with(entry)))

    assign = (await scripted_agent.next_request("assign")).assign
    assert list(assign.files) == [entry]
    for offset in (0, MIB, 2 * MIB):  # asked a few ahead, as the agent does
        await scripted_agent.send(apb.LinkResponse(want_blob=apb.BlobWanted(blob=entry.blob, offset=offset)))
    chunks = [(await scripted_agent.next_request("blob")).blob for _ in range(3)]
    assert [(c.offset, c.error) for c in chunks] == [(0, ""), (MIB, ""), (2 * MIB, "")]
    assert b"".join(c.data for c in chunks) == scene

    await scripted_agent.send(apb.LinkResponse(want_blob=apb.BlobWanted(blob=ref_of(other))))
    assert "no job this agent runs" in (await scripted_agent.next_request("blob")).blob.error

    stored = tmp_path / "blobs" / entry.blob.xxh3_128[:2] / f"{entry.blob.xxh3_128}-{len(scene)}"
    stored.unlink()  # lost (a disk replaced, a hand that cleaned up)
    await scripted_agent.send(apb.LinkResponse(want_blob=apb.BlobWanted(blob=entry.blob)))
    gone = (await scripted_agent.next_request("blob")).blob
    assert (gone.data, gone.error) == (
        b"",
        f"the controller has no blob {entry.blob.xxh3_128}: upload the project again",
    )


async def test_an_upload_is_audited_by_its_blob_without_its_bytes(farm_stub: fgrpc.FarmServiceStub) -> None:
    data = b"the scene, in full" * 1000
    ref = ref_of(data)
    await farm_stub.UploadBlob(messages(ref, data))
    nameless = farm_stub.UploadBlob(_one(fpb.UploadBlobRequest(data=b"who am I")))
    await refused(nameless, grpc.StatusCode.INVALID_ARGUMENT)
    records = (await farm_stub.ListAuditRecords(fpb.ListAuditRecordsRequest())).records
    uploads = [r for r in records if r.method == "UploadBlob"]
    assert [r.outcome for r in uploads] == ["INVALID_ARGUMENT", "OK"], "newest first"
    assert ref.xxh3_128 in uploads[1].request and "the scene" not in uploads[1].request
    assert "who am I" not in uploads[0].request
