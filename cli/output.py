"""What the command line prints: JSON documents for scripts, aligned tables for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message

_MAX_CELL = 60


def to_dict(message: Message) -> dict[str, Any]:
    """The proto3 JSON form with the .proto field names and every field present, so a
    script can read ``frames_failed`` even when it is 0; ids are plain numbers."""
    return json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        unquote_int64_if_possible=True,
    )


def print_json(value: Message | Sequence[Message]) -> None:
    """One JSON document: an object for a resource, a list for a listing."""
    document = to_dict(value) if isinstance(value, Message) else [to_dict(m) for m in value]
    print(json.dumps(document, indent=2))


def _prefix(enum: EnumTypeWrapper) -> str:
    # Every renderq enum starts with NAME_UNSPECIFIED = 0 (buf STANDARD), so its
    # value names share that prefix: JOB_STATE_RUNNING -> "running".
    return enum.Name(0).removesuffix("UNSPECIFIED")


def label(enum: EnumTypeWrapper, value: int) -> str:
    """``running`` for ``JOB_STATE_RUNNING``; ``-`` for the unspecified value."""
    if value == 0:
        return "-"
    try:
        return enum.Name(value).removeprefix(_prefix(enum)).lower()
    except ValueError:
        return str(value)


def labels(enum: EnumTypeWrapper) -> list[str]:
    """Every label but the unspecified one, for argparse ``choices``."""
    return [label(enum, number) for number in enum.values() if number]


def from_label(enum: EnumTypeWrapper, text: str) -> str:
    """``running`` -> ``JOB_STATE_RUNNING``: the value's name, which request fields take
    as well as its number. Raises ValueError for a label the enum does not have."""
    name = _prefix(enum) + text.upper()
    enum.Value(name)
    return name


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False
    """Right-aligned, for numbers."""


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], empty: str) -> None:
    """Fixed-width columns sized to their content; ``empty`` when there are no rows."""
    if not rows:
        print(empty)
        return
    cells = [[_clip(cell) for cell in row] for row in rows]
    widths = [max(len(c.header), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    for row in [[c.header for c in columns], *cells]:
        parts = [
            cell.rjust(width) if column.right else cell.ljust(width)
            for cell, width, column in zip(row, widths, columns, strict=True)
        ]
        print("  ".join(parts).rstrip())


def print_fields(fields: Sequence[tuple[str, str]]) -> None:
    """``name: value`` lines with the values aligned, for one resource."""
    width = max(len(name) for name, _ in fields) + 1
    for name, value in fields:
        print(f"{name + ':':<{width}} {value}")


def _clip(cell: str) -> str:
    cell = cell.replace("\n", " ")
    return cell if len(cell) <= _MAX_CELL else cell[: _MAX_CELL - 3] + "..."
