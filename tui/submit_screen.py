"""Submitting a job from a form built from the plugin's own parameter schema.

The plugins and their parameters come from the controller (``ListPlugins``), so a new
plugin gets its form without a TUI release. What the form can check (the frame range,
numbers, sizes, required fields, frame by frame without dependencies) it checks before
sending, under the field concerned. Path parameters are made absolute from the TUI's
working directory and must exist on this machine (``localize_paths``), unless "paths
are on the render nodes" is ticked: the controller does not look at its own disk. What
only the controller knows (a job depended on that does not exist, a limit never set)
comes back as its ``FIELD: sentence`` (``reservation.cores: ...``) and lands under that
field too, scrolled into view, and is said on the form's top line. Every call runs in
a worker.

A scene the form can analyse (blender's .blend, maya's .ma: ``ANALYSED_BY_PLUGIN``) is
analysed on ctrl+r, and before sending whenever its field changed since the last
analysis: what it says shows under the fields, an empty frames field takes its range,
and missing files stop the first ctrl+s so they are seen (a second one sends anyway).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from renderq.client.errors import InvalidArgument
from renderq.client.paths import MissingPath, localize_paths
from renderq.client.scene_analysis import ANALYSED_BY_PLUGIN, analysable, frame_spec, missing_files
from renderq.tui.app_typed import RenderqAppMixin
from renderq.tui.submit_analysis import SceneAnalysisPanel
from renderq.tui.submit_fields import (
    PARAMETERS,
    Field,
    PluginSelect,
    build_job,
    conflicts,
    environment_fields,
    job_fields,
    parameter_field,
    parameters,
    requirement_fields,
    reservation_fields,
    scheduling_fields,
)
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

SECTIONS = [
    ("scheduling", scheduling_fields),
    ("reservation per task: what each task holds on its agent", reservation_fields),
    ("requirements: agents that lack them never get the job", requirement_fields),
    ("environment", environment_fields),
]
PATHS_ON_NODES = "paths are on the render nodes"
SCENE = "parameters.scene"
"""The field of the scene the form analyses."""


class SubmitScreen(RenderqAppMixin, ModalScreen[int | None]):
    """The form; dismissed with the new job's id, or None when cancelled."""

    DEFAULT_CSS = """
    SubmitScreen { align: center middle; }
    SubmitScreen #submit-dialog {
        width: 100%; max-width: 110; height: 100%; max-height: 50;
        background: $surface; border: tall $primary; padding: 0 1;
    }
    SubmitScreen #submit-title { text-style: bold; }
    SubmitScreen #submit-error { color: $text-error; height: auto; max-height: 3; }
    SubmitScreen #submit-error.-empty { display: none; }
    SubmitScreen #submit-form { height: 1fr; }
    SubmitScreen #submit-parameters { height: auto; }
    SubmitScreen #paths-on-nodes { margin-left: 16; }
    SubmitScreen .section { text-style: bold; margin-top: 1; }
    SubmitScreen #submit-buttons { height: auto; align-horizontal: right; }
    SubmitScreen #submit-buttons Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding(
            "ctrl+s",
            "submit",
            "Submit",
            priority=True,
            tooltip="Check the form and submit the job",
            id="submit.submit",
        ),
        Binding(
            "ctrl+r",
            "analyse",
            "Analyse scene",
            tooltip="Read the scene: frame range, cameras, output, missing files",
            id="submit.analyse",
        ),
        Binding(
            "escape", "cancel", "Cancel", tooltip="Close the form without submitting", id="submit.cancel"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sections = [(title, make()) for title, make in SECTIONS]
        self.fields = {field.key: field for field in job_fields()}
        """Every field shown, by the name the controller gives it."""
        for _, fields in self.sections:
            self.fields.update((field.key, field) for field in fields)
        self.plugins: dict[str, fpb.Plugin] = {}
        self.path_names: list[str] = []
        """The chosen plugin's path parameters, checked on this machine before sending."""
        self.sending = False
        """A CreateJob is on its way: a second ctrl+s must not submit the job twice."""
        self.top_line = ""
        """What the line above the form says is wrong, as shown; empty when nothing is."""
        self.analysed_text: str | None = None
        """The scene field's text when it was last analysed: ctrl+s analyses a changed one."""

    def compose(self) -> ComposeResult:
        with Vertical(id="submit-dialog"):
            yield Static("Submit a job  (* required)", id="submit-title")
            yield Static("", id="submit-error", classes="-empty", markup=False)
            with VerticalScroll(id="submit-form"):
                yield from (self.fields[key] for key in ("plugin", "name", "frames"))
                yield Vertical(id="submit-parameters")
                yield SceneAnalysisPanel()
                for title, fields in self.sections:
                    yield Label(title, classes="section")
                    yield from fields
            with Horizontal(id="submit-buttons"):
                yield Button("Submit (ctrl+s)", variant="primary", id="submit", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.fields["plugin"].control.focus()
        self._load_plugins()

    def show_top_error(self, message: str) -> None:
        self.top_line = message
        box = self.query_one("#submit-error", Static)
        box.update(message)
        box.set_class(not message, "-empty")

    @work(exclusive=True, group="plugins")
    async def _load_plugins(self) -> None:
        stub = self.renderq_app.stub
        field = self.fields["plugin"]
        if stub is None:
            field.show_help("")
            self.show_top_error("not connected to the controller: close the form and try again once it is")
            return
        try:
            response = await stub.ListPlugins(fpb.ListPluginsRequest())
        except grpc.aio.AioRpcError as error:
            field.show_help("")
            message = self.renderq_app.explain(error).message
            self.show_top_error(f"cannot list the plugins: {message}")
            return
        self.plugins = {p.name: p for p in response.plugins}
        self.query_one(PluginSelect).set_names(list(self.plugins))
        field.show_help(f"{len(self.plugins)} plugins: type a letter, or enter opens the list")

    @on(Select.Changed, "#plugin")
    async def _plugin_chosen(self, event: Select.Changed) -> None:
        plugin = self.plugins.get(event.value) if isinstance(event.value, str) else None
        field = self.fields["plugin"]
        if plugin is not None:
            needs = f" (needs {plugin.renderer} on the nodes)" if plugin.renderer else ""
            field.show_help(plugin.description + needs)
        box = self.query_one("#submit-parameters", Vertical)
        await box.remove_children()
        for key in [k for k in self.fields if k.startswith(PARAMETERS)]:
            del self.fields[key]
        self.path_names = []
        self.analysed_text = None
        self.query_one(SceneAnalysisPanel).clear()
        self.refresh_bindings()
        if plugin is None or not plugin.parameters:
            return
        added = [parameter_field(p) for p in plugin.parameters]
        self.fields.update((f.key, f) for f in added)
        self.path_names = [p.name for p in plugin.parameters if p.type == fpb.PARAMETER_TYPE_PATH]
        paths = [Checkbox(PATHS_ON_NODES, id="paths-on-nodes", compact=True)] if self.path_names else []
        await box.mount_all([Label(f"{plugin.name} parameters", classes="section"), *added, *paths])
        self.refresh_bindings()

    @on(Input.Submitted)
    def _next_field(self) -> None:
        self.focus_next()

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        if self.sending:
            return
        if self._scene_changed():
            self.sending = True
            self._analyse_then_submit()
            return
        values = self.checked_values()
        if values is not None:
            self.sending = True
            self._send(values)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """ctrl+r is offered only for a plugin whose ``scene`` can be analysed."""
        return self._plugin() in ANALYSED_BY_PLUGIN and SCENE in self.fields if action == "analyse" else True

    def action_analyse(self) -> None:
        if not self.sending:
            self._analyse()

    @work(exclusive=True, group="analysis")
    async def _analyse(self) -> None:
        await self._analysis(quiet=False)

    @work(group="submit")
    async def _analyse_then_submit(self) -> None:
        """The changed scene analysed first; the job sent unless files are missing (shown
        and said on the top line: ctrl+s again sends it, the scene being unchanged)."""
        try:
            analysis = await self._analysis(quiet=True)
        finally:
            self.sending = False
        missing = missing_files(analysis) if analysis is not None else []
        if not missing:
            self.action_submit()
            return
        self.show_top_error(
            f"the scene needs {len(missing)} missing file(s), named under the fields; "
            "ctrl+s again sends it anyway"
        )
        panel = self.query_one(SceneAnalysisPanel)
        self.call_after_refresh(self.query_one("#submit-form", VerticalScroll).scroll_to_widget, panel)

    def _plugin(self) -> str:
        value = self.fields["plugin"].control.value
        return value if isinstance(value, str) else ""

    def _scene_text(self) -> str:
        field = self.fields.get(SCENE)
        return field.control.value.strip() if field is not None and isinstance(field.control, Input) else ""

    def _scene_changed(self) -> bool:
        """Whether the scene can be analysed and its field changed since the last analysis."""
        text = self._scene_text()
        return analysable(self._plugin(), text) and text != self.analysed_text

    async def _analysis(self, *, quiet: bool) -> pb.SceneAnalysis | None:
        """The scene analysed and shown, an empty frames field filled with its range; None
        when it could not be (said in the panel), or, when ``quiet``, when there is no
        scene to analyse (what is wrong with the field is said when the job is sent)."""
        text, plugin = self._scene_text(), self._plugin()
        self.analysed_text = text
        panel = self.query_one(SceneAnalysisPanel)
        if not analysable(plugin, text):
            if not quiet:
                panel.say(f"type the scene first: a {ANALYSED_BY_PLUGIN[plugin]} file", failed=True)
            return None
        named = {"scene": text}
        try:
            await asyncio.to_thread(localize_paths, named, ["scene"], Path.cwd(), check=not self._on_nodes())
        except MissingPath:
            if not quiet:
                panel.say(f"{text!r} does not exist on this machine", failed=True)
            return None
        analysis = await panel.analyse(self.renderq_app.stub, Path(named["scene"]), plugin)
        frames = self.fields["frames"].control
        if analysis is not None and isinstance(frames, Input) and not frames.value.strip():
            frames.value = frame_spec(analysis)
        return analysis

    def _on_nodes(self) -> bool:
        """Whether "paths are on the render nodes" is ticked."""
        found = self.query("#paths-on-nodes")
        return bool(found) and found.first(Checkbox).value

    def checked_values(self) -> dict[str, Any] | None:
        """Every field's value by key, or None after showing what is wrong under each field."""
        self.show_top_error("")
        values: dict[str, Any] = {}
        wrong: list[Field] = []
        for key, field in self.fields.items():
            try:
                values[key] = field.read()
            except ValueError as error:
                field.show_error(str(error))
                wrong.append(field)
            else:
                field.show_error("")
        if not wrong:
            for key, message in conflicts(values).items():
                self.fields[key].show_error(message)
                wrong.append(self.fields[key])
        if wrong:
            names = ", ".join(field.label for field in wrong)
            self.show_top_error(f"check {names}: {wrong[0].error}" if len(wrong) == 1 else f"check {names}")
            self._point_at(wrong[0])
            return None
        return values

    @work(group="submit")
    async def _send(self, values: dict[str, Any]) -> None:
        stub = self.renderq_app.stub
        try:
            if not await self._localize(values):
                return
            if stub is None:
                self.show_top_error("not connected to the controller; submit again once it is")
                return
            response = await stub.CreateJob(fpb.CreateJobRequest(job=build_job(values)))
        except grpc.aio.AioRpcError as error:
            self._refused(error)
            return
        finally:
            self.sending = False
        self.dismiss(response.job.id)

    async def _localize(self, values: dict[str, Any]) -> bool:
        """Path parameters made absolute from where the TUI runs, and checked there (in a
        thread: a stat on a hung network share must not freeze the screen); False after
        showing a missing one on its field."""
        named = parameters(values)
        try:
            await asyncio.to_thread(
                localize_paths, named, self.path_names, Path.cwd(), check=not self._on_nodes()
            )
        except MissingPath as missing:
            field = self.fields[PARAMETERS + missing.name]
            self._wrong(
                field,
                f"{missing.path!r} does not exist on this machine; check the path, or tick "
                f"'{PATHS_ON_NODES}' if it is valid only there",
            )
            return False
        values.update((PARAMETERS + name, value) for name, value in named.items())
        return True

    def _refused(self, rpc_error: grpc.aio.AioRpcError) -> None:
        """The controller's sentence under the field it names (``FIELD: sentence``), else at the top."""
        error = self.renderq_app.explain(rpc_error)
        name, colon, sentence = error.message.partition(": ")
        field = self.field_named(name) if isinstance(error, InvalidArgument) and colon else None
        if field is None:
            self.show_top_error(f"the controller refused the job: {error.message}")
            return
        self._wrong(field, sentence, "the controller refused the job: ")

    def _wrong(self, field: Field, sentence: str, who: str = "") -> None:
        """What is wrong, under the field and on the top line, the field scrolled into view."""
        field.show_error(sentence)
        self.show_top_error(f"{who}{field.label}: {sentence}")
        self._point_at(field)

    def field_named(self, name: str) -> Field | None:
        """The field an error names: ``parameters.argv[0]`` is the argv field, ``a.b.c`` the
        closest of ``a.b.c``, ``a.b`` and ``a``."""
        key = name.split("[", 1)[0]
        while key:
            if key in self.fields:
                return self.fields[key]
            key = key.rpartition(".")[0]
        return None

    def _point_at(self, field: Field) -> None:
        """Focus the field and, once its error line is laid out, scroll all of it into view."""
        field.control.focus(scroll_visible=False)
        form = self.query_one("#submit-form", VerticalScroll)
        self.call_after_refresh(form.scroll_to_widget, field, animate=False)
