"""The farm's tables, each declared once: column name, SQL type, and how a record's
attribute is encoded into the column and decoded back.

Everything else is derived from these declarations: the migrations (migrations.py; a table or a
column carries the schema version that added it, a column whose type changed the version
that changed it), the upsert of changed records, and the load at start, which selects
columns by name. Adding a column is one ``Column(..., since=N)`` line here; adding a
table, one ``Table(..., since=N)``.

The tables of a large farm (a million frames and their tasks) hold lists in DuckDB's own
types, which it returns as Python lists ready to use: decoding JSON row by row took most
of a restart (bench/README.md, recovery.py).
"""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat, starmap
from operator import attrgetter, itemgetter
from typing import Any

from renderq.controller.access_records import ApiToken, AuditRecord
from renderq.controller.long_lived import collection_paused
from renderq.controller.model import (
    DEFAULT_MAX_AGENT_FAILURES,
    Agent,
    Attempt,
    Frame,
    Job,
    Limit,
    Output,
    PathMapping,
    Task,
)
from renderq.v1 import resources_pb2 as pb

Row = tuple[Any, ...]
Codec = Callable[[Any], Any]
Decoder = tuple[int, Codec | None, tuple[()] | None]

NATIVE_LISTS = 6
"""The schema version that stored the lists of tasks, frames and attempts as DuckDB lists
(JSON text before)."""


@dataclass(frozen=True)
class Retype:
    """A column's type changed by schema version ``since``: ``old`` before it, and the SQL
    that turns an old value into the new type (see ``Table.rebuilt``)."""

    since: int
    old: str
    using: str


@dataclass(frozen=True)
class Column:
    name: str
    sql: str
    attr: str = ""
    """The record's attribute, when it is not named as the column."""
    encode: Codec | None = None
    decode: Codec | None = None
    since: int = 1
    """The schema version that added the column."""
    if_null: str = ""
    """SQL read in place of NULL: rows older than the column hold NULL. Given to DuckDB, not
    decoded in Python: the tables of a large farm are read a million rows at a time."""
    retype: Retype | None = None
    empty: tuple[()] | None = None
    """For a list most records leave empty: an empty value is stored as it is, never encoded,
    and read as this shared empty tuple, never decoded (a call per frame costs a second a
    million, and an empty list per record 7 MB per 100,000). DuckDB returns it as NULL, making
    no list for it."""

    @property
    def attribute(self) -> str:
        return self.attr or self.name

    def sql_at(self, version: int) -> str:
        """The column's SQL type in schema ``version``."""
        if self.retype is not None and version < self.retype.since:
            return self.retype.old
        return self.sql

    def copied(self, version: int) -> str:
        """The column's value in a copy of its table into schema ``version``."""
        if self.since == version:
            return "NULL"  # added by that version
        if self.retype is not None and self.retype.since == version:
            return self.retype.using
        return self.name

    @property
    def selected(self) -> str:
        if self.empty is not None:
            return f"CASE WHEN len({self.name}) > 0 THEN {self.name} END"
        return f"coalesce({self.name}, {self.if_null})" if self.if_null else self.name


