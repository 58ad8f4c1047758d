"""Tables whose columns fit the terminal, and that repaint only the cells that changed.

At 80 columns a table shows the columns an operator needs first; wider terminals add
the others (owner, pool, tags, cost...), in the order of their rank. Every column has a
fixed width and a cell longer than its column ends in an ellipsis, so no update ever
widens the table or pushes a column out of view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from renderq.tui.farm_view import Changes

K = TypeVar("K")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    """Cells of content, padding aside; a longer cell is cut with an ellipsis."""
    rank: int = 0
    """0: always shown; 1, 2...: shown, rank by rank, as the table gets wider."""
    grow: int = 0
    """Cells this column may take from the room left over (a name, a reason)."""
    right: bool = False


def fit_columns(columns: Sequence[Column], width: int, padding: int = 1) -> list[tuple[Column, int]]:
    """The columns that fit in ``width`` cells, in their order, with the width each gets:
    every rank-0 column, then whole ranks while they fit; the room left goes to the
    columns that grow, first come first served."""

    def cost(chosen: Sequence[Column]) -> int:
        return sum(column.width + 2 * padding for column in chosen)

    chosen = [column for column in columns if column.rank == 0]
    for rank in sorted({column.rank for column in columns} - {0}):
        more = [column for column in columns if column.rank == rank]
        if cost(chosen) + cost(more) > width:
            break
        chosen += more
    spare = max(0, width - cost(chosen))
    fitted = []
    for column in columns:
        if column in chosen:
            extra = min(column.grow, spare)
            spare -= extra
            fitted.append((column, column.width + extra))
    return fitted


def cell(text: str, style: str = "", right: bool = False) -> Text:
    """A cell as a ``Text``: a plain string would be parsed as markup on each render, which
    costs time and swallows a progress bar's ``[##--]`` as a tag."""
    return Text(text, style=style, justify="right" if right else "left", no_wrap=True, overflow="ellipsis")


class FittedTable(DataTable[Text | str]):
    """A row-cursor table of ``COLUMNS`` fitted to its width; rows keyed by text ids.

    Subclasses give ``cells`` (every column's cell of one item, by column key) and
    ``refill`` (show every row again, after the columns changed)."""

    COLUMNS: ClassVar[Sequence[Column]] = ()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self.fitted: list[tuple[Column, int]] = []

    def on_mount(self) -> None:
        self.fit()

    def on_resize(self, event: events.Resize) -> None:
        self.fit()

    def fit(self) -> None:
        """Choose the columns for the present width; rebuild the rows when they change,
        keeping the cursor on the same row."""
        room = self.size.width - self.styles.scrollbar_size_vertical
        fitted = fit_columns(self.COLUMNS, room, self.cell_padding)
        if fitted == self.fitted:
            return
        selected = self.selected_key
        self.fitted = fitted
        self.clear(columns=True)
        for column, width in fitted:
            self.add_column(column.label, width=width, key=column.key)
        self.refill()
        self.select_key(selected)

    def refill(self) -> None:
        raise NotImplementedError

    def row_cells(self, cells: dict[str, Text]) -> list[Text | str]:
        """The cells of the columns shown, in their order."""
        return [cells[column.key] for column, _ in self.fitted]

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)

    def select_key(self, key: str | None) -> None:
        if key is not None and key in self.rows:
            self.move_cursor(row=self.get_row_index(key), animate=False)

    def show_rows(
        self, changes: Changes, keys: Sequence[str], cells: Callable[[str], dict[str, Text] | None]
    ) -> bool:
        """Bring the rows of ``keys`` up to date (``cells`` None: no row); True if rows were
        added. The caller keeps the cursor on its row (``selected_key``, ``select_key``)."""
        if changes.everything:
            self.clear()
        added = False
        changed: dict[str, set[ColumnKey]] = {}
        columns = [column.key for column in self.ordered_columns]
        for key in keys:
            row = cells(key)
            present = key in self.rows
            if row is None:
                if present:
                    self.remove_row(key)
                continue
            if present:
                changed[key] = put_cells(self, key, self.row_cells(row), columns)
            else:
                self.add_row(*self.row_cells(row), key=key)
                added = True
        repaint(self, changed)
        return added


def put_cells(
    table: DataTable[Text | str], key: str, cells: list[Text | str], columns: list[ColumnKey] | None = None
) -> set[ColumnKey]:
    """Set a row's cells (one per column, in order); the columns whose cell changed.

    Then call ``repaint`` with what changed. ``DataTable.update_cell`` bumps a counter
    that is part of every render cache key, so one changed cell re-renders every visible
    cell of the table (about 45 ms at 160x48 for the jobs table; at ten updates a second
    that alone was half a core). Here only the changed cells' cache entries are dropped.
    Those caches are DataTable internals (Textual 8): if they are not as expected, or a
    cell outgrows an auto-width column, this falls back to ``update_cell`` and returns
    nothing to repaint. tests/tui/test_app.py checks what gets painted. ``columns``: the
    table's column keys in order, when the caller has them (``ordered_columns`` makes a
    new list).
    """
    row_key = RowKey(key)
    data = table._data[row_key]
    if columns is None:
        columns = [column.key for column in table.ordered_columns]
    changed = {column: cell for column, cell in zip(columns, cells, strict=True) if data.get(column) != cell}
    # A cell wider than an auto-width column widens it, which changes every row: that is
    # update_cell's job (it re-renders all, and measures). Fixed widths never change.
    wider = {k: _cell_width(cell) for k, cell in changed.items() if table.columns[k].auto_width}
    wider = {k: width for k, width in wider.items() if width > table.columns[k].content_width}
    if wider or not _caches_known(table):
        for column_key, cell in changed.items():
            table.update_cell(row_key, column_key, cell, update_width=column_key in wider)
        for column_key, width in wider.items():
            # Now, not when the table next measures: the other rows of this update need not
            # take this path too.
            table.columns[column_key].content_width = width
        return set()
    data.update(changed)
    return set(changed)


def _cell_width(cell: Text | str) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def repaint(table: DataTable[Text | str], changed: dict[str, set[ColumnKey]]) -> None:
    """Drop the render caches of the changed cells (``put_cells``) and of the lines they
    are on, then repaint: every other line and cell comes back from the caches. One
    repaint, not ``refresh_row`` per row, which sums the heights of every row above it
    (quadratic over a flush)."""
    rows = {RowKey(key): columns for key, columns in changed.items() if columns}
    if not rows:
        return
    indexes = {table._row_locations.get(row_key) for row_key in rows}
    _drop(table._cell_render_cache, lambda k: k[1] in rows.get(k[0], ()))
    _drop(table._row_render_cache, lambda k: k[0] in rows)
    _drop(table._row_renderable_cache, lambda k: k[1] in indexes)
    _drop(table._line_cache, lambda k: _line_row(table, k[0]) in rows)
    table.refresh()


def _drop(cache: LRUCache[K, Any], stale: Callable[[K], bool]) -> None:
    for key in [k for k in cache.keys() if stale(k)]:  # noqa: SIM118 - LRUCache has no __iter__
        cache.discard(key)


def _line_row(table: DataTable[Text | str], y: int) -> RowKey | None:
    try:
        return table._get_offsets(y)[0]
    except (LookupError, IndexError):
        return None


def _caches_known(table: DataTable[Text | str]) -> bool:
    return all(
        hasattr(table, name)
        for name in (
            "_cell_render_cache",
            "_row_render_cache",
            "_row_renderable_cache",
            "_line_cache",
            "_get_offsets",
            "_row_locations",
        )
    )
