"""The store's journal: a busy farm's commits as one row each, folded into the tables
now and then.

A DuckDB upsert costs 10-15 ms of CPU whatever its rows, one as much as a hundred
(bench/README.md, "A journal of commits"), and the commit of a farm finishing frames
upserts its tasks, frames, attempts and agents: 50-70 ms of the controller's CPU four
times a second, more than anything else it did per frame. A commit of nothing but
changed rows of those tables is instead one row of the ``journal`` table, its rows
marshalled into a blob (1-2 ms), and as durable: DuckDB's own log holds it once the
insert returns. The rows also wait here in memory, the newest of each key winning, until
the store folds them into their tables, in one transaction that empties the journal:
with the first commit ``FOLD_SECONDS`` after the oldest waiting one or at ``FOLD_ROWS``
waiting rows, with any batch that holds more than rows (a new job, a deletion, an audit
record, a token), and before the store is read or closed. Opening the store folds what a
killed controller left in the journal.

``marshal``, not ``pickle``: a row holds only Python's own types, and marshal refuses
anything else the moment it is written rather than at the next start, and reading it
back runs no code.
"""

from __future__ import annotations

import marshal
import time
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from renderq.controller.schema import JOB_COLUMN, TABLES, Row

FOLD_SECONDS = 2.0
"""Most seconds rows wait in the journal before their tables get them (a fold costs 50-70 ms
plus 25 us a row, and commits wait while it runs: at 1,000 frames a second, a fold every 10 s
kept them waiting 1-2 s on this machine, every 2 s a few hundred milliseconds)."""
FOLD_ROWS = 10_000
"""Waiting rows (distinct keys) from which the journal is folded at once, however soon:
what a fold's commit waits for, and the memory the rows hold."""
JOURNALED = frozenset({"jobs", "tasks", "frames", "attempts", "agents"})
"""The tables whose rows may wait in the journal: those a running farm changes all the
time. The others change when a person acts, and their rows are read where they are."""
_KEY_OF = {
    name: itemgetter(*[[c.name for c in TABLES[name].columns].index(k) for k in TABLES[name].key])
    for name in JOURNALED
}


def encoded(rows: Mapping[str, Sequence[Row]], meta: Mapping[str, str]) -> bytes:
    """One commit as the journal keeps it."""
    return marshal.dumps(({table: list(table_rows) for table, table_rows in rows.items()}, dict(meta)))


def decoded(data: bytes) -> tuple[dict[str, list[Row]], dict[str, str]]:
    """A commit as ``encoded`` kept it (lists inside rows come back as lists, tuples as tuples)."""
    rows, meta = marshal.loads(data)
    return rows, meta


class Journal:
    """The rows committed to the journal since the last fold, by table and key."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[Any, Row]] = {}
        self.meta: dict[str, str] = {}
        self.entries = 0
        """Rows of the ``journal`` table these came in (0: nothing to fold)."""
        self._since: float | None = None

    def holds(self, rows: Mapping[str, Sequence[Row]], newest_job: int) -> bool:
        """Whether a batch of these ``rows`` (and nothing else) may wait here: only rows of
        the journaled tables, and none of a job newer than ``newest_job`` (a new job's rows
        are inserted without looking up their keys, which only a fold knows how to do)."""
        if not JOURNALED.issuperset(rows):
            return False
        if any(row[0] > newest_job for row in rows.get("jobs", ())):
            return False
        return not any(
            row[column] > newest_job for table, column in JOB_COLUMN.items() for row in rows.get(table, ())
        )

    def add(self, rows: Mapping[str, Sequence[Row]], meta: Mapping[str, str]) -> None:
        """A commit went into the journal table: its rows replace those of the same keys."""
        for table, table_rows in rows.items():
            key_of = _KEY_OF[table]
            waiting = self.rows.setdefault(table, {})
            for row in table_rows:
                waiting[key_of(row)] = row
        self.meta.update(meta)
        self.entries += 1
        if self._since is None:
            self._since = time.monotonic()

    def due(self) -> bool:
        """Whether the rows have waited long enough, or are many enough, to be folded."""
        if self._since is None:
            return False
        waiting = sum(len(table_rows) for table_rows in self.rows.values())
        return waiting >= FOLD_ROWS or time.monotonic() - self._since >= FOLD_SECONDS

    def rows_before(
        self,
        rows: Mapping[str, Sequence[Row]],
        deleted_jobs: Sequence[int],
        deleted_keys: Mapping[str, Sequence[Any]],
    ) -> dict[str, list[Row]]:
        """The waiting rows followed by a batch's ``rows`` (which win), leaving out those of
        what the batch deletes: written after its deletions, they would bring it back."""
        gone_jobs = set(deleted_jobs)
        merged: dict[str, list[Row]] = {}
        for table, waiting in self.rows.items():
            gone = set(deleted_keys.get(table, ()))
            column = 0 if table == "jobs" else JOB_COLUMN.get(table)
            kept = [
                row
                for key, row in waiting.items()
                if key not in gone and (column is None or row[column] not in gone_jobs)
            ]
            merged[table] = kept
        for table, table_rows in rows.items():
            if table in self.rows:
                key_of = _KEY_OF[table]
                fresh = {key_of(row) for row in table_rows}
                merged[table] = [row for row in merged[table] if key_of(row) not in fresh] + list(table_rows)
            else:
                merged[table] = list(table_rows)
        return {table: table_rows for table, table_rows in merged.items() if table_rows}

    def clear(self) -> None:
        """The rows are in their tables and the journal table is empty."""
        self.rows.clear()
        self.meta.clear()
        self.entries = 0
        self._since = None
