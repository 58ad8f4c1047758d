"""The tables are declared once (controller/schema.py): migrations, upserts and loads all
follow from the declarations, and a database written by an earlier release still loads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb

from renderq.controller.migrations import SCHEMA_VERSION, migration
from renderq.controller.model import Agent, Attempt, AttemptState, Frame, Job, Output, Task
from renderq.controller.schema import NATIVE_LISTS, TABLES, Column
from renderq.controller.store import Batch, Store
from renderq.v1 import resources_pb2 as pb

VERSION_2_DDL = [
    """
    CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
    CREATE TABLE jobs (
        id BIGINT PRIMARY KEY, name VARCHAR, owner VARCHAR, plugin VARCHAR, parameters VARCHAR,
        frames VARCHAR, chunk_size INTEGER, priority INTEGER, pool VARCHAR, requirements BLOB,
        environment VARCHAR, depends_on VARCHAR, max_retries INTEGER, task_timeout DOUBLE,
        state INTEGER, create_time DOUBLE, start_time DOUBLE, end_time DOUBLE, last_error VARCHAR);
    CREATE TABLE tasks (
        id BIGINT PRIMARY KEY, job_id BIGINT, idx INTEGER, frames VARCHAR, state INTEGER,
        agent_id VARCHAR, attempt_id BIGINT, attempt_count INTEGER, progress DOUBLE,
        exit_code INTEGER, error_message VARCHAR, peak_rss_bytes BIGINT, cpu_time DOUBLE,
        start_time DOUBLE, end_time DOUBLE);
    CREATE TABLE frames (
        job_id BIGINT, number BIGINT, task_id BIGINT, state INTEGER, agent_id VARCHAR,
        attempt_id BIGINT, attempt_count INTEGER, failure_count INTEGER, progress DOUBLE,
        render_time DOUBLE, peak_rss_bytes BIGINT, exit_code INTEGER, error_message VARCHAR,
        outputs VARCHAR, start_time DOUBLE, end_time DOUBLE, PRIMARY KEY (job_id, number));
    CREATE TABLE attempts (
        id BIGINT PRIMARY KEY, task_id BIGINT, job_id BIGINT, agent_id VARCHAR, frames VARCHAR,
        state VARCHAR, start_time DOUBLE, end_time DOUBLE, exit_code INTEGER,
        error_message VARCHAR, peak_rss_bytes BIGINT, cpu_time DOUBLE, log_size BIGINT,
        completed_frames VARCHAR);
    CREATE TABLE agents (
        id VARCHAR PRIMARY KEY, address VARCHAR, mode INTEGER, hardware BLOB, slots INTEGER,
        pool VARCHAR, tags VARCHAR, version VARCHAR, last_seen DOUBLE, cost_per_hour DOUBLE,
        session_id VARCHAR, last_sequence BIGINT);
    """,
    """
    CREATE TABLE tokens (
        id VARCHAR PRIMARY KEY, name VARCHAR, role INTEGER, digest VARCHAR, created_by VARCHAR,
        create_time DOUBLE, revoke_time DOUBLE);
    CREATE TABLE audit (
        sequence BIGINT PRIMARY KEY, time DOUBLE, caller VARCHAR, token_id VARCHAR, role INTEGER,
        method VARCHAR, target VARCHAR, request VARCHAR, peer VARCHAR, outcome VARCHAR,
        error VARCHAR);
    """,
]
"""The schema as the first releases wrote it by hand, before the tables were declared."""


def records() -> tuple[Job, Task, Frame, Attempt, Agent]:
    job = Job(
        id=7, name="shot", owner="ana", plugin="command", parameters={"argv": ["true"], "n": 3},
        frames_spec="1-2", chunk_size=1, priority=60, pool="gpu",
        requirements=pb.Requirements(min_cpu_cores=4), environment={"A": "1"}, depends_on=[3],
        max_retries=2, task_timeout=30.0, state=pb.JOB_STATE_RUNNING, last_error="frame 1: boom",
    )  # fmt: skip
    task = Task(id=11, job_id=7, index=0, frames=[1, 2], state=pb.TASK_STATE_RUNNING, attempt_id=5)
    frame = Frame(job_id=7, number=1, task_id=11, state=pb.FRAME_STATE_COMPLETED)
    frame.outputs = [Output("/r/1.png", 10, "ab" * 16)]
    attempt = Attempt(id=5, task_id=11, job_id=7, agent_id="n1", frames=[1, 2], state=AttemptState.RUNNING)
    agent = Agent(id="n1", address="10.0.0.2:7421", hardware=pb.Hardware(cpu_cores=8), tags=["gpu"])
    return job, task, frame, attempt, agent


def store_all(store: Store) -> None:
    job, task, frame, attempt, agent = records()
    kinds = {"jobs": job, "tasks": task, "frames": frame, "attempts": attempt, "agents": agent}
    store.write(Batch(rows={kind: [TABLES[kind].row(r)] for kind, r in kinds.items()}))


def test_records_come_back_from_the_database_as_they_went_in(tmp_path: Path) -> None:
    store = Store(tmp_path / "farm.duckdb")
    store_all(store)
    loaded = store.load()
    store.close()
    job, task, frame, _, agent = records()
    (got,) = loaded.jobs
    assert (got.id, got.parameters, got.requirements, got.depends_on, got.state, got.environment) == (
        job.id, job.parameters, job.requirements, job.depends_on, job.state, job.environment,
    )  # fmt: skip
    assert [(t.id, t.index, t.frames, t.state) for t in got.tasks] == [(11, 0, [1, 2], task.state)]
    assert [vars(o) for o in got.frames[1].outputs] == [vars(o) for o in frame.outputs]
    assert loaded.attempts[0].state == AttemptState.RUNNING
    assert (loaded.agents[0].hardware, loaded.agents[0].tags) == (agent.hardware, agent.tags)


def test_a_database_written_by_an_earlier_release_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER)")
    for version, ddl in enumerate(VERSION_2_DDL, start=1):
        con.execute(ddl)
        con.execute("INSERT INTO schema_version VALUES (?)", [version])
    con.close()
    store = Store(path)
    store_all(store)
    assert [j.id for j in store.load().jobs] == [7]
    store.close()


def test_a_new_column_is_one_declaration_that_becomes_an_alter_table() -> None:
    jobs = TABLES["jobs"]
    later = dataclasses.replace(
        jobs, columns=(*jobs.columns, Column("cost", "DOUBLE", since=SCHEMA_VERSION + 1))
    )
    assert "cost" not in later.create_sql(SCHEMA_VERSION)
    assert "cost DOUBLE" in later.create_sql(SCHEMA_VERSION + 1)
    assert migration(SCHEMA_VERSION + 1, [later]) == ["ALTER TABLE jobs ADD COLUMN cost DOUBLE"]
    assert "cost" in later.insert_sql("*", "rows")


def test_a_changed_type_is_one_declaration_that_becomes_a_copy_of_the_table() -> None:
    tasks = TABLES["tasks"]
    assert "frames VARCHAR" in tasks.create_sql(NATIVE_LISTS - 1)
    assert "frames BIGINT[]" in tasks.create_sql(NATIVE_LISTS)
    create, copy, drop, rename = migration(NATIVE_LISTS, [tasks])
    assert create.startswith("CREATE TABLE tasks_v6 (id BIGINT, job_id BIGINT, idx INTEGER, frames BIGINT[]")
    assert copy.startswith("INSERT INTO tasks_v6 (id, job_id, idx, frames, ")
    assert "SELECT id, job_id, idx, coalesce(CAST(frames AS JSON)::BIGINT[], []), state" in copy
    assert (drop, rename) == ("DROP TABLE tasks", "ALTER TABLE tasks_v6 RENAME TO tasks")
