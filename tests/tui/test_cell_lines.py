"""Cells drawn by ``cell_line`` look exactly as DataTable's own drawing makes them.

``FittedTable`` draws plain one-line cells itself, a tenth of the time Rich takes; these
tests draw every cell both ways, in every state a cell can be in (cursor, hover, zebra
rows, focus, both themes), and want equal segments: the same characters, styles and
click metadata.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from renderq.tui.fitted_table import Column, FittedTable, cell

TEXTS = ["", "a", "shot0001_render", "  spaced  ", "x" * 60, "渲染作业 日本語のジョブ", "naïve café", "1/10"]
STYLES = ["", "dim", "bold cyan", "yellow", "red", "bold red"]


class SampleTable(FittedTable):
    COLUMNS: ClassVar[list[Column]] = [
        Column("id", "ID", 4),
        Column("left", "LEFT", 10),
        Column("right", "RIGHT", 9, right=True),
        Column("wide", "WIDE", 3, grow=20),
    ]

    def refill(self) -> None:
        for number, text in enumerate(TEXTS):
            style = STYLES[number % len(STYLES)]
            cells = {
                "id": cell(str(number), right=True),
                "left": cell(text, style),
                "right": cell(text, style, right=True),
                "wide": cell(text),
            }
            self.add_row(*self.row_cells(cells), key=str(number))


class SampleApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SampleTable()


RICH_DRAWN: list[tuple[int, int]] = []
"""Cells the fast way handed to DataTable's own drawing."""


def both_ways(table: SampleTable, *args: Any) -> tuple[Any, Any]:
    table._cell_render_cache.clear()
    fast = table._render_cell(*args)
    table._cell_render_cache.clear()
    slow = DATATABLE_RENDER_CELL(table, *args)
    return fast, slow


DATATABLE_RENDER_CELL = DataTable._render_cell


def counted(table: DataTable[Any], row: int, column: int, *args: Any) -> Any:
    RICH_DRAWN.append((row, column))
    return DATATABLE_RENDER_CELL(table, row, column, *args)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_every_cell_is_drawn_as_datatable_draws_it(theme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DataTable, "_render_cell", counted)
    RICH_DRAWN.clear()
    app = SampleApp()
    async with app.run_test(size=(60, 20)) as pilot:
        app.theme = theme
        table = app.query_one(SampleTable)
        await pilot.pause()
        assert table.row_count == len(TEXTS)
        compared = 0
        for focused in (False, True):
            if focused:
                table.focus()
                await pilot.pause()
            table._pseudo_class_state = table.get_pseudo_class_state()
            for row in range(table.row_count):
                base = table._get_row_style(row, table.rich_style)
                for column_index, column in enumerate(table.ordered_columns):
                    width = column.get_render_width(table)
                    for cursor in (False, True):
                        for hover in (False, True):
                            fast, slow = both_ways(table, row, column_index, base, width, cursor, hover)
                            assert fast == slow, (row, column.key, cursor, hover, focused)
                            compared += 1
        assert compared == 2 * len(TEXTS) * 4 * 4
        empty = [(row, column) for row, column in RICH_DRAWN if row >= 0 and TEXTS[row] == "" and column > 0]
        assert len(empty) == len([r for r, _ in RICH_DRAWN if r >= 0]), "only empty cells go the long way"


async def test_every_line_is_put_together_as_datatable_puts_it() -> None:
    app = SampleApp()
    async with app.run_test(size=(70, 20)) as pilot:
        table = app.query_one(SampleTable)
        table.focus()
        await pilot.pause()
        table._pseudo_class_state = table.get_pseudo_class_state()
        keys = [table._header_row_key, *(row.key for row in table.ordered_rows)]
        places = [
            (cursor, hover, shown) for cursor in (0, 3) for hover in (-1, 0, 3) for shown in (False, True)
        ]
        for row_key in keys:
            for cursor, hover, hover_shown in places:
                table._show_hover_cursor = bool(hover_shown)
                where = (row_key, 0, table.rich_style, Coordinate(cursor, 0), Coordinate(hover, 0))
                table._row_render_cache.clear()
                fast = table._render_line_in_row(*where)
                table._row_render_cache.clear()
                slow = DataTable._render_line_in_row(table, *where)
                assert fast == slow, (row_key.value, cursor, hover, hover_shown)
