"""The line at the top: the link to the controller, the jobs that need eyes, the farm's pace.

It must say all that at 80 columns: when the whole sentence does not fit, it drops the
least useful words first (who we are, then the address, then spacing). A lost link is
news: its notice takes the whole line, and wraps rather than losing its reason.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Static

from renderq.client.enums import label
from renderq.tui.farm_view import FarmView
from renderq.tui.feed import FeedStatus
from renderq.v1 import resources_pb2 as pb

COUNTED = (pb.JOB_STATE_RUNNING, pb.JOB_STATE_QUEUED, pb.JOB_STATE_BLOCKED, pb.JOB_STATE_FAILED)
"""Job states the line counts: what runs, what waits, and what needs an operator."""
MOST_LINES = 3
SHORTER = (
    (0, "  │  ", False),
    (1, "  │  ", False),
    (1, " │ ", False),
    (1, " │ ", True),
    (2, " │ ", True),
)
"""(link detail, separator, short rate) from the fullest line to the shortest."""


def _link(status: FeedStatus, detail: int) -> Text:
    """The connection, with less detail as ``detail`` grows (0: all of it)."""
    if status.connected:
        words = [status.address, status.caller][: max(0, 2 - detail)]
        return Text.assemble(("●", "green"), *(f" {w}" for w in words if w))
    if status.address:
        return Text.assemble(
            ("○ disconnected", "red"), f" from {status.address}: {status.problem} (retrying)"
        )
    return Text.assemble(("○ connecting…", "yellow"), f" {status.problem}" if status.problem else "")


def _jobs(view: FarmView) -> str:
    counts = view.job_counts()
    shown = [f"{counts[state]} {label(pb.JobState, state)}" for state in COUNTED if counts[state]]
    return ", ".join(shown) or "no active jobs"


def _farm(view: FarmView, short: bool) -> str:
    rate = f"{view.frames_per_minute():.0f} {'f/min' if short else 'frames/min'}"
    return f"{view.agents_online}/{len(view.agents)} agents  {rate}"


def status_text(status: FeedStatus, view: FarmView, width: int) -> Text:
    """The fullest line that fits ``width`` cells; when disconnected, the notice alone
    (the counts are stale) unless the counts fit beside it."""
    line = Text()
    for detail, separator, short in SHORTER:
        line = Text(separator).join([_link(status, detail), Text(_jobs(view)), Text(_farm(view, short))])
        if line.cell_len <= width:
            return line
    return _link(status, 0) if not status.connected else line


class StatusLine(Static):
    """Connection, who we are, job counts and the frame rate; one line while connected."""

    DEFAULT_CSS = "StatusLine { height: 1; padding: 0 1; background: $panel; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.last: tuple[FeedStatus, FarmView] | None = None
        self.lines = 1

    def render_status(self, status: FeedStatus, view: FarmView) -> None:
        self.last = (status, view)
        width = max(1, self.size.width)
        text = status_text(status, view, width)
        lines = min(MOST_LINES, len(text.wrap(self.app.console, width)))
        if lines != self.lines:
            self.lines = lines
            self.styles.height = lines
            self.update(text)
        else:
            # Same height: no layout pass needed (this runs ten times a second).
            self.update(text, layout=False)

    def on_resize(self, event: events.Resize) -> None:
        if self.last is not None:
            self.render_status(*self.last)
