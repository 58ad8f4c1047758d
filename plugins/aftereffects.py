"""The ``aftereffects`` plugin: render a composition with ``aerender``, one process per run of frames.

aerender starts After Effects without its window, opens the project and renders the
comp's frames ``-s`` to ``-e`` into ``-output`` (``[#####]`` there becomes the frame
number). Starting it costs many seconds, so a task's frames go to one process as one
range, and its frames complete when it exits 0.

What it prints: ``PROGRESS:  0:00:00:05 (6): 0 Seconds`` when a frame is done (the
timecode, then the frame's number as After Effects counts frames, which is the
number ``-s``/``-e`` take), ``aerender Error: ...`` when it gives up on something
(it may still exit 0, so such a line fails the task), and words about its licence
when it may not render.
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

_PROGRESS_FRAME = re.compile(r"^PROGRESS:\s+\d+(?:[:;]\d+){3}\s+\((\d+)\):")
_AERENDER_ERROR = re.compile(r"\baerender error\b:?\s*(.*)$", re.IGNORECASE)
_AE_ERROR = re.compile(r"\bAfter Effects error:\s*(.+)$", re.IGNORECASE)
LICENCE_REFUSED = "After Effects on this node has no licence to render"


class AfterEffectsPlugin(Plugin):
    name = "aftereffects"
    description = "Render an After Effects composition with aerender, one process per task's range of frames."
    renderer = "aerender"
    parameters = (
        Parameter(
            "project",
            ParamType.PATH,
            "the .aep (or .aepx) project as the render nodes open it: an absolute path on storage "
            "they share, or a path under {project}",
            required=True,
        ),
        Parameter(
            "comp",
            ParamType.STRING,
            "the name of the composition to render, as in the Project panel",
            required=True,
        ),
        Parameter(
            "output",
            ParamType.PATH,
            "where each frame is written (aerender's -output): [#####] becomes the frame number; "
            "the output module decides the format, so the extension should match it",
            default="{renders}/frame_[#####].png",
        ),
        Parameter(
            "render_settings",
            ParamType.STRING,
            "a render settings template by name (-RStemplate), such as Best Settings",
        ),
        Parameter(
            "output_module",
            ParamType.STRING,
            "an output module template by name (-OMtemplate), such as PNG Sequence",
        ),
        Parameter(
            "image_cache_percent",
            ParamType.INTEGER,
            "percent of memory for the image cache (with max_memory_percent: aerender's -mem_usage)",
        ),
        Parameter(
            "max_memory_percent",
            ParamType.INTEGER,
            "percent of memory After Effects may use at most (with image_cache_percent: -mem_usage)",
        ),
    )

    def check(self, params: dict[str, Any]) -> None:
        check_node_path("project", params["project"], (".aep", ".aepx"))
        check_node_path("output", params["output"])
        check_name("comp", params["comp"], "composition's name")
        for field in ("render_settings", "output_module"):
            if params.get(field) is not None:
                check_name(field, params[field], "template's name")
        cache, memory = params.get("image_cache_percent"), params.get("max_memory_percent")
        if (cache is None) != (memory is None):
            raise ParameterError(
                "image_cache_percent" if cache is None else "max_memory_percent",
                "aerender's -mem_usage takes both: give image_cache_percent and max_memory_percent, "
                "or neither",
            )
        for field, value in (("image_cache_percent", cache), ("max_memory_percent", memory)):
            if value is not None and not 1 <= value <= 100:
                raise ParameterError(field, f"{field!r} is a percentage from 1 to 100, not {value}")

    def build_commands(self, params: dict[str, Any], frames: list[int]) -> list[CommandSpec]:
        return [CommandSpec(argv=_argv(params, run), frames=run) for run in frame_runs(frames)]

    def output_parser(self) -> OutputParser:
        return AfterEffectsOutputParser()


def _argv(params: dict[str, Any], run: list[int]) -> list[str]:
    argv = [
        "aerender",
        "-project", params["project"],
        "-comp", params["comp"],
        "-s", str(run[0]),
        "-e", str(run[-1]),
        "-output", params["output"],
    ]  # fmt: skip
    if params.get("render_settings") is not None:
        argv += ["-RStemplate", params["render_settings"]]
    if params.get("output_module") is not None:
        argv += ["-OMtemplate", params["output_module"]]
    if params.get("image_cache_percent") is not None:
        argv += ["-mem_usage", str(params["image_cache_percent"]), str(params["max_memory_percent"])]
    return argv


class AfterEffectsOutputParser(AppOutputParser):
    """aerender's output: a frame done per ``PROGRESS:`` timecode line, failures in words."""

    def feed(self, line: str) -> list[ParseEvent]:
        line = line.strip()
        frame = _PROGRESS_FRAME.match(line)
        if frame:
            return [Progress(1.0, int(frame.group(1)))]
        if LICENCE_FAILURE.search(line):
            return self.fail(f"{LICENCE_REFUSED}: {line}")
        error = _AERENDER_ERROR.search(line)
        if error:
            return self.fail(error.group(1).strip() or line)
        ae_error = _AE_ERROR.search(line)
        if ae_error:
            return self.error(ae_error.group(1))
        return []
