"""Keys act on what is on screen, and the footer, the palette and the message line say so.

Against a real controller and agent (``tui_farm``): the Farm tab's keys act on agents,
never on the job selected on the hidden Jobs tab; an agent has its own screen; the
footer shows the keys that work where the operator is; the palette lists each action
once; a filter word that names no state is said to be unknown.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console
from textual.widgets import Static, TabbedContent
from textual.widgets._footer import FooterKey

from renderq.tui.agent_screen import AgentScreen
from renderq.tui.app import RenderqApp
from renderq.tui.frames_table import FramesTable
from renderq.tui.job_screen import JobScreen
from renderq.tui.jobs_table import JobsTable
from renderq.tui.message_line import MessageLine
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from .conftest import TuiFarm, app_of, gated_argv, job_state, running, submit, until

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

pytestmark = pytest.mark.system


def footer_keys(app: RenderqApp) -> set[str]:
    """The keys the footer shows (a footer keeps the sets of keys it showed before, hidden)."""
    keys = app.screen.query(FooterKey)
    return {key.key for key in keys if all(node.display for node in key.ancestors_with_self)}


def plain(renderable: Any) -> str:
    """What a rich renderable (a table of facts) reads as, at 80 columns."""
    console = Console(width=80, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


def said(app: RenderqApp) -> str:
    line = app.screen.query_one(MessageLine)
    return line.text if line.display else ""


async def connected_with_rows(pilot: Pilot[Any], *job_ids: int) -> None:
    app = app_of(pilot)
    table = app.query_one(JobsTable)
    await until(f"rows of jobs {job_ids}", lambda: all(str(j) in table.rows for j in job_ids), pilot)


async def audited(api: FarmServiceAsyncStub, method: str) -> list[pb.AuditRecord]:
    page = await api.ListAuditRecords(fpb.ListAuditRecordsRequest(page_size=1000))
    return [record for record in page.records if record.method == method]


async def test_the_farm_tabs_keys_act_on_agents_and_enter_opens_the_agents_screen(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    agent_id = tui_farm.agent_id
    failed = await submit_once(farm_api, "fails-here", "echo no cache >&2; exit 3")
    app = tui_farm.app()
    async with running(app) as pilot:
        job = await submit(farm_api, "busy", gated_argv(gate))
        await connected_with_rows(pilot, job.id, failed.id)
        await until(
            f"job {job.id} running", lambda: app.view.jobs[job.id].state == pb.JOB_STATE_RUNNING, pilot
        )
        await pilot.press("up")  # the cursor stayed on the job it was on when the new one came
        assert app.query_one(JobsTable).selected_job_id == job.id
        assert {"p", "c", "r", "plus", "minus", "d", "enter"} <= footer_keys(app), "the Jobs tab's keys"

        await pilot.press("2")
        await until("the Farm tab's footer", lambda: {"e", "x", "D", "enter"} <= footer_keys(app), pilot)
        assert not {"p", "c", "r", "d", "l"} & footer_keys(app), "no job keys where no job is shown"

        await pilot.press("p")  # does nothing here: no job on screen
        await pilot.press("D")
        await until(
            "the agent draining in the API",
            lambda: _mode(farm_api, agent_id, pb.AGENT_MODE_DRAINING),
            pilot,
        )
        assert await job_state(farm_api, job.id) == pb.JOB_STATE_RUNNING
        assert await audited(farm_api, "SuspendJob") == [], "p on the Farm tab must not touch the hidden job"

        await pilot.press("enter")
        await until("the agent's screen", lambda: isinstance(app.screen, AgentScreen), pilot)
        screen = app.screen
        assert isinstance(screen, AgentScreen) and screen.agent_id == agent_id
        assert not isinstance(app.screen, JobScreen)

        def shown(widget: str) -> str:
            return plain(screen.query_one(widget, Static).content)

        await until("its running task and its failure", lambda: screen.failures and screen.tasks, pilot)
        await until("its slots", lambda: "1 of 4 in use" in shown("#agent-facts"), pilot)
        assert f"{app.view.agents[agent_id].hardware.cpu_cores} cores" in shown("#agent-facts")
        assert f"job {job.id} busy" in shown("#agent-tasks")
        assert f"job {failed.id} frame 1" in shown("#agent-failures")
        assert {"e", "x", "D"} <= footer_keys(app) and "p" not in footer_keys(app)

        await pilot.press("e")  # the agent on screen
        await until(
            "the agent enabled in the API", lambda: _mode(farm_api, agent_id, pb.AGENT_MODE_ENABLED), pilot
        )
        await pilot.press("escape")
        await until("back on the Farm tab", lambda: app.query_one(TabbedContent).active == "farm", pilot)
        gate.touch()


async def test_the_palette_lists_each_action_once_and_only_those_on_screen(tui_farm: TuiFarm) -> None:
    app = tui_farm.app()
    async with running(app) as pilot:
        await until("the app connected", lambda: app.status.connected, pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), sorted(titles)
        assert {"Cancel", "Retry", "Open", "Theme", "Quit", "Filter"} <= set(titles)
        assert "Drain" not in titles
        await pilot.press("2")
        await until("the Farm tab", lambda: app.query_one(TabbedContent).active == "farm", pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), sorted(titles)
        assert {"Drain", "Enable", "Disable", "Details"} <= set(titles)
        assert not {"Cancel", "Retry", "Open"} & set(titles)


async def test_a_filter_word_naming_no_state_is_said_to_be_unknown(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub
) -> None:
    app = tui_farm.app()
    async with running(app) as pilot:
        job = await submit(farm_api, "any", ["true"])
        await connected_with_rows(pilot, job.id)
        await pilot.press("slash", *"state:bogus")
        await until("the message line to say so", lambda: "bogus" in said(app), pilot)
        assert said(app) == (
            "filter: no state is called 'bogus'; the states are waiting, queued, running, suspended, "
            "completed, failed, cancelled, blocked"
        )
        assert str(job.id) in app.query_one(JobsTable).rows, "the unknown word is left out, not every row"
        await pilot.press(*["backspace"] * 5, *"comp")
        await until("the word understood", lambda: said(app) == "", pilot)


async def test_retrying_marked_frames_retries_those_that_ended_and_says_what_it_skipped(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = f"if [ {{frame}} = 1 ]; then exit 3; fi; while [ ! -e {gate} ]; do sleep 0.05; done"
    job = await submit_once(farm_api, "half-failed", script, frames="1-2")
    app = tui_farm.app()
    async with running(app) as pilot:
        await connected_with_rows(pilot, job.id)
        await app.push_screen(JobScreen(job.id))
        screen = app.screen
        assert isinstance(screen, JobScreen)
        table = screen.query_one(FramesTable)

        def states() -> list[int]:
            return [table.frames[n].state for n in table.numbers]

        await until(
            "frame 1 failed and frame 2 rendering",
            lambda: states() == [pb.FRAME_STATE_FAILED, pb.FRAME_STATE_RENDERING],
            pilot,
        )
        await pilot.press("space", "j", "space", "r")
        await until("the message line to say what was done", lambda: "retried" in said(app), pilot)
        assert said(app) == f"retried 1 frame of job {job.id}; skipped frame 2 (rendering)"

        async def attempts() -> bool:
            frames = (await farm_api.ListFrames(fpb.ListFramesRequest(job_id=job.id))).frames
            return [f.attempt_count for f in frames] == [2, 1]

        await until("frame 1 rendered again, frame 2 left rendering", attempts, pilot)
        assert table.marked == {2}, "the skipped frame stays marked, to retry once it ended"
        gate.touch()


async def submit_once(api: FarmServiceAsyncStub, name: str, script: str, frames: str = "1") -> pb.Job:
    """A ``sh -c script`` job whose failed frames are not retried by themselves."""
    job = pb.Job(plugin="command", name=name, owner="tester", frames=frames, max_retries=0)
    job.parameters.update({"argv": ["sh", "-c", script]})
    return (await api.CreateJob(fpb.CreateJobRequest(job=job))).job


async def _mode(api: FarmServiceAsyncStub, agent_id: str, mode: int) -> bool:
    return (await api.GetAgent(fpb.GetAgentRequest(agent_id=agent_id))).agent.mode == mode
