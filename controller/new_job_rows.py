"""A new job's tasks and frames stored from columns made from its range, not a row per record.

The records of a job just submitted differ only in their numbers: a frame in its number and
its task, a task in its id, index and frames; every other column holds what a new record
holds. So the store is handed a few NumPy arrays, one value per frame, and those shared
values, and DuckDB makes the rows (a task's by grouping its frames). Turning a million
frames and their tasks into rows, and the rows back into columns, had taken seconds of the
event loop (bench/README.md, recovery.py).

The records of the job that changed before it was first stored (a task dispatched at once)
are written as rows of their own, as any changed record, and left out here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from renderq.controller.model import Frame, Job, Task
from renderq.controller.schema import FRAMES, TASKS, Table

SOURCE = "renderq_new_job"
"""The name under which a new job's columns are shown to DuckDB."""

Statement = tuple[str, list[Any]]


@dataclass(frozen=True)
class NewJob:
    """A job submitted since the last commit, to store with the next one. Its tasks hold
    its frames in order, ``chunk_size`` each, and are numbered in a row (as submit makes
    them); its frame numbers and tasks never change after submit, so the columns may be
    made in the store's thread while the event loop goes on."""

    job: Job
    changed_tasks: Collection[int] = ()
    """Ids of its tasks stored as rows of their own (changed since submit)."""
    changed_frames: Collection[int] = ()
    """Numbers of its frames stored as rows of their own."""

    def columns(self) -> dict[str, np.ndarray]:
        """One value per frame, in the order of the range: its number, position and task,
        and whether its row and its task's row are made from these columns."""
        job = self.job
        count = len(job.frames)
        first = job.tasks[0].id
        assert job.tasks[-1].id - first == len(job.tasks) - 1 == (count - 1) // job.chunk_size, (
            f"job {job.id}: its tasks are not numbered in a row of {job.chunk_size} frames each"
        )
        numbers = np.fromiter(job.frames, dtype=np.int64, count=count)
        position = np.arange(count, dtype=np.int64)
        task_ids = first + position // job.chunk_size
        return {
            "number": numbers,
            "position": position,
            "task_id": task_ids,
            "frame_made": _not_in(numbers, self.changed_frames),
            "task_made": _not_in(task_ids, self.changed_tasks),
        }

    def statements(self) -> list[Statement]:
        """The INSERTs of the job's frames and tasks from ``columns`` (shown as SOURCE)."""
        job = self.job
        frames = _insert(
            FRAMES,
            Frame(job.id, 0, 0),
            {"number": "number", "task_id": "task_id"},
            f"{SOURCE} WHERE frame_made",
        )
        # A task of one frame lists it; one of a chunk, its frames grouped (which costs more).
        single = job.chunk_size == 1
        tasks = _insert(
            TASKS,
            Task(0, job.id, 0, []),
            {
                "id": "task_id",
                "idx": f"task_id - {job.tasks[0].id}",
                "frames": "[number]" if single else "list(number ORDER BY position)",
            },
            f"{SOURCE} WHERE task_made" + ("" if single else " GROUP BY task_id"),
        )
        return [frames, tasks]


def _not_in(values: np.ndarray, changed: Collection[int]) -> np.ndarray:
    if not changed:
        return np.ones(len(values), dtype=np.bool_)
    return np.isin(values, np.fromiter(changed, dtype=np.int64, count=len(changed)), invert=True)


def _insert(table: Table, new: Any, varying: dict[str, str], source: str) -> Statement:
    """The INSERT of ``table``'s rows from ``source``: the ``varying`` columns as SQL over
    it, every other the value ``new`` (a record as submit makes it) holds, bound once."""
    selected: list[str] = []
    shared: list[Any] = []
    for column, value in zip(table.columns, table.row(new), strict=True):
        if column.name in varying:
            selected.append(varying[column.name])
        else:
            selected.append(f"?::{column.sql}")
            shared.append(value)
    return table.insert_sql(", ".join(selected), source, replace=False), shared
