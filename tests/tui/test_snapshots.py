"""Pictures of the main screens at 80x24 and 160x48, compared with the accepted ones.

The app talks to a fixed in-process FarmService (canned jobs and agents with fixed ids,
names and times, a watch that stays open and quiet) served on a unix socket named
relative to the test's own directory, so the address on the status line is the same
on every run; the clocks the view reads are frozen. One test takes no picture: what a
question the canned farm refuses says. Update the pictures with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at them before
committing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from textual.containers import VerticalScroll
from textual.widgets import Input

from renderq.client.credentials import Credentials
from renderq.tui import farm_view, submit_fields
from renderq.tui.agent_screen import AgentScreen
from renderq.tui.app import RenderqApp
from renderq.tui.blocked_table import BlockedTable
from renderq.tui.feed import FeedStatus
from renderq.tui.frames_table import FramesTable
from renderq.tui.job_screen import JobScreen
from renderq.tui.jobs_table import JobsTable
from renderq.tui.log_screen import ENDED, LogScreen
from renderq.tui.message_line import MessageLine
from renderq.tui.messages import FeedStatusChanged
from renderq.tui.submit_screen import SubmitScreen
from renderq.tui.text_screen import TextScreen
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc
from renderq.v1 import resources_pb2 as pb

from .conftest import DEADLINE, app_of, running, until

if TYPE_CHECKING:
    from textual.pilot import Pilot

NOW = 1_780_000_000.0
"""The frozen wall clock: 2026-05-28 20:26:40 UTC."""
SOCKET = "unix:farm.sock"
"""Relative to the test's directory (the tests chdir there): the same text on every run."""
GiB = 1024**3


def at(seconds_ago: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int((NOW - seconds_ago) * 1e9))
    return stamp


def canned_jobs() -> list[pb.Job]:
    def job(
        id: int, name: str, owner: str, state: pb.JobState, done: int, count: int, **fields: Any
    ) -> pb.Job:
        return pb.Job(
            id=id,
            name=name,
            owner=owner,
            plugin="blender",
            frames=f"1-{count}",
            state=state,
            frames_completed=done,
            frame_count=count,
            progress=done / count,
            create_time=at(7200 - id),
            **fields,
        )

    return [
        job(101, "shot010_lighting", "ana", pb.JOB_STATE_COMPLETED, 250, 250, priority=50),
        job(102, "shot020_fx_smoke", "bruno", pb.JOB_STATE_FAILED, 37, 120, priority=70, frames_failed=3),
        job(
            103, "shot030_comp", "ana", pb.JOB_STATE_RUNNING, 84, 200, priority=60, start_time=at(1260),
            frames_running=4, pool="comp",
        ),
        job(
            104, "shot040_layout_preview", "chen", pb.JOB_STATE_RUNNING, 5, 48, priority=50,
            start_time=at(90), blocked_agents=[BLOCKED],
        ),
        job(105, "shot050_hair_sim", "dora", pb.JOB_STATE_SUSPENDED, 12, 100, priority=40),
        job(106, "shot060_final", "bruno", pb.JOB_STATE_QUEUED, 0, 500, priority=90),
        job(107, "turntable_test", "ana", pb.JOB_STATE_CANCELLED, 3, 24, priority=10),
        job(108, "shot020_fx_render", "bruno", pb.JOB_STATE_BLOCKED, 0, 120, priority=70, depends_on=[102],
            state_reason="job 102 failed"),
    ]  # fmt: skip


BLOCKED_REASON = (
    "blocked after 3 failures: blender exited with code 139 (segmentation fault) while loading "
    "'/projects/shot040/layout.blend'"
)
BLOCKED = pb.BlockedAgent(agent_id="render-03", failures=3, reason=BLOCKED_REASON)
SMOKE_ERROR = (
    "blender exited with code 1 after 41.2 s: Error: Cannot read file "
    "'/projects/shot020/cache/smoke_0017.vdb': No such file or directory\n"
    'Traceback (most recent call last):\n  File "fx/load_cache.py", line 88, in load\n'
    "OSError: the smoke cache for frame 17 is missing; bake the simulation again"
)
LONG_LINE = (
    "Fra:17 Mem:2104.51M (Peak 2398.02M) | Time:00:41.20 | Syncing smoke_domain " + "x" * 120 + " | end"
)


