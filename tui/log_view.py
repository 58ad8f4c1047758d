"""A task's log on screen: lines kept as text, wrapped to the width by default.

Textual's ``Log`` never wraps, and reading a long line meant scrolling sideways one
column per key. ``LogView`` wraps by default (``wrap``; the log screen toggles it): a
line becomes as many screen rows as it needs, cut by cells so wide characters stay
whole. Rows are two arrays of (line, start offset), extended as lines arrive and built
again only when the width changes or wrapping is toggled, with the line at the top
kept at the top. Unwrapped, left and right pan a quarter of the width at a time.
"""

from __future__ import annotations

import codecs
import re
from array import array
from collections.abc import Sequence

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

LINE_BREAK = re.compile(r"\r\n|\r|\n")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters (an escape starting a colour code, a bell) shown as one mark each."""


class LineDecoder:
    """Log bytes in, whole lines out: a character or a line split across chunks waits
    for the rest (a lone ``\\r`` too, in case ``\\n`` starts the next chunk)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._tail + self._decoder.decode(data)
        held = "\r" if text.endswith("\r") else ""
        lines = LINE_BREAK.split(text[: len(text) - len(held)])
        self._tail = lines.pop() + held
        return lines

    def flush(self) -> list[str]:
        """The unfinished last line, once no more output can come."""
        lines = LINE_BREAK.split(self._tail + self._decoder.decode(b"", final=True))
        self._tail = ""
        if not lines[-1]:
            lines.pop()
        return lines


def find_line(lines: Sequence[str], text: str, start: int, step: int) -> int | None:
    """The first line from ``start``, going by ``step`` (1 or -1) and wrapping around,
    that contains ``text`` in any case; None when none does."""
    needle = text.lower()
    for i in range(len(lines)):
        index = (start + i * step) % len(lines)
        if needle in lines[index].lower():
            return index
    return None


def row_starts(line: str, width: int) -> list[int]:
    """Where each screen row of ``line`` starts (character offsets) at ``width`` cells."""
    if line.isascii():
        return list(range(0, len(line) or 1, width))
    starts = [0]
    cells = 0
    for index, character in enumerate(line):
        size = get_character_cell_size(character)
        if cells + size > width and cells:
            starts.append(index)
            cells = 0
        cells += size
    return starts


