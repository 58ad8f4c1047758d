"""The farm's tables, each declared once: column name, SQL type, and how a record's
attribute is encoded into the column and decoded back.

Everything else is derived from these declarations: the migrations (a table or a
column carries the schema version that added it), the upsert of changed records, and
the load at start, which selects columns by name. Adding a column is one ``Column(...,
since=N)`` line here; adding a table, one ``Table(..., since=N)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from renderq.controller.access_records import ApiToken, AuditRecord
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

    @property
    def attribute(self) -> str:
        return self.attr or self.name


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
    _encoders: tuple[tuple[int, Codec], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        getter = attrgetter(*(c.attribute for c in self.columns))
        object.__setattr__(self, "_getter", getter)
        encoders = tuple((i, c.encode) for i, c in enumerate(self.columns) if c.encode is not None)
        object.__setattr__(self, "_encoders", encoders)

    def create_sql(self, version: int) -> str:
        """The CREATE TABLE of this table as schema ``version`` has it."""
        columns = ", ".join(f"{c.name} {c.sql}" for c in self.columns if c.since <= version)
        return f"CREATE TABLE {self.name} ({columns}, PRIMARY KEY ({', '.join(self.key)}))"

    def row(self, record: Any) -> Row:
        """The record as this table's row (attrgetter reads every attribute in one call:
        this runs for each changed record of every commit)."""
        values: Row = self._getter(record)
        if not self._encoders:
            return values
        encoded = list(values)
        for i, encode in self._encoders:
            encoded[i] = encode(encoded[i])
        return tuple(encoded)

    def select_sql(self, where: str = "") -> str:
        columns = ", ".join(c.name for c in self.columns)
        return f"SELECT {columns} FROM {self.name}{where} ORDER BY {self.order}"

    def record_of(self, row: Row) -> Any:
        """The record a row selected by ``select_sql`` stands for."""
        values = {}
        for column, value in zip(self.columns, row, strict=True):
            values[column.attribute] = column.decode(value) if column.decode is not None else value
        return self.record(**values)

    def upsert_sql(self) -> str:
        names = ", ".join(c.name for c in self.columns)
        unnest = ", ".join(f"UNNEST(?::{c.sql}[])" for c in self.columns)
        return f"INSERT OR REPLACE INTO {self.name} ({names}) SELECT {unnest}"


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


def _or(default: Any) -> Codec:
    """Decode NULL (older rows of a column added later) as ``default``."""
    return lambda value: default if value is None else value


def _encode_outputs(outputs: list[Output]) -> str:
    """Each output as a list; where it is stored only once it is (older rows have three items),
    its thumbnail's hash and size last (older rows have none)."""
    return json.dumps([
        [o.path, o.size_bytes, o.xxh3_128, o.storage, o.object_url, o.storage_error, *o.thumbnail]
        if o.thumbnail else
        [o.path, o.size_bytes, o.xxh3_128, o.storage, o.object_url, o.storage_error]
        if o.storage else [o.path, o.size_bytes, o.xxh3_128]
        for o in outputs
    ])  # fmt: skip


def _decode_outputs(text: str) -> list[Output]:
    return [_decode_output(o) for o in json.loads(text)]


def _decode_output(items: list[Any]) -> Output:
    output = Output(*items[:6])
    if len(items) == 8:
        output.thumbnail = (items[6], items[7])
    return output


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
    Column("max_agent_failures", "INTEGER", decode=_or(DEFAULT_MAX_AGENT_FAILURES), since=3),
    Column("min_runtime", "DOUBLE", decode=_or(0.0), since=3),
    _json("agent_failures", since=3, empty=dict),
    _json("blocked_agents", since=3, attr="blocked", empty=dict),
    Column("reservation", "BLOB", encode=_serialize, decode=_proto(pb.TaskReservation), since=4),
    Column("frame_by_frame", "BOOLEAN", decode=_or(False), since=4),
    Column("files", "BLOB", encode=_encode_files, decode=_decode_files, since=4),
    Column("output_destination", "VARCHAR", decode=_or(""), since=5),
    Column("test_frames", "VARCHAR", decode=_or(""), since=5),
    _json("test_frame_numbers", since=5),
    Column("stop_on_test_failure", "BOOLEAN", decode=_or(False), since=5),
    Column("hold_after_test", "BOOLEAN", decode=_or(False), since=5),
    _json("inputs_from", since=5),
), key=("id",), order="id")  # fmt: skip

TASKS = Table("tasks", Task, (
    Column("id", "BIGINT"),
    Column("job_id", "BIGINT"),
    Column("idx", "INTEGER", attr="index"),
    _json("frames"),
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
    Column("memory_reservation_bytes", "BIGINT", decode=_or(0), since=4),
    _json("gpu_indices", since=4),
    Column("out_of_memory", "BOOLEAN", decode=_or(False), since=4),
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
    Column("outputs", "VARCHAR", encode=_encode_outputs, decode=_decode_outputs),
    Column("start_time", "DOUBLE"),
    Column("end_time", "DOUBLE"),
    _json("warnings", since=5),
), key=("job_id", "number"), order="job_id, number")  # fmt: skip

ATTEMPTS = Table("attempts", Attempt, (
    Column("id", "BIGINT"),
    Column("task_id", "BIGINT"),
    Column("job_id", "BIGINT"),
    Column("agent_id", "VARCHAR"),
    _json("frames"),
    Column("state", "VARCHAR"),
    Column("start_time", "DOUBLE"),
    Column("end_time", "DOUBLE"),
    Column("exit_code", "INTEGER"),
    Column("error_message", "VARCHAR"),
    Column("peak_rss_bytes", "BIGINT"),
    Column("cpu_time", "DOUBLE"),
    Column("log_size", "BIGINT"),
    _json("completed_frames"),
    Column("workspace", "VARCHAR", decode=_or(""), since=4),
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
SCHEMA_VERSION = max(max(t.since, *(c.since for c in t.columns)) for t in TABLES.values())


def migration(version: int, tables: Iterable[Table] = TABLES.values()) -> list[str]:
    """The statements that take the schema from ``version - 1`` to ``version``."""
    statements = ["CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)"] if version == 1 else []
    for table in tables:
        if table.since == version:
            statements.append(table.create_sql(version))
        elif table.since < version:
            statements += [
                f"ALTER TABLE {table.name} ADD COLUMN {c.name} {c.sql}"
                for c in table.columns
                if c.since == version
            ]
    return statements


def rows_of(kind: str, records: Sequence[Any]) -> list[Row]:
    table = TABLES[kind]
    return [table.row(r) for r in records]