def canned_frames() -> list[pb.Frame]:
    """Frames 15 to 20 of job 102: rendered, failed with a long error, rendering, pending;
    frames 5 to 8 of job 104: rendered, rendering, pending."""

    def frame(number: int, state: pb.FrameState, job_id: int = 102, **fields: Any) -> pb.Frame:
        task_id = {102: 4000, 104: 5000}[job_id] + number
        return pb.Frame(job_id=job_id, number=number, state=state, task_id=task_id, **fields)

    return [
        frame(15, pb.FRAME_STATE_COMPLETED, agent_id="render-01", attempt_count=1, peak_rss_bytes=2 * GiB,
              render_time=duration_pb2.Duration(seconds=38)),
        frame(16, pb.FRAME_STATE_COMPLETED, agent_id="render-02", attempt_count=1, peak_rss_bytes=2 * GiB,
              render_time=duration_pb2.Duration(seconds=40)),
        frame(17, pb.FRAME_STATE_FAILED, agent_id="render-01", attempt_count=4, failure_count=4, exit_code=1,
              error_message=SMOKE_ERROR, end_time=at(300)),
        frame(18, pb.FRAME_STATE_RENDERING, agent_id="render-02", attempt_count=1),
        frame(19, pb.FRAME_STATE_PENDING),
        frame(20, pb.FRAME_STATE_PENDING),
        frame(5, pb.FRAME_STATE_COMPLETED, 104, agent_id="render-02", attempt_count=1,
              render_time=duration_pb2.Duration(seconds=12)),
        frame(6, pb.FRAME_STATE_RENDERING, 104, agent_id="render-02", attempt_count=1),
        frame(7, pb.FRAME_STATE_PENDING, 104),
        frame(8, pb.FRAME_STATE_PENDING, 104),
    ]  # fmt: skip


def canned_tasks() -> list[pb.Task]:
    return [
        pb.Task(id=3301, job_id=103, frames=[85, 86], state=pb.TASK_STATE_RUNNING, agent_id="render-01",
                progress=0.4, attempt_id=9001, attempt_ids=[9001]),
        pb.Task(id=3302, job_id=103, frames=[87, 88], state=pb.TASK_STATE_RUNNING, agent_id="render-01",
                progress=0.1, attempt_id=9002, attempt_ids=[9002]),
        pb.Task(id=4017, job_id=102, frames=[17], state=pb.TASK_STATE_FAILED, agent_id="render-01",
                attempt_id=9017, attempt_ids=[9014, 9015, 9016, 9017]),
    ]  # fmt: skip


def canned_agents() -> list[pb.Agent]:
    def agent(
        id: str,
        status: pb.AgentStatus,
        mode: pb.AgentMode,
        cores: int,
        ram: int,
        used: int,
        cpu: float,
        **f: Any,
    ) -> pb.Agent:
        return pb.Agent(
            id=id,
            address=f"10.0.0.{len(id)}:7421",
            status=status,
            mode=mode,
            hardware=pb.Hardware(hostname=id, cpu_cores=cores, ram_bytes=ram * GiB, os="Linux"),
            load=pb.Load(cpu_percent=cpu, ram_used_bytes=used * GiB),
            last_seen_time=at(1),
            **f,
        )

    agents = [
        agent("render-01", pb.AGENT_STATUS_ONLINE, pb.AGENT_MODE_ENABLED, 32, 128, 61, 97.0,
              slots=2, slots_used=2, running_task_ids=[3301, 3302], pool="comp", tags=["ssd"],
              cost_per_hour=0.85, version="0.9.0"),
        agent("render-02", pb.AGENT_STATUS_ONLINE, pb.AGENT_MODE_DRAINING, 16, 64, 20, 48.0,
              slots=1, slots_used=1, running_task_ids=[3405]),
        agent("gpu-01", pb.AGENT_STATUS_ONLINE, pb.AGENT_MODE_ENABLED, 24, 96, 12, 12.0,
              slots=1, slots_used=0, pool="gpu", tags=["gpu", "cuda"], cost_per_hour=2.4),
        agent("render-03", pb.AGENT_STATUS_OFFLINE, pb.AGENT_MODE_DISABLED, 8, 32, 0, 0.0, slots=1),
    ]  # fmt: skip
    agents[2].hardware.gpus.append(pb.Gpu(index=0, model="RTX 4090", memory_bytes=24 * GiB))
    return agents


