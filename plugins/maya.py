"""The ``maya`` plugin: render a Maya scene with Arnold through Maya's ``Render`` command.

``Render -r arnold -s START -e END -b 1 ... SCENE`` renders a run of frames in one
process (Maya takes long to start), so a task's frames go to one process per run and
complete when it exits 0, or one by one as Arnold writes them. Arnold's log goes to
the console at the info level (``-ai:ltc 1 -ai:lve 2``) for its ``% done`` lines.

Without a licence Arnold renders with a watermark and exits 0: frames nobody can
deliver. So a refused licence fails the task and Arnold is told to stop at once
(``-ai:alf 1``), unless ``allow_watermark`` says watermarked frames are wanted (a
look test). The parser is made without the job's parameters, so that choice reaches
it through the render's own output: a ``-preRender`` MEL line prints
``WATERMARK_ALLOWED`` before Arnold starts, and after it a refused licence is only noted.
"""

from __future__ import annotations

import re
from typing import Any

from renderq.plugins.app_support import AppOutputParser, check_name, check_node_path, frame_runs
from renderq.plugins.base import (
    CommandSpec,
    FrameSaved,
    FrameStarted,
    OutputParser,
    Parameter,
    ParameterError,
    ParamType,
    ParseEvent,
    Plugin,
    Progress,
    WarningLine,
)

WATERMARK_ALLOWED = "renderq: watermarked frames allowed"
LICENCE_REFUSED = (
    "Arnold found no licence on this node and would render watermarked frames "
    "(set allow_watermark to accept them)"
)
MAX_THREADS = 1024

_FRAME = re.compile(r"\[mtoa\] Rendering [Ff]rame:?\s+(-?\d+)")
_DONE = re.compile(r"\|\s*(\d{1,3})% done\b")
_WRITING = re.compile(r"\bwriting file [`'\"](.+?)['\"`]\s*$")
_LICENCE = re.compile(
    r"no licen[cs]e available|render(?:ing|ed)? with watermarks?|failed authori[sz]ation"
    r"|licen[cs]e (?:check|server)\b.*\b(?:fail\w*|unavailable|not available)",
    re.IGNORECASE,
)
_MAYA_ERROR = re.compile(r"^//\s*Error:\s*(.+?)\s*(?://)?$")
_ARNOLD_ERROR = re.compile(r"\bERROR\s*\|\s*(.+)$")
_MAYA_WARNING = re.compile(r"^//\s*Warning:\s*(.+?)\s*(?://)?$")
_ARNOLD_WARNING = re.compile(r"\bWARNING\s*\|\s*(.+)$")
_FATAL = re.compile(r"\bFatal Error\b.*$", re.IGNORECASE)


class MayaPlugin(Plugin):
    name = "maya"
    description = (
        "Render a Maya scene with Arnold (Maya's Render command), one process per task's range of frames."
    )
    renderer = "Render"
    parameters = (
        Parameter(
            "scene",
            ParamType.PATH,
            "the .ma or .mb scene as the render nodes open it: an absolute path on storage they "
            "share, or a path under {project}",
            required=True,
        ),
        Parameter(
            "project",
            ParamType.PATH,
            "the Maya project folder (workspace.mel's folder, -proj) the scene's relative paths start from",
        ),
        Parameter(
            "camera",
            ParamType.STRING,
            "the camera to render (-cam); the scene's renderable camera when left out",
        ),
        Parameter("output", ParamType.PATH, "the folder images are written to (-rd)", default="{renders}"),
        Parameter(
            "image_prefix", ParamType.STRING, "the images' file name prefix (-im), e.g. <Scene>_<RenderLayer>"
        ),
        Parameter(
            "threads", ParamType.INTEGER, "Arnold's render threads; 0 uses every core of the node", default=0
        ),
        Parameter(
            "allow_watermark",
            ParamType.BOOLEAN,
            "accept watermarked frames when Arnold finds no licence; otherwise the task fails",
            default=False,
        ),
    )

    def check(self, params: dict[str, Any]) -> None:
        check_node_path("scene", params["scene"], (".ma", ".mb"))
        check_node_path("output", params["output"])
        if params.get("project") is not None:
            check_node_path("project", params["project"])
        if params.get("camera") is not None:
            check_name("camera", params["camera"], "camera's name, such as renderCam")
        if params.get("image_prefix") is not None:
            check_name("image_prefix", params["image_prefix"], "file name prefix")
        if not 0 <= params["threads"] <= MAX_THREADS:
            raise ParameterError(
                "threads", f"'threads' must be from 0 (every core) to {MAX_THREADS}, not {params['threads']}"
            )

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        return [CommandSpec(argv=_argv(params, run), frames=run) for run in frame_runs(frames)]

    def output_parser(self) -> OutputParser:
        return MayaOutputParser()


def _argv(params: dict[str, Any], run: list[int]) -> list[str]:
    """Flags first and the scene last: Render reads the last argument as the scene."""
    argv = ["Render", "-r", "arnold", "-s", str(run[0]), "-e", str(run[-1]), "-b", "1"]
    if params.get("camera") is not None:
        argv += ["-cam", params["camera"]]
    if params.get("project") is not None:
        argv += ["-proj", params["project"]]
    argv += ["-rd", params["output"]]
    if params.get("image_prefix") is not None:
        argv += ["-im", params["image_prefix"]]
    argv += ["-ai:threads", str(params["threads"]), "-ai:ltc", "1", "-ai:lve", "2"]
    if params["allow_watermark"]:
        argv += ["-ai:alf", "0", "-preRender", f'print "{WATERMARK_ALLOWED}\\n"']
    else:
        argv += ["-ai:alf", "1"]
    return [*argv, params["scene"]]


class MayaOutputParser(AppOutputParser):
    """Maya's and Arnold's output: the frame begun, its ``% done``, files written, errors."""

    def __init__(self) -> None:
        super().__init__()
        self._frame: int | None = None
        self._watermark_allowed = False

    def feed(self, line: str) -> list[ParseEvent]:
        line = line.strip()
        if line == WATERMARK_ALLOWED:
            self._watermark_allowed = True
            return []
        frame = _FRAME.search(line)
        if frame:
            self._frame = int(frame.group(1))
            return [FrameStarted(self._frame)]
        done = _DONE.search(line)
        if done:
            return [Progress(min(int(done.group(1)), 100) / 100, self._frame)]
        written = _WRITING.search(line)
        if written:
            return [FrameSaved(written.group(1), self._frame)]
        return self._problem(line)

    def _problem(self, line: str) -> list[ParseEvent]:
        if _LICENCE.search(line):
            if self._watermark_allowed:
                return self.error(f"rendering with Arnold's watermark: {line}")
            return self.fail(f"{LICENCE_REFUSED}: {line}")
        fatal = _FATAL.search(line)
        if fatal:
            return self.fail(f"Maya crashed: {fatal.group(0)}")
        error = _MAYA_ERROR.match(line) or _ARNOLD_ERROR.search(line)
        if error:
            return self.error(error.group(1))
        warning = _MAYA_WARNING.match(line) or _ARNOLD_WARNING.search(line)
        if warning:
            return [WarningLine(warning.group(1))]
        return []
