"""DuckDB: the farm's durable record.

Only the controller opens the file, through one connection used by one writer at a
time (the recorder). Writes come in batches: every changed row of a batch is upserted
in one transaction, column by column with UNNEST, so a tick with a thousand frame
changes is one statement per table. Forward-only migrations run at start; no foreign
keys or explicit indexes (they block ALTER and turn UPDATEs into DELETE+INSERT).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from renderq.controller.model import Agent, ApiToken, Attempt, AuditRecord, Frame, Job, Output, Task
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

MIGRATIONS: list[str] = [
    # 1: the first schema.
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
    # 2: API tokens (hashed) and the audit log of state-changing calls.
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

# Column types per table, in table order: the UNNEST casts of the upsert.
COLUMNS: dict[str, list[str]] = {
    "jobs": [
        "BIGINT",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
        "INTEGER",
        "INTEGER",
        "VARCHAR",
        "BLOB",
        "VARCHAR",
        "VARCHAR",
        "INTEGER",
        "DOUBLE",
        "INTEGER",
        "DOUBLE",
        "DOUBLE",
        "DOUBLE",
        "VARCHAR",
    ],
    "tasks": [
        "BIGINT",
        "BIGINT",
        "INTEGER",
        "VARCHAR",
        "INTEGER",
        "VARCHAR",
        "BIGINT",
        "INTEGER",
        "DOUBLE",
        "INTEGER",
        "VARCHAR",
        "BIGINT",
        "DOUBLE",
        "DOUBLE",
        "DOUBLE",
    ],
    "frames": [
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "INTEGER",
        "VARCHAR",
        "BIGINT",
        "INTEGER",
        "INTEGER",
        "DOUBLE",
        "DOUBLE",
        "BIGINT",
        "INTEGER",
        "VARCHAR",
        "VARCHAR",
        "DOUBLE",
        "DOUBLE",
    ],
    "attempts": [
        "BIGINT",
        "BIGINT",
        "BIGINT",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
        "DOUBLE",
        "DOUBLE",
        "INTEGER",
        "VARCHAR",
        "BIGINT",
        "DOUBLE",
        "BIGINT",
        "VARCHAR",
    ],
    "agents": [
        "VARCHAR",
        "VARCHAR",
        "INTEGER",
        "BLOB",
        "INTEGER",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
        "DOUBLE",
        "DOUBLE",
        "VARCHAR",
        "BIGINT",
    ],
    "tokens": ["VARCHAR", "VARCHAR", "INTEGER", "VARCHAR", "VARCHAR", "DOUBLE", "DOUBLE"],
    "audit": [
        "BIGINT",
        "DOUBLE",
        "VARCHAR",
        "VARCHAR",
        "INTEGER",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
        "VARCHAR",
    ],
}

Row = tuple[Any, ...]


def job_row(j: Job) -> Row:
    return (
        j.id,
        j.name,
        j.owner,
        j.plugin,
        json.dumps(j.parameters),
        j.frames_spec,
        j.chunk_size,
        j.priority,
        j.pool,
        j.requirements.SerializeToString(),
        json.dumps(j.environment),
        json.dumps(j.depends_on),
        j.max_retries,
        j.task_timeout,
        j.state,
        j.create_time,
        j.start_time,
        j.end_time,
        j.last_error,
    )


def task_row(t: Task) -> Row:
    return (
        t.id,
        t.job_id,
        t.index,
        json.dumps(t.frames),
        t.state,
        t.agent_id,
        t.attempt_id,
        t.attempt_count,
        t.progress,
        t.exit_code,
        t.error_message,
        t.peak_rss_bytes,
        t.cpu_time,
        t.start_time,
        t.end_time,
    )


def frame_row(f: Frame) -> Row:
    outputs = json.dumps([[o.path, o.size_bytes, o.xxh3_128] for o in f.outputs])
    return (
        f.job_id,
        f.number,
        f.task_id,
        f.state,
        f.agent_id,
        f.attempt_id,
        f.attempt_count,
        f.failure_count,
        f.progress,
        f.render_time,
        f.peak_rss_bytes,
        f.exit_code,
        f.error_message,
        outputs,
        f.start_time,
        f.end_time,
    )


def attempt_row(a: Attempt) -> Row:
    return (
        a.id,
        a.task_id,
        a.job_id,
        a.agent_id,
        json.dumps(a.frames),
        a.state,
        a.start_time,
        a.end_time,
        a.exit_code,
        a.error_message,
        a.peak_rss_bytes,
        a.cpu_time,
        a.log_size,
        json.dumps(a.completed_frames),
    )


def agent_row(a: Agent) -> Row:
    return (
        a.id,
        a.address,
        a.mode,
        a.hardware.SerializeToString(),
        a.slots,
        a.pool,
        json.dumps(a.tags),
        a.version,
        a.last_seen,
        a.cost_per_hour,
        a.session_id,
        a.last_sequence,
    )


def token_row(t: ApiToken) -> Row:
    return (t.id, t.name, t.role, t.digest, t.created_by, t.create_time, t.revoke_time)


def audit_row(a: AuditRecord) -> Row:
    return (
        a.sequence, a.time, a.caller, a.token_id, a.role, a.method, a.target, a.request, a.peer,
        a.outcome, a.error,
    )  # fmt: skip


@dataclass
class Batch:
    """Everything one transaction writes."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    deleted_jobs: list[int] = field(default_factory=list)
    deleted_agents: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows or self.deleted_jobs or self.deleted_agents or self.meta)


