"""The schema's versions and the statements that take a database from one to the next,
derived from the tables declared in ``schema.py`` (a table or a column carries the version
that added it, a column whose type changed the version that changed it); the store runs
them at start, in order, each version in one transaction."""

from __future__ import annotations

from collections.abc import Iterable

from renderq.controller.schema import TABLES, Table

JOURNAL_VERSION = 7
"""The schema version that added the store's journal of commits (``store_journal.py``):
a release before it would not know to fold the rows waiting there, and must not open it."""
SCHEMA_VERSION = max(
    JOURNAL_VERSION,
    *(
        max(t.since, *(c.since for c in t.columns), *(c.retype.since for c in t.columns if c.retype))
        for t in TABLES.values()
    ),
)


def migration(version: int, tables: Iterable[Table] = TABLES.values()) -> list[str]:
    """The statements that take the schema from ``version - 1`` to ``version``."""
    statements = ["CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)"] if version == 1 else []
    if version == JOURNAL_VERSION:
        statements.append("CREATE TABLE journal (sequence BIGINT, data BLOB)")
    for table in tables:
        if table.since == version:
            statements.append(table.create_sql(version))
        elif table.since < version and any(c.retype and c.retype.since == version for c in table.columns):
            statements += table.rebuilt(version)
        elif table.since < version:
            statements += [
                f"ALTER TABLE {table.name} ADD COLUMN {c.name} {c.sql_at(version)}"
                for c in table.columns
                if c.since == version
            ]
    return statements
