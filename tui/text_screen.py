"""A long text read in full (a frame's whole error, why a job waits), scrolled with the keys, then closed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class TextScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TextScreen { align: center middle; }
    TextScreen > Vertical {
        width: 100%; max-width: 110; height: auto; max-height: 100%;
        background: $surface; border: tall $primary; padding: 0 1;
    }
    TextScreen #text-title { text-style: bold; }
    TextScreen VerticalScroll { height: auto; max-height: 1fr; }
    """
    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="text.close")]

    def __init__(self, title: str, text: str | Text) -> None:
        """``text``: plain (shown as it is, never read as markup) or already styled."""
        super().__init__()
        self.title_text = title
        self.text = text if isinstance(text, Text) else Text(text)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{self.title_text}  (escape closes)", id="text-title", markup=False)
            with VerticalScroll():
                yield Static(self.text, id="text-body")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
