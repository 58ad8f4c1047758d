"""The submit form's fields: each a label, a control, its help and its error, and how its
text becomes the value sent.

The job's own fields (plugin, frames, scheduling, requirements, environment) are fixed;
the plugin's parameters come from its schema (``ListPlugins``). An empty field leaves
the value out, so the controller's default applies: its placeholder says which
(``default: 50``), never a bare number that looks typed in.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from renderq.client.login import login_name
from renderq.client.units import parse_size
from renderq.frame_range import parse_frames
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

Parse = Callable[[str], Any]
"""Turns a field's text into the value to send; raises ValueError saying what is wrong."""
Control = Input | Select[str] | Checkbox
InputType = Literal["integer", "number", "text"]
"""What an ``Input`` lets be typed (Textual's own alias is private)."""
PARAMETERS = "parameters."
"""Prefix of the parameter fields' keys, as the controller names them in its errors."""
REQUIREMENTS = "requirements."
DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


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


def job_ids(text: str) -> list[int]:
    """``41 42`` or ``41,42``: the jobs this one waits for."""
    ids = []
    for word in re.split(r"[,\s]+", text.strip()):
        if not word.isdigit() or int(word) < 1:
            raise ValueError(f"{word!r} is not a job id; write job ids such as 41 42")
        ids.append(int(word))
    return ids


def environment(text: str) -> dict[str, str]:
    """``KEY=VALUE`` words, quoted as in a shell."""
    pairs = {}
    for word in words(text):
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise ValueError(f"{word!r} is not KEY=VALUE")
        pairs[key] = value
    return pairs


def duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``2h`` or ``1d``."""
    match = DURATION.match(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a duration; write seconds or a number with s, m, h or d, such as 2h"
        )
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


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
            "task_timeout",
            "timeout",
            text_input("default: none"),
            help="kill a task that runs longer: 90s, 30m, 2h",
            parse=duration,
        ),
        Field(
            "depends_on",
            "depends on",
            text_input("default: none"),
            help="job ids this job waits for: 41 42",
            parse=job_ids,
        ),
        Field("pool", "pool", text_input("default: any pool"), help="run only on agents of this pool"),
        Field("owner", "owner", text_input("", login_name())),
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
    return {
        k.removeprefix(PARAMETERS): v for k, v in values.items() if k.startswith(PARAMETERS) and v is not None
    }


def build_job(values: dict[str, Any]) -> pb.Job:
    """The job the form's values (by field key) describe; a None value leaves its field
    unset, so the controller's default applies."""
    needs = {k.removeprefix(REQUIREMENTS): v for k, v in values.items() if k.startswith(REQUIREMENTS)}
    job = pb.Job(
        plugin=values["plugin"],
        name=values["name"] or "",
        frames=values["frames"],
        chunk_size=values["chunk_size"],
        priority=values["priority"],
        max_retries=values["max_retries"],
        pool=values["pool"] or "",
        owner=values["owner"] or "",
        depends_on=values["depends_on"] or [],
        environment=values["environment"] or {},
        requirements=pb.Requirements(**{k: v for k, v in needs.items() if v is not None}),
    )
    if values["task_timeout"] is not None:
        job.task_timeout.FromTimedelta(timedelta(seconds=values["task_timeout"]))
    job.parameters.update(parameters(values))
    return job
