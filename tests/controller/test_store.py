"""The store writes a batch's rows column by column (a new job's inserted, every other
row upserted) and reads them back as they went in, and opens a database of the previous
schema, even one whose controller was killed before its migration reached the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from renderq.controller.migrations import migration
from renderq.controller.model import Attempt, AttemptState, Frame, Job, Output, Task
from renderq.controller.schema import JOBS, NATIVE_LISTS, TABLES
from renderq.controller.store import Batch, Store
from renderq.v1 import resources_pb2 as pb


def job(job_id: int) -> Job:
    return Job(
        id=job_id, name="shot", owner="ana", plugin="command", parameters={"argv": ["true"]},
        frames_spec="1-3", chunk_size=1, priority=50, pool="", requirements=pb.Requirements(),
        environment={}, depends_on=[], max_retries=3, task_timeout=0.0,
    )  # fmt: skip


def submitted(job_id: int, frames: int) -> Batch:
    """The batch a submit of ``frames`` frames, one per task, gives the store."""
    tasks = [Task(id=job_id * 100 + n, job_id=job_id, index=n - 1, frames=[n]) for n in range(1, frames + 1)]
    rows: dict[str, list[Any]] = {
        "jobs": [job(job_id)],
        "tasks": tasks,
        "frames": [Frame(job_id=job_id, number=t.frames[0], task_id=t.id) for t in tasks],
    }
    return Batch(rows={kind: [TABLES[kind].row(r) for r in records] for kind, records in rows.items()})


def frame_rows(*frames: Frame) -> Batch:
    return Batch(rows={"frames": [TABLES["frames"].row(f) for f in frames]})


def test_a_new_jobs_rows_are_inserted_and_later_changes_replace_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "farm.duckdb")
    store.write(submitted(1, 3))
    done = Frame(job_id=1, number=2, task_id=102, state=pb.FRAME_STATE_COMPLETED, progress=1.0)
    done.outputs = [Output("/r/2.png", 10, "ab" * 16, pb.OUTPUT_STORAGE_CONTROLLER, thumbnail=("cd" * 16, 7))]
    done.warnings = ['a "quoted" warning', "ünïcode"]
    store.write(frame_rows(done))
    store.close()
    reopened = Store(tmp_path / "farm.duckdb")
    # A job's rows are new only while no row of it was stored: after a reopen, they are not.
    reopened.write(frame_rows(Frame(job_id=1, number=3, task_id=103, state=pb.FRAME_STATE_FAILED)))
    (loaded,) = reopened.load().jobs
    reopened.close()
    assert [(t.id, t.frames) for t in loaded.tasks] == [(101, [1]), (102, [2]), (103, [3])]
    assert [(f.number, f.state) for f in loaded.frames.values()] == [
        (1, pb.FRAME_STATE_PENDING),
        (2, pb.FRAME_STATE_COMPLETED),
        (3, pb.FRAME_STATE_FAILED),
    ]
    got = loaded.frames[2]
    assert [vars(o) for o in got.outputs] == [vars(o) for o in done.outputs]
    assert (got.warnings, got.progress, got.start_time) == (done.warnings, 1.0, None)


def test_rows_of_a_job_stored_before_its_own_row_are_replaced_not_inserted_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "farm.duckdb")
    store.write(frame_rows(Frame(job_id=5, number=1, task_id=501)))
    batch = submitted(5, 1)
    store.write(batch)
    store.write(submitted(6, 1))
    assert store.con.execute("SELECT job_id, count(*) FROM frames GROUP BY job_id ORDER BY 1").fetchall() == [
        (5, 1),
        (6, 1),
    ]
    store.close()


def test_numbers_keep_their_value_and_nulls_whatever_the_other_rows_hold(tmp_path: Path) -> None:
    """A column of zeros with one 1.5 late in it is not taken for integers; None stays NULL,
    not NaN or 0; a value the same in every row is stored as it is."""
    store = Store(tmp_path / "farm.duckdb")
    batch = submitted(1, 3000)
    frames = [Frame(job_id=1, number=n, task_id=100 + n) for n in range(1, 3001)]
    frames[-1].progress, frames[-1].start_time, frames[-1].peak_rss_bytes = 0.5, 1.75, 2**40
    frames[0].end_time = 2.5
    store.write(batch)
    store.write(frame_rows(*frames))
    (loaded,) = store.load().jobs
    store.close()
    got = list(loaded.frames.values())
    assert (got[-1].progress, got[-1].start_time, got[-1].peak_rss_bytes) == (0.5, 1.75, 2**40)
    assert (got[0].end_time, got[0].start_time, got[1].end_time) == (2.5, None, None)
    assert {type(f.progress) for f in got} == {float}


V5_TASK = "INSERT INTO tasks (id, job_id, idx, frames, state, gpu_indices) VALUES (?, 7, ?, ?, 1, ?)"
V5_FRAME = "INSERT INTO frames (job_id, number, task_id, state, outputs, warnings) VALUES (7, ?, ?, 4, ?, ?)"
V5_ATTEMPT = (
    "INSERT INTO attempts (id, task_id, job_id, agent_id, frames, state, completed_frames)"
    " VALUES (9, 11, 7, 'n1', '[1, 2]', 'completed', '[1]')"
)


def previous_database(path: Path) -> None:
    """A database as the release before NATIVE_LISTS wrote it: lists as JSON text, the
    outputs of a frame as lists of three, six or eight items, NULL in columns added later."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER)")
    for version in range(1, NATIVE_LISTS):
        for statement in migration(version):
            con.execute(statement)
        con.execute("INSERT INTO schema_version VALUES (?)", [version])
    names = ", ".join(c.name for c in JOBS.columns)
    marks = ", ".join("?" for _ in JOBS.columns)
    con.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", list(JOBS.row(job(7))))
    con.execute(V5_TASK, [11, 0, "[1, 2]", "[0, 1]"])
    con.execute(V5_TASK, [12, 1, "[3]", None])
    outputs = [
        ["/r/1.png", 10, "ab" * 16],
        ['/r/a,b "q".exr', 5, "cd", pb.OUTPUT_STORAGE_CONTROLLER, "", "", "ef" * 16, 99],
        ["/r/s3.png", 3, "01", pb.OUTPUT_STORAGE_FAILED, "s3://b/k", "denied"],
    ]
    con.execute(V5_FRAME, [1, 11, json.dumps(outputs), json.dumps(['a "w"', "ü"])])
    con.execute(V5_FRAME, [2, 11, "[]", None])
    con.execute(V5_FRAME, [3, 12, "[]", "[]"])
    con.execute(V5_ATTEMPT)
    con.close()


