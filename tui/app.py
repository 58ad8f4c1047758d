"""The operator's cockpit: the whole farm in a terminal, over SSH, in 80x24 if need be.

The app holds one ``FarmFeed`` (the controller, watched) and one ``FarmView`` (what it
said). Tables redraw only what changed; actions go to the controller through the
feed's stub, like any script, and its answer (or its error, in words) shows in place.
Every key is listed by ``?`` and every action is in the command palette (ctrl+p).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import grpc
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from renderq.client.credentials import Credentials
from renderq.tui.actions import ActionsMixin
from renderq.tui.agents_table import AgentsTable
from renderq.tui.farm_view import Changes, FarmView
from renderq.tui.feed import FarmFeed, FeedStatus
from renderq.tui.help_screen import HelpScreen
from renderq.tui.jobs_table import JobsTable, state_label
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


class FarmChanged(Message):
    """The view changed (what, in ``changes``)."""

    def __init__(self, changes: Changes) -> None:
        super().__init__()
        self.changes = changes


class FeedStatusChanged(Message):
    def __init__(self, status: FeedStatus) -> None:
        super().__init__()
        self.status = status


class StatusLine(Static):
    """Connection, who we are, job counts and the frame rate, on one line."""

    def render_status(self, status: FeedStatus, view: FarmView) -> None:
        if status.connected:
            link = f"[green]●[/] {status.address} {status.caller}"
        elif status.address:
            link = f"[red]○ disconnected[/] from {status.address}: {status.problem} (retrying)"
        else:
            link = "[yellow]○ connecting…[/]" + (f" {status.problem}" if status.problem else "")
        counts = view.job_counts()
        shown = [
            f"{counts[state]} {state_label(state)}"
            for state in (pb.JOB_STATE_RUNNING, pb.JOB_STATE_QUEUED, pb.JOB_STATE_FAILED)
            if counts[state]
        ]
        online = sum(1 for a in view.agents.values() if a.status == pb.AGENT_STATUS_ONLINE)
        farm = f"{online}/{len(view.agents)} agents  {view.frames_per_minute():.0f} frames/min"
        # One line of fixed height: no layout pass needed (this runs ten times a second).
        self.update(f"{link}  │  {', '.join(shown) or 'no active jobs'}  │  {farm}", layout=False)


class RenderqApp(ActionsMixin, App[None]):
    TITLE = "renderq"
    CSS = """
    StatusLine { height: 1; padding: 0 1; background: $panel; }
    #filter { display: none; height: 3; }
    #filter.shown { display: block; }
    JobsTable, AgentsTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("1", "show_tab('jobs')", "Jobs", show=False),
        Binding("2", "show_tab('farm')", "Farm", show=False),
        Binding("slash", "filter", "Filter", tooltip="Filter jobs: words, state:running, owner:ana"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("t", "toggle_theme", "Theme", show=False, tooltip="Switch between the dark and light theme"),
        Binding("q", "quit", "Quit"),
        *ActionsMixin.ACTION_BINDINGS,
    ]

    def __init__(self, address: Callable[[], Awaitable[str]], credentials: Credentials) -> None:
        super().__init__()
        self.view = FarmView()
        self.status = FeedStatus(False)
        self.feed = FarmFeed(
            address,
            credentials,
            self.view,
            on_changes=self._post_changes,
            on_status=self._post_status,
        )

    def _post_changes(self, changes: Changes) -> None:
        self.post_message(FarmChanged(changes))

    def _post_status(self, status: FeedStatus) -> None:
        self.post_message(FeedStatusChanged(status))

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with TabbedContent(initial="jobs"):
            with TabPane("Jobs", id="jobs"), Vertical():
                yield Input(placeholder="filter: words, state:running, owner:ana (Esc clears)", id="filter")
                yield JobsTable(self.view, id="jobs-table")
            with TabPane("Farm", id="farm"):
                yield AgentsTable(self.view, id="agents-table")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self.feed.run(), name="feed", exclusive=True)
        self.set_interval(1.0, self._refresh_status)
        self.query_one(JobsTable).focus()

    # The feed -------------------------------------------------------------------

    @on(FarmChanged)
    def _farm_changed(self, message: FarmChanged) -> None:
        try:
            jobs, agents = self.query_one(JobsTable), self.query_one(AgentsTable)
        except NoMatches:
            return  # the app is closing and its widgets are gone; the feed is not yet
        jobs.show(message.changes)
        agents.show(message.changes)
        for screen in self.screen_stack:
            follower = getattr(screen, "farm_changed", None)
            if follower is not None:
                with contextlib.suppress(NoMatches):  # a screen being closed has lost its widgets
                    follower(message.changes)
        self._refresh_status()

    @on(FeedStatusChanged)
    def _status_changed(self, message: FeedStatusChanged) -> None:
        self.status = message.status
        self._refresh_status()

    def _refresh_status(self) -> None:
        for line in self.query(StatusLine):  # none while the app closes
            line.render_status(self.status, self.view)

    @property
    def stub(self) -> FarmServiceAsyncStub | None:
        return self.feed.stub

    # Navigation -----------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        table = self.query_one(JobsTable if tab == "jobs" else AgentsTable)
        table.focus()

    def action_filter(self) -> None:
        self.action_show_tab("jobs")
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if not (box.value or box.has_class("shown")):
            return  # Escape elsewhere (the Farm tab) leaves things as they are
        box.value = ""
        box.remove_class("shown")
        self.query_one(JobsTable).refilter("")
        self.query_one(JobsTable).focus()

    @on(JobsTable.RowSelected)
    def _job_chosen(self) -> None:
        """Enter (or a click) on a job row: the table takes the key first, as its row selection."""
        self.action_open_job()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(JobsTable).refilter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(JobsTable).focus()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every action with a binding, in the command palette."""
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.description and binding.action != "quit":
                yield SystemCommand(
                    binding.description, binding.tooltip or binding.description, self._palette(binding.action)
                )

    def _palette(self, action: str) -> Callable[[], Any]:
        return lambda: self.run_action(action)

    @work(exclusive=False, group="farm-call")
    async def farm_call(self, what: str, call: Callable[[FarmServiceAsyncStub], Awaitable[object]]) -> None:
        """Run one call to the controller in the background; say how it went, in words
        (``what`` says what was asked: "cancel job 3: done", or the controller's refusal)."""
        stub = self.stub
        if stub is None:
            self.notify(f"{what}: not connected to the controller", severity="error")
            return
        try:
            await call(stub)
        except grpc.aio.AioRpcError as error:
            self.notify(f"{what}: {error.details() or error.code().name}", severity="error", timeout=8)
            return
        except asyncio.CancelledError:
            # The feed closed the channel under the call (the controller went away).
            self.notify(f"{what}: the connection to the controller was lost", severity="error")
            return
        self.notify(f"{what}: done", timeout=3)
