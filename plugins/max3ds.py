"""The ``3dsmax`` plugin: render a 3ds Max scene with ``3dsmaxcmd``, one process per run of frames.

3dsmaxcmd loads the scene without the user interface and renders ``-start:`` to
``-end:`` into ``-outputName:`` (3ds Max numbers the files itself: ``shot_.exr``
becomes ``shot_0012.exr``). Loading a scene costs much, so a task's frames go to one
process as one range, and they complete when it exits 0.

At verbosity 5 (``-v:5``) it says ``Frame 12 completed`` after each frame and
``progr: 40% rendered`` meanwhile. As a command renders consecutive frames, the frame
after a completed one is the next number, which is how a percentage finds its frame.
``Error occured while rendering job.`` (its spelling) fails the task, as do licence
refusals.
"""

from __future__ import annotations

import re
from typing import Any

from renderq.plugins.app_support import (
    LICENCE_FAILURE,
    AppOutputParser,
    check_name,
    check_node_path,
    frame_runs,
)
from renderq.plugins.base import (
    CommandSpec,
    OutputParser,
    Parameter,
    ParameterError,
    ParamType,
    ParseEvent,
    Plugin,
    Progress,
)

LICENCE_REFUSED = "3ds Max on this node has no licence to render"
MAX_SIZE = 32768
"""Pixels per side, 3ds Max's own limit for an output size."""

_COMPLETED = re.compile(r"\bFrame (-?\d+) completed\b", re.IGNORECASE)
_PERCENT = re.compile(r"\bprogr:\s*(\d{1,3})\s*%\s*rendered\b", re.IGNORECASE)
_JOB_ERROR = re.compile(r"\bError occurr?ed while rendering job\b.*$", re.IGNORECASE)
_ERROR = re.compile(r"(?:^|;\s*)(?:ERROR|Error:)\s*(.+)$")


class Max3dsPlugin(Plugin):
    name = "3dsmax"
    description = "Render a 3ds Max scene with 3dsmaxcmd, one process per task's range of frames."
    renderer = "3dsmaxcmd"
    parameters = (
        Parameter(
            "scene",
            ParamType.PATH,
            "the .max scene as the render nodes open it: an absolute path on storage they share, "
            "or a path under {project}",
            required=True,
        ),
        Parameter(
            "output",
            ParamType.PATH,
            "the output file (-outputName:); 3ds Max adds the frame number before the extension",
            default="{renders}/frame_.png",
        ),
        Parameter(
            "camera",
            ParamType.STRING,
            "the camera to render (-camera:); the scene's active view when left out",
        ),
        Parameter(
            "width",
            ParamType.INTEGER,
            "output width in pixels (-width:), with height; the scene's own otherwise",
        ),
        Parameter("height", ParamType.INTEGER, "output height in pixels (-height:), with width"),
    )

    def check(self, params: dict[str, Any]) -> None:
        check_node_path("scene", params["scene"], (".max",))
        check_node_path("output", params["output"])
        if params.get("camera") is not None:
            check_name("camera", params["camera"], "camera's name, such as Camera001")
        width, height = params.get("width"), params.get("height")
        if (width is None) != (height is None):
            raise ParameterError(
                "height" if height is None else "width", "give width and height together, or neither"
            )
        for field, value in (("width", width), ("height", height)):
            if value is not None and not 1 <= value <= MAX_SIZE:
                raise ParameterError(field, f"{field!r} must be from 1 to {MAX_SIZE} pixels, not {value}")

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        return [CommandSpec(argv=_argv(params, run), frames=run) for run in frame_runs(frames)]

    def output_parser(self) -> OutputParser:
        return Max3dsOutputParser()


def _argv(params: dict[str, Any], run: list[int]) -> list[str]:
    """Each switch and its value as one argument (``-start:12``): 3dsmaxcmd's own form."""
    argv = [
        "3dsmaxcmd", params["scene"],
        f"-start:{run[0]}", f"-end:{run[-1]}",
        f"-outputName:{params['output']}",
        "-v:5", "-showRFW:0",
    ]  # fmt: skip
    if params.get("camera") is not None:
        argv.append(f"-camera:{params['camera']}")
    if params.get("width") is not None:
        argv += [f"-width:{params['width']}", f"-height:{params['height']}"]
    return argv


class Max3dsOutputParser(AppOutputParser):
    """3dsmaxcmd's output: percentages of the frame under way, frames completed, failures."""

    def __init__(self) -> None:
        super().__init__()
        self._next: int | None = None
        """The frame after the last completed one; None before the first (the agent's current)."""

    def feed(self, line: str) -> list[ParseEvent]:
        line = line.strip()
        completed = _COMPLETED.search(line)
        if completed:
            frame = int(completed.group(1))
            self._next = frame + 1
            return [Progress(1.0, frame)]
        percent = _PERCENT.search(line)
        if percent:
            return [Progress(min(int(percent.group(1)), 100) / 100, self._next)]
        if LICENCE_FAILURE.search(line):
            return self.fail(f"{LICENCE_REFUSED}: {line}")
        job_error = _JOB_ERROR.search(line)
        if job_error:
            cause = f": {self.last_error}" if self.last_error else ""
            return self.fail(f"{job_error.group(0).rstrip('.')}{cause}")
        error = _ERROR.search(line)
        if error:
            return self.error(error.group(1))
        return []
