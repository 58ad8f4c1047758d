"""The submit form's fields: each a label, a control, its help and its error, and the
parser that turns its text into the value sent (``submit_parse``); the job they describe.

The job's own fields (plugin, frames, scheduling, reservation, requirements, environment)
are fixed; the plugin's parameters come from its schema (``ListPlugins``). An empty field
leaves the value out, so the controller's default applies: its placeholder says which
(``default: 50``), never a bare number that looks typed in.
"""

from __future__ import annotations

import json
import shlex
from datetime import timedelta
from typing import Any, Literal

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from renderq.client.login import login_name
from renderq.client.units import parse_size
from renderq.tui.submit_parse import (
    Parse,
    duration,
    environment,
    frame_range,
    job_ids,
    names,
    number,
    whole,
    words,
)
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

Control = Input | Select[str] | Checkbox
InputType = Literal["integer", "number", "text"]
"""What an ``Input`` lets be typed (Textual's own alias is private)."""
PARAMETERS = "parameters."
"""Prefix of the parameter fields' keys, as the controller names them in its errors."""
REQUIREMENTS = "requirements."
RESERVATION = "reservation."


class Field(Vertical):
    """One entry of the form: its label (``*`` when required), its control, its help under
    it, and what is wrong with it, in red."""

    DEFAULT_CSS = """
    Field { height: auto; }
    Field > Horizontal { height: auto; }
    Field .field-label { width: 16; }
    Field Input, Field Select { width: 1fr; }
    Field .field-help { color: $text-muted; padding-left: 16; }
    Field .field-help.-empty { display: none; }
    Field .field-error { color: $text-error; padding-left: 16; display: none; }
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
    input_type: InputType
    if kind == fpb.PARAMETER_TYPE_BOOLEAN:
        control = Checkbox("yes", value=bool(default), compact=True)  # a label-less box draws cut off
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
            type=input_type,
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


class PluginSelect(Select[str]):
    """The plugins; closed, typing a letter picks the first plugin starting with it (the
    next one on the same letter again). Open, the list finds a typed name itself."""

    def __init__(self) -> None:
        # A prompt without letters: typing a plugin's name in the open list must not match it.
        super().__init__([], prompt="…", id="plugin", compact=True)
        self.names: list[str] = []

    def set_names(self, names: list[str]) -> None:
        self.names = names
        self.set_options((name, name) for name in names)

    def on_key(self, event: events.Key) -> None:
        letter = (event.character or "").lower()
        if self.expanded or not letter.isalnum():
            return
        starting = [name for name in self.names if name.lower().startswith(letter)]
        if starting:
            current = self.value if isinstance(self.value, str) else ""
            self.value = (
                starting[(starting.index(current) + 1) % len(starting)]
                if current in starting
                else starting[0]
            )
        else:
            self.app.bell()
        event.stop()
        event.prevent_default()


def number_input(default: str) -> Input:
    return Input(placeholder=f"default: {default}", type="integer", valid_empty=True, compact=True)


def text_input(placeholder: str, value: str = "") -> Input:
    return Input(value=value, placeholder=placeholder, compact=True)


def job_fields() -> list[Field]:
    """What every job has, before the plugin's parameters: which plugin, which frames."""
    return [
        Field("plugin", "plugin", PluginSelect(), help="loading the plugins…", required=True),
        Field("name", "name", text_input("default: plugin and frames")),
        Field(
            "frames", "frames", text_input("e.g. 1-100, 1-100x5 or 1,3,7-9"), required=True, parse=frame_range
        ),
    ]


def scheduling_fields() -> list[Field]:
    """How the job runs; ``renderq submit --help`` has the same options."""
    return [
        Field("chunk_size", "chunk size", number_input("1"), help="frames per task", parse=whole(1)),
        Field(
            "priority",
            "priority",
            number_input("50"),
            help="0 (lowest) to 100 (highest)",
            parse=whole(0, 100),
        ),
        Field(
            "max_retries",
            "max retries",
            number_input("3"),
            help="automatic retries of a failed frame",
            parse=whole(0),
        ),
        Field(
            "max_agent_failures",
            "agent failures",
            number_input("3"),
            help="failed tasks after which an agent is blocked; 0: never",
            parse=whole(0),
        ),
        Field(
            "task_timeout",
            "timeout",
            text_input("default: none"),
            help="kill a task that runs longer: 90s, 30m, 2h",
            parse=duration,
        ),
        Field(
            "min_runtime",
            "min run time",
            text_input("default: none"),
            help="a task that succeeds sooner counts as failed: 30s, 2m",
            parse=duration,
        ),
        Field(
            "depends_on",
            "depends on",
            text_input("default: none"),
            help="job ids this job waits for: 41 42",
            parse=job_ids,
        ),
        Field(
            "frame_by_frame",
            "frame by frame",
            Checkbox("frame N starts once frame N of those jobs completed", compact=True),
        ),
        Field("pool", "pool", text_input("default: any pool"), help="run only on agents of this pool"),
        Field(
            "limits",
            "limits",
            text_input("default: none"),
            help="licences each task holds: maya, nuke (renderq limit list)",
            parse=names,
        ),
        Field("owner", "owner", text_input("", login_name())),
    ]


