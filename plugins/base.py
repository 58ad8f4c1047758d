"""What a renderer plugin is.

A plugin declares its parameters (for forms and validation), validates them,
builds each task's commands on the controller, and gives the agent a parser that
turns the renderer's output into progress, finished frames and errors. Plugins are
pure: no I/O beyond what validation must check, so the controller and the agent
can both import them.
"""

from __future__ import annotations

import enum
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


class ParamType(enum.Enum):
    """Parameter types; mirror renderq.v1.ParameterType."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    PATH = "path"
    CHOICE = "choice"
    STRING_LIST = "string_list"


@dataclass(frozen=True)
class Parameter:
    name: str
    type: ParamType
    help: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()


class ParameterError(ValueError):
    """A parameter value the plugin refuses; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ExpectedOutput:
    """A file a command should write for a frame; hashed when the frame completes."""

    frame: int
    path: str


@dataclass(frozen=True)
class CommandSpec:
    """One process to run. With ``completes_on_exit`` its exit code 0 completes its
    frames; otherwise frames complete only when the parser reports them saved."""

    argv: list[str]
    frames: list[int]
    expected_outputs: list[ExpectedOutput] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    """Variables the plugin sets for this command, over the job's environment."""


# What a parser reports for a line of output.
@dataclass(frozen=True)
class Progress:
    """``fraction`` (0..1) of ``frame`` is done; frame None means the current one."""

    fraction: float
    frame: int | None = None


@dataclass(frozen=True)
class FrameStarted:
    frame: int


@dataclass(frozen=True)
class FrameSaved:
    """The renderer wrote ``path``; the frame is done. Frame None means the current one."""

    path: str
    frame: int | None = None


@dataclass(frozen=True)
class ErrorLine:
    """A line that explains a failure, if the process fails (its exit code decides)."""

    message: str


@dataclass(frozen=True)
class WarningLine:
    """Something the renderer warned about while rendering a frame (it went on): kept with
    the frame being rendered, which still completes."""

    message: str


@dataclass(frozen=True)
class TaskFailed:
    """The renderer said the task failed (a licence refused, an error it carried on past,
    ``openjd_fail``): the task fails with ``message`` even if the process exits 0. Frames
    saved before it stay done."""

    message: str


ParseEvent = Progress | FrameStarted | FrameSaved | ErrorLine | WarningLine | TaskFailed


class OutputParser:
    """Reads a command's output line by line. The default knows nothing: frames are
    done when the command exits 0. One parser instance serves one command."""

    completes_on_exit: bool = True

    def feed(self, line: str) -> list[ParseEvent]:
        return []


class Plugin(ABC):
    name: str
    description: str
    renderer: str = ""
    """Renderer a node must have installed (a name from the agent's probe); "" for none."""
    parameters: tuple[Parameter, ...] = ()

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check ``params`` against the schema; return them with defaults filled in.

        Raises ParameterError naming the first bad field.
        """
        known = {p.name: p for p in self.parameters}
        for name in params:
            if name not in known:
                raise ParameterError(
                    name, f"{self.name} has no parameter {name!r}; it takes {', '.join(sorted(known))}"
                )
        result: dict[str, Any] = {}
        for p in self.parameters:
            if p.name not in params or params[p.name] is None:
                if p.required:
                    raise ParameterError(p.name, f"{self.name} needs the parameter {p.name!r}: {p.help}")
                if p.default is not None:
                    result[p.name] = p.default
                continue
            result[p.name] = _coerce(p, params[p.name])
        self.check(result)
        return result

    def check(self, params: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Plugin-specific checks after type checks; raise ParameterError."""

    @abstractmethod
    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        """The commands that render ``frames`` (a task's frames still to do)."""

    def output_parser(self) -> OutputParser:
        return OutputParser()

    def default_json(self, p: Parameter) -> str:
        return "" if p.default is None else json.dumps(p.default)


def _coerce(p: Parameter, value: Any) -> Any:
    """Type-check one value. Struct carries numbers as floats; integers are accepted
    when they have no fraction."""
    t = p.type
    if t in (ParamType.STRING, ParamType.PATH, ParamType.CHOICE):
        if not isinstance(value, str):
            raise ParameterError(p.name, f"{p.name!r} must be text, not {value!r}")
        if t is ParamType.CHOICE and value not in p.choices:
            raise ParameterError(p.name, f"{p.name!r} must be one of {', '.join(p.choices)}, not {value!r}")
        if t is ParamType.PATH and not value.strip():
            raise ParameterError(p.name, f"{p.name!r} must be a path, not empty")
        return value
    if t is ParamType.BOOLEAN:
        if not isinstance(value, bool):
            raise ParameterError(p.name, f"{p.name!r} must be true or false, not {value!r}")
        return value
    if t in (ParamType.INTEGER, ParamType.NUMBER):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(p.name, f"{p.name!r} must be a number, not {value!r}")
        if t is ParamType.INTEGER:
            if float(value) != int(value):
                raise ParameterError(p.name, f"{p.name!r} must be a whole number, not {value!r}")
            return int(value)
        return float(value)
    if t is ParamType.STRING_LIST:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ParameterError(p.name, f"{p.name!r} must be a list of text, not {value!r}")
        return list(value)
    raise AssertionError(t)