class LogView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogView { background: $surface; overflow-y: scroll; overflow-x: auto; }
    LogView:focus { background-tint: $foreground 5%; }
    """
    BINDINGS = [
        Binding("home,g", "start", "Start", show=False, tooltip="Back to the first line", id="log.start"),
        Binding("left", "pan(-1)", "Left", show=False, id="log.left"),
        Binding("right", "pan(1)", "Right", show=False, id="log.right"),
    ]

    def __init__(self, *, wrap: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[str] = []
        """Every line, control characters replaced and tabs expanded."""
        self.wrap = wrap
        self.match: tuple[int, int, int] | None = None
        """(line, start, end) of the text found, shown reversed."""
        self._row_line = array("l")
        self._row_start = array("l")
        """Wrapped: the line and start offset of each screen row."""
        self._first_row = array("l")
        """Wrapped: each line's first screen row."""
        self._wrap_width = 0
        """The width the rows are cut at; 0 before the view has one (no rows are built then)."""
        self._widest = 0

    @property
    def line_count(self) -> int:
        return len(self.lines)

    @property
    def row_count(self) -> int:
        return len(self._row_line) if self.wrap else len(self.lines)

    def _room(self) -> int:
        return max(1, self.scrollable_content_region.width)

    # Content ---------------------------------------------------------------------

    def write_lines(self, lines: Sequence[str], follow: bool) -> None:
        """Add whole lines; ``follow``: then show the end."""
        start = len(self.lines)
        self.lines.extend(CONTROL.sub("\ufffd", line.expandtabs()) for line in lines)
        added = self.lines[start:]
        self._widest = max([self._widest, *(len(x) if x.isascii() else cell_len(x) for x in added)])
        if self.wrap and self._wrap_width:
            self._add_rows(start)
        self._resize()
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def clear(self) -> None:
        self.lines.clear()
        self.match = None
        self._widest = 0
        self._rewrap()
        self.scroll_to(0, 0, animate=False, immediate=True)

    def set_wrap(self, wrap: bool) -> None:
        """Wrap or not, keeping the line at the top of the view at the top."""
        top = self.top_line()
        self.wrap = wrap
        self._rewrap()
        self.scroll_to(0, self.row_of(top), animate=False, immediate=True)
        self.refresh()

    def _rewrap(self) -> None:
        self._row_line, self._row_start, self._first_row = array("l"), array("l"), array("l")
        self._wrap_width = self.scrollable_content_region.width
        if self.wrap and self._wrap_width:
            self._add_rows(0)
        self._resize()

    def _add_rows(self, first: int) -> None:
        width = self._wrap_width
        for index in range(first, len(self.lines)):
            starts = row_starts(self.lines[index], width)
            self._first_row.append(len(self._row_line))
            self._row_line.extend([index] * len(starts))
            self._row_start.extend(starts)

    def _resize(self) -> None:
        width = self._room() if self.wrap else self._widest
        self.virtual_size = Size(width, self.row_count)

    def on_resize(self, event: events.Resize) -> None:
        if self.wrap and self.scrollable_content_region.width != self._wrap_width:
            self.set_wrap(True)

    # Where lines are ---------------------------------------------------------------

    def row_of(self, line: int) -> int:
        """The first screen row of ``line``."""
        if not self.wrap or not self._first_row:
            return line
        return self._first_row[max(0, min(line, len(self._first_row) - 1))]

    def line_at(self, row: int) -> int:
        if not self.wrap or not self._row_line:
            return row
        return self._row_line[max(0, min(row, len(self._row_line) - 1))]

    def top_line(self) -> int:
        return self.line_at(self.scroll_offset.y)

    def bottom_line(self) -> int:
        return self.line_at(self.scroll_offset.y + self.size.height - 1)

    def show_match(self, line: int, start: int, end: int) -> None:
        """Mark ``start:end`` of ``line`` and scroll it to the middle of the view."""
        self.match = (line, start, end)
        row = self.row_of(line) + (self._row_in_line(line, start) if self.wrap else 0)
        self.scroll_to(y=max(0, row - self.size.height // 2), animate=False, immediate=True)
        self.refresh()

    def forget_match(self) -> None:
        self.match = None
        self.refresh()

    def _row_in_line(self, line: int, offset: int) -> int:
        first = self.row_of(line)
        rows = 0
        while first + rows + 1 < len(self._row_line) and self._row_line[first + rows + 1] == line:
            if self._row_start[first + rows + 1] > offset:
                break
            rows += 1
        return rows

    # Drawing ---------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        row = scroll_y + y
        if row >= self.row_count:
            return Strip.blank(width, self.rich_style)
        if self.wrap:
            index, start = self._row_line[row], self._row_start[row]
            last = row + 1 >= len(self._row_line) or self._row_line[row + 1] != index
            end = len(self.lines[index]) if last else self._row_start[row + 1]
            scroll_x = 0
        else:
            index, start, end = row, 0, len(self.lines[row])
        text = Text(self.lines[index][start:end], no_wrap=True, end="")
        if self.match is not None and self.match[0] == index:
            _, found, until = self.match
            text.stylize("reverse", max(0, found - start), max(0, until - start))
        text.stylize_before(self.rich_style)
        strip = Strip(text.render(self.app.console), text.cell_len)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    # Keys ------------------------------------------------------------------------

    def action_start(self) -> None:
        self.scroll_to(0, 0, animate=False, immediate=True)

    def action_pan(self, step: int) -> None:
        self.scroll_to(
            x=self.scroll_offset.x + step * max(1, self.size.width // 4), animate=False, immediate=True
        )
