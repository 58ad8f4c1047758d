"""A farm longer than the screen: rows off screen follow their jobs and agents too.

The tables draw only the rows on screen when their items change; the others are left
blank until they scroll into view, their tab is shown, or they are read. These tests
make sure nobody ever sees such a row out of date. A farm of 200 jobs and 300 agents
is more than a test controller can hold quickly, so the app talks to an in-process
FarmService (as in test_snapshots.py) whose watch sends what each test puts in it.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from textual.geometry import Region
from textual.strip import Strip

from renderq.client.credentials import Credentials
from renderq.tui.agents_table import AgentsTable
from renderq.tui.app import RenderqApp
from renderq.tui.fitted_table import FittedTable
from renderq.tui.jobs_table import JobsTable
from renderq.tui.status_line import StatusLine
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc
from renderq.v1 import resources_pb2 as pb

from .conftest import DEADLINE, app_of, running, until

if TYPE_CHECKING:
    from textual.pilot import Pilot

JOBS = 200
AGENTS = 300
SIZE = (80, 24)
SEQUENCE = 10
"""The listing's event sequence; the events sent follow it."""


def listed_job(job_id: int) -> pb.Job:
    return pb.Job(
        id=job_id,
        name=f"shot{job_id:03d}",
        owner="ana",
        plugin="blender",
        state=pb.JOB_STATE_RUNNING,
        frame_count=100,
        frames_completed=1,
    )


def listed_agent(number: int) -> pb.Agent:
    return pb.Agent(
        id=f"render-{number:03d}",
        status=pb.AGENT_STATUS_ONLINE,
        mode=pb.AGENT_MODE_ENABLED,
        slots=4,
        hardware=pb.Hardware(hostname=f"render-{number:03d}", cpu_cores=16, ram_bytes=64 << 30, os="Linux"),
        load=pb.Load(cpu_percent=10.0),
    )


class BigFarm(farm_service_pb2_grpc.FarmServiceServicer):
    """Lists ``JOBS`` jobs and ``AGENTS`` agents; the watch sends what ``send`` is given."""

    def __init__(self) -> None:
        self.batches: queue.Queue[list[fpb.WatchEventsResponse]] = queue.Queue()
        self.sequence = SEQUENCE

    def send(self, change: fpb.ChangeType = fpb.CHANGE_TYPE_UPSERTED, **resource: Any) -> None:
        self.sequence += 1
        event = fpb.WatchEventsResponse(sequence=self.sequence, change=change, **resource)
        self.batches.put([event])

    def GetCaller(self, request: fpb.GetCallerRequest, context: Any) -> fpb.GetCallerResponse:
        return fpb.GetCallerResponse(name="ops", token_id="0000", role=pb.ROLE_ADMIN)

    def ListJobs(self, request: fpb.ListJobsRequest, context: Any) -> fpb.ListJobsResponse:
        jobs = [listed_job(job_id) for job_id in range(1, JOBS + 1)]
        return fpb.ListJobsResponse(jobs=jobs, event_sequence=SEQUENCE)

    def ListAgents(self, request: fpb.ListAgentsRequest, context: Any) -> fpb.ListAgentsResponse:
        agents = [listed_agent(number) for number in range(1, AGENTS + 1)]
        return fpb.ListAgentsResponse(agents=agents, event_sequence=SEQUENCE)

    def WatchEventBatches(
        self, request: fpb.WatchEventBatchesRequest, context: Any
    ) -> Iterator[fpb.WatchEventBatchesResponse]:
        while context.is_active():
            try:
                yield fpb.WatchEventBatchesResponse(events=self.batches.get(timeout=0.05))
            except queue.Empty:
                continue


@contextmanager
def big_farm(address: str) -> Iterator[BigFarm]:
    farm = BigFarm()  # type: ignore[abstract]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="big-farm"))
    farm_service_pb2_grpc.add_FarmServiceServicer_to_server(farm, server)
    if not server.add_insecure_port(address):
        raise AssertionError(f"the FarmService could not listen on {address}")
    server.start()
    try:
        yield farm
    finally:
        server.stop(None).wait(DEADLINE)


@pytest.fixture
def farm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BigFarm]:
    monkeypatch.chdir(tmp_path)  # a short socket name, relative to the test's folder
    with big_farm("unix:farm.sock") as served:
        yield served


def make_app() -> RenderqApp:
    async def resolve() -> str:
        return "unix:farm.sock"

    return RenderqApp(resolve, Credentials(token="test-token"))


def painted(table: FittedTable, key: str) -> str:
    """The row of ``key`` as the table paints it now (through every cache), or ""."""
    region = Region(0, 0, table.size.width, table.size.height)
    lines = [strip.text for strip in table.render_lines(region)]
    return next((line for line in lines if line.split()[:1] == [key]), "")


async def listed(pilot: Pilot[Any]) -> RenderqApp:
    app = app_of(pilot)
    await until("the jobs listed", lambda: app.query_one(JobsTable).row_count == JOBS, pilot)
    await until("the agents listed", lambda: len(app.view.agents) == AGENTS, pilot)
    return app


