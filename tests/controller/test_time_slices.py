"""Long work on the farm's loop is cut into time slices: between two, links, heartbeats and
API calls get the loop (a commit of thousands of records had held it half a second)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from renderq.controller import recorder
from renderq.controller.bus import EventBus
from renderq.controller.recorder import Recorder
from renderq.controller.store import Batch, Store
from renderq.controller.time_slices import TimeSlices
from tests.controller.test_store import job

DEADLINE = 30.0
RECORDS = 50


def test_a_slice_is_spent_once_its_time_is_up_and_the_next_begins() -> None:
    assert not TimeSlices(3600).spent()
    ended = TimeSlices(0.0)
    assert ended.spent()
    assert ended.spent(), "a slice of no time is spent at every look"


async def test_a_commit_lets_the_loop_run_while_its_records_become_rows_and_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every record's slice spent at once: the loop turns at least once per record before
    the store is written, and the commit still stores and publishes every record."""
    monkeypatch.setattr(recorder, "TimeSlices", lambda: TimeSlices(0.0))
    store = Store(tmp_path / "farm.duckdb")
    bus = EventBus()
    rec = Recorder(store, bus)
    turns = 0
    turns_at_write: list[int] = []
    write = store.write

    def noted_write(batch: Batch) -> None:
        turns_at_write.append(turns)
        write(batch)

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    monkeypatch.setattr(store, "write", noted_write)
    writer = asyncio.create_task(rec.run())
    counter = asyncio.create_task(count_turns())
    try:
        first = bus.last_sequence
        for job_id in range(1, RECORDS + 1):
            rec.changed(job(job_id))
        async with asyncio.timeout(DEADLINE):
            await rec.flush()
        assert turns_at_write[0] >= RECORDS, "the loop did not run while the commit was prepared"
        assert bus.last_sequence - first == RECORDS
        assert store.con.execute("SELECT count(*) FROM jobs").fetchone() == (RECORDS,)
    finally:
        writer.cancel()
        counter.cancel()
        await asyncio.gather(writer, counter, return_exceptions=True)
        await rec.writes_ended()
        store.close()
