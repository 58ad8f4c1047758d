"""The TUI against a real controller and agent: keys pressed, effects checked through the API.

Each test starts its own farm (separate `renderq` processes on loopback) and runs the
real ``RenderqApp`` under Textual's pilot at 80x24. What a key did is checked the way
an operator's script would see it, with a FarmService stub and the admin token; what
the app shows is read from its widgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from textual.geometry import Region
from textual.widgets import Input, TabbedContent
from textual.widgets._toast import Toast

from renderq.tui.actions import ConfirmScreen
from renderq.tui.agents_table import AgentsTable
from renderq.tui.app import StatusLine
from renderq.tui.jobs_table import JobsTable
from renderq.tui.message_line import MessageLine
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from .conftest import TuiFarm, app_of, gated_argv, job_state, running, submit, until

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from renderq.tui.app import RenderqApp
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

pytestmark = pytest.mark.system

SIZE = (80, 24)


# What the app shows ---------------------------------------------------------------


def row_ids(app: RenderqApp) -> list[int]:
    """Job ids of the jobs table's rows, top to bottom."""
    return [int(str(row.key.value)) for row in app.query_one(JobsTable).ordered_rows]


def row_state(app: RenderqApp, job_id: int) -> str | None:
    """The STATE cell of a job's row; None when the job has no row."""
    table = app.query_one(JobsTable)
    if str(job_id) not in table.rows:
        return None
    return str(table.get_cell(str(job_id), "state"))


def painted_row(app: RenderqApp, job_id: int) -> str:
    """The job's row as the table paints it now (through every render cache), or ""."""
    table = app.query_one(JobsTable)
    lines = [strip.text for strip in table.render_lines(Region(0, 0, table.size.width, table.size.height))]
    return next((line for line in lines if line.split()[:1] == [str(job_id)]), "")


async def painted(pilot: Pilot[Any], job_id: int, *words: str) -> None:
    """Wait until the job's row, as painted, shows every one of ``words``."""
    app = app_of(pilot)
    try:
        await until(
            f"job {job_id}'s row painted with {words}",
            lambda: all(word in painted_row(app, job_id) for word in words),
            pilot,
        )
    except AssertionError as error:
        raise AssertionError(f"{error}; it is painted as {painted_row(app, job_id)!r}") from None


def status_text(app: RenderqApp) -> str:
    return str(app.query_one(StatusLine).render())


def said(app: RenderqApp) -> tuple[str, str]:
    """(severity, text) on the message line of the screen showing."""
    line = app.screen.query_one(MessageLine)
    return (line.severity, line.text) if line.display else ("", "")


async def connected(pilot: Pilot[Any]) -> None:
    app = app_of(pilot)
    await until("the status line to say the app is connected", lambda: app.status.connected, pilot)
    await until("the status line to show the connection", lambda: "●" in status_text(app), pilot)


async def shown(pilot: Pilot[Any], job_id: int, state: str) -> None:
    await until(
        f"job {job_id}'s row to show {state!r}",
        lambda: row_state(app_of(pilot), job_id) == state,
        pilot,
    )


async def select(pilot: Pilot[Any], job_id: int) -> None:
    """Move the cursor onto the job's row with the arrow keys."""
    table = pilot.app.query_one(JobsTable)

    async def on_it() -> bool:
        if str(job_id) not in table.rows:
            return False
        target = table.get_row_index(str(job_id))
        step = "down" if target > table.cursor_row else "up"
        for _ in range(abs(target - table.cursor_row)):
            await pilot.press(step)
        return table.selected_job_id == job_id

    await until(f"the cursor on job {job_id}'s row", on_it, pilot)


async def confirm_shown(pilot: Pilot[Any]) -> None:
    await until("the confirm dialog", lambda: isinstance(pilot.app.screen, ConfirmScreen), pilot)


async def confirm_gone(pilot: Pilot[Any]) -> None:
    await until("the confirm dialog to close", lambda: not isinstance(pilot.app.screen, ConfirmScreen), pilot)


# The tests -------------------------------------------------------------------------


async def test_a_submitted_job_appears_as_a_row_and_follows_its_state(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub
) -> None:
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        assert row_ids(app) == []
        job = await submit(farm_api, "live-one", ["true"])
        await until(f"job {job.id} as a row", lambda: row_state(app, job.id) is not None, pilot)
        await shown(pilot, job.id, "completed")
        await painted(pilot, job.id, " completed ", "[##########] 100%")
        second = await submit(farm_api, "live-two", ["true"])
        await shown(pilot, second.id, "completed")
        assert row_ids(app) == [second.id, job.id], "newest first"


