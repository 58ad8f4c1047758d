"""What an operator does to the selected job or agent, each a key and a palette entry.

Destructive actions (cancel, delete, disable) ask first. Each action is one
FarmService call made through ``RenderqApp.farm_call``; the table follows by itself
when the change comes back as an event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf import field_mask_pb2
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import ModalScreen
from textual.widgets import Button, Label, TabbedContent

from renderq.tui.agents_table import AgentsTable
from renderq.tui.job_screen import JobScreen
from renderq.tui.jobs_table import JobsTable
from renderq.tui.log_screen import LogScreen
from renderq.tui.preview import PreviewScreen
from renderq.tui.submit_screen import SubmitScreen
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

    Call = Callable[[FarmServiceAsyncStub], Awaitable[object]]


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
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
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


class ActionsMixin:
    """The job and agent actions of ``RenderqApp`` (it provides ``farm_call`` and the tables)."""

    ACTION_BINDINGS = [
        Binding("enter", "open_job", "Open", tooltip="Show the selected job's frames"),
        Binding("l", "logs", "Logs", tooltip="Follow the log of the selected job's running task"),
        Binding("v", "preview", "Preview", show=False, tooltip="Show the job's latest rendered frame"),
        Binding("n", "submit", "Submit", tooltip="Submit a new job from a form"),
        Binding("p", "suspend_resume", "Pause", tooltip="Suspend the selected job, or resume it"),
        Binding("c", "cancel_job", "Cancel", show=False, tooltip="Cancel the selected job (asks first)"),
        Binding("r", "retry_failed", "Retry", show=False, tooltip="Retry the selected job's failed frames"),
        Binding("plus,equals_sign", "priority(10)", "Priority +10", show=False),
        Binding("minus", "priority(-10)", "Priority -10", show=False),
        Binding("delete,d", "delete_job", "Delete", show=False, tooltip="Delete the selected job (asks)"),
        Binding("e", "agent_mode('enable')", "Enable agent", show=False),
        Binding("x", "agent_mode('disable')", "Disable agent", show=False, tooltip="Asks first"),
        Binding("D", "agent_mode('drain')", "Drain agent", show=False),
    ]

    # Provided by RenderqApp.
    view: Any
    farm_call: Any
    push_screen: Any
    notify: Any
    query_one: Any

    def selected_job(self) -> pb.Job | None:
        job_id = self.query_one(JobsTable).selected_job_id
        job = self.view.jobs.get(job_id) if job_id is not None else None
        if job is None:
            self.notify("no job selected", severity="warning")
        return job  # type: ignore[no-any-return]

    def _confirm_then(self, question: str, what: str, call: Call) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.farm_call(what, call)

        self.push_screen(ConfirmScreen(question), answered)

    def action_suspend_resume(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        if job.state == pb.JOB_STATE_SUSPENDED:
            self.farm_call(
                f"resume job {job.id}", lambda farm: farm.ResumeJob(fpb.ResumeJobRequest(job_id=job.id))
            )
        else:
            self.farm_call(
                f"suspend job {job.id}", lambda farm: farm.SuspendJob(fpb.SuspendJobRequest(job_id=job.id))
            )

    def action_cancel_job(self) -> None:
        job = self.selected_job()
        if job is not None:
            self._confirm_then(
                f"Cancel job {job.id} ({job.name or 'unnamed'})? Its running frames are killed.",
                f"cancel job {job.id}",
                lambda farm: farm.CancelJob(fpb.CancelJobRequest(job_id=job.id)),
            )

    def action_delete_job(self) -> None:
        job = self.selected_job()
        if job is not None:
            self._confirm_then(
                f"Delete job {job.id} ({job.name or 'unnamed'}) and all its records?",
                f"delete job {job.id}",
                lambda farm: farm.DeleteJob(fpb.DeleteJobRequest(job_id=job.id)),
            )

    def action_retry_failed(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.farm_call(
                f"retry the failed frames of job {job.id}",
                lambda farm: farm.RetryFrames(fpb.RetryFramesRequest(job_id=job.id)),
            )

    def action_priority(self, step: int) -> None:
        job = self.selected_job()
        if job is None:
            return
        priority = max(0, min(100, job.priority + step))
        request = fpb.UpdateJobRequest(
            job=pb.Job(id=job.id, priority=priority), update_mask=field_mask_pb2.FieldMask(paths=["priority"])
        )
        self.farm_call(
            f"set the priority of job {job.id} to {priority}", lambda farm: farm.UpdateJob(request)
        )

    def action_agent_mode(self, mode: str) -> None:
        self.query_one(TabbedContent).active = "farm"
        agent_id = self.query_one(AgentsTable).selected_agent_id
        if agent_id is None:
            self.notify("no agent selected", severity="warning")
            return
        calls: dict[str, Call] = {
            "enable": lambda farm: farm.EnableAgent(fpb.EnableAgentRequest(agent_id=agent_id)),
            "disable": lambda farm: farm.DisableAgent(fpb.DisableAgentRequest(agent_id=agent_id)),
            "drain": lambda farm: farm.DrainAgent(fpb.DrainAgentRequest(agent_id=agent_id)),
        }
        what = f"{mode} agent {agent_id}"
        if mode == "disable":
            self._confirm_then(
                f"Disable agent {agent_id}? It gets no new work until enabled.", what, calls[mode]
            )
        else:
            self.farm_call(what, calls[mode])

    def action_open_job(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.push_screen(JobScreen(job.id))

    def action_logs(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.push_screen(LogScreen(job.id))

    def action_preview(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.push_screen(PreviewScreen(job.id))

    def action_submit(self) -> None:
        self.push_screen(SubmitScreen())