class CannedFarm(farm_service_pb2_grpc.FarmServiceServicer):
    """Answers what the main screens ask, always the same; the watch stays open and quiet."""

    def __init__(self) -> None:
        self.jobs = canned_jobs()
        self.agents = canned_agents()

    def GetCaller(self, request: fpb.GetCallerRequest, context: Any) -> fpb.GetCallerResponse:
        return fpb.GetCallerResponse(name="ops", token_id="0000", role=pb.ROLE_ADMIN)

    def ListJobs(self, request: fpb.ListJobsRequest, context: Any) -> fpb.ListJobsResponse:
        return fpb.ListJobsResponse(jobs=self.jobs, event_sequence=42)

    def ListAgents(self, request: fpb.ListAgentsRequest, context: Any) -> fpb.ListAgentsResponse:
        return fpb.ListAgentsResponse(agents=self.agents, event_sequence=42)

    def WatchEventBatches(
        self, request: fpb.WatchEventBatchesRequest, context: Any
    ) -> Iterator[fpb.WatchEventBatchesResponse]:
        """Three frames of job 103 rendered in 30 s each (enough for its ETA), then quiet."""
        done = [
            fpb.WatchEventsResponse(
                sequence=43 + i,
                change=fpb.CHANGE_TYPE_UPSERTED,
                frame=pb.Frame(
                    job_id=103,
                    number=81 + i,
                    state=pb.FRAME_STATE_COMPLETED,
                    render_time=duration_pb2.Duration(seconds=30),
                ),
            )
            for i in range(3)
        ]
        yield fpb.WatchEventBatchesResponse(events=done)
        quiet(context)

    def WatchEvents(self, request: fpb.WatchEventsRequest, context: Any) -> Iterator[fpb.WatchEventsResponse]:
        quiet(context)
        yield from ()

    def ListPlugins(self, request: fpb.ListPluginsRequest, context: Any) -> fpb.ListPluginsResponse:
        def plugin(
            name: str, about: str, parameter: str, kind: fpb.ParameterType, renderer: str = ""
        ) -> fpb.Plugin:
            needs = fpb.PluginParameter(name=parameter, type=kind, required=True, help=f"the {parameter}")
            return fpb.Plugin(name=name, description=about, parameters=[needs], renderer=renderer)

        return fpb.ListPluginsResponse(
            plugins=[
                plugin("blender", "Blender scenes", "scene", fpb.PARAMETER_TYPE_PATH, "blender"),
                plugin("command", "Any command, once per frame", "argv", fpb.PARAMETER_TYPE_STRING_LIST),
            ]
        )

    def ListFrames(self, request: fpb.ListFramesRequest, context: Any) -> fpb.ListFramesResponse:
        frames = [f for f in canned_frames() if f.job_id == request.job_id]
        frames = [f for f in frames if not request.states or f.state in request.states]
        return fpb.ListFramesResponse(frames=frames, event_sequence=45)

    def ListTasks(self, request: fpb.ListTasksRequest, context: Any) -> fpb.ListTasksResponse:
        tasks = [t for t in canned_tasks() if t.job_id == request.job_id]
        return fpb.ListTasksResponse(
            tasks=[t for t in tasks if not request.states or t.state in request.states]
        )

    def ExplainJob(self, request: fpb.ExplainJobRequest, context: Any) -> fpb.ExplainJobResponse:
        """Job 106 waits for a limit (gpu-01 could take a task if it were free); any other
        job was deleted meanwhile."""
        if request.job_id != 106:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} was deleted")
        verdicts = [
            ("gpu-01", ""),
            ("render-01", "no free slot (2 of 2 in use)"),
            ("render-02", "draining"),
            ("render-03", "offline since 2026-05-28 18:02"),
        ]
        return fpb.ExplainJobResponse(
            reasons=["limit nuke 4/4 held by jobs 103, 104"],
            agents=[fpb.AgentVerdict(agent_id=a, reason=why) for a, why in verdicts],
        )

    def TailLog(self, request: fpb.TailLogRequest, context: Any) -> Iterator[fpb.TailLogResponse]:
        text = (
            "".join(f"Fra:17 line {n}\n" for n in range(1, 4))
            + LONG_LINE
            + "\nsaved nothing: the cache is missing\n"
        )
        yield fpb.TailLogResponse(attempt_id=request.attempt_id, offset=0, data=text.encode())


def quiet(context: Any) -> None:
    """Keep a stream open, sending nothing, until the app hangs up or the server stops."""
    ended = threading.Event()
    context.add_callback(ended.set)
    ended.wait()


