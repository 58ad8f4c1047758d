"""Submitting a job from a form built from the plugin's own parameter schema.

The plugins and their parameters come from the controller (``ListPlugins``), so a new
plugin gets its form without a TUI release. What the form can check (the frame range,
numbers, required fields) it checks before sending, under the field concerned; what only
the controller knows (a scene missing on its storage) comes back as its
``FIELD: sentence`` and lands under that field too. Every call runs in a worker.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import grpc
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from renderq.client.errors import InvalidArgument, from_rpc_error
from renderq.client.login import login_name
from renderq.plugins.frame_range import parse_frames
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.tui.app import RenderqApp

Parse = Callable[[str], Any]
"""Turns a field's text into the value to send; raises ValueError saying what is wrong."""
Control = Input | Select[str] | Checkbox
PARAMETERS = "parameters."
"""Prefix of the parameter fields' keys, as the controller names them in its errors."""


def whole(least: int | None = None, most: int | None = None) -> Parse:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if least is not None and most is not None and not least <= value <= most:
            raise ValueError(f"must be between {least} and {most}, not {value}")
        if least is not None and value < least:
            raise ValueError(f"must be {least} or more, not {value}")
        return value

    return parse


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {text}")
    return value


def words(text: str) -> list[str]:
    """A command line split as a shell would (quotes group, backslashes escape)."""
    try:
        return shlex.split(text)
    except ValueError as e:
        raise ValueError(f"cannot split this into words as a shell would: {str(e).lower()}") from None


def frame_range(text: str) -> str:
    parse_frames(text)  # FrameRangeError is a ValueError whose message says what is wrong
    return text


class Field(Vertical):
    """One entry of the form: its label (``*`` when required), its control, its help under
    it, and what is wrong with it, in red."""

    DEFAULT_CSS = """
    Field { height: auto; }
    Field > Horizontal { height: auto; }
    Field .field-label { width: 14; }
    Field Input, Field Select { width: 1fr; }
    Field .field-help { color: $text-muted; padding-left: 14; }
    Field .field-help.-empty { display: none; }
    Field .field-error { color: $text-error; padding-left: 14; display: none; }
    Field.-invalid .field-error { display: block; }
    """

    def __init__(
        self,
        key: str,
        label: str,
        control: Control,
        *,
        help: str = "",
        required: bool = False,
        parse: Parse = str,
    ) -> None:
        super().__init__()
        self.key = key
        """The field as the controller names it: ``frames``, ``parameters.scene``."""
        self.label = label
        self.control = control
        self.help = help
        self.required = required
        self.parse = parse
        self.error = ""
        """What is wrong with the value, as shown; empty when nothing is."""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(
                f"{self.label} *" if self.required else self.label, classes="field-label", markup=False
            )
            yield self.control
        yield Static(self.help, classes="field-help" if self.help else "field-help -empty", markup=False)
        yield Static("", classes="field-error", markup=False)

    def read(self) -> Any:
        """The value to send, or None to leave it out (the controller's default applies)."""
        control = self.control
        if isinstance(control, Checkbox):
            return control.value
        if isinstance(control, Select):
            value = None if control.is_blank() else control.value
        else:
            text = control.value.strip()
            value = self.parse(text) if text else None
        if value is None and self.required:
            raise ValueError(f"{self.label} is required")
        return value

    def show_help(self, text: str) -> None:
        self.help = text
        help_box = self.query_one(".field-help", Static)
        help_box.update(text)
        help_box.set_class(not text, "-empty")

    def show_error(self, message: str) -> None:
        self.error = message
        self.query_one(".field-error", Static).update(message)
        self.set_class(bool(message), "-invalid")


def _default_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return shlex.join(str(v) for v in value)
    return json.dumps(value)


