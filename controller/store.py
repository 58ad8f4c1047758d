"""DuckDB: the farm's durable record.

Only the controller opens the file, through one connection used by one writer at a
time (the recorder). Writes come in batches: every changed row of a batch is upserted
in one transaction, column by column with UNNEST, so a tick with a thousand frame
changes is one statement per table. Forward-only migrations run at start; no foreign
keys or explicit indexes (they block ALTER and turn UPDATEs into DELETE+INSERT).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from renderq.controller.access_records import ApiToken, AuditRecord
from renderq.controller.model import Agent, Attempt, Frame, Job, Limit, PathMapping
from renderq.controller.schema import (
    AGENTS,
    ATTEMPTS,
    AUDIT,
    FRAMES,
    JOBS,
    LIMITS,
    PATH_MAPPINGS,
    SCHEMA_VERSION,
    TABLES,
    TASKS,
    TOKENS,
    Row,
    Table,
    migration,
)

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """Everything one transaction writes."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    deleted_jobs: list[int] = field(default_factory=list)
    deleted_keys: dict[str, list[Any]] = field(default_factory=dict)
    """Rows gone for good, by table, by primary key (agents, limits)."""
    meta: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows or self.deleted_jobs or self.deleted_keys or self.meta)


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
    limits: list[Limit] = field(default_factory=list)
    path_mappings: list[PathMapping] = field(default_factory=list)


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
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {current}, newer than this renderq knows "
                f"({SCHEMA_VERSION}); upgrade renderq"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            log.info("migrating database path=%s to_version=%d", self.path, version)
            self.con.execute("BEGIN")
            for statement in migration(version):
                self.con.execute(statement)
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
            for table, keys in batch.deleted_keys.items():
                column = TABLES[table].key[0]
                for key in keys:
                    con.execute(f"DELETE FROM {table} WHERE {column} = ?", [key])
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

    def _upsert(self, table: str, rows: Sequence[Row]) -> None:
        columns = [list(c) for c in zip(*rows, strict=True)]
        self.con.execute(TABLES[table].upsert_sql(), columns)

    def load(self) -> Loaded:
        con = self.con
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        jobs: dict[int, Job] = {job.id: job for job in _select(con, JOBS)}
        for task in _select(con, TASKS):
            job = jobs.get(task.job_id)
            if job is not None:
                job.tasks.append(task)
        frames: dict[tuple[int, int], Frame] = {frame.key: frame for frame in _select(con, FRAMES)}
        for job in jobs.values():
            # Frames keep the order of the job's range: the order of its tasks.
            for task in job.tasks:
                for number in task.frames:
                    frame = frames.get((job.id, number))
                    if frame is not None:
                        job.frames[number] = frame
        attempts: list[Attempt] = _select(con, ATTEMPTS)
        agents: list[Agent] = _select(con, AGENTS)
        tokens: list[ApiToken] = _select(con, TOKENS)
        row = con.execute("SELECT max(sequence) FROM audit").fetchone()
        audit_sequence = row[0] if row and row[0] is not None else 0
        limits: list[Limit] = _select(con, LIMITS)
        return Loaded(
            list(jobs.values()),
            attempts,
            agents,
            meta,
            tokens,
            audit_sequence,
            limits,
            path_mappings=_select(con, PATH_MAPPINGS),
        )

    def snapshot(self, path: Path) -> int:
        """Copy the whole database into a new DuckDB file at ``path``; its schema version.

        On a cursor of its own (a worker thread may run it while the recorder writes):
        one statement, so one transaction, so one consistent moment of the farm."""
        alias = f"export_{uuid.uuid4().hex[:12]}"
        quoted = str(path).replace("'", "''")
        with self.con.cursor() as cursor:
            row = cursor.execute("SELECT current_database()").fetchone()
            assert row is not None
            cursor.execute(f"ATTACH '{quoted}' AS {alias}")
            try:
                cursor.execute(f'COPY FROM DATABASE "{row[0]}" TO {alias}')
            finally:
                cursor.execute(f"DETACH {alias}")
        return SCHEMA_VERSION

    def audit_records(self, before: int, limit: int) -> list[AuditRecord]:
        """Up to ``limit`` audit records older than sequence ``before``, newest first.

        On a cursor of its own (a second connection to the same database), so it can
        run in a worker thread while the recorder writes."""
        with self.con.cursor() as cursor:
            rows = cursor.execute(
                AUDIT.select_sql(" WHERE sequence < ?") + " LIMIT ?", [before, limit]
            ).fetchall()
        return [AUDIT.record_of(r) for r in rows]


def _select(con: duckdb.DuckDBPyConnection, table: Table) -> list[Any]:
    return [table.record_of(r) for r in con.execute(table.select_sql()).fetchall()]
