"""A task attempt's log: what is stored, then new output live, with search and the attempt history.

TailLog streams bytes; they become lines here (UTF-8 with bad bytes replaced, a line
cut between two chunks held until its end arrives) and go to a ``LogView``, which wraps
long lines (``w`` toggles it). The view follows new output while it is at the end:
scrolling up pauses that and ``G`` resumes it; ``g`` or Home go back to the start.
Every attempt of a task keeps its own log (``Task.attempt_ids``); ``a`` and ``A`` step
through them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from renderq.client.paging import pages
from renderq.states import TASK_ACTIVE
from renderq.tui.app_typed import RenderqAppMixin
from renderq.tui.following import Following
from renderq.tui.log_view import LineDecoder, LogView, find_line
from renderq.tui.message_line import MessageLine, say
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

TASK_PAGE = 10_000

FOLLOWING = "following"
ENDED = "attempt ended"


async def find_task(
    stub: FarmServiceAsyncStub,
    job_id: int,
    matches: Callable[[pb.Task], bool] = lambda task: True,
    states: Iterable[pb.TaskState] = (),
    last: bool = False,
) -> pb.Task | None:
    """The job's first (or ``last``) task in ``states`` that ``matches``, page by page."""
    found = None
    async for page in pages(
        lambda token: stub.ListTasks(
            fpb.ListTasksRequest(job_id=job_id, page_size=TASK_PAGE, page_token=token, states=states)
        )
    ):
        for task in page.tasks:
            if matches(task):
                if not last:
                    return task
                found = task
    return found