def reservation_fields() -> list[Field]:
    """What each task holds on its agent; an agent runs tasks side by side only while they fit."""
    return [
        Field(RESERVATION + "cores", "task cores", number_input("none"), parse=whole(0)),
        Field(
            RESERVATION + "memory_bytes",
            "task memory",
            text_input("default: none"),
            help="e.g. 40GiB",
            parse=parse_size,
        ),
        Field(
            RESERVATION + "gpus",
            "task GPUs",
            number_input("none"),
            help="whole GPUs, never shared: {gpus}, CUDA_VISIBLE_DEVICES",
            parse=whole(0),
        ),
    ]


def requirement_fields() -> list[Field]:
    """What a node needs to get the job; agents that lack it never do."""
    return [
        Field(REQUIREMENTS + "min_cpu_cores", "min cores", number_input("any"), parse=whole(0)),
        Field(
            REQUIREMENTS + "min_ram_bytes",
            "min RAM",
            text_input("default: any"),
            help="e.g. 8GiB",
            parse=parse_size,
        ),
        Field(REQUIREMENTS + "min_gpu_count", "min GPUs", number_input("any"), parse=whole(0)),
        Field(
            REQUIREMENTS + "min_gpu_memory_bytes",
            "min GPU memory",
            text_input("default: any"),
            help="per GPU, e.g. 8GiB",
            parse=parse_size,
        ),
        Field(
            REQUIREMENTS + "os",
            "OS",
            Select([(os, os) for os in ("Linux", "Windows", "Darwin")], prompt="default: any", compact=True),
        ),
        Field(
            REQUIREMENTS + "renderers",
            "renderers",
            text_input("default: none"),
            help="installed renderers, e.g. blender",
            parse=words,
        ),
        Field(
            REQUIREMENTS + "tags",
            "tags",
            text_input("default: none"),
            help="agent tags, e.g. gpu",
            parse=words,
        ),
    ]


def environment_fields() -> list[Field]:
    return [
        Field(
            "environment",
            "environment",
            text_input("default: none"),
            help="KEY=VALUE pairs for the tasks, quoted as in a shell",
            parse=environment,
        )
    ]


def parameters(values: dict[str, Any]) -> dict[str, Any]:
    """The plugin parameters among the form's values, by their own names; empty ones left out."""
    return _prefixed(values, PARAMETERS)


def conflicts(values: dict[str, Any]) -> dict[str, str]:
    """What is wrong with fields taken together, by field key, said before the controller would."""
    if values.get("frame_by_frame") and not values.get("depends_on"):
        return {"frame_by_frame": "needs depends on: the jobs whose frames it waits for"}
    return {}


def _prefixed(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The values of the fields named ``prefix`` + name, by name; empty ones left out."""
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix) and v is not None}


def build_job(values: dict[str, Any]) -> pb.Job:
    """The job the form's values (by field key) describe; a None value leaves its field
    unset, so the controller's default applies."""
    job = pb.Job(
        plugin=values["plugin"],
        name=values["name"] or "",
        frames=values["frames"],
        chunk_size=values["chunk_size"],
        priority=values["priority"],
        max_retries=values["max_retries"],
        max_agent_failures=values["max_agent_failures"],
        pool=values["pool"] or "",
        owner=values["owner"] or "",
        depends_on=values["depends_on"] or [],
        frame_by_frame=values["frame_by_frame"],
        limits=values["limits"] or [],
        environment=values["environment"] or {},
        reservation=pb.TaskReservation(**_prefixed(values, RESERVATION)),
        requirements=pb.Requirements(**_prefixed(values, REQUIREMENTS)),
    )
    if values["task_timeout"] is not None:
        job.task_timeout.FromTimedelta(timedelta(seconds=values["task_timeout"]))
    if values["min_runtime"] is not None:
        job.min_runtime.FromTimedelta(timedelta(seconds=values["min_runtime"]))
    job.parameters.update(parameters(values))
    return job