async def test_a_row_whose_state_outgrows_its_column_is_painted_whole(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub, tmp_path: Path
) -> None:
    """The only job shows ``running``; ``completed`` is wider and must widen the column."""
    gate = tmp_path / "gate"
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        job = await submit(farm_api, "grows", gated_argv(gate))
        await shown(pilot, job.id, "running")
        await painted(pilot, job.id, " running ")
        gate.touch()
        await shown(pilot, job.id, "completed")
        await painted(pilot, job.id, " completed ")


async def test_slash_filters_by_name_and_state_and_escape_clears(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        done = await submit(farm_api, "alpha-shot", ["true"])
        other = await submit(farm_api, "beta-shot", gated_argv(gate))
        comp = await submit(farm_api, "alpha-comp", gated_argv(gate))
        await shown(pilot, done.id, "completed")
        await shown(pilot, other.id, "running")
        await shown(pilot, comp.id, "running")
        everyone = {done.id, other.id, comp.id}

        await pilot.press("slash", *"alpha")
        await until("only the alpha jobs", lambda: set(row_ids(app)) == {done.id, comp.id}, pilot)
        await pilot.press("escape")
        await until("every job after escape", lambda: set(row_ids(app)) == everyone, pilot)
        assert app.query_one("#filter", Input).value == ""
        assert app.focused is app.query_one(JobsTable)

        await pilot.press("slash", *"state:completed")
        await until("only the completed job", lambda: row_ids(app) == [done.id], pilot)
        await pilot.press("escape", "slash", *"state:run alpha")
        await until("only the running alpha job", lambda: row_ids(app) == [comp.id], pilot)
        assert app.theme == "textual-dark", "keys typed in the filter must not reach the app's bindings"
        await pilot.press("escape")
        await until("every job after escape", lambda: set(row_ids(app)) == everyone, pilot)
        gate.touch()


async def test_s_sorts_the_rows_by_the_next_column(tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub) -> None:
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        zulu = await submit(farm_api, "zulu", ["true"])
        alpha = await submit(farm_api, "alpha", ["true"])
        mike = await submit(farm_api, "mike", ["true"])
        for job in (zulu, alpha, mike):
            await shown(pilot, job.id, "completed")
        assert row_ids(app) == [mike.id, alpha.id, zulu.id], "by id, newest first"
        await pilot.press("s")
        await until("rows sorted by name", lambda: row_ids(app) == [alpha.id, mike.id, zulu.id], pilot)
        await until(
            "the message line to say so", lambda: said(app) == ("information", "jobs sorted by name"), pilot
        )
        assert not app.screen.query(Toast), "the message line says it; no toast covers the rows"


async def test_p_suspends_the_selected_job_then_resumes_it(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        job = await submit(farm_api, "pausable", gated_argv(gate))
        await shown(pilot, job.id, "running")
        await select(pilot, job.id)
        await pilot.press("p")
        await until(
            f"job {job.id} suspended in the API",
            lambda: _is(job_state(farm_api, job.id), pb.JOB_STATE_SUSPENDED),
            pilot,
        )
        await shown(pilot, job.id, "suspended")
        await pilot.press("p")
        await until(
            f"job {job.id} resumed in the API",
            lambda: _is(job_state(farm_api, job.id), pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING),
            pilot,
        )
        gate.touch()
        await shown(pilot, job.id, "completed")


async def test_c_asks_first_and_only_yes_cancels(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        job = await submit(farm_api, "doomed", gated_argv(gate))
        await shown(pilot, job.id, "running")
        await select(pilot, job.id)

        await pilot.press("c")
        await confirm_shown(pilot)
        await pilot.press("n")
        await confirm_gone(pilot)
        await pilot.press("c")
        await confirm_shown(pilot)
        await pilot.press("y")
        await until(
            f"job {job.id} cancelled in the API",
            lambda: _is(job_state(farm_api, job.id), pb.JOB_STATE_CANCELLED),
            pilot,
        )
        await shown(pilot, job.id, "cancelled")

        async def cancel_calls() -> list[pb.AuditRecord]:
            page = await farm_api.ListAuditRecords(fpb.ListAuditRecordsRequest(page_size=100))
            return [r for r in page.records if r.method == "CancelJob" and r.target == f"job {job.id}"]

        records = await until(f"the audit record of cancelling job {job.id}", cancel_calls, pilot)
        assert len(records) == 1, f"'n' must not cancel: {records}"


async def test_plus_raises_the_selected_jobs_priority(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub, tmp_path: Path
) -> None:
    """At 120 columns, where the PRI column has room."""
    gate = tmp_path / "gate"
    app = tui_farm.app()
    async with running(app, (120, 24)) as pilot:
        await connected(pilot)
        job = await submit(farm_api, "urgent", gated_argv(gate), priority=50)
        await shown(pilot, job.id, "running")
        await select(pilot, job.id)
        await pilot.press("plus")

        async def priority() -> int:
            return (await farm_api.GetJob(fpb.GetJobRequest(job_id=job.id))).job.priority

        await until(f"job {job.id} at priority 60 in the API", lambda: _is(priority(), 60), pilot)
        table = app.query_one(JobsTable)
        await until(
            "the PRI cell to show 60", lambda: str(table.get_cell(str(job.id), "priority")) == "60", pilot
        )
        await painted(pilot, job.id, " 60 ")
        gate.touch()


async def test_d_then_y_deletes_a_finished_job(tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub) -> None:
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        keep = await submit(farm_api, "keep", ["true"])
        job = await submit(farm_api, "finished", ["true"])
        await shown(pilot, keep.id, "completed")
        await shown(pilot, job.id, "completed")
        await select(pilot, job.id)
        await pilot.press("d")
        await confirm_shown(pilot)
        await pilot.press("y")

        async def gone() -> bool:
            try:
                await farm_api.GetJob(fpb.GetJobRequest(job_id=job.id))
            except grpc.aio.AioRpcError as error:
                return error.code() == grpc.StatusCode.NOT_FOUND
            return False

        await until(f"job {job.id} gone from the API", gone, pilot)
        await until(f"job {job.id}'s row removed", lambda: row_ids(app) == [keep.id], pilot)


async def test_an_error_from_the_controller_shows_in_words(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        job = await submit(farm_api, "busy", gated_argv(gate))
        await shown(pilot, job.id, "running")
        await select(pilot, job.id)
        await pilot.press("d")
        await confirm_shown(pilot)
        await pilot.press("y")
        sentence = f"job {job.id} is not finished; cancel it before deleting it"
        await until(
            f"an error on the message line with the controller's sentence {sentence!r}",
            lambda: said(app)[0] == "error" and sentence in said(app)[1],
            pilot,
        )
        assert not app.screen.query(Toast), "no toast covers the rows"
        assert await job_state(farm_api, job.id) == pb.JOB_STATE_RUNNING
        assert row_state(app, job.id) == "running"
        gate.touch()


async def test_farm_tab_keys_drain_disable_and_enable_the_agent(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub
) -> None:
    agent_id = tui_farm.agent_id
    app = tui_farm.app()

    async def mode() -> int:
        return (await farm_api.GetAgent(fpb.GetAgentRequest(agent_id=agent_id))).agent.mode

    def cell() -> str:
        table = app.query_one(AgentsTable)
        return str(table.get_cell(agent_id, "state")) if agent_id in table.rows else ""

    async with running(app, SIZE) as pilot:
        await connected(pilot)
        await pilot.press("2")
        assert app.query_one(TabbedContent).active == "farm"
        assert app.focused is app.query_one(AgentsTable)
        await until(f"agent {agent_id}'s row online and enabled", lambda: cell() == "online enabled", pilot)

        await pilot.press("D")
        await until("the agent draining in the API", lambda: _is(mode(), pb.AGENT_MODE_DRAINING), pilot)
        await until("its row to say draining", lambda: cell() == "online draining", pilot)

        await pilot.press("x")
        await confirm_shown(pilot)
        await pilot.press("y")
        await until("the agent disabled in the API", lambda: _is(mode(), pb.AGENT_MODE_DISABLED), pilot)
        await until("its row to say disabled", lambda: cell() == "online disabled", pilot)

        await pilot.press("e")
        await until("the agent enabled in the API", lambda: _is(mode(), pb.AGENT_MODE_ENABLED), pilot)
        await until("its row to say enabled", lambda: cell() == "online enabled", pilot)


async def test_the_app_reconnects_after_the_controller_restarts(
    tui_farm: TuiFarm, farm_api: FarmServiceAsyncStub
) -> None:
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        before = await submit(farm_api, "before", ["true"])
        await shown(pilot, before.id, "completed")

        killed = tui_farm.controller
        assert killed is not None
        killed.kill()
        killed.stop()
        await until(
            "the status line to say disconnected",
            lambda: "disconnected" in status_text(app) and not app.status.connected,
            pilot,
        )
        assert tui_farm.address in status_text(app)

        tui_farm.restart_controller()
        await connected(pilot)
        assert "disconnected" not in status_text(app)
        await shown(pilot, before.id, "completed")
        after = await submit(farm_api, "after", ["true"])
        await shown(pilot, after.id, "completed")


async def test_t_toggles_the_light_and_dark_theme(tui_farm: TuiFarm) -> None:
    app = tui_farm.app()
    async with running(app, SIZE) as pilot:
        await connected(pilot)
        assert app.theme == "textual-dark"
        await pilot.press("t")
        assert app.theme == "textual-light"
        await pilot.press("t")
        assert app.theme == "textual-dark"


async def _is(value: Any, *wanted: object) -> bool:
    return (await value) in wanted
