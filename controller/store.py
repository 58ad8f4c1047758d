"""DuckDB: the farm's durable record.

Only the controller opens the file, through one connection used by one writer at a
time (the recorder). Writes come in batches. A busy farm's routine batch (changed rows of
jobs, tasks, frames, attempts and agents) is one row of the journal, its rows folded into
their tables every few seconds (``store_journal.py``). Every other batch, and each fold, is
one transaction that upserts each table's rows in one statement, reading them column by
column from NumPy arrays, so a fold of thousands of frame changes and the submit of a
million frames alike are one statement per table (a new job's tasks and frames from
columns made from its range: ``new_job_rows.py``). Forward-only migrations run at start;
no foreign keys or explicit indexes (they block ALTER and turn UPDATEs into DELETE+INSERT).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from renderq.controller.access_records import ApiToken, AuditRecord
from renderq.controller.long_lived import collection_paused, made_long_lived
from renderq.controller.migrations import SCHEMA_VERSION, migration
from renderq.controller.model import Agent, Attempt, Frame, Job, Limit, PathMapping
from renderq.controller.new_job_rows import SOURCE, NewJob
from renderq.controller.schema import (
    AGENTS,
    ATTEMPTS,
    AUDIT,
    FRAMES,
    JOB_COLUMN,
    JOBS,
    LIMITS,
    PATH_MAPPINGS,
    TABLES,
    TASKS,
    TOKENS,
    Row,
    Table,
)
from renderq.controller.store_journal import Journal, decoded, encoded

log = logging.getLogger(__name__)

_ROWS = "renderq_rows"
"""The name under which a batch's rows of one table are shown to DuckDB."""

_DTYPES: dict[str, Any] = {"BIGINT": np.int64, "INTEGER": np.int64, "DOUBLE": np.float64, "BOOLEAN": np.bool_}


