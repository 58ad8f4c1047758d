"""The agent's blob cache: fetched in chunks a few at a time, verified before it is kept,
resumed where it stopped, fetched once for many tasks, and failing in words."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from renderq.agent.blob_cache import CHUNK, WINDOW, BlobCache, BlobError
from tests.agent.blob_server import BlobServer, ref_of
from tests.full_disk import fill_disk
from tests.waiting import until

CONTENT = os.urandom(CHUNK * 5 // 2)


async def serve(server: BlobServer, fetch: asyncio.Future[Path]) -> Path:
    """Answer the held requests round by round, as a controller with latency would."""
    while not fetch.done():
        await until("the cache asks for a chunk or is done", lambda: bool(server.pending) or fetch.done())
        server.answer_pending()
    return await fetch


def parts_in(cache: BlobCache) -> list[Path]:
    return list(cache.root.rglob("*.part"))


async def test_a_blob_is_fetched_a_few_chunks_at_a_time_verified_and_kept_read_only(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    server = BlobServer(cache, CONTENT, hold=True)
    ref = ref_of(CONTENT)

    path = await serve(server, asyncio.ensure_future(cache.fetch(ref, "scene/shot.blend")))

    assert path == tmp_path / "blobs" / ref.xxh3_128[:2] / f"{ref.xxh3_128}-{len(CONTENT)}"
    assert path.read_bytes() == CONTENT
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert sorted(w.offset for w in server.wants) == [0, CHUNK, 2 * CHUNK]
    assert 1 < server.most_pending <= WINDOW
    assert parts_in(cache) == []
    assert await cache.fetch(ref, "again.blend") == path
    assert len(server.wants) == 3, "a blob in the cache is not fetched again"


async def test_tasks_needing_one_blob_at_once_fetch_it_once(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    server = BlobServer(cache, CONTENT, hold=True)
    ref = ref_of(CONTENT)
    fetches = [asyncio.ensure_future(cache.fetch(ref, f"job{n}/shot.blend")) for n in range(3)]

    paths = [await serve(server, fetch) for fetch in fetches]

    assert len(set(paths)) == 1
    assert sorted(w.offset for w in server.wants) == [0, CHUNK, 2 * CHUNK]


async def test_a_short_chunk_is_followed_by_a_request_for_the_rest(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    BlobServer(cache, CONTENT, chunk=300_000)

    path = await cache.fetch(ref_of(CONTENT), "scene/shot.blend")

    assert path.read_bytes() == CONTENT


async def test_a_new_link_resumes_from_the_part_after_a_broken_one(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    old = BlobServer(cache, CONTENT, hold=True)
    fetch = asyncio.ensure_future(cache.fetch(ref_of(CONTENT), "scene/shot.blend"))
    await until("the first requests", lambda: len(old.pending) >= 2)
    old.answer(old.pending[0])
    await until("the first chunk received", lambda: received(cache) == [CHUNK])

    cache.detach()
    new = BlobServer(cache, CONTENT, hold=True)
    path = await serve(new, fetch)

    assert min(w.offset for w in new.wants) == CHUNK
    assert path.read_bytes() == CONTENT


def received(cache: BlobCache) -> list[int]:
    """Bytes each fetch running now holds (some still in memory: the .part is written in
    aligned blocks, its tail when the fetch stops)."""
    return [download._written for download in cache._downloads.values()]


async def test_an_agent_restart_resumes_from_the_part(tmp_path: Path) -> None:
    ref = ref_of(CONTENT)
    part = tmp_path / "blobs" / ref.xxh3_128[:2] / f"{ref.xxh3_128}-{len(CONTENT)}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(CONTENT[: CHUNK + 1000])
    cache = BlobCache(tmp_path / "blobs")
    server = BlobServer(cache, CONTENT)

    path = await cache.fetch(ref, "scene/shot.blend")

    assert server.wants[0].offset == CHUNK + 1000
    assert path.read_bytes() == CONTENT


async def test_content_that_does_not_match_is_fetched_again_then_fails_naming_file_and_hash(
    tmp_path: Path,
) -> None:
    cache = BlobCache(tmp_path / "blobs")
    server = BlobServer(cache, hold=True)
    ref = ref_of(b"the real content")
    fetch = asyncio.ensure_future(cache.fetch(ref, "scene/shot.blend"))
    for _ in range(2):
        await until("a request from offset 0", lambda: bool(server.pending))
        server.answer(server.pending.pop(), data=b"the fake content")

    with pytest.raises(BlobError) as failed:
        await fetch

    assert [w.offset for w in server.wants] == [0, 0]
    assert "scene/shot.blend" in str(failed.value) and ref.xxh3_128 in str(failed.value)
    assert "does not match its hash" in str(failed.value)
    assert list((tmp_path / "blobs").rglob("*")) == [tmp_path / "blobs" / ref.xxh3_128[:2]]


async def test_a_blob_the_controller_lost_fails_naming_the_file(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    server = BlobServer(cache, hold=True)
    ref = ref_of(b"gone")
    fetch = asyncio.ensure_future(cache.fetch(ref, "textures/wood.png"))
    await until("a request", lambda: bool(server.pending))
    server.answer(server.pending.pop(), error="the controller has no blob " + ref.xxh3_128)

    with pytest.raises(BlobError) as failed:
        await fetch

    assert f"textures/wood.png (blob {ref.xxh3_128}): the controller cannot send it" in str(failed.value)


@pytest.mark.parametrize(("size", "shown"), [(100, "100 B"), (len(CONTENT), "2.5 MiB")])
async def test_a_full_disk_fails_and_leaves_no_partial_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, shown: str
) -> None:
    data = CONTENT[:size]
    ref = ref_of(data)
    part = tmp_path / "blobs" / ref.xxh3_128[:2] / f"{ref.xxh3_128}-{size}.part"
    fill_disk(monkeypatch, 50)
    cache = BlobCache(tmp_path / "blobs")
    BlobServer(cache, data)

    with pytest.raises(BlobError) as failed:
        await cache.fetch(ref, "scene/big.exr")

    assert str(failed.value) == f"no space left on this agent for scene/big.exr ({shown})"
    assert list(part.parent.iterdir()) == []


async def test_a_fetch_nobody_waits_for_stops_and_keeps_its_part(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    server = BlobServer(cache, CONTENT, hold=True)
    fetch = asyncio.ensure_future(cache.fetch(ref_of(CONTENT), "scene/shot.blend"))
    await until("the first requests", lambda: bool(server.pending))
    server.answer(server.pending[0])
    await until("the first chunk received", lambda: received(cache) == [CHUNK])

    fetch.cancel()

    await until("the fetch ended", lambda: not cache._downloads)
    assert [p.stat().st_size for p in parts_in(cache)] == [CHUNK]
