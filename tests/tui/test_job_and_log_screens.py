"""The job and log screens, driven by keys against a real controller and agent.

Every effect is checked where it lands: the farm's state through the API, the screens'
tables and logs as the operator would read them. Waits poll for a condition with a
deadline and say what they were waiting for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from google.protobuf import struct_pb2
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from renderq import tokens
from renderq.client.channel import connect
from renderq.client.credentials import Credentials
from renderq.tui.app import RenderqApp
from renderq.tui.job_screen import FramesTable, JobScreen
from renderq.tui.jobs_table import JobsTable
from renderq.tui.log_screen import ENDED, FOLLOWING, LogScreen
from renderq.tui.log_view import LineDecoder, LogView, find_line
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from ..system.conftest import Farm
from .conftest import until

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


# Pure parts ---------------------------------------------------------------------


def test_lines_split_across_chunks_come_out_whole() -> None:
    decoder = LineDecoder()
    text = "première ligne\r\nsecond\rthird\n\nlast, unfinished"
    data = text.encode()
    lines: list[str] = []
    for i in range(len(data)):  # one byte at a time: every possible cut
        lines += decoder.feed(data[i : i + 1])
    assert lines == ["première ligne", "second", "third", ""]
    assert decoder.flush() == ["last, unfinished"]


def test_bad_bytes_are_replaced_not_fatal() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"ok \xff\xfe bytes\n") == ["ok \ufffd\ufffd bytes"]
    assert decoder.flush() == []


def test_search_goes_both_ways_ignoring_case_and_wraps() -> None:
    lines = ["Fra:1 start", "warning: slow", "Fra:2 start", "done"]
    assert find_line(lines, "fra:", 1, 1) == 2
    assert find_line(lines, "FRA:", 3, 1) == 0
    assert find_line(lines, "fra:", 1, -1) == 0
    assert find_line(lines, "fra:", 0, -1) == 0
    assert find_line(lines, "missing", 0, 1) is None


# Against a real farm ---------------------------------------------------------------


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    """A controller and one agent, each its own process, on loopback."""
    farm = Farm(tmp_path)
    try:
        farm.add_agent("a1")
        farm.start_agent("a1")
        farm.start_controller().wait_for_line(r"agent online")
        yield farm
    finally:
        farm.stop()


def credentials(farm: Farm) -> Credentials:
    return Credentials(token=tokens.read_local(farm.root / "controller"))


def make_app(farm: Farm) -> RenderqApp:
    async def address() -> str:
        return farm.cli.controller

    return RenderqApp(address, credentials(farm))


@asynccontextmanager
async def api(farm: Farm) -> AsyncIterator[FarmServiceAsyncStub]:
    async with connect(farm.cli.controller, credentials(farm)) as stub:
        yield stub


def shell_job(script: str, frames: str) -> pb.Job:
    """A command job running ``sh -c script`` once per frame, never retried by itself."""
    params = struct_pb2.Struct()
    params.update({"argv": ["sh", "-c", script]})
    return pb.Job(
        name="tui-test", owner="ana", plugin="command", parameters=params, frames=frames, max_retries=0
    )


async def job_in(stub: FarmServiceAsyncStub, job_id: int, state: int) -> bool:
    return (await stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job.state == state


async def open_jobs(pilot: Pilot[None], app: RenderqApp, job_id: int) -> None:
    """Wait for the jobs table to list (and select) the job."""
    await until(
        f"job {job_id} selected in the jobs table",
        lambda: app.query_one(JobsTable).selected_job_id == job_id,
        pilot,
    )


def on_screen(app: RenderqApp, screen: type[Screen[None]], widget: type[Widget]) -> bool:
    """Whether ``screen`` is the one showing, with its ``widget`` mounted."""
    return isinstance(app.screen, screen) and bool(app.screen.query(widget))


def log_text(screen: LogScreen) -> str:
    return "\n".join(screen.query_one(LogView).lines)


@pytest.mark.system
async def test_marked_failed_frames_are_retried_and_each_attempts_log_can_be_read(
    farm: Farm, tmp_path: Path
) -> None:
    counts = tmp_path / "counts"
    counts.mkdir()
    script = (
        f"n=$(cat {counts}/{{frame}} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counts}/{{frame}}; "
        'echo "frame {frame} run $n"; echo "renderer gave up" >&2; exit 3'
    )
    app = make_app(farm)
    async with api(farm) as stub, app.run_test(size=(80, 24)) as pilot:
        job = (await stub.CreateJob(fpb.CreateJobRequest(job=shell_job(script, "1-3")))).job
        await until(
            f"job {job.id} to fail", lambda: job_in(stub, job.id, pb.JOB_STATE_FAILED), pilot, every=0.1
        )
        await open_jobs(pilot, app, job.id)

        await pilot.press("enter")
        await until("the job screen after enter", lambda: on_screen(app, JobScreen, FramesTable), pilot)
        table = app.screen.query_one(FramesTable)
        await until(
            "three failed frames in the frames table",
            lambda: (
                table.numbers == [1, 2, 3]
                and all(f.state == pb.FRAME_STATE_FAILED for f in table.frames.values())
            ),
            pilot,
        )
        error = table.frames[1].error_message
        assert error, "a failed frame carries its error"
        detail = str(app.screen.query_one("#frame-detail", Static).content)
        assert detail.startswith("frame 1  failed") and error.strip() in detail

        await pilot.press("space", "j", "space")
        assert table.marked == {1, 2}
        assert table.render_line(1).text.startswith("*") and table.render_line(2).text.startswith("*")
        assert not table.render_line(3).text.startswith("*")

        await pilot.press("r")

        async def requeued() -> bool:
            frames = (await stub.ListFrames(fpb.ListFramesRequest(job_id=job.id))).frames
            return [f.attempt_count for f in frames] == [2, 2, 1]

        await until("frames 1 and 2 (only) dispatched again", requeued, pilot, every=0.1)
        await until(
            "the frames table to show the second attempts, unmarked",
            lambda: [f.attempt_count for f in table.frames.values()] == [2, 2, 1] and not table.marked,
            pilot,
        )

        await pilot.press("k", "l")
        await until("the log screen", lambda: on_screen(app, LogScreen, LogView), pilot)
        logs = app.screen
        assert isinstance(logs, LogScreen) and logs.frame == 1
        await until(
            "frame 1's second run in its log, ended",
            lambda: "frame 1 run 2" in log_text(logs) and logs.state == ENDED,
            pilot,
        )
        assert "renderer gave up" in log_text(logs)
        assert logs.log_task is not None and len(logs.log_task.attempt_ids) == 2

        await pilot.press("slash", *"GAVE UP", "enter")
        assert logs.match_line is not None
        view = logs.query_one(LogView)
        assert "renderer gave up" in view.lines[logs.match_line]
        assert view.match is not None and view.match[0] == logs.match_line, "the match is marked"
        await pilot.press("slash", *"no such text", "enter")
        assert logs.match_line is None

        await pilot.press("a")
        await until(
            "frame 1's first run after a (previous attempt)",
            lambda: "frame 1 run 1" in log_text(logs) and logs.state == ENDED,
            pilot,
        )
        assert "run 2" not in log_text(logs)
        assert logs.attempt_id == logs.log_task.attempt_ids[0]

        await pilot.press("A")
        await until("the second run again after A", lambda: "frame 1 run 2" in log_text(logs), pilot)

        await pilot.press("escape")
        await until("back on the job screen", lambda: isinstance(app.screen, JobScreen), pilot)
        await pilot.press("escape")
        await until("back on the jobs", lambda: not isinstance(app.screen, JobScreen), pilot)
        await until(
            "the closed screens' streams to stop",
            lambda: not [w for w in app.workers if w.group in ("frames", "log") and not w.is_finished],
            pilot,
        )


@pytest.mark.system
async def test_the_log_of_a_running_task_follows_its_output_live(farm: Farm, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    script = f"seq 1 200; echo hello-from-the-task; while [ ! -e {gate} ]; do sleep 0.05; done; echo bye"
    app = make_app(farm)
    async with api(farm) as stub, app.run_test(size=(80, 24)) as pilot:
        job = (await stub.CreateJob(fpb.CreateJobRequest(job=shell_job(script, "1")))).job
        await until(
            f"job {job.id} to run", lambda: job_in(stub, job.id, pb.JOB_STATE_RUNNING), pilot, every=0.1
        )
        await open_jobs(pilot, app, job.id)

        await pilot.press("l")  # the jobs screen's key: the job's running task
        await until("the log screen", lambda: on_screen(app, LogScreen, LogView), pilot)
        logs = app.screen
        assert isinstance(logs, LogScreen)
        await until(
            "the task's first line while it runs",
            lambda: "hello-from-the-task" in log_text(logs) and logs.state == FOLLOWING,
            pilot,
        )
        assert await job_in(stub, job.id, pb.JOB_STATE_RUNNING)
        log = logs.query_one(LogView)
        assert log.is_vertical_scroll_end, "a following view stays at the end"

        await pilot.press("home")  # scrolling up pauses following
        assert "paused" in str(logs.query_one("#log-header", Static).content)
        gate.touch()
        await until("the last line while paused", lambda: "bye" in log_text(logs), pilot)
        assert log.scroll_offset.y == 0, "new output must not pull a paused view down"

        await pilot.press("G")
        assert log.is_vertical_scroll_end
        await until("the header to say the attempt ended", lambda: logs.state == ENDED, pilot)
        await pilot.press("q")
        await until("back on the jobs", lambda: not isinstance(app.screen, LogScreen), pilot)


@pytest.mark.system
async def test_the_frames_table_is_live_again_after_the_controller_restarts(farm: Farm) -> None:
    app = make_app(farm)
    async with api(farm) as stub, app.run_test(size=(80, 24)) as pilot:
        job = (await stub.CreateJob(fpb.CreateJobRequest(job=shell_job("exit 3", "1-2")))).job
        await until(
            f"job {job.id} to fail", lambda: job_in(stub, job.id, pb.JOB_STATE_FAILED), pilot, every=0.1
        )
        await app.push_screen(JobScreen(job.id))
        await until("the job screen", lambda: on_screen(app, JobScreen, FramesTable), pilot)
        screen = app.screen
        assert isinstance(screen, JobScreen)
        table = screen.query_one(FramesTable)
        await until("two frames listed", lambda: len(table.frames) == 2, pilot)

        assert farm.controller is not None
        await asyncio.to_thread(farm.controller.stop)
        await until("the screen to say its frames are not live", lambda: "not live" in screen.problem, pilot)
        await asyncio.to_thread(farm.start_controller)
        await until("the frames to be live again", lambda: not screen.problem, pilot)

        await stub.RetryFrames(fpb.RetryFramesRequest(job_id=job.id, frames="2"))
        await until(
            "frame 2's retry to show through the new stream",
            lambda: table.frames[2].attempt_count == 2 and table.frames[1].attempt_count == 1,
            pilot,
        )


@pytest.mark.system
async def test_long_log_lines_wrap_w_cuts_them_and_home_or_g_go_back_to_the_start(farm: Farm) -> None:
    long = "start-" + "y" * 300 + "-end"
    app = make_app(farm)
    async with api(farm) as stub, app.run_test(size=(80, 24)) as pilot:
        job = (await stub.CreateJob(fpb.CreateJobRequest(job=shell_job(f"echo {long}; seq 1 100", "1")))).job
        await until(
            f"job {job.id} to end", lambda: job_in(stub, job.id, pb.JOB_STATE_COMPLETED), pilot, every=0.1
        )
        await open_jobs(pilot, app, job.id)
        await pilot.press("l")
        await until("the log screen", lambda: on_screen(app, LogScreen, LogView), pilot)
        logs = app.screen
        assert isinstance(logs, LogScreen)
        view = logs.query_one(LogView)
        await until("the whole log, ended", lambda: "\n100" in log_text(logs) and logs.state == ENDED, pilot)
        width = view.scrollable_content_region.width
        assert width < len(long) and view.wrap, "wrapped by default"
        assert view.row_count == view.line_count - 1 + -(-len(long) // width)

        await pilot.press("g")
        assert view.scroll_offset == (0, 0)
        rows = [view.render_line(y).text.rstrip() for y in range(-(-len(long) // width))]
        assert "".join(rows) == long, "the long line painted whole, over several rows"

        await pilot.press("w")
        assert not view.wrap and view.row_count == view.line_count
        first = view.render_line(0).text
        assert first.startswith("start-") and "-end" not in first
        await pilot.press("right", "right")
        assert view.scroll_offset.x == 2 * (view.size.width // 4), "a quarter of the width per key"
        await pilot.press("end")
        assert view.scroll_offset.y > 0
        await pilot.press("home")
        assert view.scroll_offset == (0, 0), "home goes back to the start"
        await pilot.press("w")
        assert view.wrap and view.scroll_offset == (0, 0)
