"""Commits are paced: a quick one keeps the commit interval, a slow one (a busy farm's)
makes the next wait as long as it took, so the store never takes the event loop's CPU, but
never long: events and acks wait for the next commit. A busy farm commits less often; a job
that ends is committed at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from renderq.controller import recorder
from renderq.controller.bus import EventBus
from renderq.controller.recorder import (
    BUSY_INTERVAL,
    BUSY_RECORDS,
    COMMIT_INTERVAL,
    LONGEST_PAUSE,
    Recorder,
    commit_interval,
    pause_after,
)
from renderq.controller.store import Store
from renderq.v1 import resources_pb2 as pb
from tests.controller.test_store import job

DEADLINE = 10.0


def test_a_quick_commit_keeps_the_interval() -> None:
    assert pause_after(0.004) == pytest.approx(COMMIT_INTERVAL - 0.004)


def test_a_slow_commit_is_followed_by_as_long_a_rest() -> None:
    assert pause_after(0.15) == pytest.approx(0.15)
    assert pause_after(0.06) == pytest.approx(0.06), "past half the interval the rest grows with it"


def test_a_commit_of_seconds_is_followed_by_half_a_second_at_most() -> None:
    assert pause_after(3.6) == LONGEST_PAUSE


def test_a_busy_farm_commits_less_often() -> None:
    assert commit_interval(BUSY_RECORDS - 1) == COMMIT_INTERVAL
    assert commit_interval(BUSY_RECORDS) == BUSY_INTERVAL
    assert commit_interval(BUSY_RECORDS, quiet=2.0) == 2.0, "never more often than asked"


async def test_a_job_that_ends_does_not_wait_out_a_busy_farms_pace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scripts and people wait for a job's end: it is committed after a quiet farm's interval,
    however long a busy farm's pause would be (an hour here)."""
    monkeypatch.setattr(recorder, "LONGEST_PAUSE", 3600.0)
    monkeypatch.setattr(recorder, "BUSY_INTERVAL", 3600.0)
    monkeypatch.setattr(recorder, "BUSY_RECORDS", 1)
    store = Store(tmp_path / "farm.duckdb")
    bus = EventBus()
    rec = Recorder(store, bus)
    writer = asyncio.create_task(rec.run())
    events = bus.subscribe(0, jobs_only=True)
    try:
        running = job(1)
        running.state = pb.JOB_STATE_RUNNING
        rec.changed(running)
        async with asyncio.timeout(DEADLINE):
            assert (await anext(events)).job.state == pb.JOB_STATE_RUNNING
        running.state = pb.JOB_STATE_COMPLETED
        rec.changed(running)
        try:
            async with asyncio.timeout(DEADLINE):
                ended = await anext(events)
        except TimeoutError:
            pytest.fail(f"the job's end was not committed within {DEADLINE} s: it waited out the busy pace")
        assert ended.job.state == pb.JOB_STATE_COMPLETED
    finally:
        await events.aclose()
        writer.cancel()
        store.close()


async def test_a_flush_does_not_wait_out_the_pace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An API call that waits for its change to be stored is answered at once, busy or not."""
    monkeypatch.setattr(recorder, "LONGEST_PAUSE", 3600.0)
    store = Store(tmp_path / "farm.duckdb")
    rec = Recorder(store, EventBus(), interval=3600.0)
    writer = asyncio.create_task(rec.run())
    try:
        rec.changed(job(1))
        async with asyncio.timeout(DEADLINE):
            await rec.flush()
        rec.changed(job(2))  # the recorder now rests for an hour
        try:
            async with asyncio.timeout(DEADLINE):
                await rec.flush()
        except TimeoutError:
            pytest.fail(f"a flush waited more than {DEADLINE} s: it waited out the pace")
        assert rec.batches == 2
    finally:
        writer.cancel()
        store.close()


async def test_a_cancelled_commit_lets_its_write_end_before_the_store_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A controller stopping on a slow machine gives up waiting for the last commit and
    cancels it: its write goes on in its thread, and closing the store under it failed
    (DuckDB: "connection is busy with another call")."""
    import threading

    store = Store(tmp_path / "farm.duckdb")
    started, release = threading.Event(), threading.Event()
    write = store.write

    def slow_write(batch: object) -> None:
        started.set()
        assert release.wait(DEADLINE), "the test did not release the write"
        write(batch)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "write", slow_write)
    rec = Recorder(store, EventBus())
    writer = asyncio.create_task(rec.run())
    rec.changed(job(1))
    assert await asyncio.to_thread(started.wait, DEADLINE), "no commit began"
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    ended = asyncio.create_task(rec.writes_ended())
    await asyncio.sleep(0)
    assert not ended.done(), "the write still runs: the store must not be closed yet"
    release.set()
    async with asyncio.timeout(DEADLINE):
        await ended
    store.close()  # raised ResourceInUseException while the write ran