def test_a_database_of_the_previous_schema_opens_with_its_jobs_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "previous.duckdb"
    previous_database(path)
    store = Store(path)
    loaded = store.load()
    store.close()
    (got,) = loaded.jobs
    assert [(t.id, t.frames, t.gpu_indices) for t in got.tasks] == [(11, [1, 2], [0, 1]), (12, [3], ())]
    assert [(f.number, f.warnings) for f in got.frames.values()] == [(1, ['a "w"', "ü"]), (2, ()), (3, ())]
    outputs = [
        (o.path, o.size_bytes, o.storage, o.object_url, o.storage_error, o.thumbnail)
        for o in got.frames[1].outputs
    ]
    assert outputs == [
        ("/r/1.png", 10, pb.OUTPUT_STORAGE_UNSPECIFIED, "", "", None),
        ('/r/a,b "q".exr', 5, pb.OUTPUT_STORAGE_CONTROLLER, "", "", ("ef" * 16, 99)),
        ("/r/s3.png", 3, pb.OUTPUT_STORAGE_FAILED, "s3://b/k", "denied", None),
    ]
    (attempt,) = loaded.attempts
    assert (attempt.frames, attempt.completed_frames, attempt.state) == ([1, 2], [1], AttemptState.COMPLETED)


def test_a_migration_killed_before_its_checkpoint_still_opens(tmp_path: Path) -> None:
    """The migration stays in the write-ahead log until a checkpoint; DuckDB replays it at
    the next open, before any extension is loaded."""
    path = tmp_path / "previous.duckdb"
    previous_database(path)
    migrate_then_die = (
        "import os, sys; from pathlib import Path; from renderq.controller.store import Store;"
        " store = Store(Path(sys.argv[1])); os._exit(0)"  # kept open: a closed store checkpoints
    )
    subprocess.run([sys.executable, "-c", migrate_then_die, str(path)], check=True)
    assert path.with_name(path.name + ".wal").stat().st_size > 0
    store = Store(path)
    (got,) = store.load().jobs
    store.close()
    assert [f.number for f in got.frames.values()] == [1, 2, 3]
    assert isinstance(got.frames[1].outputs[0], Output)


def test_attempts_come_back_with_their_lists(tmp_path: Path) -> None:
    store = Store(tmp_path / "farm.duckdb")
    attempt = Attempt(id=3, task_id=1, job_id=1, agent_id="n1", frames=[4, 5], completed_frames=[4])
    store.write(Batch(rows={"attempts": [TABLES["attempts"].row(attempt)]}))
    (got,) = store.load().attempts
    store.close()
    assert (got.frames, got.completed_frames, got.state, got.workspace) == ([4, 5], [4], "assigned", "")
