"""Why a job is not running (``w``) and the agents a job blocked (``u``), against a real farm.

The controller and its agent run as their own processes; what the app shows is read
from its widgets, what a key did from the API.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from google.protobuf import struct_pb2
from textual.widgets import Static

from renderq.tui.blocked_table import BlockedTable
from renderq.tui.frames_table import FramesTable
from renderq.tui.help_screen import HelpScreen, Section
from renderq.tui.job_screen import JobScreen
from renderq.tui.jobs_table import JobsTable
from renderq.tui.message_line import MessageLine
from renderq.tui.text_screen import TextScreen
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from .conftest import TuiFarm, running, until

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from renderq.tui.app import RenderqApp
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

pytestmark = pytest.mark.system


def command_job(name: str, argv: list[str], frames: str = "1") -> pb.Job:
    parameters = struct_pb2.Struct()
    parameters.update({"argv": argv})
    return pb.Job(plugin="command", name=name, owner="tester", frames=frames, parameters=parameters)


def text_shown(app: RenderqApp) -> str | None:
    """The text of the text screen on top, once it is; None before."""
    screen = app.screen
    if not isinstance(screen, TextScreen):
        return None
    return str(screen.query_one("#text-body", Static).content)


async def keys_in_help(pilot: Pilot[Any]) -> list[Section]:
    """What the help screen lists over the screen showing; closed again."""
    await pilot.press("question_mark")
    app = pilot.app
    shown = await until(
        "the help screen", lambda: app.screen if isinstance(app.screen, HelpScreen) else None, pilot
    )
    await pilot.press("escape")
    await until("the help screen closed", lambda: not isinstance(app.screen, HelpScreen), pilot)
    return shown.sections


def help_keys(sections: list[Section], place: str) -> set[tuple[str, str]]:
    return {(k.keys, k.description) for s in sections if s.place == place for k in s.keys}


def message(app: RenderqApp) -> str:
    return app.screen.query_one(MessageLine).text


async def test_w_says_why_a_job_no_agent_can_run_waits_from_the_jobs_and_the_job_screen(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub
) -> None:
    needy = command_job("needs-a-gpu-node", ["true"], frames="1-2")
    needy.requirements.tags.append("gpu-node")
    request = fpb.CreateJobRequest(job=needy, allow_unmatched=True)
    job = (await farm_api.CreateJob(request)).job
    app = tui_farm.app()
    async with running(app) as pilot:
        table = app.query_one(JobsTable)
        await until(f"job {job.id} selected", lambda: table.selected_job_id == job.id, pilot)
        keys = help_keys(await keys_in_help(pilot), "Jobs table")
        assert ("w", "Why") in keys, keys

        await pilot.press("w")
        text = await until("the answer on the jobs table", lambda: text_shown(app), pilot)
        assert f"job {job.id}: no known agent could ever run it" in text
        (agent_line,) = [line for line in text.splitlines() if line.startswith(tui_farm.agent_id)]
        assert "gpu-node" in agent_line, text
        await pilot.press("escape")
        await until("the jobs table again", lambda: app.screen is app.screen_stack[0], pilot)

        await pilot.press("enter")
        await until("the job screen", lambda: isinstance(app.screen, JobScreen), pilot)
        frames = app.screen.query_one(FramesTable)
        await until("its frames listed", lambda: frames.numbers == [1, 2], pilot)
        await pilot.press("w")
        text = await until("the answer on the job screen", lambda: text_shown(app), pilot)
        assert f"job {job.id}: no known agent could ever run it" in text
        assert "frame 1 (under the cursor) waits for the same" in text
        await pilot.press("escape")
        await until("the job screen again", lambda: isinstance(app.screen, JobScreen), pilot)
        keys = help_keys(await keys_in_help(pilot), "Job screen")
        assert {("w", "Why"), ("u", "Unblock"), ("e", "Error")} <= keys, keys


async def test_an_agent_a_job_blocked_shows_on_its_screen_live_and_u_gives_it_back(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub, tmp_path: Path
) -> None:
    gate = tmp_path / "fail-now"
    wait_then_fail = f"while [ ! -e {gate} ]; do sleep 0.05; done; echo no licence >&2; exit 3"
    failing = command_job("fails-here", ["sh", "-c", wait_then_fail])
    failing.max_retries = 3
    failing.max_agent_failures = 1
    job = (await farm_api.CreateJob(fpb.CreateJobRequest(job=failing))).job
    app = tui_farm.app()
    async with running(app) as pilot:
        table = app.query_one(JobsTable)
        await until(f"job {job.id} selected", lambda: table.selected_job_id == job.id, pilot)
        await pilot.press("enter")
        await until("the job screen", lambda: isinstance(app.screen, JobScreen), pilot)
        screen = app.screen
        blocked = screen.query_one(BlockedTable)
        section = screen.query_one("#blocked")
        assert section.has_class("-empty") and not blocked.blocked, "no agent is blocked yet"

        gate.touch()
        await until("the agent blocked, on the job screen", lambda: blocked.row_count == 1, pilot)
        assert not section.has_class("-empty")
        (entry,) = blocked.blocked
        assert (entry.agent_id, entry.failures) == (tui_farm.agent_id, 1)
        row = [str(cell) for cell in blocked.get_row_at(0)]
        assert row[:2] == [tui_farm.agent_id, "1"] and "no licence" in row[2], row

        await pilot.press("u")
        await until("the agent given back", lambda: "again" in message(app), pilot)
        assert message(app).startswith(f"job {job.id} may use agent {tui_farm.agent_id} again")
        await until("the section gone", lambda: section.has_class("-empty") and not blocked.row_count, pilot)
        assert not (await farm_api.GetJob(fpb.GetJobRequest(job_id=job.id))).job.blocked_agents

        await pilot.press("u")
        assert message(app) == f"job {job.id} blocks no agent"
