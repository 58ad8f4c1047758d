"""Tables whose columns fit the terminal, and that repaint only the cells that changed.

At 80 columns a table shows the columns an operator needs first; wider terminals add
the others (owner, pool, tags, cost...), in the order of their rank. Every column has a
fixed width and a cell longer than its column ends in an ellipsis, so no update ever
widens the table or pushes a column out of view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, Row, RowKey

from renderq.tui.drawn_table import DrawnTable
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


BLANK = Text("")
"""The cells of a row not drawn yet: never painted (``render_lines`` draws it first)."""


class FittedTable(DrawnTable):
    """A row-cursor table of ``COLUMNS`` fitted to its width; rows keyed by text ids.

    Subclasses say whether an item has a row (``wanted``), in which order the rows go
    (``arranged_keys``), give its cells (``cells``: every column's, by column key) and
    ``refill`` (show every row again, after the columns changed).

    Only the rows on screen are redrawn when their item changes. The others are marked
    stale and get their cells when they come on screen (scrolled to, their tab shown) or
    are read (``get_cell``, ``get_row``): 5,000 agents' heartbeats, or the progress of
    1,000 jobs, cost what a screenful of rows costs, not what every row does."""

    COLUMNS: ClassVar[Sequence[Column]] = ()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fitted: list[tuple[Column, int]] = []
        self._stale: set[str] = set()
        """Keys of rows whose cells are older than their item."""
        self._laid_out = Size(0, 0)
        """The size of the last Resize."""

    def on_mount(self) -> None:
        self.fit()

    def _on_resize(self, event: events.Resize) -> None:
        """Fit the columns to a new width. On any Resize DataTable drops its render caches
        and draws every visible cell again (about 50 ms at 160x48), but a table gets one
        each time its tab is shown again, and each time a line appears above or below it
        (the filter box, a message): its rows look the same at the same width, so only a
        new width is a change here."""
        width_before = self._laid_out.width
        self._laid_out = event.size
        if event.size.width == width_before:
            event.prevent_default()
            return
        self.fit()

    def fit(self) -> None:
        """Choose the columns for the present width; rebuild the rows when they change,
        keeping the cursor on the same row. A table not laid out yet (on a tab never
        shown) waits for its width: filling it twice would cost twice."""
        if not self.size.width:
            return
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

    def wanted(self, key: str) -> bool:
        """Whether the item ``key`` has a row (it exists, and passes any filter)."""
        raise NotImplementedError

    def cells(self, key: str) -> dict[str, Text]:
        """Every column's cell of the row of ``key`` (a ``wanted`` one), by column key."""
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

    def arranged_keys(self) -> list[str]:
        """The keys of every ``wanted`` item, in the order their rows are shown."""
        raise NotImplementedError

    def show_rows(self, changes: Changes, keys: Iterable[str]) -> None:
        """Bring the rows of ``keys`` (every row, after a fresh listing) up to date:
        added or removed in their place (``place_rows``), redrawn if on screen, else left
        blank until they are. The caller keeps the cursor on its row (``selected_key``,
        ``select_key``)."""
        if not self.fitted:
            return  # never laid out yet: fitting it will fill it
        if changes.everything:
            keys = self.arranged_keys()
            self.place_rows(keys)
        else:
            keys = list(keys)
            if any(self.wanted(key) != (key in self.rows) for key in keys):
                self.place_rows(self.arranged_keys())
        on_screen = rows_on_screen(self)
        fresh: list[str] = []
        for key in keys:
            index = self._row_locations.get(RowKey(key))
            if index is None:
                continue
            if index in on_screen:
                fresh.append(key)
            elif key not in self._stale:
                self._stale.add(key)
                self._blank(key)
        self._put(fresh)

    def place_rows(self, keys: list[str]) -> None:
        """Show exactly the rows of ``keys``, in that order: the others removed, new ones
        added blank (drawn when on screen), the rest moved with their cells. Nothing
        happens when that is the order already (a filter typed further that keeps the
        same jobs); else only the rows on screen are drawn again.

        DataTable's ``clear`` and ``add_row`` (a filter) cost 50-100 ms for 1,000 rows
        (each ``add_row`` sets and checks the cursor), and its ``sort`` and ``clear`` drop
        every cached line. Those are DataTable internals (Textual 8): the rows, their cells
        and their places, set here the way ``add_row`` and ``remove_row`` set them."""
        order = [RowKey(key) for key in keys]
        locations = self._row_locations
        if len(order) == len(self.rows) and all(locations.get(k) == i for i, k in enumerate(order)):
            return
        was_empty = not self.rows
        wanted = set(order)
        for row_key in [k for k in self.rows if k not in wanted]:
            del self.rows[row_key], self._data[row_key]
            self._stale.discard(str(row_key.value))
        columns = [column.key for column in self.ordered_columns]
        blank: dict[ColumnKey, Text | str] = dict.fromkeys(columns, BLANK)
        for row_key in order:
            if row_key not in self.rows:
                self.rows[row_key] = Row(row_key, 1)
                self._data[row_key] = blank.copy()  # copies keep the keys' hashes: no __hash__ calls
                self._stale.add(str(row_key.value))
        self._row_locations = TwoWayDict({row_key: index for index, row_key in enumerate(order)})
        self._update_count += 1
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate  # back within the rows, if it fell out
        self.hover_coordinate = self.hover_coordinate
        if was_empty and self.rows and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()  # as add_row does for a first row
        self.check_idle()
        self.refresh()

    def _blank(self, key: str) -> None:
        """Let go of a row's cells while it is stale: thousands of rows off screen would
        otherwise hold ten ``Text`` objects each, which every garbage collection walks."""
        data = self._data[RowKey(key)]
        for column in data:
            data[column] = BLANK

    def _put(self, keys: Iterable[str]) -> None:
        """Set the cells of the rows of ``keys`` from their items, and repaint the
        changed ones."""
        columns = [column.key for column in self.ordered_columns]
        changed = {key: put_cells(self, key, self.row_cells(self.cells(key)), columns) for key in keys}
        self._stale.difference_update(changed)
        repaint(self, changed)

    def _freshen(self, keys: Iterable[str]) -> None:
        """The stale rows among ``keys`` brought up to date."""
        stale = [key for key in keys if key in self._stale]
        if stale:
            self._put(stale)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The rows about to be painted are brought up to date first."""
        if self._stale:
            top = self.scroll_offset.y - self.header_height
            first, last = max(0, crop.y + top), min(self.row_count, crop.bottom + top)
            keys = (self._row_locations.get_key(index) for index in range(first, last))
            self._freshen(str(key.value) for key in keys if key is not None)
        return super().render_lines(crop)

    def get_cell(self, row_key: RowKey | str, column_key: ColumnKey | str) -> Text | str:
        """The cell as it is now, even for a row off screen."""
        self._freshen([str(row_key.value if isinstance(row_key, RowKey) else row_key)])
        return super().get_cell(row_key, column_key)

    def get_row(self, row_key: RowKey | str) -> list[Text | str]:
        """The row's cells as they are now, even for a row off screen."""
        self._freshen([str(row_key.value if isinstance(row_key, RowKey) else row_key)])
        return super().get_row(row_key)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable measures every cell of each new row to widen auto-width columns and
        size auto-height rows: filling the agents table with 5,000 rows took 2 s of CPU
        instead of 0.2 s. Here rows are one line, unlabelled, and columns have fixed
        widths: the table's size is updated, nothing is measured."""
        fixed = not any(column.auto_width for column in self.columns.values())
        super()._update_dimensions(() if fixed else new_rows)


def rows_on_screen(table: DataTable[Text | str]) -> range:
    """Indexes of the rows in the table's window (every row is one line high); none while
    the table is not laid out on its screen (its tab hidden): it is drawn whole when shown."""
    if not table.region:
        return range(0)
    first = table.scroll_offset.y
    return range(first, first + max(0, table.size.height - table.header_height))


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
    changed = {
        column: cell for column, cell in zip(columns, cells, strict=True) if not same(data.get(column), cell)
    }
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


def same(shown: Text | str | None, cell: Text | str) -> bool:
    """Whether ``cell`` looks like ``shown``: ``Text`` equality compares the characters
    and their spans, not the style or justification of the whole (a red ``-`` and a
    yellow one are equal; so are a blank row's key and its right-aligned cell)."""
    if isinstance(shown, Text) and isinstance(cell, Text):
        return shown == cell and shown.style == cell.style and shown.justify == cell.justify
    return shown == cell


def _cell_width(cell: Text | str) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def repaint(table: DataTable[Text | str], changed: dict[str, set[ColumnKey]]) -> None:
    """Drop the render caches of the changed cells (``put_cells``) and of the lines they
    are on, then repaint those lines if they are on screen: every other line and cell
    stays as painted. Not ``refresh_row``, which sums the heights of every row above
    its row (quadratic over a flush)."""
    rows = {RowKey(key): columns for key, columns in changed.items() if columns}
    if not rows:
        return
    indexes = {table._row_locations.get(row_key) for row_key in rows}
    _drop(table._cell_render_cache, lambda k: k[1] in rows.get(k[0], ()))
    _drop(table._row_render_cache, lambda k: k[0] in rows)
    _drop(table._row_renderable_cache, lambda k: k[1] in indexes)
    _drop(table._line_cache, lambda k: _line_row(table, k[0]) in rows)
    on_screen = rows_on_screen(table)
    top = table.header_height - table.scroll_offset.y
    width = table.size.width
    lines = [Region(0, top + i, width, 1) for i in indexes if i is not None and i in on_screen]
    if lines:
        table.refresh(*lines)


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