class LogScreen(RenderqAppMixin, Screen[None]):
    DEFAULT_CSS = """
    LogScreen #log-header { height: auto; max-height: 2; padding: 0 1; background: $panel; }
    LogScreen LogView { height: 1fr; }
    LogScreen #search { display: none; height: 3; }
    LogScreen #search.shown { display: block; }
    """
    BINDINGS = [
        Binding(
            "slash", "search", "Search", tooltip="Find a line containing some text", id="log-screen.search"
        ),
        Binding("n", "find(1)", "Next", tooltip="The next line with the text searched", id="log-screen.next"),
        Binding("N", "find(-1)", "Previous match", show=False, id="log-screen.previous"),
        Binding(
            "w", "wrap", "Wrap", tooltip="Wrap long lines, or not (then left/right pan)", id="log-screen.wrap"
        ),
        Binding(
            "a",
            "attempt(-1)",
            "Older",
            tooltip="The log of the task's previous attempt",
            id="log-screen.older",
        ),
        Binding(
            "A",
            "attempt(1)",
            "Newer attempt",
            show=False,
            tooltip="The log of the task's next attempt",
            id="log-screen.newer",
        ),
        Binding(
            "G", "follow", "Follow", tooltip="Jump to the end and follow new output", id="log-screen.follow"
        ),
        Binding("escape,q", "back", "Back", id="log-screen.back"),
    ]

    def __init__(self, job_id: int, frame: int | None = None, task_id: int = 0, attempt_id: int = 0) -> None:
        super().__init__()
        self.job_id = job_id
        self.frame = frame
        self.task_id = task_id
        self.attempt_id = attempt_id
        """The attempt shown; 0 until the task's latest is known."""
        self.log_task: pb.Task | None = None
        """The task whose attempts these are, as last fetched (``task`` is Textual's)."""
        self.state = "finding the task"
        """What the stream is doing, in words, for the header."""
        self.search_text = ""
        self.match_line: int | None = None
        self._decoder = LineDecoder()
        self._received = 0
        """Bytes of the attempt's log shown so far (a reopened stream skips them)."""

    def compose(self) -> ComposeResult:
        yield Static(id="log-header")
        yield LogView(id="log")
        yield Input(placeholder="search: Enter finds the next line with this text, Esc closes", id="search")
        yield MessageLine(id="message")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        log_view = self.query_one(LogView)
        self.watch(log_view, "scroll_y", self._show_header, init=False)
        log_view.focus()
        self._show_header()
        self._follow_log(self.attempt_id)

    def _show_header(self) -> None:
        parts = [f"job {self.job_id}"]
        if self.frame is not None:
            parts.append(f"frame {self.frame}")
        if self.task_id:
            parts.append(f"task {self.task_id}")
        attempts = list(self.log_task.attempt_ids) if self.log_task else []
        if self.attempt_id in attempts:
            parts.append(f"attempt {attempts.index(self.attempt_id) + 1} of {len(attempts)}")
        elif self.attempt_id:
            parts.append(f"attempt {self.attempt_id}")
        state = self.state
        if state == FOLLOWING and not self.query_one(LogView).is_vertical_scroll_end:
            state = "paused (G follows)"
        parts.append(state)
        self.query_one("#log-header", Static).update(Text("  ·  ".join(parts)))

    def _show_state(self, state: str) -> None:
        self.state = state
        self._show_header()

    # The stream -----------------------------------------------------------------

    @work(exclusive=True, group="log")
    async def _follow_log(self, attempt_id: int) -> None:
        """Show ``attempt_id`` (0: the task's latest) from its start, then live until it ends.
        Cancelled with the screen (or by the next attempt's worker), which ends the stream."""
        self.attempt_id = attempt_id
        self._decoder = LineDecoder()
        self._received = 0
        self.query_one(LogView).clear()
        self._forget_match()
        following = Following(
            self.renderq_app.explain,
            lambda reason: self._show_state(f"log not live: {reason} (retrying)"),
            on_give_up=self._show_state,
        )

        async def one_round() -> bool:
            stub = self.renderq_app.live_stub()
            task = await self._find_task(stub)
            if task is None:
                self._show_state(f"job {self.job_id} has no task with this log")
                return True
            following.live()
            if not await self._tail(stub, task):
                return False  # cut short while the attempt runs: open it again
            self._write(self._decoder.flush())
            self._show_state(ENDED)
            return True

        await following.run(one_round)

    async def _find_task(self, stub: FarmServiceAsyncStub) -> pb.Task | None:
        """The task whose log this is, fresh (its attempts may have grown): the one named,
        else the frame's, else the job's first running task, else its last."""
        task_id, frame = self.task_id, self.frame
        if task_id:
            task = await find_task(stub, self.job_id, lambda t: t.id == task_id)
        elif frame is not None:
            task = await find_task(stub, self.job_id, lambda t: frame in t.frames)
        else:
            task = await find_task(stub, self.job_id, states=TASK_ACTIVE) or await find_task(
                stub, self.job_id, last=True
            )
        if task is not None:
            self.log_task = task
            self.task_id = task.id
            self.attempt_id = self.attempt_id or task.attempt_id
        return task

    async def _tail(self, stub: FarmServiceAsyncStub, task: pb.Task) -> bool:
        """Stream the attempt's log from where the screen is; True once the attempt is over
        (False when the stream stopped early: the controller drops a follower that lags)."""
        if not self.attempt_id:
            self._show_state("waiting for the task to start")
        elif task.attempt_id == self.attempt_id and task.state in TASK_ACTIVE:
            self._show_state(FOLLOWING)
        else:
            self._show_state("reading")
        request = fpb.TailLogRequest(
            job_id=self.job_id, task_id=task.id, attempt_id=self.attempt_id, follow=True
        )
        call = stub.TailLog(request)
        try:
            async for chunk in call:
                if chunk.attempt_id != self.attempt_id:
                    self.attempt_id = chunk.attempt_id  # the task's first dispatch, waited for
                    self._show_state(FOLLOWING)
                skip = max(0, self._received - chunk.offset)
                if skip < len(chunk.data):
                    self._write(self._decoder.feed(chunk.data[skip:]))
                    self._received = chunk.offset + len(chunk.data)
        finally:
            call.cancel()
        task = await self._find_task(stub) or task
        return task.attempt_id != self.attempt_id or task.state not in TASK_ACTIVE

    def _write(self, lines: list[str]) -> None:
        """Add whole lines; the view follows them only if it was at the end."""
        if lines:
            log_view = self.query_one(LogView)
            log_view.write_lines(lines, follow=log_view.is_vertical_scroll_end)

    # Keys -----------------------------------------------------------------------

    def action_follow(self) -> None:
        self.query_one(LogView).scroll_end(animate=False, immediate=True)
        self._show_header()

    def action_attempt(self, step: int) -> None:
        attempts = list(self.log_task.attempt_ids) if self.log_task else []
        if len(attempts) < 2:
            say(self, "this task has had no other attempt", "warning")
            return
        index = attempts.index(self.attempt_id) if self.attempt_id in attempts else len(attempts) - 1
        self._follow_log(attempts[(index + step) % len(attempts)])

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("shown")
        box.focus()

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        self._close_search()
        self.search_text = event.value
        if self.search_text:
            self.action_find(1)

    def action_find(self, step: int) -> None:
        """Mark the next (``step`` 1) or previous (-1) line with the search text, and
        scroll it to the middle; from the current match, else from the top of the view."""
        if not self.search_text:
            say(self, "press / to search first", "warning")
            return
        log_view = self.query_one(LogView)
        lines = log_view.lines
        if self.match_line is not None:
            start = self.match_line + step
        else:
            start = log_view.top_line() if step > 0 else log_view.bottom_line()
        found = find_line(lines, self.search_text, start, step) if lines else None
        if found is None:
            self._forget_match()
            say(self, f"{self.search_text!r} not found", "warning")
            return
        self.match_line = found
        column = lines[found].lower().find(self.search_text.lower())
        log_view.show_match(found, column, column + len(self.search_text))

    def action_wrap(self) -> None:
        log_view = self.query_one(LogView)
        log_view.set_wrap(not log_view.wrap)
        say(self, "long lines wrap" if log_view.wrap else "long lines are cut: left and right pan")

    def _forget_match(self) -> None:
        self.match_line = None
        self.query_one(LogView).forget_match()

    def _close_search(self) -> None:
        self.query_one("#search", Input).remove_class("shown")
        self.query_one(LogView).focus()

    def action_back(self) -> None:
        if self.query_one("#search", Input).has_class("shown"):
            self._close_search()
        else:
            self.dismiss()
