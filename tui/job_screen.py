"""One job up close: its summary and every frame, live, with keys to retry, read logs and preview.

Under the summary, while there are any, the agents the job stopped using after its tasks
kept failing there (``u`` gives the one under the cursor back); ``w`` asks the
controller why the job, and the frame under the cursor, are not running.

The frames come from ListFrames page by page, then from the job's own WatchEvents
stream, started at the listing's event sequence so nothing falls between the two. A
Resync or a lost link lists again. Under the frames, the frame under the cursor in
full: its agent, attempts, exit code and its whole error, wrapped (the table's ERROR
column has room for a start only at 80 columns; ``e`` shows an error too long for
the pane).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from itertools import groupby
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Static

from renderq.client.enums import label
from renderq.client.estimates import estimate_text
from renderq.client.paging import pages
from renderq.client.units import format_duration, format_seconds, format_size, progress_bar
from renderq.frame_range import format_frames
from renderq.tui.app_typed import RenderqAppMixin
from renderq.tui.blocked_table import BlockedTable
from renderq.tui.following import Following
from renderq.tui.frames_table import FRAME_STYLES, FramesTable
from renderq.tui.jobs_table import STATE_STYLES
from renderq.tui.log_screen import LogScreen
from renderq.tui.message_line import MessageLine, plural, say
from renderq.tui.messages import FarmChanged
from renderq.tui.preview import PreviewScreen
from renderq.tui.text_screen import TextScreen
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

FRAME_PAGE = 10_000
"""Frames per ListFrames call (the most the controller gives)."""
RETRYABLE = (pb.FRAME_STATE_FAILED, pb.FRAME_STATE_CANCELLED, pb.FRAME_STATE_COMPLETED)
"""Frames the controller takes back to render again; the others are pending or busy."""
DETAIL_LINES = 8
"""Most lines of the frame detail pane; a longer error is cut there and read whole with ``e``."""


def job_summary(job_id: int, job: pb.Job | None, eta: float | None) -> Text:
    """Who and what the job is (and why it waits), then how far along; wraps when narrow."""
    if job is None:
        return Text(f"job {job_id} is not in the farm's listing (deleted, or still loading)", style="yellow")
    return Text.assemble(
        (f"job {job.id}  {job.name or 'unnamed'}", "bold"),
        f"  owner {job.owner or '-'}  ",
        (label(pb.JobState, job.state), STATE_STYLES.get(job.state, "")),
        (f" ({job.state_reason})", "yellow") if job.state_reason else "",
        f"  priority {job.priority}\n",
        progress_bar(job.progress),
        f"  {job.frames_completed}/{job.frame_count} done",
        (f"  {job.frames_failed} failed", "red") if job.frames_failed else "",
        f"  {job.frames_running} running" if job.frames_running else "",
        f"  ETA {format_seconds(eta)}" if eta is not None else "",
        (f"\n{estimate_text(job)}", "cyan") if job.estimate.frames_measured else "",
    )


def frame_detail(frame: pb.Frame) -> Text:
    """The frame under the cursor: what the table's columns hold, then its whole error."""
    text = Text.assemble(
        (f"frame {frame.number}", "bold"),
        "  ",
        (label(pb.FrameState, frame.state), FRAME_STYLES.get(frame.state, "")),
        f"  agent {frame.agent_id}" if frame.agent_id else "",
        f"  attempt {frame.attempt_count}" if frame.attempt_count else "",
        f"  exit {frame.exit_code}" if frame.exit_code else "",
        f"  {format_duration(frame.render_time)}" if frame.render_time.ToNanoseconds() else "",
        f"  peak {format_size(frame.peak_rss_bytes)}" if frame.peak_rss_bytes else "",
    )
    if frame.error_message.strip():
        text.append("\n")
        text.append(frame.error_message.strip(), style="red")
    return text


def skipped_text(numbers: list[int], states: Mapping[int, int]) -> str:
    """``skipped frame 5 (rendering)``, ``skipped frames 5-6 (rendering), 9 (pending)``."""
    groups = [
        f"{format_frames(list(group))} ({label(pb.FrameState, state)})"
        for state, group in groupby(sorted(numbers, key=lambda n: (states[n], n)), key=states.__getitem__)
    ]
    return f"skipped frame{'s' if len(numbers) > 1 else ''} {', '.join(groups)}" if numbers else ""


