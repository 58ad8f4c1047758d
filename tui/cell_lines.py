"""A table cell's line, drawn straight from its ``Text`` instead of through Rich.

DataTable draws each cell by rendering ``Styled(Padding(text))`` with Rich's console:
about 100 µs a cell, most of a table's redraw (a sort or a filter redraws the 500 cells
of a 160x48 screen, and a flood of events redraws the changed ones ten times a second).
Every cell of our tables is one line of plain ``Text`` (one style, no spans, no line
breaks or tabs), cut with an ellipsis and aligned left or right (``fitted_table.cell``).
For such a cell the same segments come out of a few string operations and style sums;
anything else returns None and goes the long way. tests/tui/test_cell_lines.py checks
that both ways give equal segments.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

ELLIPSIS = "…"


def plain_line(text: Text, width: int) -> str | None:
    """The characters Rich shows for ``text`` in ``width`` cells (cut with an ellipsis,
    padded to the width on the side its justification leaves), or None when ``text`` is
    not a simple one-line cell."""
    plain = text.plain
    if (
        not plain  # Rich draws an empty cell as an empty segment and padding
        or text.spans
        or text.overflow != "ellipsis"
        or text.justify not in ("left", "right")
        or "\n" in plain
        or "\t" in plain
        or width < 1
    ):
        return None
    if text.justify == "right":
        plain = plain.rstrip()
    length = cell_len(plain)
    if length > width:
        plain = set_cell_size(plain, width - 1) + ELLIPSIS
        length = width
    if length < width:
        spaces = " " * (width - length)
        plain = plain + spaces if text.justify == "left" else spaces + plain
    return plain


def cell_line(
    text: Text,
    width: int,
    padding: int,
    styles: tuple[Style, Style],
    get_style: Callable[[str], Style],
) -> list[Segment] | None:
    """The segments of a cell ``width`` cells wide (padding included) as DataTable draws
    it: padding, the text in its own style (``get_style``: the console's, which knows
    its theme's names), padding; each over the first of ``styles`` and under the second.
    None when ``text`` is not a simple cell."""
    pre_style, post_style = styles
    if isinstance(text.style, Style) or not pre_style:
        return None
    plain = plain_line(text, width - 2 * padding)
    if plain is None:
        return None
    middle = pre_style + (get_style(text.style) if text.style else None)
    side = pre_style
    if post_style:
        middle, side = middle + post_style, side + post_style
    if not padding:
        return [Segment(plain, middle)]
    pad = Segment(" " * padding, side)
    return [pad, Segment(plain, middle), pad]