@dataclass(frozen=True)
class Table:
    name: str
    record: type
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    order: str
    """The ORDER BY of the load."""
    since: int = 1
    _getter: Callable[[Any], Any] = field(init=False, repr=False, compare=False)
    _encoders: tuple[tuple[int, Codec, bool], ...] = field(init=False, repr=False, compare=False)
    _decoders: tuple[Decoder, ...] = field(init=False, repr=False, compare=False)
    _positional: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        getter = attrgetter(*(c.attribute for c in self.columns))
        object.__setattr__(self, "_getter", getter)
        encoders = tuple(
            (i, c.encode, c.empty is not None) for i, c in enumerate(self.columns) if c.encode is not None
        )
        object.__setattr__(self, "_encoders", encoders)
        decoders = tuple(
            (i, c.decode, c.empty)
            for i, c in enumerate(self.columns)
            if c.decode is not None or c.empty is not None
        )
        object.__setattr__(self, "_decoders", decoders)
        fields = [f.name for f in dataclasses.fields(self.record) if f.init]
        positional = fields[: len(self.columns)] == [c.attribute for c in self.columns]
        object.__setattr__(self, "_positional", positional)

    def create_sql(self, version: int, name: str = "") -> str:
        """The CREATE TABLE of this table (or of ``name``) as schema ``version`` has it."""
        columns = ", ".join(f"{c.name} {c.sql_at(version)}" for c in self.columns if c.since <= version)
        return f"CREATE TABLE {name or self.name} ({columns}, PRIMARY KEY ({', '.join(self.key)}))"

    def rebuilt(self, version: int) -> list[str]:
        """The statements that copy this table into its shape of schema ``version``, the
        columns whose type it changed converted. Not ``ALTER COLUMN ... USING``: DuckDB replays that
        from its write-ahead log by evaluating the expression again, before it loads any
        extension (JSON, here), so a controller killed before the next checkpoint could
        never open its database again. Not a column added, filled by UPDATE and renamed:
        DuckDB updates a list by deleting and inserting the row again, a minute for a
        million tasks where the copy takes seconds."""
        copy = f"{self.name}_v{version}"
        columns = [c for c in self.columns if c.since <= version]
        names = ", ".join(c.name for c in columns)
        values = ", ".join(c.copied(version) for c in columns)
        return [
            self.create_sql(version, copy),
            f"INSERT INTO {copy} ({names}) SELECT {values} FROM {self.name}",
            f"DROP TABLE {self.name}",
            f"ALTER TABLE {copy} RENAME TO {self.name}",
        ]

    def row(self, record: Any) -> Row:
        """The record as this table's row (attrgetter reads every attribute in one call:
        this runs for each changed record of every commit)."""
        values: Row = self._getter(record)
        encoded: list[Any] | None = None
        for i, encode, keeps_empty in self._encoders:
            if values[i] or not keeps_empty:
                encoded = encoded or list(values)
                encoded[i] = encode(values[i])
        return values if encoded is None else tuple(encoded)

    def rows(self, records: Iterable[Any]) -> list[Row]:
        """The records as rows, as ``row`` makes them; a column that keeps empty values as
        they are is encoded only where a value is not empty, after reading every row at C
        speed (a new job: a million frames, none with outputs)."""
        if any(not keeps_empty for _, _, keeps_empty in self._encoders):
            return list(map(self.row, records))
        rows: list[Row] = list(map(self._getter, records))
        for i, encode, _ in self._encoders:
            for n, row in enumerate(rows):
                if row[i]:
                    rows[n] = (*row[:i], encode(row[i]), *row[i + 1 :])
        return rows

    def select_sql(self, where: str = "") -> str:
        columns = ", ".join(c.selected for c in self.columns)
        return f"SELECT {columns} FROM {self.name}{where} ORDER BY {self.order}"

    def record_of(self, row: Row) -> Any:
        """The record a row selected by ``select_sql`` stands for."""
        values = {
            column.attribute: _decoded((value,), column.decode, column.empty)[0]
            for column, value in zip(self.columns, row, strict=True)
        }
        return self.record(**values)

    def records_of(self, rows: Iterable[Row]) -> list[Any]:
        """The records of rows selected by ``select_sql``. Where the columns are the
        record's first fields in order (tasks, frames, attempts), each is built from its
        row by position (from keywords it cost three times as much, a million frames at a
        restart), then the columns to decode are decoded and set a column at a time, with
        no Python loop per record (a million frames and their tasks: 0.4 s less)."""
        if not self._positional:
            return [self.record_of(row) for row in rows]
        records = list(starmap(self.record, rows))
        for i, decode, empty in self._decoders:
            values = _decoded(map(itemgetter(i), rows), decode, empty)
            # setattr on each record, the loop in C (the deque keeps nothing)
            deque(map(setattr, records, repeat(self.columns[i].attribute), values), maxlen=0)
        return records

    def insert_sql(self, selected: str, source: str, replace: bool = True) -> str:
        """Insert rows of ``source``: ``selected`` is a value for each column, in order.
        Rows with the key of a stored one replace it, unless ``replace`` is false (rows
        known to be new: looking up each key made a new job's million frames a third
        slower to store)."""
        names = ", ".join(c.name for c in self.columns)
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        return f"{verb} INTO {self.name} ({names}) SELECT {selected} FROM {source}"