class JobScreen(RenderqAppMixin, Screen[None]):
    """The app's job keys (pause, cancel, priority, delete) act on this screen's job."""

    DEFAULT_CSS = f"""
    JobScreen #summary {{ height: auto; max-height: 4; padding: 0 1; background: $panel; }}
    JobScreen #blocked {{
        height: auto; border-top: solid $warning; border-title-color: $text-warning; border-title-align: left;
    }}
    JobScreen #blocked.-empty {{ display: none; }}
    JobScreen FramesTable {{ height: 1fr; }}
    JobScreen #frame-detail {{
        height: auto; max-height: {DETAIL_LINES + 1}; padding: 0 1; border-top: solid $panel-lighten-2;
    }}
    JobScreen #frame-detail.-empty {{ display: none; }}
    JobScreen #status {{ height: auto; max-height: 2; padding: 0 1; color: $text-muted; }}
    JobScreen #status.-empty {{ display: none; }}
    """
    AUTO_FOCUS = "FramesTable"
    """The frames take the keys, not the blocked agents above them (tab moves there)."""
    BINDINGS = [
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            tooltip="Mark or unmark the frame under the cursor",
            id="job-screen.mark",
        ),
        Binding(
            "r",
            "retry",
            "Retry",
            tooltip="Retry the marked frames, or every failed frame if none is",
            id="job-screen.retry",
        ),
        Binding(
            "l,enter", "log", "Log", tooltip="Read the log of the frame under the cursor", id="job-screen.log"
        ),
        Binding(
            "e",
            "error",
            "Error",
            show=False,
            tooltip="The whole error of the frame under the cursor (the pane says when it is cut)",
            id="job-screen.error",
        ),
        Binding(
            "w",
            "app.why",
            "Why",
            tooltip="Why the job, and the frame under the cursor, are not running",
            id="job-screen.why",
        ),
        Binding(
            "u",
            "unblock",
            "Unblock",
            show=False,
            tooltip="Let the job use the blocked agent under the cursor again",
            id="job-screen.unblock",
        ),
        Binding(
            "v",
            "preview",
            "Preview",
            show=False,
            tooltip="Show the job's latest rendered frame",
            id="job-screen.preview",
        ),
        Binding("escape,q", "back", "Back", tooltip="Back to the jobs", id="job-screen.back"),
    ]

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.loading_note = ""
        """How far the listing is, while it runs."""
        self.problem = ""
        """Why the frames are not live (a lost link), in words; empty when they are."""

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        with Vertical(id="blocked", classes="-empty") as blocked:
            blocked.border_title = "blocked agents: u unblocks the one under the cursor"
            yield BlockedTable(id="blocked-agents")
        yield FramesTable(id="frames")
        yield Static(id="frame-detail", classes="-empty")
        yield Static(id="status", classes="-empty")
        yield MessageLine(id="message")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._show_summary()
        table = self.query_one(FramesTable)
        table.loading = True
        table.focus()
        self._follow_frames()

    def on_farm_changed(self, message: FarmChanged) -> None:
        changes = message.changes
        if changes.everything or self.job_id in changes.jobs:
            with contextlib.suppress(NoMatches):  # a screen being closed has lost its widgets
                self._show_summary()

    def _show_summary(self) -> None:
        """The summary, and the blocked agents (shown only while there are any)."""
        view = self.renderq_app.view
        job = view.jobs.get(self.job_id)
        eta = view.eta(job) if job is not None else None
        self.query_one("#summary", Static).update(job_summary(self.job_id, job, eta))
        blocked = list(job.blocked_agents) if job is not None else []
        self.query_one("#blocked").set_class(not blocked, "-empty")
        self.query_one(BlockedTable).show(blocked)

    @property
    def cursor_frame_number(self) -> int | None:
        """The frame under the cursor; None while the frames are not listed."""
        frame = self.query_one(FramesTable).cursor_frame
        return frame.number if frame is not None else None

    @on(FramesTable.Highlighted)
    def _show_status(self) -> None:
        """The frame under the cursor in the detail pane; under it, the listing's progress
        or the link's trouble, and the marks."""
        table = self.query_one(FramesTable)
        frame = table.cursor_frame
        detail = self.query_one("#frame-detail", Static)
        detail.update(self._fitted(frame_detail(frame)) if frame is not None else "")
        detail.set_class(frame is None, "-empty")
        parts = [
            self.problem or self.loading_note,
            f"{len(table.marked)} marked (r retries them)" if table.marked else "",
        ]
        status = "  ·  ".join(p for p in parts if p)
        line = self.query_one("#status", Static)
        line.update(Text(status))
        line.set_class(not status, "-empty")

    def _fitted(self, detail: Text) -> Text:
        """The detail as it fits the pane; cut, saying so, when the error is longer."""
        lines = detail.wrap(self.app.console, max(20, self.size.width - 2))
        if len(lines) <= DETAIL_LINES:
            return detail
        shown = Text("\n").join(lines[: DETAIL_LINES - 1])
        shown.append("\n… e shows the whole error", style="dim")
        return shown

    def on_resize(self, event: events.Resize) -> None:
        self._show_status()

    # The frames, live -----------------------------------------------------------

    @work(exclusive=True, group="frames")
    async def _follow_frames(self) -> None:
        """List, then watch, for as long as the screen is open (the worker is cancelled
        with it, which cancels the stream); list again after a Resync or a lost link."""
        following = Following(self.renderq_app.explain, self._not_live, on_give_up=self._gave_up)

        async def one_round() -> bool:
            stub = self.renderq_app.live_stub()
            sequence = await self._list(stub)
            self.problem = ""
            following.live()
            await self._watch(stub, sequence)
            return False  # a Resync (or the stream's end): list again

        await following.run(one_round)

    def _not_live(self, reason: str) -> None:
        self.problem = f"frames not live: {reason} (retrying)"
        self._show_status()

    def _gave_up(self, reason: str) -> None:
        self.problem = reason
        self.query_one(FramesTable).loading = False
        self._show_status()

    async def _list(self, stub: FarmServiceAsyncStub) -> int:
        """Every frame, page by page into the table; returns the event sequence to watch from
        (the first page's: events after it may repeat later pages, which applying makes good)."""
        table = self.query_one(FramesTable)
        sequence: int | None = None
        count = 0
        async for listed in pages(
            lambda token: stub.ListFrames(
                fpb.ListFramesRequest(job_id=self.job_id, page_size=FRAME_PAGE, page_token=token)
            )
        ):
            first = sequence is None
            if first:
                sequence = listed.event_sequence
            table.show(listed.frames, replace=first)
            table.loading = False
            count += len(listed.frames)
            job = self.renderq_app.view.jobs.get(self.job_id)
            total = f" of {job.frame_count:,}" if job else ""
            more = bool(listed.next_page_token)
            self.loading_note = f"loading frames: {count:,}{total}" if more else ""
            self._show_status()
        return sequence or 0

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
        """The marked frames that can render again (failed, cancelled or completed); the
        others (pending, rendering) stay marked and are said to be skipped. With no mark,
        every failed frame."""
        table = self.query_one(FramesTable)
        marked = sorted(table.marked)
        if not marked:
            request = fpb.RetryFramesRequest(job_id=self.job_id)
            what = f"retry the failed frames of job {self.job_id}"
            self.renderq_app.call_controller(what, lambda stub: self._retry(stub, request, [], ""))
            return
        states = {n: table.frames[n].state for n in marked}
        retry = [n for n in marked if states[n] in RETRYABLE]
        skipped = skipped_text([n for n in marked if n not in retry], states)
        if not retry:
            say(self, f"nothing to retry: {skipped}; a frame can be retried once it ended", "warning")
            return
        request = fpb.RetryFramesRequest(job_id=self.job_id, frames=format_frames(retry))
        what = f"retry frames {request.frames} of job {self.job_id}"
        self.renderq_app.call_controller(what, lambda stub: self._retry(stub, request, retry, skipped))

    async def _retry(
        self, stub: FarmServiceAsyncStub, request: fpb.RetryFramesRequest, retry: list[int], skipped: str
    ) -> str:
        """One RetryFrames call; what to say about it."""
        response = await stub.RetryFrames(request)
        table = self.query_one(FramesTable)
        table.unmark(retry)
        self._show_status()
        done = f"retried {plural(response.frames_retried, 'frame')} of job {self.job_id}"
        return f"{done}; {skipped}" if skipped else done

    def action_log(self) -> None:
        frame = self.query_one(FramesTable).cursor_frame
        if frame is None:
            say(self, "no frame under the cursor", "warning")
            return
        self.app.push_screen(LogScreen(self.job_id, frame=frame.number))

    def action_error(self) -> None:
        frame = self.query_one(FramesTable).cursor_frame
        if frame is None or not frame.error_message.strip():
            say(self, "the frame under the cursor has no error", "warning")
            return
        title = f"job {self.job_id}, frame {frame.number}: error of attempt {frame.attempt_count}"
        self.app.push_screen(TextScreen(title, frame.error_message.strip()))

    def action_unblock(self) -> None:
        agent_id = self.query_one(BlockedTable).selected_agent_id
        if agent_id is None:
            say(self, f"job {self.job_id} blocks no agent", "warning")
            return
        request = fpb.UnblockAgentRequest(job_id=self.job_id, agent_id=agent_id)

        async def unblock(stub: FarmServiceAsyncStub) -> str:
            job = (await stub.UnblockAgent(request)).job
            done = f"job {self.job_id} may use agent {agent_id} again"
            return f"{done}; r retries its failed frames" if job.frames_failed else done

        self.renderq_app.call_controller(f"unblock agent {agent_id} for job {self.job_id}", unblock)

    def action_preview(self) -> None:
        self.app.push_screen(PreviewScreen(self.job_id))

    def action_back(self) -> None:
        self.dismiss()