def parameter_field(parameter: fpb.PluginParameter) -> Field:
    """The field for one plugin parameter: its control by type, its default filled in."""
    default = json.loads(parameter.default_json) if parameter.default_json else None
    kind = parameter.type
    control: Control
    parse: Parse = str
    if kind == fpb.PARAMETER_TYPE_BOOLEAN:
        control = Checkbox(value=bool(default), compact=True)
    elif kind == fpb.PARAMETER_TYPE_CHOICE:
        choices = list(parameter.choices)
        blank = not (parameter.required and choices)
        control = Select(
            [(c, c) for c in choices],
            prompt="the plugin's default" if blank else "choose one",
            allow_blank=blank,
            value=default if default in choices else Select.NULL,
            compact=True,
        )
    else:
        if kind == fpb.PARAMETER_TYPE_INTEGER:
            input_type, parse = "integer", whole()
        elif kind == fpb.PARAMETER_TYPE_NUMBER:
            input_type, parse = "number", number
        else:
            input_type, parse = "text", words if kind == fpb.PARAMETER_TYPE_STRING_LIST else str
        control = Input(
            value=_default_text(default),
            type=input_type,  # type: ignore[arg-type]
            valid_empty=True,
            placeholder="words, quoted as in a shell" if kind == fpb.PARAMETER_TYPE_STRING_LIST else "",
            compact=True,
        )
    return Field(
        PARAMETERS + parameter.name,
        parameter.name,
        control,
        help=parameter.help,
        required=parameter.required,
        parse=parse,
    )


def common_fields() -> list[Field]:
    """The fields every job has. Empty numbers leave the controller's default (shown greyed)."""
    return [
        Field(
            "plugin",
            "plugin",
            # A prompt without letters: typing a plugin's name in the open list must not match it.
            Select[str]([], prompt="…", id="plugin", compact=True),
            help="loading the plugins…",
            required=True,
        ),
        Field("name", "name", Input(placeholder="plugin and frames when empty", compact=True)),
        Field(
            "frames",
            "frames",
            Input(placeholder="1-100, 1-100x5 or 1,3,7-9", compact=True),
            required=True,
            parse=frame_range,
        ),
        Field(
            "chunk_size",
            "chunk size",
            Input(placeholder="1", type="integer", valid_empty=True, compact=True),
            help="frames per task",
            parse=whole(1),
        ),
        Field(
            "priority",
            "priority",
            Input(placeholder="50", type="integer", valid_empty=True, compact=True),
            help="0 (lowest) to 100 (highest)",
            parse=whole(0, 100),
        ),
        Field(
            "max_retries",
            "max retries",
            Input(placeholder="3", type="integer", valid_empty=True, compact=True),
            help="automatic retries of a failed frame",
            parse=whole(0),
        ),
        Field(
            "pool",
            "pool",
            Input(placeholder="any pool", compact=True),
            help="run only on agents of this pool",
        ),
        Field("owner", "owner", Input(value=login_name(), compact=True)),
    ]


