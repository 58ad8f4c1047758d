"""Blobs in the agent's cache that no task used for the retention are removed; those used
lately, those being fetched and anything a link points at stay."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from renderq.agent.blob_cache import DAY, BlobCache
from renderq.agent.config import AgentConfig
from tests.agent.blob_server import BlobServer, ref_of
from tests.waiting import until

WEEK = 7 * DAY


def cached(cache: BlobCache, content: bytes, age_days: float, part: int | None = None) -> Path:
    """A blob put in the cache as a fetch leaves it, last used ``age_days`` ago; with
    ``part``, the .part of a fetch that got that many bytes of it."""
    path = cache.path(ref_of(content))
    if part is not None:
        path, content = path.with_name(path.name + ".part"), content[:part]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    then = time.time() - age_days * DAY
    os.utime(path, (then, then))
    return path


async def test_a_blob_unused_for_the_retention_is_removed_and_one_used_lately_kept(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    old = cached(cache, b"old project", 30)
    recent = cached(cache, b"recent project", 2)
    stale_part = cached(cache, b"abandoned fetch", 30, part=9)
    reused = cached(cache, b"reused project", 30)

    assert await cache.fetch(ref_of(b"reused project"), "scene/shot.blend") == reused  # a use touches it
    removed, freed = await cache.collect(WEEK)

    assert (removed, freed) == (2, len(b"old project") + 9)
    assert not old.exists() and not stale_part.exists()
    assert recent.read_bytes() == b"recent project" and reused.read_bytes() == b"reused project"


async def test_a_part_being_fetched_stays_however_old(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    content = b"x" * 1000
    part = cached(cache, content, 30, part=10)
    server = BlobServer(cache, content, hold=True)
    fetch = asyncio.ensure_future(cache.fetch(ref_of(content), "scene/shot.blend"))
    await until("the fetch opens its .part and asks for the rest", lambda: bool(server.pending))

    assert await cache.collect(WEEK) == (0, 0)
    assert part.exists()
    server.answer_pending()
    assert (await fetch).read_bytes() == content


async def test_a_retention_of_0_keeps_every_blob(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    old = cached(cache, b"old project", 365)

    await asyncio.wait_for(cache.collect_daily(0), 1)  # returns at once: no daily task

    assert old.exists()
    assert AgentConfig().blob_retention == 7.0


async def test_links_in_the_cache_are_neither_followed_nor_removed(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "blobs")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / cache.path(ref_of(b"precious")).name
    target.write_bytes(b"precious")
    then = time.time() - 30 * DAY
    os.utime(target, (then, then))
    cache.root.mkdir()
    (cache.root / target.name[:2]).symlink_to(elsewhere)  # a folder that is a link
    other = cache.root / "ff"
    other.mkdir()
    link = other / ("ff" + target.name[2:])
    link.symlink_to(target)  # a blob's name that is a link
    os.utime(link, (then, then), follow_symlinks=False)

    assert await cache.collect(WEEK) == (0, 0)
    assert target.read_bytes() == b"precious" and link.is_symlink()
