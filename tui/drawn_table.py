"""A DataTable that draws its rows of plain cells in a fraction of the time.

A sort, a filter, a tab switch or a flood of events makes DataTable draw the rows on
screen again; at 160x48 that was 50-80 ms, most of it Rich rendering each cell and
DataTable working out the same styles for every row and line. Here, for tables whose
rows are one line of plain ``Text`` cells under a row cursor (``fitted_table.cell``):

- cells are drawn by ``cell_lines.cell_line`` (the same segments, a tenth of the time);
- a row's line is put together without DataTable's per-row work that only labelled rows
  or fixed columns need (the header's style walks every ancestor's styles);
- the table's and its rows' styles are worked out once per drawing pass.

Anything else (a header, a labelled row, fixed columns, another kind of cell) is drawn
by DataTable itself. These are DataTable internals (Textual 8): the caches and their
keys are DataTable's own, so every other part of it (``repaint`` in fitted_table.py
included) works as before; tests/tui/test_cell_lines.py draws each cell and line both
ways and wants the same segments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._types import SegmentLines
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets._data_table import CellCacheKey
from textual.widgets.data_table import RowKey

from renderq.tui.cell_lines import cell_line


class DrawnTable(DataTable[Text | str]):
    """A row-cursor table with zebra stripes whose plain cells and rows draw fast."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self._look: tuple[str, frozenset[str]] | None = None
        """The theme and CSS classes the render caches were drawn with."""
        self._pass_styles: dict[object, Any] | None = None
        """While lines are drawn: what every line asks for (the table's and its rows'
        styles, the cells' settings, the room right of the columns), worked out once."""

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass_styles = {}
        try:
            return super().render_lines(crop)
        finally:
            self._pass_styles = None

    @property
    def rich_style(self) -> Style:
        """The table's style, once per drawing pass (DataTable asks for it on every line)."""
        styles = self._pass_styles
        if styles is None:
            return super().rich_style
        if "table" not in styles:
            styles["table"] = super().rich_style
        return styles["table"]

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        """A row's style (the header's, or an odd or even row's), once per drawing pass."""
        styles = self._pass_styles
        if styles is None or self.fixed_rows:
            return super()._get_row_style(row_index, base_style)
        key = (-1 if row_index == -1 else row_index % 2, base_style)
        style = styles.get(key)
        if style is None:
            style = styles[key] = super()._get_row_style(row_index, base_style)
        return style

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        """A body cell drawn by ``cell_line`` (a tenth of Rich's time), cached as DataTable
        caches it (the same key, so ``repaint`` drops it the same way); headers, and any
        cell ``cell_line`` does not take, DataTable's own way."""
        row_key = self._row_locations.get_key(row_index) if row_index >= 0 else None
        column_key = self._column_locations.get_key(column_index) if column_index >= 0 else None
        row = self.rows.get(row_key) if row_key is not None else None
        simple = row is not None and row.height == 1 and not (self.fixed_rows or self.fixed_columns)
        if row_key is None or column_key is None or not simple:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key: CellCacheKey = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        lines = self._cell_render_cache.get(cache_key)
        if lines is not None:
            return lines
        value = self._data[row_key].get(column_key)
        line = None
        if isinstance(value, Text):
            show_cursor, foreground, background, padding, get_style = self._cell_settings()
            hover_shown = self._show_hover_cursor
            pre_style, post_style = self._get_styles_to_render_cell(
                False, False, False, hover, cursor, show_cursor, hover_shown, foreground, background
            )
            pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + pre_style
            line = cell_line(value, width, padding, (pre_style, post_style), get_style)
        if line is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cell_render_cache[cache_key] = [line]
        return [line]

    def _cell_settings(self) -> tuple[bool, bool, bool, int, Callable[[str], Style]]:
        """What drawing a cell asks of the table (whether the cursor shows, whether CSS
        colours win over the cell's own, the padding, the console's style names); once
        per drawing pass: reading a reactive attribute costs more than drawing a cell."""
        styles = self._pass_styles
        settings = styles.get("cells") if styles is not None else None
        if settings is None:
            settings = (
                self.show_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css",
                self.cell_padding,
                self.app.console.get_style,
            )
            if styles is not None:
                styles["cells"] = settings
        return settings

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[SegmentLines, SegmentLines]:
        """One line of a row: its cells, then the room right of the columns in the row's
        style (``(fixed, scrollable)`` as DataTable gives them, cached under its key);
        the way DataTable puts them together for a row cursor with no labels and no fixed
        columns, without its per-row work for those."""
        cursor_type = self.cursor_type
        if cursor_type != "row" or self.fixed_columns or (self._labelled_row_exists and self.show_row_labels):
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        show_cursor = self.show_cursor
        hover_shown = self._show_hover_cursor
        cache_key = (
            row_key,
            line_no,
            base_style,
            cursor_location,
            hover_location,
            cursor_type,
            show_cursor,
            hover_shown,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._row_render_cache.get(cache_key)
        if cached is not None:
            return cached
        row_index = self._row_locations.get(row_key)
        row_index = -1 if row_index is None else row_index
        row_style = self._get_row_style(row_index, base_style)
        columns, room = self._columns_and_room()
        cursor, hover = row_index == cursor_location.row, row_index == hover_location.row
        scrollable = [
            self._render_cell(row_index, index, row_style, width, cursor, hover)[line_no]
            for index, width in enumerate(columns)
        ]
        extend_style, _ = self._get_styles_to_render_cell(
            row_index == -1, False, False, hover, cursor, show_cursor, hover_shown, False, False
        )
        extend_style = row_style + extend_style
        extend_style += Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        scrollable.append([Segment(" " * room, extend_style)])
        row_pair: tuple[SegmentLines, SegmentLines] = ([], scrollable)
        self._row_render_cache[cache_key] = row_pair
        return row_pair

    def _columns_and_room(self) -> tuple[list[int], int]:
        """The columns' widths as drawn, and the cells left right of them; once per pass."""
        styles = self._pass_styles
        if styles is not None and "columns" in styles:
            return styles["columns"]
        columns = [column.get_render_width(self) for column in self.ordered_columns]
        answer = columns, max(0, self.size.width - sum(columns) - self._row_label_column_width)
        if styles is not None:
            styles["columns"] = answer
        return answer

    def notify_style_update(self) -> None:
        """DataTable drops every render cache on any change of style, a change of focus
        included: on each switch of tab, every cell on screen was drawn again. The
        caches' keys hold the focus already; only a new theme or CSS class changes how a
        cell looks, so only then are they dropped."""
        look = (self.app.theme, frozenset(self.classes))
        if look != self._look:
            self._look = look
            super().notify_style_update()
            return
        Widget.notify_style_update(self)
        self._get_styles_to_render_cell.cache_clear()
        self._styles_cache.clear()
        self.refresh()
