"""Every key, and where it works, in one screen (``?``).

The list is read from the live bindings, never written by hand: the focused widget and
the containers around it, the screen that was showing (the jobs list, a job, a log...)
and the app, which carries the job and agent actions. A key added anywhere shows up
here by itself, grouped by where it applies: the app's actions first, then the screen,
then the focused widget. Textual looks keys up the other way round (the focused widget
first), so a key an inner place takes first is still listed, marked with who takes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

PALETTE_AND_MOUSE = (
    "ctrl+p opens the command palette: every action above, found by typing part of its name. "
    "The mouse works too: click a row to select it, a tab or a button to use it, and scroll with the wheel."
)


@dataclass(frozen=True)
class KeyHelp:
    keys: str
    """As the footer shows them, alternatives separated by spaces: ``+ =``."""
    description: str
    tooltip: str = ""
    taken_by: str = ""
    """The place that gets these keys first (a focused table takes ``enter``); empty when none
    does (priority bindings, such as ctrl+q, come before any widget)."""


@dataclass(frozen=True)
class Section:
    place: str
    keys: list[KeyHelp]


def _words(name: str) -> str:
    """``JobsTable`` -> ``Jobs table``; ``cursor_down`` -> ``Cursor down``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")
    return spaced[:1].upper() + spaced[1:].lower()


def _place(node: DOMNode, app: App[Any], screen: Screen[Any]) -> str:
    if node is app:
        return "On the main screen" if screen.is_modal else "Everywhere"
    if node is screen and screen is app.screen_stack[0]:
        return "Main screen"
    return _words(type(node).__name__)


def _taken_by(bindings: list[Binding], taken: dict[str, str]) -> str:
    """The inner place that gets all of ``bindings``' keys first, if one does."""
    if any(b.priority for b in bindings) or not all(b.key in taken for b in bindings):
        return ""
    return taken[bindings[0].key]


def binding_sections(app: App[Any], screen: Screen[Any]) -> list[Section]:
    """What each key does on ``screen``: the app's, the screen's, then those of the focused
    widget and its containers; nodes without bindings are left out."""
    focused = screen.focused
    chain: list[DOMNode] = focused.ancestors_with_self if focused is not None else [screen, app]
    taken: dict[str, str] = {}
    sections: list[Section] = []
    for node in chain:
        # A node's bindings merged with those it inherits (and, on the app, the palette key
        # Textual adds); ``screen.active_bindings`` would hide keys an inner widget takes.
        grouped: dict[tuple[str, str], list[Binding]] = {}
        for _, binding in node._bindings:
            grouped.setdefault((binding.action, binding.description), []).append(binding)
        if not grouped:
            continue
        entries = [
            KeyHelp(
                " ".join(dict.fromkeys(app.get_key_display(b) for b in bindings)),
                description or _words(action.rpartition(".")[2].split("(")[0]),
                bindings[0].tooltip,
                _taken_by(bindings, taken),
            )
            for (action, description), bindings in grouped.items()
        ]
        place = _place(node, app, screen)
        for bindings in grouped.values():
            taken.update((b.key, place) for b in bindings if b.key not in taken)
        sections.append(Section(place, entries))
    return sections[::-1]


def section_table(section: Section) -> Table:
    """Keys on the left; what they do, then the longer tooltip (dim), wrapping on the right."""
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column(width=12, style="bold", no_wrap=True)
    table.add_column(ratio=1)
    for entry in section.keys:
        text = Text(entry.description, style="dim" if entry.taken_by else "")
        if entry.taken_by:
            text.append(f" ({entry.taken_by.lower()} takes this key first)")
        if entry.tooltip and entry.tooltip != entry.description:
            text.append(f"  {entry.tooltip}", style="dim")
        table.add_row(entry.keys, text)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of the screen it was opened on, and the app's; ``escape``, ``q`` or ``?`` close it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 100%; max-width: 110; height: 100%; max-height: 60;
        background: $surface; border: tall $primary; padding: 0 1;
    }
    HelpScreen .title { text-style: bold; }
    HelpScreen .place { text-style: bold; color: $accent; margin-top: 1; }
    HelpScreen .note { color: $text-muted; margin-top: 1; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[Section] = []
        """What is listed, for the screen below this one."""

    def compose(self) -> ComposeResult:
        below = [s for s in self.app.screen_stack if s is not self][-1]
        self.sections = binding_sections(self.app, below)
        with Vertical():
            yield Static("Keys  (escape, q or ? closes)", classes="title")
            with VerticalScroll():
                for section in self.sections:
                    yield Static(section.place, classes="place", markup=False)
                    yield Static(section_table(section))
                yield Static(PALETTE_AND_MOUSE, classes="note", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