@contextmanager
def canned_server(address: str) -> Iterator[None]:
    """The canned FarmService in this process, on gRPC's own threads.

    Not a ``grpc.aio`` server on a second event loop in another thread: next to the loop
    ``App.run`` makes for each picture, that one sometimes stopped early and then hung in
    ``stop()``.
    """
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="canned-farm"))
    farm_service_pb2_grpc.add_FarmServiceServicer_to_server(CannedFarm(), server)  # type: ignore[abstract]
    if not server.add_insecure_port(address):
        raise AssertionError(f"the canned FarmService could not listen on {address}")
    server.start()
    try:
        yield
    finally:
        server.stop(None).wait(DEADLINE)


class FrozenClock:
    """What ``farm_view`` reads for ETAs and the frame rate, stopped."""

    @staticmethod
    def time() -> float:
        return NOW

    @staticmethod
    def monotonic() -> float:
        return 1000.0


@pytest.fixture
def canned_farm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(farm_view, "time", FrozenClock)
    with canned_server(SOCKET):
        yield SOCKET


def make_app(address: str) -> RenderqApp:
    async def resolve() -> str:
        return address

    return RenderqApp(resolve, Credentials(token="snapshot-token"))


async def loaded(pilot: Pilot[Any]) -> None:
    """Wait until everything the canned farm holds is on screen."""
    app = app_of(pilot)
    await until("the app connected to the canned farm", lambda: app.status.connected, pilot)
    await until("8 job rows", lambda: app.query_one(JobsTable).row_count == 8, pilot)
    table = app.query_one(JobsTable)
    await until("job 103's ETA on its row", lambda: str(table.get_cell("103", "eta")) != "-", pilot)
    # The Farm tab's table fills when it is first shown (a hidden one has no width yet).
    await until("4 agents listed", lambda: len(app.view.agents) == 4, pilot)
    app._refresh_status()


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
Compare = Callable[..., bool]


