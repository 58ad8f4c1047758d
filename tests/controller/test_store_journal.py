"""A busy farm's commits go to the store's journal, one row each, and reach their tables
at the next fold: when due, with a batch that holds more than rows, before a load, at
close, and at the next open after a kill (controller/store_journal.py)."""

from __future__ import annotations

import dataclasses
import enum
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from renderq.controller import store_journal
from renderq.controller.model import AttemptState
from renderq.controller.schema import TABLES
from renderq.controller.store import Batch, Store
from renderq.controller.store_journal import decoded, encoded
from renderq.v1 import resources_pb2 as pb

from .test_schema import records, store_all


def changed(state: pb.FrameState, attempt_state: AttemptState = AttemptState.RUNNING) -> Batch:
    """The stored records of ``records()`` as a busy farm changes them: the frame's state,
    the attempt's, the agent's address."""
    job, task, frame, attempt, agent = records()
    frame.state = state
    attempt.state = attempt_state
    agent.address = f"10.0.0.{state}:7421"
    kinds = {"tasks": task, "frames": frame, "attempts": attempt, "agents": agent, "jobs": job}
    return Batch(rows={kind: [TABLES[kind].row(r)] for kind, r in kinds.items()}, meta={"seen": str(state)})


class Completed(enum.IntEnum):
    """A frame state as an enum member: not one of Python's own types."""

    COMPLETED = pb.FRAME_STATE_COMPLETED


DONE = ([(1, pb.FRAME_STATE_COMPLETED)], [f"10.0.0.{pb.FRAME_STATE_COMPLETED}:7421"], 0)
"""``in_tables`` once the frame's completion is in the tables and the journal empty."""


def in_tables(path: Path) -> tuple[list[tuple[int, int]], list[str], int]:
    """The frames (number, state), the agents' addresses and the journal's rows, as the file holds them."""
    with duckdb.connect(str(path), read_only=True) as con:
        frames = con.execute("SELECT number, state FROM frames ORDER BY number").fetchall()
        addresses = [row[0] for row in con.execute("SELECT address FROM agents").fetchall()]
        journal = con.execute("SELECT count(*) FROM journal").fetchone()
    assert journal is not None
    return frames, addresses, journal[0]


def test_routine_rows_wait_in_the_journal_and_the_newest_of_each_reaches_its_table(tmp_path: Path) -> None:
    path = tmp_path / "farm.duckdb"
    store = Store(path)
    store_all(store)  # a new job: straight to the tables
    assert store.con.execute("SELECT count(*) FROM journal").fetchone() == (0,)
    store.write(changed(pb.FRAME_STATE_RENDERING))
    store.write(changed(pb.FRAME_STATE_COMPLETED, AttemptState.COMPLETED))
    assert store.con.execute("SELECT count(*) FROM journal").fetchone() == (2,)
    assert store.con.execute("SELECT state FROM frames").fetchall() == [(pb.FRAME_STATE_COMPLETED,)]
    assert store.con.execute("SELECT state FROM attempts").fetchall() == [("running",)]
    store.close()
    assert in_tables(path) == DONE
    reopened = Store(path)
    loaded = reopened.load()
    reopened.close()
    assert [a.state for a in loaded.attempts] == [AttemptState.COMPLETED]
    assert loaded.meta["seen"] == str(pb.FRAME_STATE_COMPLETED)


def test_a_store_killed_between_folds_folds_its_journal_at_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "farm.duckdb"
    write_then_die = (
        "import os, sys; from pathlib import Path; from renderq.controller.store import Store;"
        " from tests.controller.test_schema import store_all;"
        " from tests.controller.test_store_journal import changed;"
        " store = Store(Path(sys.argv[1])); store_all(store);"
        f" store.write(changed({pb.FRAME_STATE_RENDERING})); store.write(changed({pb.FRAME_STATE_FAILED}));"
        " os._exit(0)"
    )
    repository = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", write_then_die, str(path)], check=True, cwd=repository)
    assert in_tables(path)[2] == 2, "the killed store's commits were meant to wait in its journal"
    store = Store(path)
    assert store.con.execute("SELECT count(*) FROM journal").fetchone() == (0,)
    (job,) = store.load().jobs
    store.close()
    assert job.frames[1].state == pb.FRAME_STATE_FAILED


def test_rows_waiting_for_a_deleted_job_or_agent_do_not_bring_it_back(tmp_path: Path) -> None:
    path = tmp_path / "farm.duckdb"
    store = Store(path)
    store_all(store)
    store.write(changed(pb.FRAME_STATE_RENDERING))
    store.write(Batch(deleted_jobs=[7], deleted_keys={"agents": ["n1"]}))
    loaded = store.load()
    store.close()
    assert (loaded.jobs, loaded.attempts, loaded.agents) == ([], [], [])
    assert in_tables(path) == ([], [], 0)


def test_the_journal_is_folded_once_its_rows_have_waited_long_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "farm.duckdb")
    store_all(store)
    store.write(changed(pb.FRAME_STATE_RENDERING))
    monkeypatch.setattr(store_journal, "FOLD_SECONDS", 0.0)
    store.write(changed(pb.FRAME_STATE_FAILED))
    assert store.con.execute("SELECT count(*) FROM journal").fetchone() == (0,)
    assert store.con.execute("SELECT state FROM frames").fetchall() == [(pb.FRAME_STATE_FAILED,)]
    store.close()


def test_a_snapshot_holds_the_rows_still_waiting_in_the_journal(tmp_path: Path) -> None:
    store = Store(tmp_path / "farm.duckdb")
    store_all(store)
    store.write(changed(pb.FRAME_STATE_COMPLETED))
    store.snapshot(tmp_path / "copy.duckdb")
    store.close()
    assert in_tables(tmp_path / "copy.duckdb") == DONE


def test_every_journaled_row_keeps_only_pythons_own_types() -> None:
    """marshal refuses anything else (an enum member, a message) the moment it is written."""
    rows = changed(pb.FRAME_STATE_RENDERING).rows
    assert decoded(encoded(rows, {"a": "1"})) == (rows, {"a": "1"})
    job, *_ = records()
    with pytest.raises(ValueError, match="unmarshallable"):
        encoded({"jobs": [(job.id, dataclasses.replace(job))]}, {})


def test_rows_the_journal_cannot_keep_go_to_their_tables_rather_than_fail_the_commit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "farm.duckdb")
    store_all(store)
    batch = changed(pb.FRAME_STATE_COMPLETED)
    (frame,) = batch.rows["frames"]
    state = frame[3]
    assert state == pb.FRAME_STATE_COMPLETED, "the frame's state is its fourth column"
    odd = (*frame[:3], Completed.COMPLETED, *frame[4:])  # an enum member where an int was
    store.write(dataclasses.replace(batch, rows={"frames": [odd]}))
    assert "cannot go to the journal" in caplog.text
    assert store.con.execute("SELECT count(*) FROM journal").fetchone() == (0,)
    assert store.con.execute("SELECT state FROM frames").fetchall() == [(pb.FRAME_STATE_COMPLETED,)]
    store.close()
