"""A job's frames, one line each, drawn only where the screen shows them.

Textual's DataTable measures every cell it is given and re-indexes all rows on each
change: at 200,000 frames that froze the screen for a second per page loaded and a
quarter second per update. ``FramesTable`` takes a page of a listing as a list
extension and repaints one line per changed frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from renderq.client.enums import label
from renderq.client.units import format_duration, format_size
from renderq.v1 import resources_pb2 as pb

FRAME_STYLES = {
    pb.FRAME_STATE_PENDING: "dim",
    pb.FRAME_STATE_ASSIGNED: "cyan",
    pb.FRAME_STATE_RENDERING: "bold cyan",
    pb.FRAME_STATE_COMPLETED: "green",
    pb.FRAME_STATE_FAILED: "bold red",
    pb.FRAME_STATE_CANCELLED: "magenta",
    pb.FRAME_STATE_SUSPENDED: "yellow",
}

COLUMNS: list[tuple[str, int, str]] = [
    ("", 1, "<"),
    ("FRAME", 7, ">"),
    ("STATE", 9, "<"),
    ("AGENT", 14, "<"),
    ("TIME", 7, ">"),
    ("PEAK MEM", 9, ">"),
    ("ATTEMPTS", 8, ">"),
]
"""Title, width and alignment of each column before ERROR, which takes the rest."""
ERROR_MIN = 12
FIXED_WIDTH = sum(width + 1 for _, width, _ in COLUMNS)


def first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def frame_cells(frame: pb.Frame, marked: bool) -> list[tuple[str, str]]:
    """(text, style) of each cell of a frame's row, ERROR last."""
    return [
        ("*" if marked else " ", "bold yellow"),
        (str(frame.number), ""),
        (label(pb.FrameState, frame.state), FRAME_STYLES.get(frame.state, "")),
        (frame.agent_id or "-", ""),
        (format_duration(frame.render_time), ""),
        (format_size(frame.peak_rss_bytes) if frame.peak_rss_bytes else "-", ""),
        (str(frame.attempt_count), ""),
        (first_line(frame.error_message), "red"),
    ]


def table_line(cells: Sequence[tuple[str, str]], error_width: int) -> Text:
    """One line of the table: each cell padded or cut (with an ellipsis) to its column."""
    line = Text(no_wrap=True, end="")
    widths = [*COLUMNS, ("ERROR", error_width, "<")]
    for i, ((text, style), (_, width, align)) in enumerate(zip(cells, widths, strict=True)):
        cell = Text(f"{text:{align}{width}}", style=style)
        cell.truncate(width, overflow="ellipsis")
        line.append_text(cell)
        if i < len(widths) - 1:
            line.append(" ")
    return line


class FramesTable(ScrollView, can_focus=True):
    """Every frame of a job, one line each; the ERROR column shows what fits, the job
    screen's detail pane the whole error of the frame under the cursor."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"frames-table--header", "frames-table--cursor"}
    DEFAULT_CSS = """
    FramesTable { background: $surface; }
    FramesTable > .frames-table--header { text-style: bold; background: $panel; }
    FramesTable > .frames-table--cursor {
        background: $block-cursor-blurred-background; color: $block-cursor-blurred-foreground;
    }
    FramesTable:focus > .frames-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    """
    BINDINGS = [
        Binding("down,j", "move(1)", "Next frame", show=False, id="frames.down"),
        Binding("up,k", "move(-1)", "Previous frame", show=False, id="frames.up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="frames.page-down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="frames.page-up"),
        Binding("home,g", "first", "First frame", show=False, id="frames.first"),
        Binding("end,G", "last", "Last frame", show=False, id="frames.last"),
    ]

    cursor: var[int] = var(0, init=False)
    """Index of the frame under the cursor."""

    class Highlighted(Message):
        """The cursor moved to another frame, or the frame under it changed."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.numbers: list[int] = []
        """Frame numbers in the job's order (the listing's)."""
        self.frames: dict[int, pb.Frame] = {}
        self.rows: dict[int, int] = {}
        """Frame number -> its index in ``numbers``."""
        self.marked: set[int] = set()

    @property
    def cursor_frame(self) -> pb.Frame | None:
        return self.frames[self.numbers[self.cursor]] if self.numbers else None

    def show(self, frames: Iterable[pb.Frame], *, replace: bool) -> None:
        """Take a page of a listing: the first replaces what is shown, later ones follow it.
        A job's frames never change, so the cursor stays on its line across listings."""
        if replace:
            self.numbers, self.frames, self.rows = [], {}, {}
        for frame in frames:
            if frame.number not in self.rows:
                self.rows[frame.number] = len(self.numbers)
                self.numbers.append(frame.number)
            self.frames[frame.number] = frame
        self.virtual_size = Size(FIXED_WIDTH + ERROR_MIN, len(self.numbers) + 1)
        self.cursor = min(self.cursor, max(0, len(self.numbers) - 1))
        self.refresh()
        self.post_message(self.Highlighted())

    def update(self, frame: pb.Frame) -> None:
        """A frame changed: repaint its line (if it is on screen)."""
        index = self.rows.get(frame.number)
        if index is None:
            return
        self.frames[frame.number] = frame
        self.refresh_lines(index + 1)
        if index == self.cursor:
            self.post_message(self.Highlighted())

    def toggle_mark(self) -> None:
        frame = self.cursor_frame
        if frame is not None:
            self.marked ^= {frame.number}
            self.refresh_lines(self.cursor + 1)

    def unmark(self, numbers: Iterable[int]) -> None:
        self.marked.difference_update(numbers)
        self.refresh()

    # Drawing --------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        error_width = max(ERROR_MIN, width - FIXED_WIDTH)
        if y == 0:
            headers = [(title, "") for title, _, _ in COLUMNS]
            text = table_line([*headers, ("ERROR", "")], error_width)
            text.stylize(self.get_component_rich_style("frames-table--header"))
        else:
            index = scroll_y + y - 1
            if index >= len(self.numbers):
                return Strip.blank(width, self.rich_style)
            number = self.numbers[index]
            text = table_line(frame_cells(self.frames[number], number in self.marked), error_width)
            if index == self.cursor:
                text.stylize(self.get_component_rich_style("frames-table--cursor"))
        text.stylize_before(self.rich_style)
        strip = Strip(text.render(self.app.console), text.cell_len)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    # The cursor -----------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_lines(old + 1)
        self.refresh_lines(new + 1)
        rows = self._rows_on_screen()
        top = self.scroll_offset.y
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + rows:
            self.scroll_to(y=new - rows + 1, animate=False, immediate=True)
        self.post_message(self.Highlighted())

    def _rows_on_screen(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _move_to(self, index: int) -> None:
        self.cursor = max(0, min(index, len(self.numbers) - 1))

    def action_move(self, rows: int) -> None:
        self._move_to(self.cursor + rows)

    def action_page(self, pages: int) -> None:
        self._move_to(self.cursor + pages * self._rows_on_screen())

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(len(self.numbers) - 1)

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y > 0:
            self._move_to(self.scroll_offset.y + offset.y - 1)
