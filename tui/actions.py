"""What an operator does to the selected job or agent, each a key and a palette entry.

Destructive actions (cancel, delete, disable) ask first. Each action is one
FarmService call made through ``ActionsApp.call_controller``, which says how it went on
the message line; the table follows by itself when the change comes back as an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import grpc
from google.protobuf import field_mask_pb2
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label, TabbedContent

from renderq.tui.agent_screen import AgentScreen
from renderq.tui.agents_table import AgentsTable
from renderq.tui.farm_view import FarmView
from renderq.tui.feed import FarmFeed
from renderq.tui.job_screen import JobScreen
from renderq.tui.jobs_table import JobsTable
from renderq.tui.log_screen import LogScreen
from renderq.tui.message_line import plural, say
from renderq.tui.preview import PreviewScreen
from renderq.tui.submit_screen import SubmitScreen
from renderq.tui.text_screen import TextScreen
from renderq.tui.why import ask_why, why_text
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

Call = Callable[["FarmServiceAsyncStub"], Awaitable[object]]
"""One call to the controller, given the live stub; a ``str`` result is said as it is."""

PRIORITY = Binding.Group("Pri", compact=True)
"""``+`` and ``-`` share one footer entry."""


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; ``y``/``enter`` confirm, ``n``/``escape`` decline."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Grid {
        grid-size: 2; grid-gutter: 1 2; grid-rows: auto 3; padding: 1 2;
        width: 60; max-width: 100%; height: auto; border: thick $error; background: $surface;
    }
    ConfirmScreen Label { column-span: 2; width: 100%; }
    ConfirmScreen Button { width: 100%; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Grid():
            yield Label(self.question)
            yield Button("Yes (y)", variant="error", id="yes")
            yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ActionsApp(App[None]):
    """The job and agent actions of ``RenderqApp`` (which gives them its view, its feed and
    the tables), and the one way they call the controller (``call_controller``).

    Each acts on what is on screen: on the main screen the row selected on the tab shown
    (job keys on the Jobs tab, agent keys on the Farm tab), on a job's or an agent's own
    screen that job or agent. ``RenderqApp.check_action`` turns off the keys that have
    nothing to act on, so the footer shows only those that work.
    """

    ACTION_BINDINGS = [
        Binding(
            "l", "logs", "Log", tooltip="Follow the log of the selected job's running task", id="job.logs"
        ),
        Binding(
            "v",
            "preview",
            "Preview",
            show=False,
            tooltip="Show the job's latest rendered frame",
            id="job.preview",
        ),
        Binding("n", "submit", "New", tooltip="Submit a new job from a form", id="job.submit"),
        Binding(
            "p", "suspend_resume", "Pause", tooltip="Suspend the selected job, or resume it", id="job.pause"
        ),
        Binding("c", "cancel_job", "Cancel", tooltip="Cancel the selected job (asks first)", id="job.cancel"),
        Binding(
            "r", "retry_failed", "Retry", tooltip="Retry the selected job's failed frames", id="job.retry"
        ),
        Binding(
            "plus,equals_sign",
            "priority(10)",
            "Priority +10",
            id="job.priority-up",
            group=PRIORITY,
        ),
        Binding("minus", "priority(-10)", "Priority -10", id="job.priority-down", group=PRIORITY),
        Binding(
            "d,delete",
            "delete_job",
            "Del",
            tooltip="Delete the selected job (asks first)",
            id="job.delete",
        ),
        Binding("e", "agent_mode('enable')", "Enable", tooltip="Let the agent take work", id="agent.enable"),
        Binding(
            "x",
            "agent_mode('disable')",
            "Disable",
            tooltip="No new work for the agent (asks first)",
            id="agent.disable",
        ),
        Binding(
            "D",
            "agent_mode('drain')",
            "Drain",
            tooltip="The agent finishes its tasks, takes no new one",
            id="agent.drain",
        ),
    ]
    JOB_ACTIONS = frozenset(
        {"logs", "preview", "why", "suspend_resume", "cancel_job", "retry_failed", "priority", "delete_job"}
    )
    AGENT_ACTIONS = frozenset({"agent_mode"})

    view: FarmView
    """The farm as last heard; RenderqApp's."""
    feed: FarmFeed
    """The link to the controller; RenderqApp's."""

    @property
    def stub(self) -> FarmServiceAsyncStub | None:
        """The live stub while connected; None otherwise."""
        return self.feed.stub

    def live_stub(self) -> FarmServiceAsyncStub:
        """The live stub; ConnectionError, in words, while there is none."""
        if self.feed.stub is None:
            raise ConnectionError("not connected to the controller")
        return self.feed.stub

    @work(exclusive=False, group="controller-call")
    async def call_controller(
        self, what: str, call: Call, then: Callable[[Any], object] | None = None
    ) -> None:
        """Run one call to the controller in the background; say how it went, in words
        (``what`` says what was asked: "cancel job 3: done", or the controller's refusal;
        a call that returns a sentence has it said instead of "done"). With ``then``, a
        call that went well has its result handed to it instead, and nothing is said."""
        stub = self.stub
        if stub is None:
            say(self, f"{what}: not connected to the controller", "error")
            return
        try:
            result = await call(stub)
        except grpc.aio.AioRpcError as error:
            say(self, f"{what}: {error.details() or error.code().name}", "error")
            return
        except asyncio.CancelledError:
            # The feed closed the channel under the call (the controller went away).
            say(self, f"{what}: the connection to the controller was lost", "error")
            return
        if then is not None:
            then(result)
        else:
            say(self, result if isinstance(result, str) else f"{what}: done")

    @property
    def shown_screen(self) -> Screen[Any]:
        """The screen under any dialog: the one whose job or agent keys act on."""
        return next(s for s in reversed(self.screen_stack) if not s.is_modal)

    def on_main_screen(self) -> bool:
        return self.shown_screen is self.screen_stack[0]

    def shows(self, what: Literal["job", "agent"]) -> bool:
        """Whether a job or an agent is on screen for the keys to act on: on the main
        screen, on its tab; else on its own screen."""
        if self.on_main_screen():
            try:
                tab = self.query_one(TabbedContent).active
            except NoMatches:  # not composed yet, or closing
                return False
            return tab == ("jobs" if what == "job" else "farm")
        return isinstance(self.shown_screen, JobScreen if what == "job" else AgentScreen)

    def selected_job(self) -> pb.Job | None:
        """The job the keys act on (``shows("job")``), or None after saying there is none."""
        shown = self.shown_screen
        job_id: int | None = None
        if self.on_main_screen():
            job_id = self.query_one(JobsTable).selected_job_id
        elif isinstance(shown, JobScreen):
            job_id = shown.job_id
        job = self.view.jobs.get(job_id) if job_id is not None else None
        if job is None:
            say(self.screen, "no job selected" if job_id is None else f"job {job_id} is gone", "warning")
        return job

    def selected_agent_id(self) -> str | None:
        """The agent the keys act on (``shows("agent")``), or None after saying there is none."""
        shown = self.shown_screen
        agent_id: str | None = None
        if self.on_main_screen():
            agent_id = self.query_one(AgentsTable).selected_agent_id
        elif isinstance(shown, AgentScreen):
            agent_id = shown.agent_id
        if agent_id is None:
            say(self.screen, "no agent selected", "warning")
        return agent_id

    def _confirm_then(self, question: str, what: str, call: Call) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.call_controller(what, call)

        self.push_screen(ConfirmScreen(question), answered)

    def action_suspend_resume(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        if job.state == pb.JOB_STATE_SUSPENDED:
            self.call_controller(
                f"resume job {job.id}", lambda stub: stub.ResumeJob(fpb.ResumeJobRequest(job_id=job.id))
            )
        else:
            self.call_controller(
                f"suspend job {job.id}", lambda stub: stub.SuspendJob(fpb.SuspendJobRequest(job_id=job.id))
            )

    def action_cancel_job(self) -> None:
        job = self.selected_job()
        if job is not None:
            self._confirm_then(
                f"Cancel job {job.id} ({job.name or 'unnamed'})? Its running frames are killed.",
                f"cancel job {job.id}",
                lambda stub: stub.CancelJob(fpb.CancelJobRequest(job_id=job.id)),
            )

    def action_delete_job(self) -> None:
        job = self.selected_job()
        if job is not None:
            self._confirm_then(
                f"Delete job {job.id} ({job.name or 'unnamed'}) and all its records?",
                f"delete job {job.id}",
                lambda stub: stub.DeleteJob(fpb.DeleteJobRequest(job_id=job.id)),
            )

    def action_retry_failed(self) -> None:
        job = self.selected_job()
        if job is None:
            return

        async def retry(stub: FarmServiceAsyncStub) -> str:
            response = await stub.RetryFrames(fpb.RetryFramesRequest(job_id=job.id))
            return f"retried {plural(response.frames_retried, 'frame')} of job {job.id}"

        self.call_controller(f"retry the failed frames of job {job.id}", retry)

    def action_why(self) -> None:
        """Why the selected job is not running (on a job's screen, with the frame under the
        cursor), read in a text screen; a refusal is said on the message line."""
        job = self.selected_job()
        if job is None:
            return
        shown = self.shown_screen
        frame = shown.cursor_frame_number if isinstance(shown, JobScreen) else None
        title = f"why job {job.id} ({job.name or 'unnamed'}) is not running"

        async def ask(stub: FarmServiceAsyncStub) -> Text:
            return why_text(await ask_why(stub, job.id, frame), frame)

        self.call_controller(
            f"why job {job.id}", ask, then=lambda text: self.push_screen(TextScreen(title, text))
        )

    def action_priority(self, step: int) -> None:
        job = self.selected_job()
        if job is None:
            return
        priority = max(0, min(100, job.priority + step))
        request = fpb.UpdateJobRequest(
            job=pb.Job(id=job.id, priority=priority), update_mask=field_mask_pb2.FieldMask(paths=["priority"])
        )
        self.call_controller(
            f"set the priority of job {job.id} to {priority}", lambda stub: stub.UpdateJob(request)
        )

    def action_agent_mode(self, mode: str) -> None:
        agent_id = self.selected_agent_id()
        if agent_id is None:
            return
        calls: dict[str, Call] = {
            "enable": lambda stub: stub.EnableAgent(fpb.EnableAgentRequest(agent_id=agent_id)),
            "disable": lambda stub: stub.DisableAgent(fpb.DisableAgentRequest(agent_id=agent_id)),
            "drain": lambda stub: stub.DrainAgent(fpb.DrainAgentRequest(agent_id=agent_id)),
        }
        what = f"{mode} agent {agent_id}"
        if mode == "disable":
            self._confirm_then(
                f"Disable agent {agent_id}? It gets no new work until enabled.", what, calls[mode]
            )
        else:
            self.call_controller(what, calls[mode])

    def open_job(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.push_screen(JobScreen(job.id))

    def open_agent(self) -> None:
        agent_id = self.selected_agent_id()
        if agent_id is not None:
            self.push_screen(AgentScreen(agent_id))

    def action_logs(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.push_screen(LogScreen(job.id))

    def action_preview(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.push_screen(PreviewScreen(job.id))

    def action_submit(self) -> None:
        def submitted(job_id: int | None) -> None:
            if job_id is not None:
                say(self.screen, f"submitted job {job_id}")

        self.push_screen(SubmitScreen(), submitted)