@pytest.mark.parametrize("size", SIZES)
def test_jobs_tab(snap_compare: Compare, canned_farm: str, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(canned_farm), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", SIZES)
def test_farm_tab(snap_compare: Compare, canned_farm: str, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(canned_farm), press=["2"], terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", SIZES)
def test_confirm_dialog(snap_compare: Compare, canned_farm: str, size: tuple[int, int]) -> None:
    """``c`` on the selected (newest) job asks before cancelling it."""
    assert snap_compare(make_app(canned_farm), press=["c"], terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare: Compare, canned_farm: str, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(canned_farm), press=["question_mark"], terminal_size=size, run_before=loaded)


def test_job_screen_shows_the_whole_error_of_the_frame_under_the_cursor(
    snap_compare: Compare, canned_farm: str
) -> None:
    """Job 102 at 80x24, the cursor on frame 17, which failed: its error wraps in full under
    the frames (its column has room for a start only)."""

    async def frame_17(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.app.push_screen(JobScreen(102))
        screen = pilot.app.screen
        assert isinstance(screen, JobScreen)
        table = screen.query_one(FramesTable)
        await until("the frames of job 102", lambda: len(table.numbers) == 6, pilot)
        await pilot.press("j", "j")
        await until(
            "frame 17 under the cursor", lambda: table.cursor_frame and table.cursor_frame.number == 17, pilot
        )

    assert snap_compare(make_app(canned_farm), terminal_size=(80, 24), run_before=frame_17)


def test_job_screen_shows_the_agents_the_job_blocked(snap_compare: Compare, canned_farm: str) -> None:
    """Job 104 at 80x24: render-03, blocked after 3 failures, under the summary, its reason
    wrapped in its column."""

    async def blocked(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.app.push_screen(JobScreen(104))
        screen = pilot.app.screen
        assert isinstance(screen, JobScreen)
        table = screen.query_one(FramesTable)
        await until("the frames of job 104", lambda: len(table.numbers) == 4, pilot)
        agents = screen.query_one(BlockedTable)
        await until("render-03 blocked", lambda: agents.row_count == 1, pilot)

    assert snap_compare(make_app(canned_farm), terminal_size=(80, 24), run_before=blocked)


def test_why_a_job_waits(snap_compare: Compare, canned_farm: str) -> None:
    """``w`` on job 106 at 80x24: the limit it waits for, then each agent's reason (none for
    gpu-01: it could take a task now)."""

    async def why(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("j", "j")
        table = app_of(pilot).query_one(JobsTable)
        await until("job 106 selected", lambda: table.selected_job_id == 106, pilot)
        await pilot.press("w")
        await until("the answer", lambda: isinstance(pilot.app.screen, TextScreen), pilot)

    assert snap_compare(make_app(canned_farm), terminal_size=(80, 24), run_before=why)


async def test_a_why_the_controller_refuses_is_said_on_the_message_line(canned_farm: str) -> None:
    """No picture: ``w`` on job 108, which the canned farm says was deleted."""
    app = make_app(canned_farm)
    async with running(app) as pilot:
        await loaded(pilot)
        assert app.query_one(JobsTable).selected_job_id == 108
        await pilot.press("w")
        line = app.query_one(MessageLine)
        await until("the refusal said", lambda: line.text, pilot)
        assert (line.text, line.severity) == ("why job 108: job 108 was deleted", "error")
        assert app.screen is app.screen_stack[0], "no answer to read"


def test_agent_screen(snap_compare: Compare, canned_farm: str) -> None:
    """Enter on render-01 on the Farm tab: its hardware, pool, tags, cost, tasks and failures."""

    async def details(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("2", "j", "enter")
        await until("the agent screen", lambda: isinstance(pilot.app.screen, AgentScreen), pilot)
        screen = pilot.app.screen
        assert isinstance(screen, AgentScreen)
        await until("its tasks and failures looked up", lambda: screen.failures and not screen.note, pilot)

    assert snap_compare(make_app(canned_farm), terminal_size=(80, 24), run_before=details)


def test_log_screen_wraps_long_lines(snap_compare: Compare, canned_farm: str) -> None:
    async def log(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.app.push_screen(LogScreen(102, frame=17))
        screen = pilot.app.screen
        assert isinstance(screen, LogScreen)
        await until("the log read to its end", lambda: screen.state == ENDED, pilot)

    assert snap_compare(make_app(canned_farm), terminal_size=(80, 24), run_before=log)


def test_a_lost_controller_is_said_in_full_at_80_columns(snap_compare: Compare, canned_farm: str) -> None:
    async def lost(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        app = app_of(pilot)
        for worker in app.workers:
            if worker.name == "feed":
                worker.cancel()
        problem = (
            "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:10.0.0.5:7420: "
            "Connection refused (UNAVAILABLE)"
        )
        app.post_message(FeedStatusChanged(FeedStatus(False, "10.0.0.5:7420", problem)))
        await pilot.pause()

    assert snap_compare(make_app(canned_farm), terminal_size=(80, 24), run_before=lost)


def test_submit_form(snap_compare: Compare, canned_farm: str) -> None:
    """``n``, then ``b`` on the closed plugin list: blender's scene, the box for paths that
    exist only on the render nodes, and empty fields that say their default."""

    async def form(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("n")
        await until("the form", lambda: isinstance(pilot.app.screen, SubmitScreen), pilot)
        screen = pilot.app.screen
        assert isinstance(screen, SubmitScreen)
        await until("the plugins", lambda: screen.plugins, pilot)
        await pilot.press("b")
        await until("blender's fields", lambda: screen.query("#paths-on-nodes"), pilot)

    assert snap_compare(make_app(canned_farm), terminal_size=(80, 24), run_before=form)


def test_submit_form_says_frame_by_frame_needs_dependencies(
    snap_compare: Compare, canned_farm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctrl+s with frame by frame ticked and no job to depend on, the form scrolled to its
    end: the error under the box, scrolled into view and said on the top line; under it
    the pool, the limits, the owner (the same on every machine) and the reservation per
    task, empty ones saying their default."""
    monkeypatch.setattr(submit_fields, "login_name", lambda: "ana")

    async def refused(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("n")
        await until("the form", lambda: isinstance(pilot.app.screen, SubmitScreen), pilot)
        screen = pilot.app.screen
        assert isinstance(screen, SubmitScreen)
        await until("the plugins", lambda: screen.plugins, pilot)
        await pilot.press("c")
        await until("command's fields", lambda: "parameters.argv" in screen.fields, pilot)
        for key, text in {"frames": "1-10", "parameters.argv": "comp.sh {frame}"}.items():
            control = screen.fields[key].control
            assert isinstance(control, Input)
            control.value = text
        box = screen.fields["frame_by_frame"]
        box.control.value = True
        form = screen.query_one("#submit-form", VerticalScroll)
        form.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until("the error under frame by frame", lambda: box.error, pilot)
        await until("the form scrolled up to it", lambda: form.scroll_y < form.max_scroll_y, pilot)
        await pilot.pause()

    assert snap_compare(make_app(canned_farm), terminal_size=(80, 24), run_before=refused)
