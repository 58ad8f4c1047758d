"""The controller's blob store on its own: uploads verified before they are stored, resumed
where they broke off, taken in turn, collected when no job names them; and a job's files
kept in the database."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
import xxhash

from renderq.controller.blob_store import BlobStore, key_of
from renderq.controller.errors import InvalidField, NoSuchResource, NotPossibleNow
from renderq.controller.model import Job
from renderq.controller.schema import TABLES
from renderq.controller.store import Batch, Store
from renderq.v1 import resources_pb2 as pb

from ..full_disk import fill_disk
from ..waiting import until

DAY = 24 * 3600.0


def ref_of(data: bytes) -> pb.BlobRef:
    return pb.BlobRef(xxh3_128=xxhash.xxh3_128(data).hexdigest(), size_bytes=len(data))


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_an_upload_in_chunks_is_stored_read_only_and_served_by_range(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = os.urandom(3000)
    ref = ref_of(data)
    assert store.missing([ref, ref]) == [(ref, 0)]

    await store.receive(ref, 0, chunks(data[:1000], data[1000:2500], data[2500:]))

    assert store.has(ref) and store.missing([ref]) == []
    assert store.path(ref) == tmp_path / ref.xxh3_128[:2] / f"{ref.xxh3_128}-3000"
    assert store.path(ref).stat().st_mode & 0o777 == 0o444
    assert store.read(ref, 1000, 600) == data[1000:1600]
    assert store.read(ref, 2900, 600) == data[2900:]
    assert list(store.incoming.iterdir()) == []


async def test_a_broken_off_upload_resumes_from_the_bytes_received(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = os.urandom(5000)
    ref = ref_of(data)

    with pytest.raises(NotPossibleNow, match="ended at byte 2,000 of 5,000; resume from byte 2000"):
        await store.receive(ref, 0, chunks(data[:2000]))
    assert store.missing([ref]) == [(ref, 2000)]
    with pytest.raises(NotPossibleNow, match="resume from byte 2000"):
        await store.receive(ref, 0, chunks(data))
    assert not store.has(ref)

    await store.receive(ref, 2000, chunks(data[2000:]))
    assert store.read(ref, 0, 10_000) == data


async def test_data_that_does_not_hash_to_its_name_is_refused_and_dropped(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"the scene as it was hashed"
    damaged = b"the scene as it arrived!!!"
    ref = ref_of(data)

    with pytest.raises(InvalidField) as refused:
        await store.receive(ref, 0, chunks(damaged))

    assert ref.xxh3_128 in refused.value.message
    assert xxhash.xxh3_128(damaged).hexdigest() in refused.value.message
    assert not store.has(ref) and store.missing([ref]) == [(ref, 0)]
    with pytest.raises(NoSuchResource, match=f"the controller has no blob {ref.xxh3_128}"):
        store.read(ref, 0, 10)


async def test_an_upload_past_the_size_it_named_is_refused(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"0123456789"
    with pytest.raises(InvalidField, match="runs past the blob's 10 bytes"):
        await store.receive(ref_of(data), 0, chunks(data[:6], data[6:] + b"more"))
    assert store.missing([ref_of(data)]) == [(ref_of(data), 6)]


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        (pb.BlobRef(xxh3_128="AB" * 16, size_bytes=1), "not 32 lowercase hex digits"),
        (pb.BlobRef(xxh3_128="../../etc/passwd", size_bytes=1), "not 32 lowercase hex digits"),
        (pb.BlobRef(xxh3_128="ab" * 16, size_bytes=-1), "must not be negative"),
        (pb.BlobRef(xxh3_128="ab" * 16, size_bytes=(64 << 30) + 1), "at most 68,719,476,736"),
    ],
)
def test_a_malformed_ref_is_refused_before_it_names_a_path(ref: pb.BlobRef, words: str) -> None:
    with pytest.raises(InvalidField, match=words):
        BlobStore.check_ref(ref)


async def test_two_uploads_of_one_blob_take_turns_and_both_succeed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = os.urandom(4000)
    ref = ref_of(data)
    first_half_written = asyncio.Event()
    go_on = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield data[:2000]
        first_half_written.set()
        await go_on.wait()
        yield data[2000:]

    first = asyncio.create_task(store.receive(ref, 0, slow()))
    await first_half_written.wait()
    second = asyncio.create_task(store.receive(ref, 0, chunks(data)))
    await until("the second upload waits its turn", lambda: store._locks[key_of(ref)][1] == 2)
    go_on.set()
    await asyncio.gather(first, second)

    assert store.read(ref, 0, 10_000) == data
    assert store._locks == {}


async def test_a_full_disk_refuses_in_words_and_the_upload_resumes_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)
    data = os.urandom(3 * 4096 + 100)
    ref = ref_of(data)

    fill_disk(monkeypatch, 4096 + 1000)
    with pytest.raises(NotPossibleNow, match=r"disk is full .* stopped at byte 4,096 of 12,388"):
        await store.receive(ref, 0, chunks(data[:4000], data[4000:9000], data[9000:]))

    assert store.missing([ref]) == [(ref, 4096)]  # what the disk took, to resume from
    monkeypatch.undo()  # space freed
    await store.receive(ref, 4096, chunks(data[4096:]))
    assert store.read(ref, 0, 20_000) == data


async def stored(store: BlobStore, *contents: bytes) -> list[pb.BlobRef]:
    for data in contents:
        await store.receive(ref_of(data), 0, chunks(data))
    return [ref_of(data) for data in contents]


def keys(refs: Iterable[pb.BlobRef]) -> set[tuple[str, int]]:
    return {(r.xxh3_128, r.size_bytes) for r in refs}


async def test_collection_removes_only_old_unreferenced_blobs_and_stale_partial_uploads(
    tmp_path: Path,
) -> None:
    store = BlobStore(tmp_path)
    used, unused, young, found_again = await stored(store, b"used", b"unused", b"young", b"found again")
    for ref in (used, unused, found_again):
        age(store.path(ref), 8 * DAY)
    assert store.has(found_again)  # asked about (a client about to submit a job naming it)
    with pytest.raises(NotPossibleNow):
        await store.receive(ref_of(b"broken off"), 0, chunks(b"broken"))
    age(store.part_path(ref_of(b"broken off")), 8 * DAY)

    assert store.collect(keys([used]), 7 * DAY, dry_run=True) == (2, 6 + 6, 3)
    assert store.path(unused).exists()

    assert store.collect(keys([used]), 7 * DAY, dry_run=False) == (2, 6 + 6, 3)
    assert [store.has(r) for r in (used, unused, young, found_again)] == [True, False, True, True]
    assert list(store.incoming.iterdir()) == []
    assert store.collect(set(), 0, dry_run=False) == (3, 4 + 5 + 11, 0)


def test_a_jobs_files_are_kept_in_the_database(tmp_path: Path) -> None:
    files = [
        pb.FileEntry(path="scene.blend", blob=pb.BlobRef(xxh3_128="ab" * 16, size_bytes=5), mode=0o644),
        pb.FileEntry(path="tex.zip", blob=pb.BlobRef(xxh3_128="cd" * 16, size_bytes=9), unpack=True),
    ]
    job = Job(
        id=1, name="j", owner="ana", plugin="command", parameters={}, frames_spec="1", chunk_size=1,
        priority=50, pool="", requirements=pb.Requirements(), environment={}, depends_on=[],
        max_retries=0, task_timeout=0.0, files=files,
    )  # fmt: skip
    store = Store(tmp_path / "farm.duckdb")
    store.write(Batch(rows={"jobs": [TABLES["jobs"].row(job)]}))
    (loaded,) = store.load().jobs
    store.close()
    assert loaded.files == files
    assert loaded.to_proto().files == files
    assert loaded.blobs == {("ab" * 16, 5), ("cd" * 16, 9)}
