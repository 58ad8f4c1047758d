"""What an action did, said where it covers nothing: a line above the footer.

Toasts in the corner covered the rows an operator was acting on. Each full screen has a
``MessageLine`` instead; ``say`` writes on the line of the screen showing (or, on a
dialog without one, falls back to a toast). Information fades after a few seconds,
warnings and errors stay longer; a long sentence wraps over up to three lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.app import App
    from textual.widget import Widget

Severity = Literal["information", "warning", "error"]
SHOWN_SECONDS: dict[Severity, float] = {"information": 8.0, "warning": 30.0, "error": 60.0}


class MessageLine(Static):
    DEFAULT_CSS = """
    MessageLine { height: auto; max-height: 3; padding: 0 1; display: none; background: $panel; }
    MessageLine.-shown { display: block; }
    MessageLine.-warning { color: $text-warning; }
    MessageLine.-error { color: $text-error; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", markup=False, id=id)
        self.text = ""
        self.severity: Severity = "information"
        self._timer: Timer | None = None

    def say(self, text: str, severity: Severity = "information") -> None:
        """Show ``text`` (nothing: hide the line). A sentence as high as the one shown
        takes its place without a layout pass of the whole screen (each sort says so)."""
        shown = self.has_class("-shown") and bool(text)
        same_height = shown and self._height(text) == self._height(self.text)
        self.text, self.severity = text, severity
        self.update(Text(text), layout=not same_height)
        for name in ("-warning", "-error"):
            self.set_class(name == f"-{severity}", name)
        self.set_class(bool(text), "-shown")
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(SHOWN_SECONDS[severity], self.clear) if text else None

    def clear(self) -> None:
        self.say("")

    def _height(self, text: str) -> int:
        """The lines ``text`` takes on this line's width (at most three are shown)."""
        width = max(1, self.content_region.width)
        return min(3, len(Text(text).wrap(self.app.console, width)))


def say(node: Widget | App[Any], text: str, severity: Severity = "information") -> None:
    """Show ``text`` on the message line of the topmost screen that has one (under a
    dialog, the screen it covers: the line is there when the dialog closes); a toast
    when no screen has one."""
    for screen in reversed(node.app.screen_stack):
        lines = screen.query(MessageLine)
        if lines:
            lines.first().say(text, severity)
            return
    node.notify(text, severity=severity, timeout=SHOWN_SECONDS[severity])


def plural(count: int, noun: str) -> str:
    """``1 frame``, ``3 frames``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