def _decoded(values: Iterable[Any], decode: Codec | None, empty: tuple[()] | None) -> list[Any]:
    """A column's values as read, decoded; NULL, in a column with a shared ``empty`` (an
    empty list is selected as NULL), is that empty. A comprehension, not a call per value."""
    if decode is None:
        return [empty if value is None else value for value in values]
    if empty is None:
        return list(map(decode, values))
    return [empty if value is None else decode(value) for value in values]


def _proto(kind: type[Any]) -> Codec:
    def decode(data: bytes | None) -> Any:
        message = kind()
        if data is not None:  # NULL: a row older than the column
            message.ParseFromString(data)
        return message

    return decode


def _serialize(message: Any) -> bytes:
    return bytes(message.SerializeToString())


def _json(name: str, since: int = 1, attr: str = "", empty: Callable[[], Any] = list) -> Column:
    """A column holding the attribute as JSON text (lists and dicts). A column added by a
    later version is NULL in older rows: those read as ``empty()``."""

    def decode(text: str | None) -> Any:
        return json.loads(text) if text is not None else empty()

    return Column(name, "VARCHAR", attr=attr, encode=json.dumps, decode=decode, since=since)


def _list(name: str, sql: str, since: int = 1, empty: tuple[()] | None = None) -> Column:
    """A column holding a list as a DuckDB list (``sql``, e.g. ``BIGINT[]``), JSON text before
    NATIVE_LISTS; a column added by a later version was NULL in older rows: those became
    empty lists. ``empty``: see ``Column.empty``."""
    using = f"coalesce(CAST({name} AS JSON)::{sql}, [])"
    return Column(name, sql, since=since, retype=Retype(NATIVE_LISTS, "VARCHAR", using), empty=empty)


OUTPUTS = (
    "STRUCT(path VARCHAR, size_bytes BIGINT, xxh3_128 VARCHAR, storage INTEGER, object_url VARCHAR,"
    " storage_error VARCHAR, thumbnail_xxh3_128 VARCHAR, thumbnail_size_bytes BIGINT)[]"
)
"""A frame's outputs, one struct each (the thumbnail's hash NULL where it has none)."""

_OUTPUTS_FROM_JSON = """list_transform(CAST(outputs AS JSON[]), lambda o: {
    'path': o->>0, 'size_bytes': CAST(o->>1 AS BIGINT), 'xxh3_128': o->>2,
    'storage': coalesce(CAST(o->>3 AS INTEGER), 0), 'object_url': coalesce(o->>4, ''),
    'storage_error': coalesce(o->>5, ''), 'thumbnail_xxh3_128': o->>6,
    'thumbnail_size_bytes': CAST(o->>7 AS BIGINT)})"""
"""The JSON outputs before NATIVE_LISTS: each a list of three items (path, size, hash), six
once stored somewhere (storage, object URL, storage error), eight with a thumbnail."""


def _encode_outputs(outputs: Sequence[Output]) -> list[dict[str, Any]]:
    return [
        {
            "path": o.path,
            "size_bytes": o.size_bytes,
            "xxh3_128": o.xxh3_128,
            "storage": o.storage,
            "object_url": o.object_url,
            "storage_error": o.storage_error,
            "thumbnail_xxh3_128": o.thumbnail[0] if o.thumbnail else None,
            "thumbnail_size_bytes": o.thumbnail[1] if o.thumbnail else None,
        }
        for o in outputs
    ]


def _decode_outputs(outputs: list[dict[str, Any]]) -> list[Output]:
    return [_decode_output(o) for o in outputs]


def _decode_output(o: dict[str, Any]) -> Output:
    thumbnail = o["thumbnail_xxh3_128"]
    return Output(
        o["path"],
        o["size_bytes"],
        o["xxh3_128"],
        o["storage"],
        o["object_url"],
        o["storage_error"],
        (thumbnail, o["thumbnail_size_bytes"]) if thumbnail is not None else None,
    )


