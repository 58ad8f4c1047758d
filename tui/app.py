"""The operator's cockpit: the whole farm in a terminal, over SSH, in 80x24 if need be.

The app holds one ``FarmFeed`` (the controller, watched) and one ``FarmView`` (what it
said). Tables redraw only what changed; actions go to the controller through the
feed's stub, like any script, and its answer (or its error, in words) shows on the
message line above the footer. Keys act on what is on screen: the footer shows those
that work there, ``?`` lists every key and the command palette (ctrl+p) every action.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

import grpc
from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from renderq.client.credentials import Credentials
from renderq.client.enums import label
from renderq.client.errors import CallFailed, from_rpc_error
from renderq.tui.actions import ActionsApp
from renderq.tui.agents_table import AgentsTable
from renderq.tui.farm_view import Changes, FarmView
from renderq.tui.feed import FarmFeed, FeedStatus
from renderq.tui.footer import KeysFooter
from renderq.tui.help_screen import HelpScreen
from renderq.tui.jobs_table import JobsTable, job_reason
from renderq.tui.message_line import MessageLine
from renderq.tui.messages import FarmChanged, FeedStatusChanged
from renderq.tui.status_line import StatusLine
from renderq.tui.token_screen import TokenScreen
from renderq.v1 import resources_pb2 as pb

YOUNG_OBJECTS = 10_000
"""New objects between two collections of the youngest generation (Python's default: 700)."""


def settle_garbage_collector() -> None:
    """After a listing: collect once, then leave every object alive now out of later
    collections (``gc.freeze``). The farm's records, the tables' rows, the widgets and the
    modules live as long as the app, and each full collection walked them all: with
    5,000 agents a pause of 100-300 ms every few seconds under a flood of events. They
    die by reference counting (no cycles), so freezing them keeps nothing alive.

    Drawing makes thousands of short-lived objects a frame (segments, strips, their
    caches); collecting the young every 700 of them brought a full collection (50-150 ms
    over the caches of the screen) every second or two. Every 10,000, it comes a tenth
    as often, and a young collection still takes about a millisecond."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


class RenderqApp(ActionsApp):
    TITLE = "renderq"
    CSS = """
    TabbedContent { height: 1fr; }
    Footer.-compact KeyGroup.-compact { padding-left: 0; }
    Footer.-compact FooterLabel { margin: 0 1 0 0; }
    #filter { display: none; height: 3; }
    #filter.shown { display: block; }
    JobsTable, AgentsTable { height: 1fr; }
    #job-detail { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    #job-detail.-empty { display: none; }
    """
    BINDINGS = [
        # The footer shows keys in this order: what acts on the selection first.
        *ActionsApp.ACTION_BINDINGS,
        Binding("1", "show_tab('jobs')", "Jobs", show=False, id="app.jobs-tab"),
        Binding("2", "show_tab('farm')", "Farm", show=False, id="app.farm-tab"),
        Binding(
            "slash",
            "filter",
            "Filter",
            tooltip="Filter jobs: words, state:running, owner:ana",
            id="app.filter",
        ),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="app.clear-filter"),
        Binding("question_mark", "help", "Help", tooltip="Every key, and the command palette", id="app.help"),
        Binding(
            "t",
            "toggle_theme",
            "Theme",
            show=False,
            tooltip="Switch between the dark and light theme",
            id="app.theme",
        ),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]
    MAIN_SCREEN_ACTIONS = frozenset({"show_tab", "filter", "clear_filter", "submit"})
    """Actions of the main screen (its tabs, a new job): no use on a job's, agent's or log's."""

    def __init__(
        self, resolve: Callable[[], Awaitable[str]], credentials: Credentials, *, ask_token: bool = False
    ) -> None:
        """``resolve``: where the controller is now, asked before each connection.

        ``ask_token``: a browser session (``renderq tui --web``): the visitor gives their
        own token on a ``TokenScreen`` before anything reaches the controller, and the
        token in ``credentials`` (if any) is never sent.
        """
        super().__init__()
        self.view = FarmView()
        self.status = FeedStatus(False)
        self._resolve = resolve
        self.ask_token = ask_token
        self._credentials = replace(credentials, token=None, token_file=None) if ask_token else credentials
        self.feed = self._new_feed(self._credentials)

    def _new_feed(self, credentials: Credentials) -> FarmFeed:
        return FarmFeed(
            self._resolve,
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
                yield Static(id="job-detail", classes="-empty", markup=False)
            with TabPane("Farm", id="farm"):
                yield AgentsTable(self.view, id="agents-table")
        yield MessageLine(id="message")
        yield KeysFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._refresh_status)
        self.query_one(JobsTable).focus()
        if self.ask_token:
            self.push_screen(TokenScreen(self._resolve, self._credentials), callback=self._token_given)
        else:
            self._start_feed()

    def _start_feed(self) -> None:
        self.run_worker(self.feed.run(), name="feed", exclusive=True)

    def _token_given(self, credentials: Credentials | None) -> None:
        """The token screen's answer: credentials with a token the controller accepted."""
        if credentials is None:
            return  # the app is closing
        self.feed = self._new_feed(credentials)
        self._start_feed()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys act on what is on screen: job keys where a job is (the Jobs tab, a job's
        screens), agent keys where an agent is (the Farm tab, an agent's screen); the
        footer shows only those."""
        if action in self.JOB_ACTIONS:
            return self.shows("job")
        if action in self.AGENT_ACTIONS:
            return self.shows("agent")
        if action in self.MAIN_SCREEN_ACTIONS:
            return self.on_main_screen() and (action in ("show_tab", "submit") or self.shows("job"))
        return True

    # The feed -------------------------------------------------------------------

    def on_farm_changed(self, message: FarmChanged) -> None:
        """The tables and the status line here; then each screen above them its own
        FarmChanged (a job's or an agent's screen follows it)."""
        changes = message.changes
        try:
            jobs, agents = self.query_one(JobsTable), self.query_one(AgentsTable)
        except NoMatches:
            return  # the app is closing and its widgets are gone; the feed is not yet
        jobs.show(changes)
        agents.show(changes)
        if changes.everything or jobs.selected_job_id in changes.jobs:
            self._show_job_detail()
        for screen in self.screen_stack[1:]:
            screen.post_message(FarmChanged(changes))
        self._refresh_status()
        if changes.everything:
            settle_garbage_collector()

    def on_feed_status_changed(self, message: FeedStatusChanged) -> None:
        self.status = message.status
        self._refresh_status()

    def _refresh_status(self) -> None:
        for line in self.query(StatusLine):  # none while the app closes
            line.render_status(self.status, self.view)

    def explain(self, error: grpc.aio.AioRpcError) -> CallFailed:
        """A failed call to the controller as its typed error, in words that name its address."""
        return from_rpc_error(error, self.status.address)

    # Navigation -----------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        """The tab, its table focused at once: focus changes how every cell is drawn, so a
        table painted first and focused after would be painted twice. The underline jumps
        to the tab rather than sliding there: its animation drew the row of tabs twenty
        times in 0.3 s, about 40 ms of a loop busy with a farm's events."""
        animations, self.animation_level = self.animation_level, "none"
        try:
            self.query_one(TabbedContent).active = tab
        finally:
            self.animation_level = animations
        self.query_one(JobsTable if tab == "jobs" else AgentsTable).focus()

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        """Whichever way the tab changed (key, click), its table takes the keys and the
        footer shows that tab's."""
        try:
            table = self.query_one(JobsTable if event.pane.id == "jobs" else AgentsTable)
        except NoMatches:
            return  # the app is closing and its widgets are gone
        table.focus()
        self.refresh_bindings()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if not (box.value or box.has_class("shown")):
            return  # Escape with no filter leaves things as they are
        box.value = ""
        box.remove_class("shown")
        self.query_one(JobsTable).refilter("")
        self.query_one(JobsTable).focus()

    @on(DataTable.RowSelected, "#jobs-table")
    def _job_chosen(self) -> None:
        """Enter (or a click) on a job row: the table takes the key, as its row selection."""
        self.open_job()

    @on(DataTable.RowSelected, "#agents-table")
    def _agent_chosen(self) -> None:
        self.open_agent()

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _show_job_detail(self) -> None:
        """Under the table, why the selected job waits, is blocked or failed: its columns
        have no room for that at 80 columns."""
        try:
            job_id = self.query_one(JobsTable).selected_job_id
            detail = self.query_one("#job-detail", Static)
        except NoMatches:
            return  # a highlight that arrives while the app closes, its widgets gone
        job = self.view.jobs.get(job_id) if job_id is not None else None
        reason = job_reason(job) if job is not None else ""
        text = Text(f"job {job_id} {label(pb.JobState, job.state)}: {reason}" if job and reason else "")
        if job and job.state_reason:
            text.append("  (w: why)", style="dim")
        if text == detail.content:
            return  # the job changed, its reason did not: no update, no layout pass of the screen
        detail.update(text)
        detail.set_class(not reason, "-empty")

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        table = self.query_one(JobsTable)
        table.refilter(event.value)
        problem = table.filter.problem()
        line = self.query_one(MessageLine)
        if problem:
            line.say(problem, "warning")
        elif line.text.startswith("filter:"):
            line.clear()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(JobsTable).focus()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every action that works on ``screen``, once: its keys' (the focused widget's, the
        screen's and the app's, as the footer has them) and then Textual's own, less those
        of the same name (its theme picker, its quit)."""
        titles: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            widget_key = active.node is not self and not isinstance(active.node, Screen)
            if not active.enabled or not binding.description or (widget_key and not binding.tooltip):
                continue  # a widget's movement keys (up, down) are no commands
            if binding.description not in titles:
                titles.add(binding.description)
                yield SystemCommand(
                    binding.description,
                    binding.tooltip or binding.description,
                    self._palette(binding.action, active.node),
                )
        for command in super().get_system_commands(screen):
            if command.title not in titles:
                yield command

    def _palette(self, action: str, node: DOMNode) -> Callable[[], Awaitable[bool]]:
        return lambda: self.run_action(action, node)
