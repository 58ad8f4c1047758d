"""The submit form, the help screen and the frame preview, driven by keys against a real farm.

One controller and one agent run as their own processes for the whole module; each test
runs the real ``RenderqApp`` at 80x24 under Textual's pilot, presses keys, and checks what
happened through the FarmService API, the way a pipeline script would see it, and what
the app shows through its widgets.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import grpc
import pytest
from google.protobuf import json_format
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input

from renderq import tokens
from renderq.client.channel import connect
from renderq.client.credentials import Credentials
from renderq.tui.app import RenderqApp
from renderq.tui.help_screen import HelpScreen
from renderq.tui.jobs_table import JobsTable
from renderq.tui.message_line import MessageLine
from renderq.tui.preview import FramePicture, PreviewScreen, latest
from renderq.tui.submit_fields import Field, PluginSelect, build_job
from renderq.tui.submit_screen import SubmitScreen
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from ..system.conftest import Farm
from .conftest import running, until

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

pytestmark = pytest.mark.system

SIZE = (80, 24)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    """A controller and one agent with two slots and a declared GPU (for a job that
    reserves one), shared by the tests of this module."""
    farm = Farm(tmp_path_factory.mktemp("farm"))
    try:
        farm.add_agent("a1")
        farm.start_controller()
        farm.start_agent("a1", "--slots", "2", "--gpus", "1")
        yield farm
    finally:
        farm.stop()


def credentials(farm: Farm) -> Credentials:
    token = tokens.read_local(farm.root / "controller")
    assert token, "the controller wrote no local admin token"
    return Credentials(token=token)


@pytest.fixture
async def api(farm: Farm) -> AsyncIterator[FarmServiceAsyncStub]:
    async with connect(farm.cli.controller, credentials(farm)) as stub:
        yield stub


@pytest.fixture
def app(farm: Farm) -> RenderqApp:
    address = farm.cli.controller

    async def resolve() -> str:
        return address

    return RenderqApp(resolve, credentials(farm))


async def open_form(pilot: Pilot[Any], app: RenderqApp, plugin: str) -> SubmitScreen:
    """``n``, then the plugin chosen from its list by typing its name."""
    await until("the app to connect to the controller", lambda: app.stub, pilot)
    await pilot.press("n")
    form = await until(
        "the submit form", lambda: app.screen if isinstance(app.screen, SubmitScreen) else None, pilot
    )
    await until("the plugins to load", lambda: form.plugins, pilot)
    assert form.focused is form.fields["plugin"].control, form.focused
    await pilot.press("enter", *plugin, "enter")
    await until(
        f"the {plugin} plugin's fields", lambda: any(k.startswith("parameters.") for k in form.fields), pilot
    )
    return form


async def fill(pilot: Pilot[Any], field: Field, text: str) -> None:
    field.control.focus()
    await pilot.press("ctrl+a", "ctrl+k", *text)


def put(form: SubmitScreen, texts: dict[str, str]) -> None:
    """Fields a test is not about, filled without typing (each key press waits for a repaint)."""
    for key, text in texts.items():
        control = form.fields[key].control
        assert isinstance(control, Input), key
        control.value = text


async def stop(api: FarmServiceAsyncStub, job_id: int) -> None:
    """Cancel a job a test sent, so it leaves the shared agent's slots, unless it ended."""
    try:
        await api.CancelJob(fpb.CancelJobRequest(job_id=job_id))
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.FAILED_PRECONDITION:  # it had ended
            raise


async def jobs_named(api: FarmServiceAsyncStub, name: str) -> list[pb.Job]:
    return list((await api.ListJobs(fpb.ListJobsRequest(name_contains=name))).jobs)