def _encode_files(files: list[pb.FileEntry]) -> bytes:
    """A job's files as one message: a Job that carries only them."""
    return _serialize(pb.Job(files=files))


def _decode_files(data: bytes | None) -> list[pb.FileEntry]:
    return list(pb.Job.FromString(data).files) if data else []


JOBS = Table("jobs", Job, (
    Column("id", "BIGINT"),
    Column("name", "VARCHAR"),
    Column("owner", "VARCHAR"),
    Column("plugin", "VARCHAR"),
    _json("parameters"),
    Column("frames", "VARCHAR", attr="frames_spec"),
    Column("chunk_size", "INTEGER"),
    Column("priority", "INTEGER"),
    Column("pool", "VARCHAR"),
    Column("requirements", "BLOB", encode=_serialize, decode=_proto(pb.Requirements)),
    _json("environment"),
    _json("depends_on"),
    Column("max_retries", "INTEGER"),
    Column("task_timeout", "DOUBLE"),
    Column("state", "INTEGER"),
    Column("create_time", "DOUBLE"),
    Column("start_time", "DOUBLE"),
    Column("end_time", "DOUBLE"),
    Column("last_error", "VARCHAR"),
    _json("limits", since=3),
    Column("max_agent_failures", "INTEGER", if_null=str(DEFAULT_MAX_AGENT_FAILURES), since=3),
    Column("min_runtime", "DOUBLE", if_null="0", since=3),
    _json("agent_failures", since=3, empty=dict),
    _json("blocked_agents", since=3, attr="blocked", empty=dict),
    Column("reservation", "BLOB", encode=_serialize, decode=_proto(pb.TaskReservation), since=4),
    Column("frame_by_frame", "BOOLEAN", if_null="false", since=4),
    Column("files", "BLOB", encode=_encode_files, decode=_decode_files, since=4),
    Column("output_destination", "VARCHAR", if_null="''", since=5),
    Column("test_frames", "VARCHAR", if_null="''", since=5),
    _json("test_frame_numbers", since=5),
    Column("stop_on_test_failure", "BOOLEAN", if_null="false", since=5),
    Column("hold_after_test", "BOOLEAN", if_null="false", since=5),
    _json("inputs_from", since=5),
), key=("id",), order="id")  # fmt: skip

TASKS = Table("tasks", Task, (
    Column("id", "BIGINT"),
    Column("job_id", "BIGINT"),
    Column("idx", "INTEGER", attr="index"),
    _list("frames", "BIGINT[]"),
    Column("state", "INTEGER"),
    Column("agent_id", "VARCHAR"),
    Column("attempt_id", "BIGINT"),
    Column("attempt_count", "INTEGER"),
    Column("progress", "DOUBLE"),
    Column("exit_code", "INTEGER"),
    Column("error_message", "VARCHAR"),
    Column("peak_rss_bytes", "BIGINT"),
    Column("cpu_time", "DOUBLE"),
    Column("start_time", "DOUBLE"),
    Column("end_time", "DOUBLE"),
    Column("memory_reservation_bytes", "BIGINT", if_null="0", since=4),
    _list("gpu_indices", "INTEGER[]", since=4, empty=()),
    Column("out_of_memory", "BOOLEAN", if_null="false", since=4),
), key=("id",), order="job_id, idx")  # fmt: skip

FRAMES = Table("frames", Frame, (
    Column("job_id", "BIGINT"),
    Column("number", "BIGINT"),
    Column("task_id", "BIGINT"),
    Column("state", "INTEGER"),
    Column("agent_id", "VARCHAR"),
    Column("attempt_id", "BIGINT"),
    Column("attempt_count", "INTEGER"),
    Column("failure_count", "INTEGER"),
    Column("progress", "DOUBLE"),
    Column("render_time", "DOUBLE"),
    Column("peak_rss_bytes", "BIGINT"),
    Column("exit_code", "INTEGER"),
    Column("error_message", "VARCHAR"),
    Column("outputs", OUTPUTS, encode=_encode_outputs, decode=_decode_outputs, empty=(),
           retype=Retype(NATIVE_LISTS, "VARCHAR", _OUTPUTS_FROM_JSON)),
    Column("start_time", "DOUBLE"),
    Column("end_time", "DOUBLE"),
    _list("warnings", "VARCHAR[]", since=5, empty=()),
), key=("job_id", "number"), order="job_id, number")  # fmt: skip