@dataclass
class Loaded:
    """The farm as the database last knew it."""

    jobs: list[Job]
    attempts: list[Attempt]
    agents: list[Agent]
    meta: dict[str, str]
    tokens: list[ApiToken] = field(default_factory=list)
    audit_sequence: int = 0
    """The last audit record's sequence."""


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.con = duckdb.connect(str(path))
        self._job_rows: dict[int, Row] = {}
        """Each job's row as last committed. Every event of a job's frames marks the job
        changed (its progress is published), but its stored row rarely changes, and an
        upsert costs milliseconds however few its rows: unchanged rows are not written."""
        self._migrate()

    def close(self) -> None:
        self.con.close()

    def _migrate(self) -> None:
        self.con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        row = self.con.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] if row and row[0] is not None else 0
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"{self.path} has schema version {current}, newer than this renderq knows "
                f"({len(MIGRATIONS)}); upgrade renderq"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            log.info("migrating database path=%s to_version=%d", self.path, version)
            self.con.execute("BEGIN")
            self.con.execute(MIGRATIONS[version - 1])
            self.con.execute("INSERT INTO schema_version VALUES (?)", [version])
            self.con.execute("COMMIT")

    def write(self, batch: Batch) -> None:
        """Apply one batch in one transaction."""
        con = self.con
        jobs = [row for row in batch.rows.get("jobs", ()) if self._job_rows.get(row[0]) != row]
        con.execute("BEGIN")
        try:
            for job_id in batch.deleted_jobs:
                for table in ("jobs", "tasks", "frames", "attempts"):
                    column = "id" if table == "jobs" else "job_id"
                    con.execute(f"DELETE FROM {table} WHERE {column} = ?", [job_id])
            for agent_id in batch.deleted_agents:
                con.execute("DELETE FROM agents WHERE id = ?", [agent_id])
            for table, rows in batch.rows.items():
                if table == "jobs":
                    rows = jobs
                if rows:
                    self._upsert(table, rows)
            for key, value in batch.meta.items():
                self._set_meta(key, value)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        for job_id in batch.deleted_jobs:
            self._job_rows.pop(job_id, None)
        self._job_rows.update((row[0], row) for row in jobs)

    def _set_meta(self, key: str, value: str) -> None:
        # An UPDATE of the row costs a third of an upsert, and the row exists but once.
        row = self.con.execute("UPDATE meta SET value = ? WHERE key = ?", [value, key]).fetchone()
        if not row or not row[0]:
            self.con.execute("INSERT INTO meta VALUES (?, ?)", [key, value])

    def _upsert(self, table: str, rows: Sequence[Row], types: list[str] | None = None) -> None:
        types = types or COLUMNS[table]
        columns = [list(c) for c in zip(*rows, strict=True)]
        select = ", ".join(f"UNNEST(?::{t}[])" for t in types)
        self.con.execute(f"INSERT OR REPLACE INTO {table} SELECT {select}", columns)

    def load(self) -> Loaded:
        con = self.con
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        jobs: dict[int, Job] = {}
        for r in con.execute("SELECT * FROM jobs ORDER BY id").fetchall():
            requirements = pb.Requirements()
            requirements.ParseFromString(r[9])
            jobs[r[0]] = Job(
                id=r[0],
                name=r[1],
                owner=r[2],
                plugin=r[3],
                parameters=json.loads(r[4]),
                frames_spec=r[5],
                chunk_size=r[6],
                priority=r[7],
                pool=r[8],
                requirements=requirements,
                environment=json.loads(r[10]),
                depends_on=json.loads(r[11]),
                max_retries=r[12],
                task_timeout=r[13],
                state=r[14],
                create_time=r[15],
                start_time=r[16],
                end_time=r[17],
                last_error=r[18],
            )
        for r in con.execute("SELECT * FROM tasks ORDER BY job_id, idx").fetchall():
            job = jobs.get(r[1])
            if job is None:
                continue
            job.tasks.append(
                Task(
                    id=r[0],
                    job_id=r[1],
                    index=r[2],
                    frames=json.loads(r[3]),
                    state=r[4],
                    agent_id=r[5],
                    attempt_id=r[6],
                    attempt_count=r[7],
                    progress=r[8],
                    exit_code=r[9],
                    error_message=r[10],
                    peak_rss_bytes=r[11],
                    cpu_time=r[12],
                    start_time=r[13],
                    end_time=r[14],
                )
            )
        frames: dict[tuple[int, int], Frame] = {}
        for r in con.execute("SELECT * FROM frames").fetchall():
            frames[(r[0], r[1])] = Frame(
                job_id=r[0],
                number=r[1],
                task_id=r[2],
                state=r[3],
                agent_id=r[4],
                attempt_id=r[5],
                attempt_count=r[6],
                failure_count=r[7],
                progress=r[8],
                render_time=r[9],
                peak_rss_bytes=r[10],
                exit_code=r[11],
                error_message=r[12],
                outputs=[Output(*o) for o in json.loads(r[13])],
                start_time=r[14],
                end_time=r[15],
            )
        for job in jobs.values():
            # Frames keep the order of the job's range: the order of its tasks.
            for task in job.tasks:
                for number in task.frames:
                    frame = frames.get((job.id, number))
                    if frame is not None:
                        job.frames[number] = frame
        attempts = [
            Attempt(
                id=r[0],
                task_id=r[1],
                job_id=r[2],
                agent_id=r[3],
                frames=json.loads(r[4]),
                state=r[5],
                start_time=r[6],
                end_time=r[7],
                exit_code=r[8],
                error_message=r[9],
                peak_rss_bytes=r[10],
                cpu_time=r[11],
                log_size=r[12],
                completed_frames=json.loads(r[13]),
            )
            for r in con.execute("SELECT * FROM attempts ORDER BY id").fetchall()
        ]
        agents = []
        for r in con.execute("SELECT * FROM agents ORDER BY id").fetchall():
            hardware = pb.Hardware()
            hardware.ParseFromString(r[3])
            agents.append(
                Agent(
                    id=r[0],
                    address=r[1],
                    mode=r[2],
                    hardware=hardware,
                    slots=r[4],
                    pool=r[5],
                    tags=json.loads(r[6]),
                    version=r[7],
                    last_seen=r[8],
                    cost_per_hour=r[9],
                    session_id=r[10],
                    last_sequence=r[11],
                )
            )
        tokens = [ApiToken(*r) for r in con.execute("SELECT * FROM tokens ORDER BY create_time").fetchall()]
        row = con.execute("SELECT max(sequence) FROM audit").fetchone()
        audit_sequence = row[0] if row and row[0] is not None else 0
        return Loaded(list(jobs.values()), attempts, agents, meta, tokens, audit_sequence)

    def audit_records(self, before: int, limit: int) -> list[AuditRecord]:
        """Up to ``limit`` audit records older than sequence ``before``, newest first.

        On a cursor of its own (a second connection to the same database), so it can
        run in a worker thread while the recorder writes."""
        with self.con.cursor() as cursor:
            rows = cursor.execute(
                "SELECT * FROM audit WHERE sequence < ? ORDER BY sequence DESC LIMIT ?", [before, limit]
            ).fetchall()
        return [AuditRecord(*r) for r in rows]


def rows_of(kind: str, objects: Iterable[Any]) -> list[Row]:
    convert: dict[str, Callable[[Any], Row]] = {
        "jobs": job_row,
        "tasks": task_row,
        "frames": frame_row,
        "attempts": attempt_row,
        "agents": agent_row,
        "tokens": token_row,
        "audit": audit_row,
    }
    return [convert[kind](o) for o in objects]