async def test_a_command_job_submitted_from_the_form_has_what_was_typed(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    name = f"form-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "command")
        assert form.fields["parameters.argv"].required
        await fill(pilot, form.fields["name"], name)
        await fill(pilot, form.fields["frames"], "1-3")
        await fill(pilot, form.fields["parameters.argv"], "sh -c 'echo frame {frame}'")
        await fill(pilot, form.fields["priority"], "70")
        await fill(pilot, form.fields["chunk_size"], "3")
        await pilot.press("ctrl+s")
        await until("the form to close", lambda: not isinstance(app.screen, SubmitScreen), pilot)
        [job] = await until(f"job {name} to be listed", lambda: jobs_named(api, name), pilot)
        line = app.screen.query_one(MessageLine)
        await until("the message line to say it", lambda: line.text == f"submitted job {job.id}", pilot)
    assert (job.plugin, job.frames, job.priority, job.chunk_size) == ("command", "1-3", 70, 3)
    assert job.owner == getpass.getuser()
    assert json_format.MessageToDict(job.parameters) == {"argv": ["sh", "-c", "echo frame {frame}"]}


async def test_a_bad_frame_range_is_shown_under_frames_and_nothing_is_sent(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    name = f"bad-frames-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "command")
        await fill(pilot, form.fields["name"], name)
        await fill(pilot, form.fields["frames"], "9-1")
        await fill(pilot, form.fields["parameters.argv"], "true")
        await fill(pilot, form.fields["priority"], "500")
        await pilot.press("ctrl+s")
        frames = form.fields["frames"]
        await until("an error under frames", lambda: frames.error, pilot)
        assert frames.error == "'9-1' ends before it starts"
        assert frames.has_class("-invalid") and form.focused is frames.control
        assert form.fields["priority"].error == "must be between 0 and 100, not 500"
        assert not form.fields["parameters.argv"].error
        assert isinstance(app.screen, SubmitScreen)
        await pilot.press("escape")
        await until("the form to close", lambda: not isinstance(app.screen, SubmitScreen), pilot)
    assert await jobs_named(api, name) == []


async def test_a_scene_missing_here_is_shown_under_its_field_unless_the_paths_are_the_nodes(
    app: RenderqApp, api: FarmServiceAsyncStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller no longer looks at its own disk: the form checks path parameters on
    the machine it runs on, from its working directory, before sending."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shot010.blend").write_bytes(b"")
    name = f"paths-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "blender")
        assert form.fields["parameters.format"].control.value == "PNG"  # its default
        await fill(pilot, form.fields["name"], name)
        await fill(pilot, form.fields["frames"], "1")
        await fill(pilot, form.fields["max_retries"], "0")
        scene = form.fields["parameters.scene"]
        await fill(pilot, scene, "/nowhere/shot010.blend")
        await pilot.press("ctrl+s")
        await until("the missing scene under its field", lambda: scene.error, pilot)
        assert scene.error.startswith("'/nowhere/shot010.blend' does not exist on this machine")
        assert "paths are on the render nodes" in scene.error
        assert form.focused is scene.control
        top = form.top_line
        assert top.startswith("scene: '/nowhere/shot010.blend' does not exist on this machine"), top
        assert await jobs_named(api, name) == [], "nothing was sent"

        await fill(pilot, scene, "shot010.blend")  # relative to where the TUI runs
        await pilot.press("ctrl+s")
        await until("the form to close", lambda: not isinstance(app.screen, SubmitScreen), pilot)
        [job] = await until(f"job {name} to be listed", lambda: jobs_named(api, name), pilot)
        await stop(api, job.id)
    assert job.parameters["scene"] == str(tmp_path / "shot010.blend"), "made absolute where it was typed"


async def test_paths_on_the_render_nodes_are_sent_as_typed(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    name = f"on-nodes-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "blender")
        await fill(pilot, form.fields["name"], name)
        await fill(pilot, form.fields["frames"], "1")
        await fill(pilot, form.fields["max_retries"], "0")
        scene = form.fields["parameters.scene"]
        await fill(pilot, scene, "P:/shots/shot010.blend")
        box = form.query_one("#paths-on-nodes", Checkbox)
        assert str(box.label) == "paths are on the render nodes" and not box.value
        box.focus()
        await pilot.press("space")
        assert box.value
        await pilot.press("ctrl+s")

        async def sent() -> list[pb.Job]:
            return await jobs_named(api, name)

        (job,) = await until("the job sent, not stopped on this machine", sent, pilot)
        assert not scene.error
        await stop(api, job.id)
        assert job.parameters["scene"] == "P:/shots/shot010.blend", "sent as typed"


async def test_the_controllers_refusal_is_scrolled_into_view_under_its_field_and_said_on_top(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    name = f"refused-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "command")
        await fill(pilot, form.fields["name"], name)
        await fill(pilot, form.fields["frames"], "1")
        await fill(pilot, form.fields["parameters.argv"], "true")
        # Only the controller knows job 999999 does not exist; the field is far from the
        # one focused at the bottom of the form.
        depends = form.fields["depends_on"]
        await fill(pilot, depends, "999999")
        await fill(pilot, form.fields["environment"], "A=1")
        scroll = form.query_one("#submit-form", VerticalScroll)
        await until("the form scrolled down to environment", lambda: scroll.scroll_y > 0, pilot)
        await until("the depends-on field out of view", lambda: not visible(scroll, depends), pilot)
        await pilot.press("ctrl+s")
        await until("the controller's refusal under depends on", lambda: depends.error, pilot)
        assert depends.error == "job 999999 does not exist"
        await until("the depends-on field and its error in view", lambda: visible(scroll, depends), pilot)
        assert form.focused is depends.control
        top = form.top_line
        assert top == "the controller refused the job: depends on: job 999999 does not exist"

        # The form lets any retry count through; the controller's limit lands on the field.
        await fill(pilot, depends, "")
        await fill(pilot, form.fields["max_retries"], "500")
        await pilot.press("ctrl+s")
        retries = form.fields["max_retries"]
        await until("the controller's refusal under max retries", lambda: retries.error, pilot)
        assert retries.error == "must be between 0 and 100, not 500"
        assert isinstance(app.screen, SubmitScreen)
    assert await jobs_named(api, name) == []


def visible(scroll: VerticalScroll, field: Field) -> bool:
    """Whether the whole field (label, control, help and error) is inside the form's view."""
    return scroll.content_region.contains_region(field.region)


async def test_a_letter_on_the_closed_plugin_list_picks_the_first_plugin_starting_with_it(
    app: RenderqApp,
) -> None:
    async with running(app, SIZE) as pilot:
        await until("the app to connect to the controller", lambda: app.stub, pilot)
        await pilot.press("n")
        form = await until(
            "the submit form", lambda: app.screen if isinstance(app.screen, SubmitScreen) else None, pilot
        )
        await until("the plugins to load", lambda: form.plugins, pilot)
        plugin = form.fields["plugin"].control
        assert form.focused is plugin and not cast("PluginSelect", plugin).expanded
        await pilot.press("c")
        assert plugin.value == "command"
        await until("the command plugin's fields", lambda: "parameters.argv" in form.fields, pilot)
        await pilot.press("d")
        assert plugin.value == "demo"
        await pilot.press("B")
        assert plugin.value == "blender"
        await until("the blender plugin's fields", lambda: "parameters.scene" in form.fields, pilot)
        await pilot.press("escape")


async def test_empty_fields_say_their_default_and_every_option_of_submit_has_a_field(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    """The fields ``renderq submit --help`` offers (dependencies, requirements, environment,
    timeout) end up in the job as typed; placeholders read as defaults, not values."""
    first = await submit(api, pb.Job(plugin="command", frames="1"), {"argv": ["true"]})
    name = f"full-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "command")
        for key in ("chunk_size", "priority", "max_retries", "task_timeout", "requirements.min_cpu_cores"):
            control = form.fields[key].control
            assert isinstance(control, Input) and not control.value, key
            assert control.placeholder.startswith("default: "), (key, control.placeholder)
        priority = form.fields["priority"].control
        assert isinstance(priority, Input) and priority.placeholder == "default: 50"
        typed = {
            "name": name,
            "frames": "1-2",
            "parameters.argv": "true",
            "task_timeout": "2h",
            "depends_on": str(first),
            "requirements.min_cpu_cores": "1",
            "requirements.min_ram_bytes": "1GiB",
            "requirements.min_gpu_memory_bytes": "512MiB",
            "requirements.renderers": "blender",
            "requirements.tags": "fast ssd",
            "environment": "SHOT=010 'NOTE=two words'",
        }
        for key, text in typed.items():
            await fill(pilot, form.fields[key], text)
        await fill(pilot, form.fields["requirements.min_ram_bytes"], "8 gigs")
        await pilot.press("ctrl+s")
        ram = form.fields["requirements.min_ram_bytes"]
        await until("the size refused under its field", lambda: ram.error, pilot)
        assert ram.error.startswith("'8 gigs' is not a size")
        await fill(pilot, ram, "1GiB")
        values = form.checked_values()
        assert values is not None
        need = build_job(values).requirements
        assert (need.min_cpu_cores, need.min_ram_bytes, need.min_gpu_memory_bytes) == (
            1,
            1024**3,
            512 * 1024**2,
        )
        assert (list(need.renderers), list(need.tags), need.min_gpu_count, need.os) == (
            ["blender"],
            ["fast", "ssd"],
            0,
            "",
        )
        # What no agent here has (a GPU, the tags) the controller refuses: sent without it.
        for key in ("requirements.min_gpu_memory_bytes", "requirements.renderers", "requirements.tags"):
            await fill(pilot, form.fields[key], "")
        await pilot.press("ctrl+s")
        await until(
            "the form to close", lambda: not isinstance(app.screen, SubmitScreen) or form.top_line, pilot
        )
        assert not form.top_line
        [job] = await until(f"job {name} to be listed", lambda: jobs_named(api, name), pilot)
        await stop(api, job.id)
    assert list(job.depends_on) == [first]
    assert job.task_timeout.ToSeconds() == 7200
    assert dict(job.environment) == {"SHOT": "010", "NOTE": "two words"}
    assert (job.requirements.min_cpu_cores, job.requirements.min_ram_bytes) == (1, 1024**3)


async def test_a_reservation_limits_and_failure_rules_typed_in_the_form_are_the_jobs(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    """What ``renderq submit`` sets with --task-cores/--task-memory/--task-gpus, --limit,
    --max-agent-failures, --min-runtime and --frame-by-frame, as the controller keeps it."""
    first = await submit(api, pb.Job(plugin="command", frames="1-2"), {"argv": ["true"]})
    licence = f"lic-{uuid.uuid4().hex[:8]}"
    await api.SetLimit(fpb.SetLimitRequest(limit=pb.Limit(name=licence, capacity=2)))
    name = f"reserved-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        await until("agent a1 with its GPU", lambda: agent_gpus(api), pilot)
        form = await open_form(pilot, app, "command")
        for key in ("reservation.cores", "reservation.memory_bytes", "reservation.gpus", "limits"):
            control = form.fields[key].control
            assert isinstance(control, Input) and control.placeholder == "default: none", key
        put(
            form,
            {
                "name": name,
                "frames": "1-2",
                "parameters.argv": "true",
                "limits": f"{licence},",
                "max_agent_failures": "0",
                "min_runtime": "2m",
                "depends_on": str(first),
            },
        )
        typed = {"reservation.cores": "1", "reservation.memory_bytes": "256MiB", "reservation.gpus": "1"}
        for key, text in typed.items():
            await fill(pilot, form.fields[key], text)
        form.fields["frame_by_frame"].control.focus()
        await pilot.press("space")
        await pilot.press("ctrl+s")
        await until(
            "the form to close", lambda: not isinstance(app.screen, SubmitScreen) or form.top_line, pilot
        )
        assert not form.top_line
        [listed] = await until(f"job {name} to be listed", lambda: jobs_named(api, name), pilot)
        job = (await api.GetJob(fpb.GetJobRequest(job_id=listed.id))).job
        await stop(api, job.id)
    held = job.reservation
    assert (held.cores, held.memory_bytes, held.gpus) == (1, 256 * 1024**2, 1)
    assert list(job.limits) == [licence]
    assert job.HasField("max_agent_failures") and job.max_agent_failures == 0
    assert job.min_runtime.ToSeconds() == 120
    assert job.frame_by_frame and list(job.depends_on) == [first]


async def agent_gpus(api: FarmServiceAsyncStub) -> int:
    agents = (await api.ListAgents(fpb.ListAgentsRequest())).agents
    return sum(len(a.hardware.gpus) for a in agents if a.status == pb.AGENT_STATUS_ONLINE)


async def test_frame_by_frame_without_dependencies_is_shown_on_its_field_and_nothing_is_sent(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    name = f"fbf-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "command")
        put(form, {"name": name, "frames": "1", "parameters.argv": "true"})
        box = form.fields["frame_by_frame"]
        box.control.focus()
        await pilot.press("space")
        await fill(pilot, form.fields["environment"], "A=1")  # the form scrolled past the box
        await pilot.press("ctrl+s")
        await until("an error under frame by frame", lambda: box.error, pilot)
        assert box.error == "needs depends on: the jobs whose frames it waits for"
        assert form.top_line == f"check frame by frame: {box.error}"
        assert form.focused is box.control
        scroll = form.query_one("#submit-form", VerticalScroll)
        await until("frame by frame and its error in view", lambda: visible(scroll, box), pilot)
    assert await jobs_named(api, name) == []


async def test_a_limit_never_set_is_refused_by_the_controller_under_limits(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    name = f"no-limit-{uuid.uuid4().hex[:8]}"
    async with running(app, SIZE) as pilot:
        form = await open_form(pilot, app, "command")
        # The controller names these fields in its refusals; each lands on its own field.
        for named in (
            "reservation.cores",
            "reservation.memory_bytes",
            "reservation.gpus",
            "limits",
            "frame_by_frame",
            "max_agent_failures",
            "min_runtime",
        ):
            assert form.field_named(named) is form.fields[named], named
        put(form, {"name": name, "frames": "1", "parameters.argv": "true"})
        limits = form.fields["limits"]
        await fill(pilot, limits, "nosuchlicence")
        await pilot.press("ctrl+s")
        await until("the controller's refusal under limits", lambda: limits.error, pilot)
        assert (
            limits.error == "there is no limit 'nosuchlicence'; `renderq limit set nosuchlicence N` makes one"
        )
        assert form.top_line == f"the controller refused the job: limits: {limits.error}"
        assert form.focused is limits.control
    assert await jobs_named(api, name) == []


async def test_help_lists_every_key_of_the_app_and_of_the_focused_table(app: RenderqApp) -> None:
    async with running(app, SIZE) as pilot:
        await pilot.press("question_mark")
        help_screen = await until(
            "the help screen", lambda: app.screen if isinstance(app.screen, HelpScreen) else None, pilot
        )
        places = {s.place: {k.description: k for k in s.keys} for s in help_screen.sections}
        everywhere = places["Everywhere"]
        for description in ("Cancel", "Filter", "New", "Preview", "Priority +10", "Quit", "Help"):
            assert description in everywhere, description
        assert everywhere["Priority +10"].keys == "+ ="
        assert everywhere["Cancel"].tooltip == "Cancel the selected job (asks first)"
        assert {"Open", "Sort", "Down", "Up"} <= set(places["Jobs table"])
        assert places["Jobs table"]["Open"].keys == "⏎"
        assert "Focus Next" in places["Main screen"]
        shown = app.export_screenshot()
        assert "Cancel" in shown and "Filter" in shown
        await pilot.press("end")
        await pilot.pause()
        assert "palette" in app.export_screenshot()
        await pilot.press("escape")
        await until("the help screen to close", lambda: not isinstance(app.screen, HelpScreen), pilot)


async def submit(api: FarmServiceAsyncStub, job: pb.Job, parameters: dict[str, Any]) -> int:
    job.parameters.update(parameters)
    job.name = job.name or f"preview-{uuid.uuid4().hex[:8]}"
    return (await api.CreateJob(fpb.CreateJobRequest(job=job))).job.id


async def completed(api: FarmServiceAsyncStub, job_id: int) -> bool:
    job = (await api.GetJob(fpb.GetJobRequest(job_id=job_id))).job
    assert job.state not in (pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED), job.last_error
    return job.state == pb.JOB_STATE_COMPLETED


async def preview(pilot: Pilot[Any], app: RenderqApp, job_id: int, row: int) -> PreviewScreen:
    """``v`` on the job in ``row`` of the jobs table (newest first)."""
    table = app.query_one(JobsTable)
    await until(f"job {job_id} in the jobs table", lambda: str(job_id) in table.rows, pilot)
    await pilot.press("ctrl+home", *["down"] * row)
    assert table.selected_job_id == job_id
    await pilot.press("v")
    return await until(
        "the preview screen", lambda: app.screen if isinstance(app.screen, PreviewScreen) else None, pilot
    )


def message(screen: PreviewScreen) -> str:
    return str(screen.query_one("#preview-message").render())


async def test_preview_shows_the_latest_frame_or_says_why_it_cannot(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    no_output = await submit(api, pb.Job(plugin="command", frames="1"), {"argv": ["true"]})
    text_output = await submit(
        api,
        pb.Job(plugin="command", frames="1"),
        {
            "argv": ["sh", "-c", "echo hi > {renders}/note_{frame}.txt"],
            "outputs": "{renders}/note_{frame}.txt",
        },
    )
    demo = await submit(
        api,
        pb.Job(plugin="demo", frames="1-2", chunk_size=2),
        {"width": 64, "height": 36, "seconds_per_frame": 0},
    )
    async with running(app, SIZE) as pilot:
        for job_id in (no_output, text_output, demo):
            await until(f"job {job_id} to complete", partial(completed, api, job_id), pilot)

        screen = await preview(pilot, app, demo, row=0)
        main = screen.query_one("#preview-main", FramePicture)
        await until("the frame to be drawn", lambda: main.shown.image is not None, pilot)
        assert screen.frame is not None and screen.frame.number == 2
        title = str(screen.query_one("#preview-title").render())
        assert "frame 2" in title and "demo_0002.png" in title and "64x36" in title
        assert screen.frame.outputs[0].HasField("thumbnail")  # made by the agent, read from the store
        await pilot.press("r")
        await until(
            "the reload to draw again", lambda: main.shown.image is not None and not message(screen), pilot
        )
        await pilot.press("escape")
        await until("the preview to close", lambda: not isinstance(app.screen, PreviewScreen), pilot)

        screen = await preview(pilot, app, text_output, row=1)
        await until("the no-picture message", lambda: "has no picture" in message(screen), pilot)
        assert "note_1.txt" in message(screen)
        await pilot.press("q")
        await until("the preview to close", lambda: not isinstance(app.screen, PreviewScreen), pilot)

        screen = await preview(pilot, app, no_output, row=2)
        await until("the no-frame message", lambda: "no rendered frame yet" in message(screen), pilot)
        assert screen.query_one("#preview-main", FramePicture).shown.image is None


def caption(picture: FramePicture) -> str:
    return picture.shown.caption


def shows(picture: FramePicture, frame: str) -> bool:
    """Whether ``picture`` shows ``frame`` ("frame 2", "frame 1 (test)")."""
    return caption(picture).startswith(f"{frame} ·")


async def test_preview_steps_through_frames_and_compares_a_test_frame(
    app: RenderqApp, api: FarmServiceAsyncStub
) -> None:
    job_id = await submit(
        api,
        pb.Job(plugin="demo", frames="1-3", chunk_size=1, test_frames="1"),
        {"width": 48, "height": 32, "seconds_per_frame": 0},
    )
    async with running(app, SIZE) as pilot:
        await until(f"job {job_id} to complete", partial(completed, api, job_id), pilot)
        screen = await preview(pilot, app, job_id, row=0)
        main, other = (
            screen.query_one("#preview-main", FramePicture),
            screen.query_one("#preview-other", FramePicture),
        )
        await until("a frame to be drawn", lambda: main.shown.image is not None, pilot)
        assert [f.number for f in screen.frames] == [1, 2, 3] and screen.frames[0].test
        steps = [
            ("left", "left", "left"),
            ("right_square_bracket",),
            ("right", "right"),
            ("left_square_bracket",),
        ]
        for keys, shown in zip(steps, ["frame 1 (test)", "frame 2", "frame 3", "frame 2"], strict=True):
            await pilot.press(*keys)
            await until(f"{shown} drawn", partial(shows, main, shown), pilot)
        assert screen.index == 1 and main.shown.image is not None and main.shown.image.size == (48, 32)
        assert str(screen.query_one("#preview-title").render()).endswith(" · 2 of 3")

        await pilot.press("c")
        await until("both pictures", lambda: other.display and other.shown.image is not None, pilot)
        assert caption(main).startswith("frame 1 (test)")
        assert caption(other).startswith(f"frame {screen.frames[latest(screen.frames)].number}")
        assert "test frame 1 beside" in str(screen.query_one("#preview-title").render())
        await pilot.press("c")
        await until("one picture again", lambda: not other.display, pilot)
