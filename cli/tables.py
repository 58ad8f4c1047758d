"""Tables and field lists for people, fitted to the terminal's width.

A table wider than the terminal loses its least useful columns first (each column says
how dispensable it is), then long names and paths are cut with ``...``; the text a table
is for (an error, a reason, a description) is never cut: it takes the width left and
wraps onto more lines. Where stdout is no terminal (a pipe, a file), ``$COLUMNS`` gives the
width, else a wide default, so rows stay whole for grep.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

WIDE = 500
"""Columns assumed when stdout is no terminal and ``$COLUMNS`` is unset."""
GAP = 2
MIN_WRAP = 20
"""Fewer columns than this for wrapped text would read as a word per line."""
MIN_CUT = 8
"""A cut name keeps at least this much (or its header's width)."""
COMFORTABLE_CUT = 24
_ELLIPSIS = "..."


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False
    """Right-aligned, for numbers; never cut."""
    spare: int = 0
    """How dispensable the column is when the table is too wide: the highest goes first;
    0 never goes."""
    wrap: bool = False
    """The text the table is for: never cut, it gets the width left and wraps."""
    cut: bool = False
    """May be cut short with ``...`` as a last resort (names, paths)."""


def output_width(stream: TextIO | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """The terminal's width when ``stream`` (stdout) is one; else ``$COLUMNS``, else ``WIDE``."""
    stream = stream or sys.stdout
    if stream.isatty():
        return shutil.get_terminal_size().columns
    try:
        return max(1, int(environ["COLUMNS"]))
    except (KeyError, ValueError):
        return WIDE


def print_table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], empty: str, width: int | None = None
) -> None:
    """The rows under their headers, fitted to ``width`` (default: ``output_width()``);
    ``empty`` when there are no rows."""
    if not rows:
        print(empty)
        return
    for line in render_table(columns, rows, width or output_width()):
        print(line)


def render_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """The lines of the table: header first, then each row (a wrapped row takes several)."""
    cells = [[cell.replace("\n", " ") for cell in row] for row in rows]
    natural = [max(len(c.header), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    kept = _drop_spare(columns, natural, width)
    widths = _fit(columns, {i: natural[i] for i in kept}, width)
    lines: list[str] = []
    for row in [[c.header for c in columns], *cells]:
        parts = {i: _lines(row[i], widths[i], columns[i]) for i in kept}
        for depth in range(max(len(p) for p in parts.values())):
            texts = [
                _align(p[depth] if depth < len(p) else "", widths[i], columns[i]) for i, p in parts.items()
            ]
            lines.append((" " * GAP).join(texts).rstrip())
    return lines


def _floor(column: Column, natural: int) -> int:
    """The least width a column can be given."""
    if column.wrap:
        return min(natural, max(len(column.header), MIN_WRAP))
    if column.cut:
        return min(natural, max(len(column.header), MIN_CUT))
    return natural


def _comfortable(column: Column, natural: int, width: int) -> int:
    """The width a column should keep before a dispensable one goes: wrapped text a good
    share of the line, a name most of itself."""
    if column.wrap:
        return min(natural, max(len(column.header), MIN_WRAP, width * 2 // 5))
    if column.cut:
        return min(natural, max(len(column.header), COMFORTABLE_CUT))
    return natural


def _total(widths: Mapping[int, int]) -> int:
    return sum(widths.values()) + GAP * (len(widths) - 1)


def _drop_spare(columns: Sequence[Column], natural: Sequence[int], width: int) -> list[int]:
    """The columns kept: the most dispensable leave until the rest fit comfortably."""
    kept = list(range(len(columns)))
    for index in sorted((i for i, c in enumerate(columns) if c.spare), key=lambda i: -columns[i].spare):
        if _total({i: _comfortable(columns[i], natural[i], width) for i in kept}) <= width:
            break
        kept.remove(index)
    return kept


def _fit(columns: Sequence[Column], widths: dict[int, int], width: int) -> dict[int, int]:
    """Narrow the wrapped columns (wrapping loses nothing), then cut the widest cuttable
    ones, until the table fits or nothing more may give."""
    wrapped = [i for i in widths if columns[i].wrap]
    cuttable = sorted((i for i in widths if columns[i].cut), key=lambda i: -widths[i])
    for index in [*wrapped, *cuttable]:
        excess = _total(widths) - width
        if excess <= 0:
            break
        widths[index] = max(_floor(columns[index], widths[index]), widths[index] - excess)
    return widths


def _lines(text: str, width: int, column: Column) -> list[str]:
    if len(text) <= width:
        return [text]
    if column.wrap:
        return textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    return [text[: max(0, width - len(_ELLIPSIS))] + _ELLIPSIS]


def _align(text: str, width: int, column: Column) -> str:
    return text.rjust(width) if column.right else text.ljust(width)


def print_fields(fields: Sequence[tuple[str, str]], width: int | None = None) -> None:
    """``name: value`` lines with the values aligned, for one resource; a long value wraps
    under itself."""
    indent = max(len(name) for name, _ in fields) + 2
    room = max(MIN_WRAP, (width or output_width()) - indent)
    for name, value in fields:
        lines = textwrap.wrap(value.replace("\n", " "), room, break_on_hyphens=False) or [""]
        print(f"{name + ':':<{indent - 1}} {lines[0]}")
        for line in lines[1:]:
            print(" " * indent + line)