async def test_a_job_changed_off_screen_is_painted_current_when_scrolled_to(farm: BigFarm) -> None:
    app = make_app()
    async with running(app, SIZE) as pilot:
        await listed(pilot)
        table = app.query_one(JobsTable)
        assert painted(table, "200") and not painted(table, "1"), "newest first: job 1 is far below"

        job = listed_job(1)
        job.frames_completed = 42
        farm.send(job=job)
        await until("job 1's event applied", lambda: app.view.jobs[1].frames_completed == 42, pilot)
        await pilot.pause(0.3)  # a flush or two
        assert str(table.get_cell("1", "frames")) == "42/100", "a row off screen reads as current"

        await pilot.press("ctrl+end")
        await until("job 1's row painted with 42/100", lambda: "42/100" in painted(table, "1"), pilot)
        assert "running" in painted(table, "1")


async def test_agents_changed_off_screen_or_before_the_tab_was_shown_are_painted_current(
    farm: BigFarm,
) -> None:
    app = make_app()
    async with running(app, SIZE) as pilot:
        await listed(pilot)
        early = listed_agent(2)
        early.load.cpu_percent = 77.0
        farm.send(agent=early)
        await until(
            "agent 2's event applied", lambda: app.view.agents[early.id].load.cpu_percent == 77, pilot
        )

        await pilot.press("2")
        table = app.query_one(AgentsTable)
        await until("render-002 painted at 77%", lambda: "77%" in painted(table, early.id), pilot)

        late = listed_agent(AGENTS - 1)
        late.status = pb.AGENT_STATUS_OFFLINE
        farm.send(agent=late)
        line = app.query_one(StatusLine)
        await until("one agent offline", lambda: f"{AGENTS - 1}/{AGENTS} agents" in str(line.render()), pilot)
        assert not painted(table, late.id)

        await pilot.press("ctrl+end")
        await until(f"{late.id} painted offline", lambda: "offline" in painted(table, late.id), pilot)


async def test_a_forgotten_agent_leaves_the_farm_tab(farm: BigFarm) -> None:
    app = make_app()
    async with running(app, SIZE) as pilot:
        await listed(pilot)
        await pilot.press("2")
        table = app.query_one(AgentsTable)
        await until("every agent has a row", lambda: table.row_count == AGENTS, pilot)

        farm.send(change=fpb.CHANGE_TYPE_DELETED, agent=pb.Agent(id="render-001"))
        await until("render-001's row gone", lambda: "render-001" not in table.rows, pilot)
        line = app.query_one(StatusLine)
        assert f"{AGENTS - 1}/{AGENTS - 1} agents" in str(line.render())
        assert not painted(table, "render-001")
        assert painted(table, "render-002")


def painted_lines(table: FittedTable) -> list[Strip]:
    """The lines the table paints on screen now (its header first)."""
    return table.render_lines(Region(0, 0, table.size.width, table.size.height))


def painted_styles(table: FittedTable) -> set[str]:
    return {str(segment.style) for strip in painted_lines(table) for segment in strip}


async def test_switching_tabs_and_themes_repaints_the_rows_in_the_theme_shown(farm: BigFarm) -> None:
    app = make_app()
    async with running(app, SIZE) as pilot:
        await listed(pilot)
        table = app.query_one(JobsTable)
        dark = painted_styles(table)
        await pilot.press("2", "1")
        assert painted_styles(table) == dark, "the rows look the same after a round trip to the Farm tab"

        await pilot.press("t")
        await until("the rows painted in the light theme", lambda: painted_styles(table) != dark, pilot)
        light = painted_styles(table)
        await pilot.press("2", "t", "1")
        await until("the rows painted in the dark theme again", lambda: painted_styles(table) == dark, pilot)
        assert light != dark


def painted_keys(table: FittedTable) -> list[str]:
    return [strip.text.split()[0] for strip in painted_lines(table)[1:] if strip.text.strip()]


async def test_a_row_the_filter_box_hid_is_painted_current_when_the_box_closes(farm: BigFarm) -> None:
    app = make_app()
    async with running(app, SIZE) as pilot:
        await listed(pilot)
        table = app.query_one(JobsTable)
        shown = painted_keys(table)
        await pilot.press("slash")
        await until("the filter box over some rows", lambda: len(painted_keys(table)) < len(shown), pilot)
        hidden = shown[-1]
        assert hidden not in painted_keys(table)

        job = listed_job(int(hidden))
        job.frames_completed = 77
        farm.send(job=job)
        await until(
            f"job {hidden}'s event applied", lambda: app.view.jobs[int(hidden)].frames_completed == 77, pilot
        )
        await pilot.pause(0.3)
        await pilot.press("escape")
        await until(f"job {hidden} painted with 77/100", lambda: "77/100" in painted(table, hidden), pilot)
        assert painted_keys(table) == shown