class SubmitScreen(ModalScreen[int | None]):
    """The form; dismissed with the new job's id, or None when cancelled."""

    DEFAULT_CSS = """
    SubmitScreen { align: center middle; }
    SubmitScreen #submit-dialog {
        width: 100%; max-width: 110; height: 100%; max-height: 50;
        background: $surface; border: tall $primary; padding: 0 1;
    }
    SubmitScreen #submit-title { text-style: bold; }
    SubmitScreen #submit-error { color: $text-error; height: auto; }
    SubmitScreen #submit-error.-empty { display: none; }
    SubmitScreen #submit-form { height: 1fr; }
    SubmitScreen #submit-parameters { height: auto; }
    SubmitScreen .section { text-style: bold; margin-top: 1; }
    SubmitScreen #submit-buttons { height: auto; align-horizontal: right; }
    SubmitScreen #submit-buttons Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", priority=True, tooltip="Check the form and submit the job"),
        Binding("escape", "cancel", "Cancel", tooltip="Close the form without submitting"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.fields = {field.key: field for field in common_fields()}
        """Every field shown, by the name the controller gives it."""
        self.plugins: dict[str, fpb.Plugin] = {}
        self.sending = False
        """A CreateJob is on its way: a second ctrl+s must not submit the job twice."""

    @property
    def farm_app(self) -> RenderqApp:
        return cast("RenderqApp", self.app)

    def compose(self) -> ComposeResult:
        with Vertical(id="submit-dialog"):
            yield Static("Submit a job  (* required)", id="submit-title")
            yield Static("", id="submit-error", classes="-empty", markup=False)
            with VerticalScroll(id="submit-form"):
                yield from self.fields.values()
                yield Vertical(id="submit-parameters")
            with Horizontal(id="submit-buttons"):
                yield Button("Submit (ctrl+s)", variant="primary", id="submit", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.fields["plugin"].control.focus()
        self._load_plugins()

    def show_top_error(self, message: str) -> None:
        box = self.query_one("#submit-error", Static)
        box.update(message)
        box.set_class(not message, "-empty")

    @work(exclusive=True, group="plugins")
    async def _load_plugins(self) -> None:
        farm = self.farm_app.stub
        field = self.fields["plugin"]
        if farm is None:
            field.show_help("")
            self.show_top_error("not connected to the controller: close the form and try again once it is")
            return
        try:
            response = await farm.ListPlugins(fpb.ListPluginsRequest())
        except grpc.aio.AioRpcError as error:
            field.show_help("")
            message = from_rpc_error(error, self.farm_app.status.address).message
            self.show_top_error(f"cannot list the plugins: {message}")
            return
        self.plugins = {p.name: p for p in response.plugins}
        cast("Select[str]", field.control).set_options((name, name) for name in self.plugins)
        field.show_help(f"{len(self.plugins)} plugins: enter opens the list, typing a name jumps to it")

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
        if plugin is None or not plugin.parameters:
            return
        added = [parameter_field(p) for p in plugin.parameters]
        self.fields.update((f.key, f) for f in added)
        await box.mount_all([Label(f"{plugin.name} parameters", classes="section"), *added])

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
        job = self.checked_job()
        if job is not None:
            self.sending = True
            self._send(job)

    def checked_job(self) -> pb.Job | None:
        """The job the form describes, or None after showing what is wrong under each field."""
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
        if wrong:
            self._point_at(wrong[0])
            return None
        job = pb.Job(
            plugin=values["plugin"],
            name=values["name"] or "",
            frames=values["frames"],
            chunk_size=values["chunk_size"],  # None leaves it unset: the controller's default
            priority=values["priority"],
            max_retries=values["max_retries"],
            pool=values["pool"] or "",
            owner=values["owner"] or "",
        )
        job.parameters.update(
            {
                k.removeprefix(PARAMETERS): v
                for k, v in values.items()
                if k.startswith(PARAMETERS) and v is not None
            }
        )
        return job

    @work(group="submit")
    async def _send(self, job: pb.Job) -> None:
        app = self.farm_app
        farm = app.stub
        try:
            if farm is None:
                self.show_top_error("not connected to the controller; submit again once it is")
                return
            response = await farm.CreateJob(fpb.CreateJobRequest(job=job))
        except grpc.aio.AioRpcError as error:
            self._refused(error)
            return
        finally:
            self.sending = False
        app.notify(f"submitted job {response.job.id}")
        self.dismiss(response.job.id)

    def _refused(self, rpc_error: grpc.aio.AioRpcError) -> None:
        """The controller's sentence under the field it names (``FIELD: sentence``), else at the top."""
        error = from_rpc_error(rpc_error, self.farm_app.status.address)
        name, colon, sentence = error.message.partition(": ")
        field = self.field_named(name) if isinstance(error, InvalidArgument) and colon else None
        if field is None:
            self.show_top_error(f"the controller refused the job: {error.message}")
            self.query_one("#submit-form", VerticalScroll).scroll_home()
            return
        field.show_error(sentence)
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
        field.control.focus()
        field.scroll_visible()
