"""One job up close: its summary and every frame, live, with keys to retry, read logs and preview.

The frames come from ListFrames page by page, then from the job's own WatchEvents
stream, started at the listing's event sequence so nothing falls between the two. A
Resync or a lost link lists again. The frames table draws only the lines on screen:
a 200,000-frame job loads and follows its events as smoothly as a ten-frame one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar, cast

import grpc
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Static

from renderq.client.errors import from_rpc_error
from renderq.client.units import format_duration, format_seconds, format_size, progress_bar
from renderq.plugins.frame_range import format_frames
from renderq.tui.farm_view import Changes, eta_seconds
from renderq.tui.feed import RETRY_FIRST, RETRY_MOST
from renderq.tui.jobs_table import STATE_STYLES, state_label
from renderq.tui.log_screen import GIVE_UP, LogScreen, closed_under_us
from renderq.tui.preview import PreviewScreen
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.tui.app import RenderqApp
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

FRAME_PAGE = 10_000
"""Frames per ListFrames call (the most the controller gives)."""

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


def frame_state_label(state: int) -> str:
    return pb.FrameState.Name(state).removeprefix("FRAME_STATE_").lower()  # type: ignore[arg-type]


def first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def frame_cells(frame: pb.Frame, marked: bool) -> list[tuple[str, str]]:
    """(text, style) of each cell of a frame's row, ERROR last."""
    return [
        ("*" if marked else " ", "bold yellow"),
        (str(frame.number), ""),
        (frame_state_label(frame.state), FRAME_STYLES.get(frame.state, "")),
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


def job_summary(job_id: int, job: pb.Job | None) -> Text:
    """Two lines: who and what the job is, then how far along."""
    if job is None:
        return Text(f"job {job_id} is not in the farm's listing (deleted, or still loading)", style="yellow")
    eta = eta_seconds(job)
    return Text.assemble(
        (f"job {job.id}  {job.name or 'unnamed'}", "bold"),
        f"  owner {job.owner or '-'}  ",
        (state_label(job.state), STATE_STYLES.get(job.state, "")),
        f"  priority {job.priority}\n",
        progress_bar(job.progress),
        f"  {job.frames_completed}/{job.frame_count} done",
        (f"  {job.frames_failed} failed", "red") if job.frames_failed else "",
        f"  {job.frames_running} running" if job.frames_running else "",
        f"  ETA {format_seconds(eta)}" if eta is not None else "",
        no_wrap=True,
    )


class FramesTable(ScrollView, can_focus=True):
    """Every frame of a job, one line each, drawn only where the screen shows it.

    Textual's DataTable measures every cell it is given and re-indexes all rows on
    each change: at 200,000 frames that froze the screen for a second per page loaded
    and a quarter second per update. Here a page of the listing is a list extension
    and a changed frame repaints one line.
    """

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
        Binding("down,j", "move(1)", "Next frame", show=False),
        Binding("up,k", "move(-1)", "Previous frame", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home,g", "first", "First frame", show=False),
        Binding("end,G", "last", "Last frame", show=False),
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


class JobScreen(Screen[None]):
    DEFAULT_CSS = """
    JobScreen #summary { height: 2; padding: 0 1; background: $panel; }
    JobScreen FramesTable { height: 1fr; }
    JobScreen #status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", tooltip="Mark or unmark the frame under the cursor"),
        Binding("r", "retry", "Retry", tooltip="Retry the marked frames, or every failed frame if none is"),
        Binding("l,enter", "log", "Log", tooltip="Read the log of the frame under the cursor"),
        Binding("v", "preview", "Preview", tooltip="Show the job's latest rendered frame"),
        Binding("escape,q", "back", "Back", tooltip="Back to the jobs"),
    ]

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.loading_note = ""
        """How far the listing is, while it runs."""
        self.problem = ""
        """Why the frames are not live (a lost link), in words; empty when they are."""

    @property
    def farm(self) -> RenderqApp:
        return cast("RenderqApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        yield FramesTable(id="frames")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._show_summary()
        table = self.query_one(FramesTable)
        table.loading = True
        table.focus()
        self._follow_frames()

    def farm_changed(self, changes: Changes) -> None:
        if changes.everything or self.job_id in changes.jobs:
            self._show_summary()

    def _show_summary(self) -> None:
        self.query_one("#summary", Static).update(
            job_summary(self.job_id, self.farm.view.jobs.get(self.job_id))
        )

    @on(FramesTable.Highlighted)
    def _show_status(self) -> None:
        """One line: the listing's progress or the link's trouble, the marks, and the
        whole error of the frame under the cursor (its column only has room for a start)."""
        table = self.query_one(FramesTable)
        frame = table.cursor_frame
        parts = [
            self.problem or self.loading_note,
            f"{len(table.marked)} marked (r retries them)" if table.marked else "",
            f"frame {frame.number}: {first_line(frame.error_message)}"
            if frame and frame.error_message
            else "",
        ]
        self.query_one("#status", Static).update(Text("  ·  ".join(p for p in parts if p), no_wrap=True))

    # The frames, live -----------------------------------------------------------

    @work(exclusive=True, group="frames")
    async def _follow_frames(self) -> None:
        """List, then watch, for as long as the screen is open (the worker is cancelled
        with it, which cancels the stream); list again after a Resync or a lost link."""
        pause = RETRY_FIRST
        while True:
            stub = self.farm.stub
            try:
                if stub is None:
                    raise ConnectionError("not connected to the controller")
                sequence = await self._list(stub)
                self.problem = ""
                await self._watch(stub, sequence)
                pause = RETRY_FIRST  # a Resync (or the stream's end): list again
            except grpc.aio.AioRpcError as error:
                failure = from_rpc_error(error, self.farm.status.address)
                if isinstance(failure, GIVE_UP):
                    self.problem = failure.message
                    self.query_one(FramesTable).loading = False
                    self._show_status()
                    return
                self.problem = f"frames not live: {failure.message} (retrying)"
            except asyncio.CancelledError:
                if not closed_under_us():
                    raise
                self.problem = "frames not live: the connection to the controller closed (retrying)"
            except Exception as error:  # any failure to reach it is shown, then retried
                self.problem = f"frames not live: {error or type(error).__name__} (retrying)"
            self._show_status()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MOST)

    async def _list(self, stub: FarmServiceAsyncStub) -> int:
        """Every frame, page by page into the table; returns the event sequence to watch from
        (the first page's: events after it may repeat later pages, which applying makes good)."""
        table = self.query_one(FramesTable)
        token = ""
        sequence = 0
        count = 0
        while True:
            page = await stub.ListFrames(
                fpb.ListFramesRequest(job_id=self.job_id, page_size=FRAME_PAGE, page_token=token)
            )
            if not token:
                sequence = page.event_sequence
            table.show(page.frames, replace=not token)
            table.loading = False
            count += len(page.frames)
            token = page.next_page_token
            job = self.farm.view.jobs.get(self.job_id)
            total = f" of {job.frame_count:,}" if job else ""
            self.loading_note = f"loading frames: {count:,}{total}" if token else ""
            self._show_status()
            if not token:
                return sequence

    async def _watch(self, stub: FarmServiceAsyncStub, sequence: int) -> None:
        """Apply the job's frame events until a Resync (or the end of the stream)."""
        table = self.query_one(FramesTable)
        call = stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=sequence, job_id=self.job_id))
        try:
            async for event in call:
                kind = event.WhichOneof("resource")
                if kind == "resync":
                    return
                if kind == "frame":
                    table.update(event.frame)
        finally:
            call.cancel()

    # Keys -----------------------------------------------------------------------

    def action_toggle_mark(self) -> None:
        self.query_one(FramesTable).toggle_mark()
        self._show_status()

    def action_retry(self) -> None:
        table = self.query_one(FramesTable)
        marked = sorted(table.marked)
        spec = format_frames(marked)
        what = (
            f"retry frames {spec} of job {self.job_id}"
            if marked
            else f"retry the failed frames of job {self.job_id}"
        )
        request = fpb.RetryFramesRequest(job_id=self.job_id, frames=spec)

        async def retry(farm: FarmServiceAsyncStub) -> None:
            await farm.RetryFrames(request)
            table.unmark(marked)
            self._show_status()

        self.farm.farm_call(what, retry)

    def action_log(self) -> None:
        frame = self.query_one(FramesTable).cursor_frame
        if frame is None:
            self.notify("no frame under the cursor", severity="warning")
            return
        self.app.push_screen(LogScreen(self.job_id, frame=frame.number))

    def action_preview(self) -> None:
        self.app.push_screen(PreviewScreen(self.job_id))

    def action_back(self) -> None:
        self.dismiss()