ATTEMPTS = Table("attempts", Attempt, (
    Column("id", "BIGINT"),
    Column("task_id", "BIGINT"),
    Column("job_id", "BIGINT"),
    Column("agent_id", "VARCHAR"),
    _list("frames", "BIGINT[]"),
    Column("state", "VARCHAR", encode=str),  # a plain str, as the journal keeps only Python's own types
    Column("start_time", "DOUBLE"),
    Column("end_time", "DOUBLE"),
    Column("exit_code", "INTEGER"),
    Column("error_message", "VARCHAR"),
    Column("peak_rss_bytes", "BIGINT"),
    Column("cpu_time", "DOUBLE"),
    Column("log_size", "BIGINT"),
    _list("completed_frames", "BIGINT[]"),
    Column("workspace", "VARCHAR", if_null="''", since=4),
), key=("id",), order="id")  # fmt: skip

AGENTS = Table("agents", Agent, (
    Column("id", "VARCHAR"),
    Column("address", "VARCHAR"),
    Column("mode", "INTEGER"),
    Column("hardware", "BLOB", encode=_serialize, decode=_proto(pb.Hardware)),
    Column("slots", "INTEGER"),
    Column("pool", "VARCHAR"),
    _json("tags"),
    Column("version", "VARCHAR"),
    Column("last_seen", "DOUBLE"),
    Column("cost_per_hour", "DOUBLE"),
    Column("session_id", "VARCHAR"),
    Column("last_sequence", "BIGINT"),
    Column("announced", "BLOB", encode=_serialize, decode=_proto(pb.AgentSettings), since=4),
    Column("overrides", "BLOB", encode=_serialize, decode=_proto(pb.AgentSettings), since=4),
), key=("id",), order="id")  # fmt: skip

TOKENS = Table("tokens", ApiToken, (
    Column("id", "VARCHAR"),
    Column("name", "VARCHAR"),
    Column("role", "INTEGER"),
    Column("digest", "VARCHAR"),
    Column("created_by", "VARCHAR"),
    Column("create_time", "DOUBLE"),
    Column("revoke_time", "DOUBLE"),
), key=("id",), order="create_time", since=2)  # fmt: skip

AUDIT = Table("audit", AuditRecord, (
    Column("sequence", "BIGINT"),
    Column("time", "DOUBLE"),
    Column("caller", "VARCHAR"),
    Column("token_id", "VARCHAR"),
    Column("role", "INTEGER"),
    Column("method", "VARCHAR"),
    Column("target", "VARCHAR"),
    Column("request", "VARCHAR"),
    Column("peer", "VARCHAR"),
    Column("outcome", "VARCHAR"),
    Column("error", "VARCHAR"),
), key=("sequence",), order="sequence DESC", since=2)  # fmt: skip

LIMITS = Table("limits", Limit, (
    Column("name", "VARCHAR"),
    Column("capacity", "INTEGER"),
), key=("name",), order="name", since=3)  # fmt: skip

PATH_MAPPINGS = Table("path_mappings", PathMapping, (
    Column("id", "VARCHAR"),
    Column("from_path", "VARCHAR"),
    Column("to_path", "VARCHAR"),
    Column("os", "VARCHAR"),
), key=("id",), order="id", since=4)  # fmt: skip

TABLES: dict[str, Table] = {
    t.name: t for t in (JOBS, TASKS, FRAMES, ATTEMPTS, AGENTS, TOKENS, AUDIT, LIMITS, PATH_MAPPINGS)
}
JOB_COLUMN = {
    table.name: [c.name for c in table.columns].index("job_id") for table in (TASKS, FRAMES, ATTEMPTS)
}
"""Where the tables of a job's records hold its id."""


def rows_of(kind: str, records: Sequence[Any]) -> list[Row]:
    """The changed records of one kind as rows; a new job's are a million at once, and the
    collections their tuples would set off each walk every record of the farm."""
    with collection_paused():
        return TABLES[kind].rows(records)
