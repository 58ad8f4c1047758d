"""One agent up close: its hardware, where it belongs, what it runs and what failed on it.

The agent itself comes live from the farm view. Its running tasks and recent failures
are not in the Agent message: they are looked up (``ListTasks`` of the running jobs,
``ListFrames`` of the failed frames of recent jobs) when the screen opens and again
whenever the agent's running tasks change, in a worker. Failures are those the
controller still lists as failed; a frame that failed here and then rendered elsewhere
is not one any more.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

import grpc
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Static

from renderq.client.paging import pages
from renderq.client.units import format_size, format_time, progress_bar
from renderq.frame_range import format_frames
from renderq.states import TASK_ACTIVE
from renderq.tui.agents_table import agent_state, memory_text
from renderq.tui.app_typed import RenderqAppMixin
from renderq.tui.farm_view import Changes
from renderq.tui.message_line import MessageLine
from renderq.tui.messages import FarmChanged
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

RECENT_JOBS = 20
"""The newest jobs with failed frames whose failures are looked through."""
RECENT_FAILURES = 10
PAGE = 1000
FailedJobs = tuple[tuple[int, int], ...]


def facts(agent: pb.Agent) -> Table:
    """Label and value, one fact a row; long values wrap in their column."""
    hw, load = agent.hardware, agent.load
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(ratio=1)
    gpus = [f"{g.index}: {g.model}, {format_size(g.memory_bytes)}" for g in hw.gpus]
    rows: list[tuple[str, str | Text]] = [
        ("state", agent_state(agent)),
        ("host", f"{hw.hostname or '-'}  {agent.address}  {hw.os} {hw.arch}".rstrip()),
        ("hardware", f"{hw.cpu_cores} cores, {format_size(hw.ram_bytes)} RAM"),
        ("GPUs", "; ".join(gpus) or "none"),
        ("renderers", ", ".join(f"{r.name} {r.version}".strip() for r in hw.renderers) or "none found"),
        ("load", f"CPU {load.cpu_percent:.0f}%, RAM {memory_text(agent)}, load {load.load_average:.2f}"),
        ("slots", f"{agent.slots_used} of {agent.slots} in use"),
        ("pool", agent.pool or "-"),
        ("tags", ", ".join(agent.tags) or "-"),
        ("cost", f"{agent.cost_per_hour:.2f} per hour" if agent.cost_per_hour else "-"),
        ("plugins", ", ".join(agent.allowed_plugins) or "all"),
        ("version", agent.version or "-"),
        ("last seen", format_time(agent.last_seen_time)),
    ]  # fmt: skip
    if agent.problem:
        rows.insert(1, ("problem", Text(agent.problem, style="bold red")))
    for label, value in rows:
        table.add_row(label, value)
    return table


def task_lines(agent: pb.Agent, tasks: list[pb.Task], jobs: dict[int, pb.Job]) -> RenderableType:
    if not agent.running_task_ids:
        return Text("none", style="dim")
    found = {task.id: task for task in tasks}
    lines = []
    for task_id in agent.running_task_ids:
        task = found.get(task_id)
        if task is None:
            lines.append(Text(f"task {task_id}"))
            continue
        job = jobs.get(task.job_id)
        name = f" {job.name}" if job is not None and job.name else ""
        lines.append(
            Text(
                f"task {task.id}  job {task.job_id}{name}  frames {format_frames(list(task.frames))}  "
                f"{progress_bar(task.progress, 6)}"
            )
        )
    return Group(*lines)


def failure_lines(failures: list[pb.Frame]) -> RenderableType:
    if not failures:
        return Text("none", style="dim")
    lines = []
    for frame in failures:
        error = frame.error_message.strip().split("\n", 1)[0] or f"exit {frame.exit_code}"
        lines.append(
            Text.assemble(
                f"job {frame.job_id} frame {frame.number}  {format_time(frame.end_time)}  ",
                (error, "red"),
            )
        )
    return Group(*lines)


class AgentScreen(RenderqAppMixin, Screen[None]):
    """The app's agent keys (enable, disable, drain) act on this screen's agent."""

    DEFAULT_CSS = """
    AgentScreen #agent-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    AgentScreen VerticalScroll { height: 1fr; padding: 0 1; }
    AgentScreen .section { text-style: bold; color: $accent; margin-top: 1; }
    """
    BINDINGS = [Binding("escape,q", "back", "Back", tooltip="Back to the farm", id="agent-screen.back")]

    def __init__(self, agent_id: str) -> None:
        super().__init__()
        self.agent_id = agent_id
        self.tasks: list[pb.Task] = []
        self.failures: list[pb.Frame] | None = None
        """None until looked up."""
        self.tasks_for: tuple[int, ...] | None = None
        """The running tasks the last look-up was for."""
        self.failures_for: FailedJobs | None = None
        """The jobs with failed frames (and how many) the last look-up was for."""
        self.note = "looking up its tasks and failures…"

    def compose(self) -> ComposeResult:
        yield Static(f"agent {self.agent_id}", id="agent-title", markup=False)
        with VerticalScroll():
            yield Static(id="agent-facts")
            yield Static("Running tasks", classes="section")
            yield Static(id="agent-tasks")
            yield Static("Recent failures", classes="section")
            yield Static(id="agent-failures")
        yield MessageLine(id="message")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self._show_agent(Changes(everything=True))

    def on_farm_changed(self, message: FarmChanged) -> None:
        with contextlib.suppress(NoMatches):  # a screen being closed has lost its widgets
            self._show_agent(message.changes)

    def _show_agent(self, changes: Changes) -> None:
        """The facts follow the agent's events; its tasks and failures are looked up again
        when its running tasks change, or the failed frames of the recent jobs do."""
        view = self.renderq_app.view
        agent = view.agents.get(self.agent_id)
        if agent is None:
            self.query_one("#agent-facts", Static).update(
                Text("this agent is not in the farm's listing", "yellow")
            )
            return
        if changes.everything or self.agent_id in changes.agents:
            self.query_one("#agent-facts", Static).update(facts(agent))
        tasks_for = tuple(agent.running_task_ids)
        failures_for = self.failures_for
        if changes.everything or changes.jobs or failures_for is None:
            failures_for = failed_jobs(view.jobs.values())
        if (tasks_for, failures_for) != (self.tasks_for, self.failures_for):
            self.tasks_for, self.failures_for = tasks_for, failures_for
            self._look_up(agent, failures_for)
        self._show_lists(agent)

    def _show_lists(self, agent: pb.Agent) -> None:
        note = Text(self.note, style="dim") if self.note else None
        tasks = task_lines(agent, self.tasks, self.renderq_app.view.jobs)
        self.query_one("#agent-tasks", Static).update(Group(tasks, note) if note else tasks)
        failures = failure_lines(self.failures) if self.failures is not None else Text("…", style="dim")
        self.query_one("#agent-failures", Static).update(failures)

    @work(exclusive=True, group="agent")
    async def _look_up(self, agent: pb.Agent, failed: FailedJobs) -> None:
        app = self.renderq_app
        stub = app.stub
        try:
            if stub is None:
                self.note = "not connected to the controller"
            else:
                self.tasks = await running_tasks(stub, agent, list(app.view.jobs.values()))
                self.failures = await recent_failures(stub, agent.id, [job_id for job_id, _ in failed])
                self.note = ""
        except grpc.aio.AioRpcError as error:
            self.note = f"cannot look up its tasks: {app.explain(error).message}"
            self.tasks_for = self.failures_for = None  # look up again on the next change
        self._show_lists(app.view.agents.get(self.agent_id, agent))

    def action_back(self) -> None:
        self.dismiss()


async def running_tasks(stub: FarmServiceAsyncStub, agent: pb.Agent, jobs: list[pb.Job]) -> list[pb.Task]:
    """The agent's running tasks, from the running jobs' active tasks (newest job first,
    until every one is found)."""
    wanted = set(agent.running_task_ids)
    found: list[pb.Task] = []
    for job in sorted(jobs, key=lambda j: -j.id):
        if len(found) == len(wanted):
            break
        if job.state != pb.JOB_STATE_RUNNING:
            continue
        async for page in active_tasks(stub, job.id):
            found += [task for task in page.tasks if task.id in wanted]
            if len(found) == len(wanted):
                break
    return found


def active_tasks(stub: FarmServiceAsyncStub, job_id: int) -> AsyncIterator[fpb.ListTasksResponse]:
    """The job's tasks dispatched and not yet ended, page by page."""
    return pages(
        lambda token: stub.ListTasks(
            fpb.ListTasksRequest(job_id=job_id, page_size=PAGE, page_token=token, states=TASK_ACTIVE)
        )
    )


def failed_jobs(jobs: Iterable[pb.Job]) -> FailedJobs:
    """(id, failed frames) of the newest jobs with failed frames: where failures are looked
    for, and, when it changes, a sign that there may be new ones."""
    with_failures = sorted(((j.id, j.frames_failed) for j in jobs if j.frames_failed), reverse=True)
    return tuple(with_failures[:RECENT_JOBS])


async def recent_failures(stub: FarmServiceAsyncStub, agent_id: str, job_ids: list[int]) -> list[pb.Frame]:
    """The failed frames of these jobs that last ran on the agent, newest first. One page
    of each job's failed frames (``PAGE``): a failure storm of a large job is not worth
    reading whole for the newest ten."""
    failures: list[pb.Frame] = []
    for job_id in job_ids:
        request = fpb.ListFramesRequest(job_id=job_id, page_size=PAGE, states=[pb.FRAME_STATE_FAILED])
        failures += [f for f in (await stub.ListFrames(request)).frames if f.agent_id == agent_id]
    failures.sort(key=lambda f: f.end_time.ToNanoseconds(), reverse=True)
    return failures[:RECENT_FAILURES]
