"""A submitted job's tasks and frames are stored from columns made from its range: the rows
are those its records would give, the records changed before the first commit are stored as
they are then, and a job deleted before it stores nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from renderq.controller.bus import EventBus
from renderq.controller.farm import Farm
from renderq.controller.model import Job
from renderq.controller.recorder import Recorder
from renderq.controller.schema import TABLES
from renderq.controller.store import Store
from renderq.controller.task_logs import TaskLogs
from renderq.controller.validation import check_job
from renderq.v1 import resources_pb2 as pb

DEADLINE = 30.0


@dataclass
class Parts:
    store: Store
    recorder: Recorder
    farm: Farm

    def submit(self, frames: str, chunk_size: int = 1, test_frames: str = "") -> Job:
        job = pb.Job(plugin="command", frames=frames, chunk_size=chunk_size, test_frames=test_frames)
        job.parameters.update({"argv": ["true"]})
        return self.farm.job_control.submit(check_job(job, self.farm.state.jobs))

    async def stored(self) -> None:
        async with asyncio.timeout(DEADLINE):
            await self.recorder.flush()

    def rows(self, table: str, job_id: int) -> list[tuple[object, ...]]:
        """The table's rows of ``job_id`` as stored."""
        columns = ", ".join(c.name for c in TABLES[table].columns)
        sql = f"SELECT {columns} FROM {table} WHERE job_id = ? ORDER BY {TABLES[table].order}"
        return [tuple(row) for row in self.store.con.execute(sql, [job_id]).fetchall()]


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    store = Store(tmp_path / "farm.duckdb")
    recorder = Recorder(store, EventBus())
    writer = asyncio.create_task(recorder.run())
    try:
        yield Parts(store, recorder, Farm(recorder, TaskLogs(tmp_path / "logs", 3600), 1, 10.0))
    finally:
        writer.cancel()
        store.close()


def rows_of_records(job: Job) -> dict[str, list[tuple[object, ...]]]:
    """What the store held when it was given a row per record (lists as DuckDB returns them)."""
    tasks = [TABLES["tasks"].row(t) for t in sorted(job.tasks, key=lambda t: t.index)]
    frames = [TABLES["frames"].row(f) for f in sorted(job.frames.values(), key=lambda f: f.number)]
    return {
        "tasks": [tuple(list(v) if isinstance(v, list | tuple) else v for v in row) for row in tasks],
        "frames": [tuple(list(v) if isinstance(v, list | tuple) else v for v in row) for row in frames],
    }


@pytest.mark.parametrize(("frames", "chunk_size"), [("1-5", 1), ("9,1-4,20-30x5", 3), ("3,1,2", 2)])
async def test_a_new_jobs_rows_are_those_of_its_records(parts: Parts, frames: str, chunk_size: int) -> None:
    job = parts.submit(frames, chunk_size, test_frames="first")
    await parts.stored()
    expected = rows_of_records(job)
    assert parts.rows("tasks", job.id) == expected["tasks"]
    assert parts.rows("frames", job.id) == expected["frames"]


async def test_records_changed_before_the_first_commit_are_stored_as_they_are_then(parts: Parts) -> None:
    job = parts.submit("1-4", 2)
    task, frame = job.tasks[1], job.frames[3]
    task.state, task.agent_id, task.attempt_id = pb.TASK_STATE_ASSIGNED, "a1", 7
    frame.state, frame.agent_id, frame.warnings = pb.FRAME_STATE_RENDERING, "a1", ["slow"]
    parts.recorder.changed(task)
    parts.recorder.changed(frame)
    await parts.stored()
    assert parts.rows("tasks", job.id) == rows_of_records(job)["tasks"]
    assert parts.rows("frames", job.id) == rows_of_records(job)["frames"]
    assert parts.rows("tasks", job.id)[1][4:7] == (pb.TASK_STATE_ASSIGNED, "a1", 7)


async def test_a_job_deleted_before_its_first_commit_stores_nothing(parts: Parts) -> None:
    job = parts.submit("1-3")
    job.state = pb.JOB_STATE_CANCELLED
    parts.farm.job_control.delete(job.id)
    later = parts.submit("1-2")
    await parts.stored()
    assert (parts.rows("tasks", job.id), parts.rows("frames", job.id)) == ([], [])
    assert len(parts.rows("frames", later.id)) == 2


async def test_restored_records_share_their_empty_lists(parts: Parts) -> None:
    parts.submit("1-3")
    await parts.stored()
    (job,) = parts.store.load().jobs
    first, second = job.frames[1], job.frames[2]
    assert first.outputs == first.warnings == job.tasks[0].gpu_indices == ()
    assert first.outputs is second.outputs and job.tasks[0].gpu_indices is job.tasks[1].gpu_indices