@dataclass
class Batch:
    """Everything one transaction writes."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    deleted_jobs: list[int] = field(default_factory=list)
    deleted_keys: dict[str, list[Any]] = field(default_factory=dict)
    """Rows gone for good, by table, by primary key (agents, limits)."""
    meta: dict[str, str] = field(default_factory=dict)
    new_jobs: list[NewJob] = field(default_factory=list)
    """Jobs just submitted: their tasks and frames not in ``rows`` (controller/new_job_rows.py)."""

    def __bool__(self) -> bool:
        return bool(self.rows or self.deleted_jobs or self.deleted_keys or self.meta or self.new_jobs)


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
        # No progress bar: it would be drawn into the controller's log during a long migration.
        self.con.execute("SET enable_progress_bar = false")
        self._job_rows: dict[int, Row] = {}
        """Each job's row as last committed. Every event of a job's frames marks the job
        changed (its progress is published), but its stored row rarely changes, and an
        upsert costs milliseconds however few its rows: unchanged rows are not written."""
        self._migrate()
        self._newest_job = self._newest_stored_job()
        """The highest job id any row in the tables belongs to. Job ids only grow (a farm
        never issues one twice): the rows of a job with a higher id are new, inserted without
        looking up their keys."""
        self._journal = Journal()
        self._replay_journal()

    def close(self) -> None:
        """Fold the journal, so the file's tables hold everything, and close the file."""
        try:
            self.fold()
        finally:
            self.con.close()

    def _replay_journal(self) -> None:
        """Fold what a controller killed between two folds left in the journal."""
        entries = self.con.execute("SELECT data FROM journal ORDER BY sequence").fetchall()
        for (data,) in entries:
            self._journal.add(*decoded(data))
        if entries:
            log.info("folding the journal path=%s commits=%d", self.path, len(entries))
            self.fold()

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

    def _newest_stored_job(self) -> int:
        newest = " UNION ALL ".join(f"SELECT max(job_id) FROM {table}" for table in JOB_COLUMN)
        row = self.con.execute(
            f"SELECT max(id) FROM (SELECT max(id) AS id FROM jobs UNION ALL {newest})"
        ).fetchone()
        return row[0] if row and row[0] is not None else 0

    def write(self, batch: Batch) -> None:
        """Apply one batch: a busy farm's routine rows as one row of the journal, anything
        else (and the journal, when due) in their tables, in one transaction.

        No collection meanwhile: DuckDB makes Python objects as it reads a new job's million
        rows, and the collections they set off, each walking every record of the farm, took
        half the time of storing a million frames."""
        with collection_paused():
            jobs = [row for row in batch.rows.get("jobs", ()) if self._job_rows.get(row[0]) != row]
            rows = {table: jobs if table == "jobs" else rows for table, rows in batch.rows.items()}
            rows = {table: table_rows for table, table_rows in rows.items() if table_rows}
            routine = not (batch.deleted_jobs or batch.deleted_keys or batch.new_jobs)
            journaled = routine and self._journal.holds(rows, self._newest_job) and not self._journal.due()
            if not (journaled and self._to_journal(rows, batch.meta)):
                self._fold(replace(batch, rows=rows))
        for job_id in batch.deleted_jobs:
            self._job_rows.pop(job_id, None)
        self._job_rows.update((row[0], row) for row in jobs)

    def fold(self) -> None:
        """Write the rows waiting in the journal to their tables (``store_journal.py``)."""
        if self._journal.entries:
            with collection_paused():
                self._fold(Batch())

    def _to_journal(self, rows: dict[str, list[Row]], meta: dict[str, str]) -> bool:
        """Keep a routine batch in the journal; False when a value in it is not one of
        Python's own types (a bug: then its tables take it, rather than the controller
        failing every commit, restart after restart, on the same rows)."""
        try:
            data = encoded(rows, meta)
        except ValueError as exc:
            log.error("a commit's rows cannot go to the journal, stored in their tables: %s", exc)
            return False
        if rows or meta:
            self.con.execute("INSERT INTO journal VALUES (?, ?)", [self._journal.entries + 1, data])
            self._journal.add(rows, meta)
        return True

    def _fold(self, batch: Batch) -> None:
        """``batch`` and the rows waiting in the journal (which it overrides) into the tables."""
        journal = self._journal
        if journal.entries:
            rows = journal.rows_before(batch.rows, batch.deleted_jobs, batch.deleted_keys)
            batch = replace(batch, rows=rows, meta=journal.meta | batch.meta)
        self._write(batch, empty_journal=journal.entries > 0)
        journal.clear()

    def _write(self, batch: Batch, *, empty_journal: bool) -> None:
        con = self.con
        jobs = batch.rows.get("jobs", [])
        new_jobs = {row[0] for row in jobs if row[0] > self._newest_job}
        new_jobs.update(new.job.id for new in batch.new_jobs)
        newest = max(new_jobs, default=self._newest_job)
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
                if table in JOB_COLUMN:
                    newest = max(newest, self._insert_of_jobs(TABLES[table], rows, new_jobs))
                else:
                    self._insert(TABLES[table], rows)
            for new in batch.new_jobs:
                self._insert_new_job(new)
            for key, value in batch.meta.items():
                self._set_meta(key, value)
            if empty_journal:
                con.execute("DELETE FROM journal")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._newest_job = newest

    def _set_meta(self, key: str, value: str) -> None:
        # An UPDATE of the row costs a third of an upsert, and the row exists but once.
        row = self.con.execute("UPDATE meta SET value = ? WHERE key = ?", [value, key]).fetchone()
        if not row or not row[0]:
            self.con.execute("INSERT INTO meta VALUES (?, ?)", [key, value])

    def _insert_of_jobs(self, table: Table, rows: Sequence[Row], new_jobs: set[int]) -> int:
        """Store rows that belong to jobs: those of ``new_jobs`` inserted, the others
        upserted. Returns the highest job id among the others (0 if none)."""
        column = JOB_COLUMN[table.name]
        new = [row for row in rows if row[column] in new_jobs] if new_jobs else []
        old = [row for row in rows if row[column] not in new_jobs] if new else rows
        self._insert(table, new, replace=False)
        self._insert(table, old)
        return max((row[column] for row in old), default=0)

    def _insert(self, table: Table, rows: Sequence[Row], replace: bool = True) -> None:
        """Rows bound as list parameters (``UNNEST(?)``) cost DuckDB a conversion per value,
        a minute for a million frames; as arrays it scans them whole. A column with one
        value in every row (most of a new job's) is bound once, as a parameter."""
        if not rows:
            return
        arrays: dict[str, np.ndarray] = {}
        selected: list[str] = []
        constants: list[Any] = []
        for column, values in zip(table.columns, zip(*rows, strict=True), strict=True):
            first = values[0]
            if column.name not in table.key and values.count(first) == len(values):
                selected.append(f"?::{column.sql}")
                constants.append(first)
            else:
                selected.append(column.name)
                arrays[column.name] = _array(column.sql, values)
        self.con.register(_ROWS, arrays)
        try:
            self.con.execute(table.insert_sql(", ".join(selected), _ROWS, replace), constants)
        finally:
            self.con.unregister(_ROWS)

    def _insert_new_job(self, new: NewJob) -> None:
        """A new job's tasks and frames from the columns of its range, in this (the writer's)
        thread: a million of each are two statements, and no row is made in Python."""
        self.con.register(SOURCE, new.columns())
        try:
            for sql, parameters in new.statements():
                self.con.execute(sql, parameters)
        finally:
            self.con.unregister(SOURCE)

    def load(self) -> Loaded:
        """The farm as stored, its records out of the collector's sight (made_long_lived): a
        million frames and their tasks are millions of objects, and every collection they set
        off would walk all those made before."""
        self.fold()
        with made_long_lived():
            return self._load()

    def _load(self) -> Loaded:
        con = self.con
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        jobs: dict[int, Job] = {job.id: job for job in _select(con, JOBS)}
        for job_id, tasks in groupby(_select(con, TASKS), attrgetter("job_id")):
            job = jobs.get(job_id)
            if job is not None:
                job.tasks = list(tasks)
        for job_id, frames in groupby(_select(con, FRAMES), attrgetter("job_id")):
            job = jobs.get(job_id)
            if job is not None:
                _place_frames(job, frames)
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
        Store(path).close()  # the copy's journal folded into its tables, as a restore would
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
    """The table's records, read a slice of rows at a time: the rows of a whole table at
    once are a passing copy of it that the allocator keeps (150 MB more resident after
    restoring a million frames)."""
    cursor = con.execute(table.select_sql())
    records: list[Any] = []
    while rows := cursor.fetchmany(100_000):
        records += table.records_of(rows)
    return records


def _place_frames(job: Job, frames: Iterable[Frame]) -> None:
    """Give ``job`` its frames in the order of its range (the order of its tasks), as
    numbered by its tasks: a frame no task lists is dropped."""
    by_number = {frame.number: frame for frame in frames}
    job.frames = {n: by_number[n] for task in job.tasks for n in task.frames if n in by_number}


def _array(sql: str, values: tuple[Any, ...]) -> np.ndarray:
    """One column of rows as an array: numbers typed (NULL masked), the rest as Python
    objects, whose type DuckDB guesses from a sample (so never numbers: a column of zeros
    with one 1.5 late in it would be taken for integers and rounded)."""
    dtype = _DTYPES.get(sql)
    if dtype is None:
        return np.fromiter(values, dtype=object, count=len(values))
    if None not in values:
        return np.array(values, dtype=dtype)
    nulls = [value is None for value in values]
    return np.ma.masked_array(np.array([0 if v is None else v for v in values], dtype=dtype), mask=nulls)
